// RTP fixed header (RFC 3550 §5.1) read in place: the payload is a view into the interleaved frame, never a copy, since
// every video byte of a camera passes here. Also the 32-bit timestamp and 16-bit sequence arithmetic the depacketizers
// share (RFC 3550 §5.1: both start at random values and wrap).

export interface RtpPacket {
  /** Always 2 (packets of another version are rejected). */
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  sequence: number;
  /** The 32-bit media timestamp as sent. */
  timestamp: number;
  ssrc: number;
  /** The payload without header, CSRC list, extension and padding: a view into the packet. */
  payload: Buffer;
}

const FIXED_HEADER_BYTES = 12;
const RTP_VERSION = 2;

/** The packet's fields, or undefined when it is not a well-formed RTP packet (short, another version, a CSRC list,
 *  extension or padding count running past its end). */
export function parseRtp(packet: Buffer): RtpPacket | undefined {
  if (packet.length < FIXED_HEADER_BYTES) {
    return undefined;
  }
  const b0 = packet[0];
  const b1 = packet[1];
  const version = b0 >> 6;
  if (version !== RTP_VERSION) {
    return undefined;
  }
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let start = FIXED_HEADER_BYTES + 4 * csrcCount;
  if (extension) {
    // §5.3.1: 16 bits defined by profile, 16 bits length in 32-bit words, then the words.
    if (packet.length < start + 4) {
      return undefined;
    }
    start += 4 + 4 * packet.readUInt16BE(start + 2);
  }
  let end = packet.length;
  if (padding) {
    // §5.1: the last octet counts the padding octets, itself included.
    const count = packet[end - 1];
    if (count === 0) {
      return undefined;
    }
    end -= count;
  }
  if (start > end) {
    return undefined;
  }
  return {
    version, padding, extension, csrcCount,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequence: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(start, end),
  };
}

/** How far `next` is past `expected` in 16-bit sequence space: 0 in order, 1..32767 that many packets missing (loss),
 *  negative when it is behind (a late or repeated packet). */
export function sequenceGap(expected: number, next: number): number {
  const d = (next - expected) & 0xffff;
  return d < 0x8000 ? d : d - 0x10000;
}

/** A packet this far behind the next expected one (packets) is not late but from a sender that started its sequence
 *  over (an encoder or a proxy's source restarted): RFC 3550 Appendix A.1 calls such a jump a restart once it exceeds
 *  MAX_MISORDER; far more than any reorder window here. */
export const SEQUENCE_RESTART_BEHIND_PACKETS = 1000;

/** Whether sequenceGap(expected, next) says the sender started its sequence over rather than a late packet. */
export function isSequenceRestart(gap: number): boolean {
  return gap <= -SEQUENCE_RESTART_BEHIND_PACKETS;
}

/** Turns 32-bit RTP timestamps into a number that keeps growing past the wrap (every 13 h at 90 kHz, 3 days at 16 kHz):
 *  each one is placed within ±2^31 of the one before, so a small step back (B-frames, a reordered packet) stays back. */
export class TimestampUnwrapper {
  private last?: number;
  private lastRaw = 0;

  unwrap(raw: number): number {
    if (this.last === undefined) {
      this.last = raw;
    } else {
      this.last += (raw - this.lastRaw) | 0; // the signed 32-bit difference
    }
    this.lastRaw = raw;
    return this.last;
  }
}
