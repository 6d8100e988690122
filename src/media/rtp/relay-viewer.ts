// One viewer's copy of a shared RTP stream (the camera's audio, encoded once per camera by live-audio.ts): each packet
// re-stamped with the viewer's SSRC and payload type, numbered on the viewer's own sequence (RFC 3550 §5.1) with its
// own timestamp base, SRTP-protected with the viewer's key (RFC 3711 §3.1) and sent from the viewer's audio return port
// (symmetric RTP: its RTCP arrives there), with RTCP sender reports (RFC 3550 §6.4.1) and a BYE at the end (§6.6).
//
// A viewer outlives the encoder run it listens to: the encoder may be restarted, or a reconfigure may move the viewer
// to another encoder. Each run sends under its own SSRC, so a new input SSRC starts a new timeline that goes on from
// the last timestamp sent plus the wall time since, and the sequence runs on unbroken (SRTP must never reuse an index
// under one key, RFC 3711 §3.3.1).
import type { Socket } from 'node:dgram';
import type { RtpIn } from './loopback-rtp';
import { senderReport } from './rtcp';
import type { RtpStream } from './rtp-stream';
import { SRTP_TAG_BYTES, SrtpSender } from './srtp';

/** The BYE of a stream that ends gets this long to leave before its socket is closed (ms). */
const BYE_SEND_BOUND_MS = 200;

export interface RelayViewerOptions {
  /** The viewer's audio return port (ReturnPorts.audio). */
  socket: Socket;
  address: string;
  port: number;
  /** The viewer's audio SRTP context and RTP numbering (its SSRC, payload type and clock rate). */
  srtp: SrtpSender;
  rtp: RtpStream;
  rtcpIntervalMs: number;
}

export class RelayViewer {
  readonly stats = { packets: 0 };
  /** The input SSRC of the timeline being relayed: another one is another encoder run. */
  private input?: number;
  /** The last packet sent: its wall-clock time and RTP timestamp map one clock to the other in the sender reports. */
  private last?: { wallMs: number; timestamp: number };
  private reports?: NodeJS.Timeout;
  private finished = false;

  constructor(private readonly o: RelayViewerOptions) {}

  relay(packet: RtpIn): void {
    if (this.finished) {
      return;
    }
    const { rtp, srtp } = this.o;
    const now = Date.now();
    let gap = 0;
    if (packet.ssrc !== this.input) {
      if (this.input !== undefined || this.last) {
        rtp.newTimeline();
        // Time went on while no packet came: the timestamps go on with it, so the viewer's player neither rushes nor
        // waits (at least one tick: a timestamp is never repeated across runs).
        gap = this.last ? Math.max(1, Math.round(((now - this.last.wallMs) * rtp.clockRate) / 1000)) : 0;
      }
      this.input = packet.ssrc;
    }
    const timestamp = rtp.timestamp(packet.timestamp, gap);
    const { packet: out, length, index } = rtp.packet(packet.payload, packet.marker, timestamp, SRTP_TAG_BYTES);
    srtp.protectRtpInPlace(out, length, index);
    this.send(out);
    this.stats.packets++;
    this.last = { wallMs: now, timestamp };
    if (!this.reports) {
      this.sendReport(false);
      this.reports = setInterval(() => this.sendReport(false), this.o.rtcpIntervalMs);
    }
  }

  /** Stops relaying. `bye`: the stream ends for good, so a last sender report with BYE goes out (RFC 3550 §6.6);
   *  resolves once it left, bounded. */
  async stop(bye: boolean): Promise<void> {
    if (this.finished) {
      return;
    }
    this.finished = true;
    clearInterval(this.reports);
    if (bye && this.last) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, BYE_SEND_BOUND_MS);
        this.sendReport(true, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Sender report (SRTCP): the RTP timestamp of now is the last packet's plus the wall time since, on the stream's
   * clock. The last packet rather than the first: the camera's audio clock and this machine's drift apart over a long
   * view, and each report follows what was actually relayed.
   */
  private sendReport(ending: boolean, sent?: () => void): void {
    const last = this.last;
    if (!last) {
      return;
    }
    const { rtp, srtp } = this.o;
    const wallMs = Date.now();
    const rtpTimestamp = (last.timestamp + Math.round(((wallMs - last.wallMs) * rtp.clockRate) / 1000)) % 2 ** 32;
    const report = senderReport({ ssrc: rtp.ssrc, wallMs, rtpTimestamp, packets: rtp.packets, octets: rtp.octets }, ending);
    this.send(srtp.protectRtcp(report), sent);
  }

  /** A viewer that cannot be reached is found out by its video sender and its RTCP watch: audio sends fail quietly (the
   *  return port's error listener takes them). Only the BYE waits for its callback: one per packet costs a turn of the
   *  event loop each (see live-sender.ts). */
  private send(datagram: Buffer, sent?: () => void): void {
    try {
      if (sent) {
        this.o.socket.send(datagram, this.o.port, this.o.address, () => sent());
      } else {
        this.o.socket.send(datagram, this.o.port, this.o.address);
      }
    } catch {
      sent?.(); // the socket was closed under us
    }
  }
}
