// The receiving side of one live stream medium: a UDP socket on 127.0.0.1 that authenticates and decrypts SRTP,
// counts and captures what arrives, feeds video to the H.264 assembler, and sends SRTCP receiver reports as iOS does.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { ControllerHost } from './hap-client';
import { withTimeout } from './wait';
import { H264Assembler } from './h264-assembler';
import type { KeyframeInfo } from './h264-assembler';
import { isRtcp, SrtcpSender, SRTP_KEY_LENGTH, SrtpReceiveContext } from './srtp';
import type { RtpHeader, SrtpKeys } from './srtp';
import { MAX_ARRIVALS, streamNow } from './stream-clock';

export type MediaKind = 'video' | 'audio';

/** One datagram as it arrived (SRTP or SRTCP, still encrypted): what media-probe's decodeSrtp replays to ffmpeg. */
export interface CapturedDatagram {
  at: number;
  data: Buffer;
}

export interface ReceiverStats {
  kind: MediaKind;
  /** Our local UDP port (on the controller's loopback address). */
  port: number;
  /** Every datagram, whatever it is. */
  datagrams: number;
  bytes: number;
  /** RTP packets that authenticated with the accessory's (or, failing that, the controller's) key. */
  rtpPackets: number;
  rtpBytes: number;
  /** RTP-looking datagrams that authenticated with neither key. */
  authFailures: number;
  rtcpReceived: number;
  senderReports: number;
  rtcpSent: number;
  rtcpSendErrors: number;
  /** Which key decrypted the media: the accessory's from SetupEndpoints (as the spec says) or our own (echoed keys). */
  keySource: 'accessory' | 'controller' | undefined;
  payloadTypes: Record<number, number>;
  ssrcs: number[];
  /** RFC 3550 packets expected minus received for the main SSRC. */
  lost: number;
  firstDatagramAt: number | undefined;
  lastDatagramAt: number | undefined;
  firstPacketAt: number | undefined;
  lastPacketAt: number | undefined;
  /** Video only: access units with a slice, keyframes (decodable IDR access units), damaged frames. */
  frames: number;
  keyframes: number;
  incompleteFrames: number;
  firstKeyframe: KeyframeInfo | undefined;
}

export interface ReceiverOptions {
  /** Datagrams kept for replay (decodeSrtp), bounded by bytes. Default 32 MiB. */
  maxCaptureBytes?: number;
  /** Annex-B video kept, bounded. Default 64 MiB. */
  maxElementaryStreamBytes?: number;
}

const DEFAULT_CAPTURE_BYTES = 32 * 1024 * 1024;
const DEFAULT_ES_BYTES = 64 * 1024 * 1024;
const RTCP_CNAME = 'courtyard-rig@127.0.0.1';

/** Per-source reception statistics (RFC 3550 A.3, A.8) for the receiver reports. */
interface SourceStats {
  ssrc: number;
  baseExtended: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
  jitter: number;
  lastTransit: number | undefined;
  lastSrNtpMiddle: number;
  lastSrAt: number;
}

/** Binary search: how many sorted times are >= since. */
function countSince(times: number[], since: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < since) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return times.length - lo;
}

/** One media port: a UDP socket on loopback (127.0.0.1 or ::1, the controller's family) that receives SRTP (and SRTCP, muxed) and sends our SRTCP back. */
export class SrtpReceiver {
  private readonly stats: ReceiverStats;
  private readonly rtpArrivals: number[] = [];
  private readonly datagramArrivals: number[] = [];
  private readonly captured: CapturedDatagram[] = [];
  private capturedBytes = 0;
  private captureTruncatedFlag = false;
  private readonly maxCaptureBytes: number;
  private readonly h264: H264Assembler | undefined;
  private accessoryContext: SrtpReceiveContext | undefined;
  private readonly controllerContext: SrtpReceiveContext;
  private readonly rtcpSender: SrtcpSender;
  private remote: { address: string; port: number } | undefined;
  private senderSsrc = 0;
  private clockRate = 90_000;
  private source: SourceStats | undefined;
  private rtcpTimer: NodeJS.Timeout | undefined;
  private rtcpPaused = false;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  private constructor(readonly kind: MediaKind, private readonly socket: Socket, readonly controllerKeys: SrtpKeys, options: ReceiverOptions) {
    const address = socket.address();
    this.maxCaptureBytes = options.maxCaptureBytes ?? DEFAULT_CAPTURE_BYTES;
    this.controllerContext = new SrtpReceiveContext(controllerKeys);
    this.rtcpSender = new SrtcpSender(controllerKeys);
    this.stats = {
      kind, port: address.port, datagrams: 0, bytes: 0, rtpPackets: 0, rtpBytes: 0, authFailures: 0, rtcpReceived: 0,
      senderReports: 0, rtcpSent: 0, rtcpSendErrors: 0, keySource: undefined, payloadTypes: {}, ssrcs: [], lost: 0,
      firstDatagramAt: undefined, lastDatagramAt: undefined, firstPacketAt: undefined, lastPacketAt: undefined, frames: 0, keyframes: 0,
      incompleteFrames: 0, firstKeyframe: undefined,
    };
    if (kind === 'video') {
      this.h264 = new H264Assembler(options.maxElementaryStreamBytes ?? DEFAULT_ES_BYTES, () => this.notify());
    }
    socket.on('message', (data: Buffer) => this.onDatagram(data, streamNow()));
  }

  /** Bind a fresh UDP socket on host (port chosen by the OS). */
  static bind(kind: MediaKind, controllerKeys: SrtpKeys, options: ReceiverOptions = {}, host: ControllerHost = '127.0.0.1'): Promise<SrtpReceiver> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.removeListener('error', reject);
        socket.on('error', () => undefined); // send errors are counted where they happen; never crash the test process
        resolve(new SrtpReceiver(kind, socket, controllerKeys, options));
      });
    });
  }

  get port(): number {
    return this.stats.port;
  }

  /** The accessory's answer: its key (to decrypt what it sends) and where our RTCP goes. */
  setAccessory(keys: SrtpKeys | undefined, remote: { address: string; port: number }): void {
    this.accessoryContext = keys && keys.key.length === SRTP_KEY_LENGTH ? new SrtpReceiveContext(keys) : undefined;
    this.remote = remote;
  }

  /** Begin sending receiver reports every intervalMs (the first one now). */
  startRtcp(senderSsrc: number, clockRate: number, intervalMs: number): void {
    this.senderSsrc = senderSsrc;
    this.clockRate = clockRate;
    this.stopRtcp();
    this.rtcpTimer = setInterval(() => this.sendReport(), intervalMs);
    this.rtcpTimer.unref();
    this.sendReport();
  }

  stopRtcp(): void {
    if (this.rtcpTimer) {
      clearInterval(this.rtcpTimer);
      this.rtcpTimer = undefined;
    }
  }

  /** Stop/resume sending RTCP without ending anything: a controller that went away without saying so. */
  pauseRtcp(): void {
    this.rtcpPaused = true;
  }

  resumeRtcp(): void {
    this.rtcpPaused = false;
    this.sendReport();
  }

  snapshot(): ReceiverStats {
    const h = this.h264;
    return {
      ...this.stats,
      payloadTypes: { ...this.stats.payloadTypes },
      ssrcs: [...this.stats.ssrcs],
      lost: this.source ? Math.max(0, this.expected(this.source) - this.source.received) : 0,
      frames: h?.frames ?? 0,
      keyframes: h?.keyframes ?? 0,
      incompleteFrames: h?.incompleteFrames ?? 0,
      firstKeyframe: h?.firstKeyframe,
    };
  }

  /** Authenticated RTP packets that arrived at or after `since` (streamNow() ms); all datagrams with `all`. */
  packetsSince(since: number, all = false): number {
    return countSince(all ? this.datagramArrivals : this.rtpArrivals, since);
  }

  /** Datagrams as received, for replay; `truncated` when the capture bound was reached (the start is kept). */
  capture(): { datagrams: CapturedDatagram[]; truncated: boolean } {
    return { datagrams: [...this.captured], truncated: this.captureTruncatedFlag };
  }

  /** streamNow() at which each video frame arrived whole, in order (the frames of elementaryStream()). */
  frameArrivals(): number[] {
    return [...(this.h264?.frameArrivals ?? [])];
  }

  /** The decrypted video as an Annex-B H.264 elementary stream (bounded; see ReceiverOptions). */
  elementaryStream(): Buffer {
    if (!this.h264) {
      throw new Error('elementaryStream() is for the video receiver');
    }
    return this.h264.elementaryStream();
  }

  /** Resolves once check() returns a value (re-evaluated on every datagram); rejects after timeoutMs with what + stats. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const already = check();
    if (already !== undefined) {
      return Promise.resolve(already);
    }
    let listener: () => void = () => undefined;
    const found = new Promise<T>((resolve) => {
      listener = () => {
        const value = check();
        if (value !== undefined) {
          resolve(value);
        }
      };
      this.listeners.add(listener);
    });
    return withTimeout(found, timeoutMs, `${what} on the ${this.kind} port ${this.port}`)
      .catch((err: Error) => {
        throw new Error(`${err.message}; stats ${JSON.stringify(this.snapshot())}`);
      })
      .finally(() => this.listeners.delete(listener));
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.stopRtcp();
    this.listeners.clear();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private onDatagram(data: Buffer, at: number): void {
    const s = this.stats;
    s.datagrams++;
    s.bytes += data.length;
    s.firstDatagramAt ??= at;
    s.lastDatagramAt = at;
    this.pushBounded(this.datagramArrivals, at);
    if (!this.captureTruncatedFlag) {
      if (this.capturedBytes + data.length <= this.maxCaptureBytes) {
        this.captured.push({ at, data });
        this.capturedBytes += data.length;
      } else {
        this.captureTruncatedFlag = true;
      }
    }
    if (isRtcp(data)) {
      this.onRtcp(data, at);
    } else {
      this.onRtp(data, at);
    }
    this.notify();
  }

  private onRtp(data: Buffer, at: number): void {
    const s = this.stats;
    let result = this.accessoryContext?.unprotectRtp(data);
    let source: ReceiverStats['keySource'] = 'accessory';
    if (!result) {
      result = this.controllerContext.unprotectRtp(data);
      source = 'controller';
    }
    if (!result) {
      s.authFailures++;
      return;
    }
    const { header, payload } = result;
    s.keySource ??= source;
    s.rtpPackets++;
    s.rtpBytes += data.length;
    s.firstPacketAt ??= at;
    s.lastPacketAt = at;
    s.payloadTypes[header.payloadType] = (s.payloadTypes[header.payloadType] ?? 0) + 1;
    if (!s.ssrcs.includes(header.ssrc)) {
      s.ssrcs.push(header.ssrc);
    }
    this.pushBounded(this.rtpArrivals, at);
    this.updateSource(header, result.index, at);
    this.h264?.push(header, payload, at);
  }

  private onRtcp(data: Buffer, at: number): void {
    this.stats.rtcpReceived++;
    const plain = this.accessoryContext?.unprotectRtcp(data) ?? this.controllerContext.unprotectRtcp(data);
    // Remember the sender report's NTP time so our reports carry LSR/DLSR like a real receiver's.
    for (let offset = 0; plain && offset + 8 <= plain.length;) {
      const type = plain[offset + 1];
      const length = (plain.readUInt16BE(offset + 2) + 1) * 4;
      if (type === 200 && offset + 20 <= plain.length) {
        this.stats.senderReports++;
        if (this.source && plain.readUInt32BE(offset + 4) === this.source.ssrc) {
          this.source.lastSrNtpMiddle = plain.readUInt32BE(offset + 10);
          this.source.lastSrAt = at;
        }
      }
      offset += length;
    }
  }

  private updateSource(header: RtpHeader, index: number, at: number): void {
    this.source ??= {
      ssrc: header.ssrc, baseExtended: index, received: 0, expectedPrior: 0, receivedPrior: 0, jitter: 0,
      lastTransit: undefined, lastSrNtpMiddle: 0, lastSrAt: 0,
    };
    const src = this.source;
    if (src.ssrc !== header.ssrc) {
      return;
    }
    src.received++;
    const transit = (at * this.clockRate) / 1000 - header.timestamp;
    if (src.lastTransit !== undefined) {
      src.jitter += (Math.abs(transit - src.lastTransit) - src.jitter) / 16;
    }
    src.lastTransit = transit;
  }

  private expected(src: SourceStats): number {
    const highest = this.accessoryContext?.extendedHighest(src.ssrc) ?? this.controllerContext.extendedHighest(src.ssrc) ?? src.baseExtended;
    return highest - src.baseExtended + 1;
  }

  /** RFC 3550 compound RTCP: RR (one block once media arrived) + SDES CNAME, then SRTCP-protected. */
  private buildReport(at: number): Buffer {
    const src = this.source;
    const blocks = src ? 1 : 0;
    const rr = Buffer.alloc(8 + 24 * blocks);
    rr[0] = 0x80 | blocks;
    rr[1] = 201;
    rr.writeUInt16BE(rr.length / 4 - 1, 2);
    rr.writeUInt32BE(this.senderSsrc >>> 0, 4);
    if (src) {
      const expected = this.expected(src);
      const expectedInterval = expected - src.expectedPrior;
      const lostInterval = expectedInterval - (src.received - src.receivedPrior);
      src.expectedPrior = expected;
      src.receivedPrior = src.received;
      const fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
      const cumulative = Math.max(-0x800000, Math.min(0x7fffff, expected - src.received));
      rr.writeUInt32BE(src.ssrc >>> 0, 8);
      rr.writeUInt32BE((((fraction & 0xff) << 24) | (cumulative & 0xffffff)) >>> 0, 12);
      rr.writeUInt32BE((src.baseExtended + expected - 1) >>> 0, 16);
      rr.writeUInt32BE(Math.floor(src.jitter) >>> 0, 20);
      rr.writeUInt32BE(src.lastSrNtpMiddle >>> 0, 24);
      rr.writeUInt32BE(src.lastSrAt ? Math.floor(((at - src.lastSrAt) / 1000) * 65536) >>> 0 : 0, 28);
    }
    const cname = Buffer.from(RTCP_CNAME);
    const sdesLength = Math.ceil((4 + 2 + cname.length + 1) / 4) * 4;
    const sdes = Buffer.alloc(4 + sdesLength);
    sdes[0] = 0x81;
    sdes[1] = 202;
    sdes.writeUInt16BE(sdes.length / 4 - 1, 2);
    sdes.writeUInt32BE(this.senderSsrc >>> 0, 4);
    sdes[8] = 1; // CNAME
    sdes[9] = cname.length;
    cname.copy(sdes, 10); // the rest stays zero: END item and padding
    return this.rtcpSender.protect(Buffer.concat([rr, sdes]));
  }

  private sendReport(): void {
    if (this.closed || this.rtcpPaused || !this.remote || !this.rtcpTimer) {
      return;
    }
    const packet = this.buildReport(streamNow());
    this.socket.send(packet, this.remote.port, this.remote.address, (err) => {
      if (err) {
        this.stats.rtcpSendErrors++;
      } else {
        this.stats.rtcpSent++;
      }
    });
  }

  private pushBounded(list: number[], at: number): void {
    list.push(at);
    if (list.length > MAX_ARRIVALS) {
      list.splice(0, MAX_ARRIVALS / 2); // old arrivals are of no use to packetsSince(recent)
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      listener();
    }
  }
}
