// One viewer's copied video, sent by the plugin rather than by an ffmpeg per viewer: the camera stream's H.264 access
// units (demuxed once for all its viewers, unit-fanout.ts), paced, cut into RTP packets (h264-packetizer.ts), SRTP-protected
// (srtp.ts) and sent from the port HomeKit was told (the viewer's RTCP arrives there too), with RTCP sender reports.
//
// Pacing is what the viewer's ffmpeg did with `-readrate`: the cached keyframe at once, the cached rest of its group at
// LIVE_CATCH_UP_RATE times real time (an unpaced group is a megabyte in a millisecond, more than a phone's UDP buffer
// takes), live frames the moment they arrive. Sound is not sent here: the camera's shared audio encoder sends it
// (live-audio.ts). A viewer whose sending fails or falls too far behind ends with a reason.
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { LIVE_SEND_BACKLOG_MAX_BYTES, LIVE_SENDER_MAX_QUEUE_BYTES, LIVE_TIMESTAMP_JUMP_MS } from '../../settings';
import type { VideoUnit } from '../ts-demux';
import type { MediaUnit, UnitConsumer } from '../unit-fanout';
import { H264Packetizer } from './h264-packetizer';
import { senderReport } from './rtcp';
import type { RtpStream } from './rtp-stream';
import { SRTP_TAG_BYTES, SrtpSender } from './srtp';

/** H.264's RTP clock (RFC 6184 §8.2.1), the clock of MPEG-TS timestamps too. */
export const VIDEO_CLOCK_HZ = 90_000;
const TS_PER_MS = VIDEO_CLOCK_HZ / 1000;
/** Where a new timeline (another camera stream after a reconfigure, a camera clock jump) starts after the last
 *  timestamp sent: one frame at 30 fps, in 90 kHz units. */
const TIMELINE_GAP = 3_000;
/** The BYE of a stream that ends gets this long to leave before its socket is closed (ms). */
const BYE_SEND_BOUND_MS = 200;

export interface LiveSenderOptions {
  /** The socket of the port HomeKit was told (ReturnPorts.video): symmetric RTP, and where the viewer's RTCP arrives. */
  socket: Socket;
  address: string;
  port: number;
  /** The session's SRTP context and RTP numbering: they outlive one sender when a reconfigure replaces it. */
  srtp: SrtpSender;
  rtp: RtpStream;
  /** The largest datagram HomeKit selected (bytes, RTP and SRTP included). */
  mtu: number;
  rtcpIntervalMs: number;
  /** Cached video goes out at this many times real time (×). */
  catchUpRate: number;
  /** Called once when the stream cannot go on; the reason is a sentence for the log. */
  onEnd: (reason: string) => void;
}

interface Pending {
  unit: VideoUnit;
  timestamp: number;
  /** performance.now() at which it is due. */
  due: number;
}

export interface LiveSenderStats {
  accessUnits: number;
  packets: number;
  /** performance.now() when the first packet went out. */
  firstSentAt?: number;
}

/** A consumer of the camera stream's access units (MediaSource.units(): demuxed once for every viewer of the camera). */
export class LiveSender implements UnitConsumer {
  readonly stats: LiveSenderStats = { accessUnits: 0, packets: 0 };
  private readonly packetizer: H264Packetizer;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private timer?: NodeJS.Timeout;
  private reports?: NodeJS.Timeout;
  /** The instant and DTS pacing counts from. */
  private anchor = { at: 0, dts: 0 };
  private lastDts?: number;
  /** The first packet: its wall-clock time and RTP timestamp map one clock to the other in the sender reports. */
  private first?: { wallMs: number; timestamp: number };
  private finished = false;

  constructor(private readonly o: LiveSenderOptions) {
    this.packetizer = new H264Packetizer(o.mtu);
    o.rtp.newTimeline();
  }

  /** The next access unit of the camera's stream (the fan-out sends the newest keyframe's group first, then live). */
  unit(unit: MediaUnit): void {
    if (!this.finished && unit.track === 'video') {
      this.enqueue(unit);
      this.pump();
    }
  }

  /** The camera's stream ended for this viewer (cut, stopped, unusable). */
  end(reason: string): void {
    this.fail(`the camera's stream ended: ${reason}`);
  }

  /**
   * Stops sending (the session ended or a reconfigure replaced this sender). `bye`: the stream ends for good, so a last
   * sender report with BYE goes out (RFC 3550 §6.6); resolves once it left, bounded.
   */
  async stop(bye: boolean): Promise<void> {
    if (this.finished) {
      return;
    }
    this.finish();
    if (bye && this.first) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, BYE_SEND_BOUND_MS);
        this.sendReport(true, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Schedules an access unit: the first keyframe at once, each next one its DTS distance later at the catch-up rate. */
  private enqueue(unit: VideoUnit): void {
    if (this.lastDts === undefined && !unit.key) {
      return; // nothing decodes before the first keyframe
    }
    const now = performance.now();
    const jumped = this.lastDts !== undefined && (unit.dts < this.lastDts || unit.dts - this.lastDts > LIVE_TIMESTAMP_JUMP_MS * TS_PER_MS);
    if (this.lastDts === undefined || jumped) {
      this.anchor = { at: Math.max(now, this.queue.at(-1)?.due ?? now), dts: unit.dts };
      if (jumped) {
        this.o.rtp.newTimeline(this.queue.at(-1)?.timestamp); // the camera's clock jumped: the viewer's timestamps go on evenly
      }
    }
    this.lastDts = unit.dts;
    const due = this.anchor.at + (unit.dts - this.anchor.dts) / TS_PER_MS / this.o.catchUpRate;
    this.queue.push({ unit, timestamp: this.o.rtp.timestamp(unit.pts, TIMELINE_GAP), due });
    this.queuedBytes += unit.data.length;
    if (this.queuedBytes > LIVE_SENDER_MAX_QUEUE_BYTES) {
      this.fail(`it fell more than ${LIVE_SENDER_MAX_QUEUE_BYTES >> 20} MiB of video behind the camera`);
    }
  }

  /** Sends what is due, and sets a timer for the next. */
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    while (!this.finished && this.queue.length && this.queue[0].due <= now) {
      const next = this.queue.shift() as Pending;
      this.queuedBytes -= next.unit.data.length;
      this.send(next);
    }
    const next = this.queue[0]?.due ?? Infinity;
    if (!this.finished && next < Infinity) {
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - now));
    }
  }

  private send(p: Pending): void {
    const payloads = this.packetizer.payloads(p.unit.data);
    for (let i = 0; i < payloads.length && !this.finished; i++) {
      const { packet, length, index } = this.o.rtp.packet(payloads[i], i === payloads.length - 1, p.timestamp, SRTP_TAG_BYTES);
      this.o.srtp.protectRtpInPlace(packet, length, index);
      this.transmit(packet, i === payloads.length - 1);
    }
    this.stats.accessUnits++;
    this.stats.packets += payloads.length;
    if (!this.first) {
      this.first = { wallMs: Date.now(), timestamp: p.timestamp };
      this.stats.firstSentAt = performance.now();
      this.sendReport(false);
      this.reports = setInterval(() => this.sendReport(false), this.o.rtcpIntervalMs);
    }
  }

  /**
   * Sends one datagram. Only `check`ed sends (an access unit's last) get a callback, which Node completes on a later
   * turn of the event loop (measured: about 0.1 CPU s per viewer-minute for a callback on every packet); a viewer that
   * cannot be reached fails every send, so one checked per frame tells it.
   */
  private transmit(datagram: Buffer, check: boolean): void {
    const { socket, port, address } = this.o;
    const failed = (err: Error | null): void => {
      if (err) {
        this.fail(`sending the video to the viewer failed (${(err as NodeJS.ErrnoException).code ?? 'its socket is closed'})`);
      }
    };
    try {
      if (socket.getSendQueueSize() > LIVE_SEND_BACKLOG_MAX_BYTES) {
        this.fail(`the viewer's network takes the video slower than the camera sends it (${LIVE_SEND_BACKLOG_MAX_BYTES >> 20} MiB ` +
          'waiting to be sent)');
        return;
      }
      if (check) {
        socket.send(datagram, port, address, failed);
      } else {
        socket.send(datagram, port, address);
      }
    } catch (err) {
      failed(err as Error); // the socket was closed under us
    }
  }

  /**
   * RFC 3550 §6.4.1 sender report (SRTCP). Its RTP timestamp is the first packet's plus the wall time since, as
   * ffmpeg's RTP muxer reports (libavformat rtpenc.c). The viewer's audio (live-audio.ts, live from the camera, not
   * from the cached start) is reported on the wall clock of its packets' arrival: the two differ by the cached lead.
   */
  private sendReport(ending: boolean, sent?: () => void): void {
    const first = this.first;
    if (!first) {
      return;
    }
    const wallMs = Date.now();
    const rtpTimestamp = (first.timestamp + Math.round((wallMs - first.wallMs) * TS_PER_MS)) % 2 ** 32;
    const { rtp, srtp, socket, port, address } = this.o;
    const report = senderReport({ ssrc: rtp.ssrc, wallMs, rtpTimestamp, packets: rtp.packets, octets: rtp.octets }, ending);
    try {
      socket.send(srtp.protectRtcp(report), port, address, () => sent?.());
    } catch {
      sent?.(); // the socket was closed under us: nothing more to say to this viewer
    }
  }

  private finish(): void {
    this.finished = true;
    clearTimeout(this.timer);
    clearInterval(this.reports);
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private fail(reason: string): void {
    if (this.finished) {
      return;
    }
    this.finish();
    this.o.onEnd(reason);
  }
}
