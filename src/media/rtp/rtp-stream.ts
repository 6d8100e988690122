// One RTP stream's numbering (RFC 3550 §5.1): its SSRC and payload type, a sequence number that starts at random and
// runs on as a 48-bit packet index (the SRTP index, RFC 3711 §3.3.1), timestamps on the media clock, and the counts a
// sender report carries. It lives as long as the viewer's session: a reconfigure that changes the camera stream keeps
// the sequence going (SRTP must never reuse an index under one key) and the timestamps continuing.
import { randomInt } from 'node:crypto';

const RTP_VERSION = 2;
const RTP_HEADER_BYTES = 12;
const TIMESTAMP_MODULO = 2 ** 32;
/** RFC 3550 §5.1: the first sequence number is random; starting below 2^15 leaves the index far from any ambiguity. */
const FIRST_SEQUENCE_BELOW = 0x8000;

export interface RtpPacket {
  /** Header + payload, ready for SRTP, and `room` bytes after them for SRTP's tag. */
  packet: Buffer;
  /** Bytes of header + payload. */
  length: number;
  /** The 48-bit SRTP packet index; its low 16 bits are the sequence number in the header. */
  index: number;
}

export class RtpStream {
  /** RTP packets and payload bytes sent (RFC 3550 §6.4.1 sender's packet and octet counts). */
  packets = 0;
  octets = 0;
  private index: number;
  private offset?: number;
  private lastTimestamp?: number;
  private after?: number;

  constructor(readonly ssrc: number, readonly payloadType: number, readonly clockRate: number, private readonly random: (below: number) => number = (below) => randomInt(below)) {
    this.index = random(FIRST_SEQUENCE_BELOW);
  }

  /**
   * The RTP timestamp of a media time (`clockRate` units, e.g. a 90 kHz PTS). The first one of a timeline is random
   * (RFC 3550 §5.1); after `newTimeline()` (another camera stream, whose clock is unrelated) it continues from the
   * last timestamp sent, one `gap` later, so the viewer sees one stream going on rather than a jump.
   */
  timestamp(mediaTime: number, gap = 0): number {
    if (this.offset === undefined) {
      const base = this.after ?? this.lastTimestamp;
      this.offset = (base === undefined ? this.random(TIMESTAMP_MODULO) : base + gap) - mediaTime;
    }
    return mod(mediaTime + this.offset, TIMESTAMP_MODULO);
  }

  /** The next media times belong to a new clock: the next `timestamp()` anchors it after `after` (a timestamp given
   *  out but not sent yet), else after the last one sent. */
  newTimeline(after?: number): void {
    this.offset = undefined;
    this.after = after;
  }

  /** The next packet: fixed header (no CSRC, no extension) and payload, its index taken; `room` bytes are left after
   *  it, so SRTP can add its tag without a copy. */
  packet(payload: Buffer, marker: boolean, timestamp: number, room = 0): RtpPacket {
    const index = this.index++;
    const length = RTP_HEADER_BYTES + payload.length;
    const packet = Buffer.allocUnsafe(length + room);
    packet[0] = RTP_VERSION << 6;
    packet[1] = (marker ? 0x80 : 0) | (this.payloadType & 0x7f);
    packet.writeUInt16BE(index & 0xffff, 2);
    packet.writeUInt32BE(timestamp >>> 0, 4);
    packet.writeUInt32BE(this.ssrc >>> 0, 8);
    payload.copy(packet, RTP_HEADER_BYTES);
    this.packets++;
    this.octets += payload.length;
    this.lastTimestamp = timestamp;
    return { packet, length, index };
  }
}

export const RTP_FIXED_HEADER_BYTES = RTP_HEADER_BYTES;

function mod(value: number, modulo: number): number {
  return ((value % modulo) + modulo) % modulo;
}
