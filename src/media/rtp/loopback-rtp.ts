// Plain RTP from a local ffmpeg (`-f rtp rtp://127.0.0.1:PORT`), received on a loopback UDP socket the plugin binds
// first and hands to ffmpeg by port: the shared live audio encoder's output, which the plugin then re-stamps and
// SRTP-protects per viewer (relay-viewer.ts). Only datagrams from a loopback address are read; ffmpeg's own RTCP (sent
// to the same port: `rtcpport`) is told from RTP by its packet type (RFC 5761 §4) and dropped, since each viewer gets
// sender reports of its own.
import { createSocket, RemoteInfo, Socket } from 'node:dgram';

/** RFC 3550 §5.1: version 2, 12-byte fixed header. */
const RTP_VERSION = 2;
const RTP_FIXED_HEADER_BYTES = 12;
/** RFC 5761 §4: RTCP packet types 192–223 occupy the second byte where RTP has marker + payload type; the payload types
 *  an RTP sender may use then exclude 64–95. */
const RTCP_TYPE_FIRST = 192;
const RTCP_TYPE_LAST = 223;

/** One RTP packet as ffmpeg sent it: what a relay needs of its header, and its payload (a view of the datagram). */
export interface RtpIn {
  ssrc: number;
  sequence: number;
  timestamp: number;
  marker: boolean;
  payloadType: number;
  payload: Buffer;
}

/** RFC 3550 §5.1 / §5.3.1: the header's CSRCs and extension skipped, padding (§5.1, P bit) removed; undefined for what
 *  is not an RTP packet (too short, another version, RTCP). */
export function parseRtp(datagram: Buffer): RtpIn | undefined {
  if (datagram.length < RTP_FIXED_HEADER_BYTES || datagram[0] >> 6 !== RTP_VERSION) {
    return undefined;
  }
  if (datagram[1] >= RTCP_TYPE_FIRST && datagram[1] <= RTCP_TYPE_LAST) {
    return undefined;
  }
  let start = RTP_FIXED_HEADER_BYTES + (datagram[0] & 0x0f) * 4;
  if (datagram[0] & 0x10) {
    if (datagram.length < start + 4) {
      return undefined;
    }
    start += 4 + datagram.readUInt16BE(start + 2) * 4;
  }
  let end = datagram.length;
  if (datagram[0] & 0x20) {
    end -= datagram[end - 1];
  }
  if (end < start) {
    return undefined;
  }
  return {
    ssrc: datagram.readUInt32BE(8), sequence: datagram.readUInt16BE(2), timestamp: datagram.readUInt32BE(4),
    marker: (datagram[1] & 0x80) !== 0, payloadType: datagram[1] & 0x7f, payload: datagram.subarray(start, end),
  };
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** The loopback socket a local ffmpeg sends plain RTP to. */
export class LoopbackRtpInput {
  /** Datagrams dropped: not from loopback, or not RTP. */
  rejected = 0;

  private constructor(private readonly socket: Socket, readonly host: string, onPacket: (packet: RtpIn) => void) {
    socket.on('message', (datagram: Buffer, from: RemoteInfo) => {
      const packet = isLoopback(from.address) ? parseRtp(datagram) : undefined;
      if (packet) {
        onPacket(packet);
      } else {
        this.rejected++;
      }
    });
  }

  /** Binds an ephemeral port on 127.0.0.1, or on ::1 where the machine has no IPv4 loopback. */
  static async open(onPacket: (packet: RtpIn) => void): Promise<LoopbackRtpInput> {
    let lastError: Error | undefined;
    for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createSocket(type);
          s.once('error', (err) => {
            s.close();
            reject(err);
          });
          s.bind(0, host, () => {
            s.removeAllListeners('error');
            s.on('error', () => undefined); // nothing sent from here: an error is not ours to crash on
            resolve(s);
          });
        });
        return new LoopbackRtpInput(socket, host, onPacket);
      } catch (err) {
        lastError = err as Error;
      }
    }
    throw new Error(`no loopback UDP port for the audio encoder (${(lastError as NodeJS.ErrnoException).code ?? lastError?.message})`);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** ffmpeg's output URL: RTP and its RTCP both to this port (the RTCP is dropped), datagrams of at most `packetSize`. */
  url(packetSize: number): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `rtp://${host}:${this.port}?rtcpport=${this.port}&pkt_size=${packetSize}`;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
