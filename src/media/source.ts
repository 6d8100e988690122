// The one place that reads a camera's RTSP stream (one ffmpeg per profile, copying, never decoding) and fans it out as
// MPEG-TS to every consumer: live viewers, the HKSV prebuffer, snapshot fallbacks. Cheap cameras allow 2–4 RTSP
// sessions and fail silently beyond, so however many residents watch, the camera sees one session per profile.
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import {
  CONSUMER_MAX_BACKLOG_BYTES, FIRST_KEYFRAME_TIMEOUT_MS, RTSP_IO_TIMEOUT_MS, SOURCE_CACHE_MAX_BYTES, SOURCE_IDLE_STOP_MS,
  CAPTURE_ESTIMATE_MAX_LAG_MS, SOURCE_HOLD_READ_PACE_MS, SOURCE_INTERLEAVE_DELTA_US, SOURCE_RETRY_MAX_MS, SOURCE_RETRY_MIN_MS, SOURCE_STALL_MS,
} from '../settings';
import { isSameHost, unbracket } from '../util/address';
import { backoffMs, humanDuration } from '../util/backoff';
import type { Log } from '../util/log';
import { FfmpegExit, FfmpegProcess } from './ffmpeg';
import { PlainTs, PluginRead, PluginReadExit } from './plugin-read';
import { findSps, NAL, nalType, parseSps, splitAnnexB } from './h264';
import { TS_PACKET_BYTES, TsPacketInfo, TsReader } from './mpegts';
import { StreamUnusable } from './ts-demux';
import { UnitFanout } from './unit-fanout';

export type SourceLog = Log;

/** What the camera actually sends, read from the stream (not from what ONVIF claims): decides copy or transcode. */
export interface StreamFacts {
  /** ffmpeg's codec name: h264, hevc, ... */
  codec?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** From the H.264 SPS: 66 Baseline, 77 Main, 100 High; level_idc 31 = 3.1, 40 = 4.0. */
  profileIdc?: number;
  levelIdc?: number;
  /** Measured between the last keyframes (ms). */
  keyframeIntervalMs?: number;
  /** The last few keyframe intervals, oldest first (ms): a camera with a variable ("smart", "auto") GOP shows here. */
  keyframeIntervalsMs?: number[];
  /** Measured over the last whole GOP, container overhead included (kbps). */
  bitrateKbps?: number;
  /** Audio as carried to consumers (after any conversion at the source): aac, or undefined for none. */
  audio?: string;
  audioSampleRateHz?: number;
}

export interface SourceOptions {
  /** "Porch main": for log lines. */
  label: string;
  /** The RTSP URL with credentials (registered for redaction by the caller). */
  url: string;
  ffmpegPath: string;
  log: SourceLog;
  /** The camera's audio as ONVIF describes it: AAC is copied, G.711 and others become AAC (MPEG-TS cannot carry G.711). */
  audio: 'copy' | 'aac' | 'none';
  /** Nobody needing the stream for this long stops the read (ms); default SOURCE_IDLE_STOP_MS. Tests shorten it. */
  idleStopMs?: number;
  /** No output for this long restarts the read (ms); default SOURCE_STALL_MS. Tests of a hung camera shorten it. */
  stallMs?: number;
  /** While only holds that reach back (the HKSV prebuffer) keep a read in the plugin, read the camera's connection at
   *  most this often (ms); default SOURCE_HOLD_READ_PACE_MS, 0 never. */
  holdPaceMs?: number;
  /** Read the stream in the plugin (RTSP, H.264 or H.265 and AAC into MPEG-TS without a process) when its codecs allow; false:
   *  always with ffmpeg. Default true. */
  readInPlugin?: boolean;
  /** How the camera sends RTP: inside the RTSP connection (default) or over UDP (a camera refusing UDP is read over TCP). */
  rtspTransport?: 'tcp' | 'udp';
  /** The camera's configured host: a stream URL on another host (an NVR, a proxy, or a camera misreporting itself) is
   *  said once, since the camera's login goes there with it. */
  cameraHost?: string;
}

export interface AttachOptions {
  /** Start this far back (ms), on the newest keyframe captured at least that long before `fromMs` (the HKSV
   *  prebuffer); 0 = the newest keyframe. */
  backMs?: number;
  /** The instant (wall clock, ms) `backMs` counts back from: the motion event; default now. */
  fromMs?: number;
  /** Called once if the consumer is cut off (it fell too far behind) or the source is stopped for good. */
  onEnd?: (reason: string) => void;
}

export interface Attachment {
  detach(): void;
}

interface Gop {
  /** Wall-clock arrival of the keyframe (ms). */
  at: number;
  pts?: number;
  /** Smallest arrival minus PTS (ms) of the GOP's frames: the least-delayed frame shows the camera clock best. */
  minLagMs: number;
  /** Runs of whole TS packets, in order. */
  packets: Buffer[];
  /** Bytes held in `packets`. */
  bytes: number;
  /** Bytes the GOP had, held or not (its bitrate). */
  seen: number;
  /** Grew past the cache's bound by itself: nothing of it is held, and nobody starts from it. */
  dropped: boolean;
  /** Video packets looked at for the SPS so far. */
  spsLook: number;
}

interface Sink {
  out: Writable;
  options: AttachOptions;
  /** Waiting for the first keyframe: nothing useful can be sent before it. */
  waiting: boolean;
  ended: boolean;
}

export interface SourceStats {
  running: boolean;
  consumers: number;
  holds: number;
  /** Upstream reads started (1 = never restarted). */
  starts: number;
  bytesIn: number;
  cachedGops: number;
  cachedBytes: number;
}

/** One camera profile's stream, read at most once at a time, with a keyframe-aligned cache. */
export class MediaSource extends EventEmitter {
  private upstream?: FfmpegProcess | PluginRead;
  /** Why this stream is read with ffmpeg rather than in the plugin (its codecs), once a read in the plugin found out. */
  private needsFfmpeg?: string;
  private reader = new TsReader();
  private fanout?: UnitFanout;
  private readonly sinks = new Set<Sink>();
  private holds = new Map<symbol, number>();
  private gops: Gop[] = [];
  private cachedBytes = 0;
  private pat?: Buffer;
  private pmt?: Buffer;
  private streamFacts: StreamFacts = {};
  private idleTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  /** When the read that is down will be tried again (wall clock ms), while `retryTimer` runs. */
  private retryAt = 0;
  private lastDataAt = 0;
  private retainMs = 0;
  private failures = 0;
  private starts = 0;
  private bytesIn = 0;
  private stopped = false;
  private lastFailure = '';
  /** The picture size of the last SPS of this read: a different one is the camera changing it. */
  private spsSize?: string;
  /** This read has said that its keyframe groups are too large to keep. */
  private saidOversize = false;
  /** When this read's first keyframe came (ms; 0 before): a read is a recovery only once it has lasted. */
  private firstGopAt = 0;

  constructor(private options: SourceOptions) {
    super();
    this.sayOtherHost();
    // Every viewer starting, snapshot and clip waits for the first keyframe (and the SPS) with a listener of its own while
    // the read starts; each removes it when done or timed out. Residents opening a camera together exceed the default 10.
    this.setMaxListeners(64);
  }

  /** Send this stream to `out` from a keyframe (cached, so at once when the source is running), then live. */
  attach(out: Writable, options: AttachOptions = {}): Attachment {
    const sink: Sink = { out, options, waiting: true, ended: false };
    this.sinks.add(sink);
    this.updateRetain();
    this.updatePace();
    // A consumer that finds the stream unusable for it (a copied clip meeting another picture size) ends with its reason.
    out.on('error', (err) => this.drop(sink, err instanceof StreamUnusable ? err.message : undefined));
    out.on('close', () => this.drop(sink, undefined));
    this.want();
    const start = this.startGop(options.backMs ?? 0, options.fromMs);
    if (start >= 0) {
      sink.waiting = false;
      this.send(sink, this.header());
      for (const gop of this.gops.slice(start)) {
        gop.packets.forEach((p) => this.send(sink, p));
      }
    }
    return { detach: () => this.drop(sink, undefined) };
  }

  /** This stream as access units, demuxed once for all who take units (the plugin's live senders): see unit-fanout.ts. */
  units(): UnitFanout {
    this.fanout ??= new UnitFanout((out, options) => this.attach(out, options));
    return this.fanout;
  }

  /** Keep reading (and keep `backMs` of history) with no consumer attached: the HKSV prebuffer. Returns the release. */
  hold(backMs: number): () => void {
    const key = Symbol('hold');
    this.holds.set(key, backMs);
    this.updateRetain();
    this.want();
    this.updatePace();
    return () => {
      if (this.holds.delete(key)) {
        this.updateRetain();
        this.updatePace();
        this.trim();
        this.maybeIdle();
      }
    };
  }

  /** PAT + PMT + the newest GOP: what a decoder needs for one picture (the snapshot fallback). Starts the read if needed. */
  async keyframe(signal?: AbortSignal): Promise<Buffer | undefined> {
    const release = this.hold(0);
    try {
      await this.firstKeyframe(signal);
      const gop = this.gops.at(-1);
      return gop && !gop.dropped ? Buffer.concat([this.header(), ...gop.packets]) : undefined;
    } catch {
      return undefined;
    } finally {
      release();
    }
  }

  /** What the camera sends, once a keyframe has arrived (starting the read if needed, bounded in time). */
  async facts(signal?: AbortSignal): Promise<StreamFacts> {
    const release = this.hold(0);
    try {
      await this.firstKeyframe(signal);
      if (this.streamFacts.profileIdc === undefined && this.streamFacts.codec === 'h264') {
        // The SPS trails the keyframe's first packet by a few packets: at most a frame's time.
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            this.off('sps', done); // a timeout must not leave the listener behind
            resolve();
          };
          const timer = setTimeout(done, SPS_WAIT_MS);
          this.once('sps', done);
        });
      }
      return { ...this.streamFacts };
    } finally {
      release();
    }
  }

  stats(): SourceStats {
    return {
      running: this.upstream !== undefined, consumers: this.sinks.size, holds: this.holds.size, starts: this.starts,
      bytesIn: this.bytesIn, cachedGops: this.gops.length, cachedBytes: this.cachedBytes,
    };
  }

  /**
   * The camera answered with another RTSP address for this stream (after a restart it was started from what Home kept):
   * the next read uses it, and one waiting to retry the old address tries the new one now.
   */
  retarget(url: string): void {
    if (url === this.options.url) {
      return;
    }
    this.options = { ...this.options, url };
    this.sayOtherHost();
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.want();
    }
  }

  private downSentence(why: string, waitMs: number): string {
    return `the camera's stream is down (${why}); it is read again in ${humanDuration(Math.max(0, waitMs))}`;
  }

  /**
   * The camera is known to be back (its events answer again): a read waiting out its backoff starts now. Motion right
   * after an outage would otherwise find the read still waiting, and the hub's clip would get nothing.
   */
  retryNow(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.want();
    }
  }

  /** One line when the stream is read from another host than the camera: where the video and the login go is no surprise. */
  private sayOtherHost(): void {
    const { cameraHost, url, label, log } = this.options;
    let host: string;
    try {
      host = unbracket(new URL(url).hostname);
    } catch {
      return;
    }
    if (cameraHost && host && !isSameHost(host, cameraHost)) {
      log.info(`${label} stream: read from ${streamHost(url)}, which is not the camera (${cameraHost}) but the address the ` +
        "camera gave for it (an NVR or a proxy?); the camera's login is sent there");
    }
  }

  /** Ends every consumer and the read, for good (the camera is going away). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    [...this.sinks].forEach((s) => this.drop(s, 'the camera stopped'));
    this.holds.clear();
    this.updateRetain();
    await this.stopUpstream();
  }

  /**
   * Resolves at the first keyframe of a running read. A read that is down and waiting out its backoff fails at once with
   * why, and so does a wait that a failing read would outlast: a hub asking for a clip, a viewer or a snapshot then hears
   * that the camera's stream is down now, not after the 10 s of nothing the hub would give up on anyway.
   */
  private firstKeyframe(signal?: AbortSignal): Promise<void> {
    if (this.gops.length) {
      return Promise.resolve();
    }
    if (this.retryTimer && this.lastFailure) {
      return Promise.reject(new Error(this.downSentence(this.lastFailure, this.retryAt - Date.now())));
    }
    const deadline = Date.now() + FIRST_KEYFRAME_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.off('keyframe', onKey);
        this.off('down', onDown);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          reject(err);
        } else {
          resolve();
        }
      };
      const onKey = (): void => done();
      const onDown = (why: string, waitMs: number): void => {
        if (Date.now() + waitMs >= deadline) {
          done(new Error(this.downSentence(why, waitMs)));
        }
      };
      const onAbort = (): void => done(new Error('aborted'));
      const timer = setTimeout(() => done(new Error(`no picture from the camera within ${FIRST_KEYFRAME_TIMEOUT_MS / 1000} s` +
        (this.lastFailure ? ` (${this.lastFailure})` : ''))), FIRST_KEYFRAME_TIMEOUT_MS);
      this.on('keyframe', onKey);
      this.on('down', onDown);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Paced reads (SOURCE_HOLD_READ_PACE_MS) while only the prebuffer keeps the read: no consumer attached and every hold
   * reaching back (a snapshot's or a stream check's hold(0) wants the next keyframe now); reads as the bytes come as
   * soon as anyone else needs the stream. A read by ffmpeg is not paced (its own process reads the camera).
   */
  private updatePace(): void {
    if (!(this.upstream instanceof PluginRead)) {
      return;
    }
    const paceMs = this.options.holdPaceMs ?? SOURCE_HOLD_READ_PACE_MS;
    const onlyPrebuffer = this.sinks.size === 0 && this.holds.size > 0 && [...this.holds.values()].every((ms) => ms > 0);
    this.upstream.paceReads(onlyPrebuffer ? paceMs : 0);
  }

  private want(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (!this.upstream && !this.retryTimer && !this.stopped) {
      this.startUpstream();
    }
  }

  private get needed(): boolean {
    return this.sinks.size > 0 || this.holds.size > 0;
  }

  private maybeIdle(): void {
    if (this.needed || this.idleTimer) {
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.needed) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        void this.stopUpstream();
      }
    }, this.options.idleStopMs ?? SOURCE_IDLE_STOP_MS);
  }

  private startUpstream(): void {
    this.starts++;
    this.reader = new TsReader();
    this.streamFacts = {};
    this.spsSize = undefined;
    this.saidOversize = false;
    this.firstGopAt = 0;
    const { readInPlugin, audio } = this.options;
    // Audio that must become AAC (G.711 and the like) needs ffmpeg's encoder, and so does a stream the plugin found it
    // cannot read (video other than H.264 and H.265, audio that is not AAC): those are read with ffmpeg.
    if (readInPlugin !== false && audio !== 'aac' && !this.needsFfmpeg) {
      this.startPluginRead();
    } else {
      this.startFfmpegRead();
    }
    this.armStall();
  }

  /** The stream read here: RTSP in Node, muxed to MPEG-TS as ffmpeg would (plugin-read.ts). */
  private startPluginRead(): void {
    const { url, label, log, audio, rtspTransport } = this.options;
    const read = new PluginRead({ url, label, audio: audio === 'copy', transport: rtspTransport, debug: (m) => log.debug(m) });
    this.upstream = read;
    this.updatePace();
    read.on('data', (chunk: Buffer, plain?: PlainTs) => this.onData(chunk, plain));
    read.on('facts', (facts: Partial<StreamFacts>) => Object.assign(this.streamFacts, facts));
    // A frame over the bound is a broken or hostile camera: said once per read. Losses go to the debug log.
    read.on('drop', (reason: string) => {
      const oversize = /frame over \d+ MiB/.test(reason);
      if (oversize && !this.saidOversize) {
        this.saidOversize = true;
        log.warn(`${label} stream: ${reason}`);
      } else {
        log.debug(`${label} stream: ${reason}`);
      }
    });
    read.on('unreadable', (reason: string) => {
      this.needsFfmpeg = reason;
      log.info(`${label} stream: read with ffmpeg because ${reason}`);
    });
    read.once('exit', (exit: PluginReadExit) => {
      // Not a failure: the camera sends what only ffmpeg reads. Read again at once, with ffmpeg, without a backoff.
      if (this.needsFfmpeg && exit.stopped && this.upstream === read && !this.stopped && this.needed) {
        this.upstream = undefined;
        clearInterval(this.stallTimer);
        this.startUpstream();
        return;
      }
      this.onExit(read, !exit.stopped ? exit.why : exit.garbled
        ? `the camera sends something that is not a video stream the plugin can read (${exit.garbled})` : 'the camera stopped sending video');
    });
  }

  private startFfmpegRead(): void {
    const { ffmpegPath, url, label, log, audio } = this.options;
    const audioArgs = audio === 'none' ? [] : ['-map', '0:a:0?', ...(audio === 'copy' ? ['-c:a', 'copy'] : ['-c:a', 'aac', '-b:a', '64k'])];
    const args = [
      '-hide_banner', '-nostats', '-loglevel', 'info',
      // No single buffer over 64 MiB: a camera sending one endless NAL unit has ffmpeg's H.264 parser buffer all of it
      // (measured: 190 MB after 8 s of a 200 MB NAL, growing with what arrives); with the cap ffmpeg stays near 130 MB,
      // passes the stream on in pieces, and the source drops them (its cache bound, the clip's 8 MiB frame limit).
      '-max_alloc', String(FFMPEG_MAX_ALLOC_BYTES),
      '-rtsp_transport', this.options.rtspTransport ?? 'tcp', '-timeout', String(RTSP_IO_TIMEOUT_MS * 1000),
      '-analyzeduration', '200000', '-probesize', '32768',
      '-i', url,
      '-map', '0:v:0', '-c:v', 'copy', ...audioArgs,
      // Nothing waits at the source: no mux delay, each packet flushed to the pipe, no waiting for the other stream to
      // interleave (the consumers do not need it), and PES lengths written so a reader emits a frame as soon as its last
      // byte arrives instead of waiting for the next frame to start.
      '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', '-max_interleave_delta', String(SOURCE_INTERLEAVE_DELTA_US),
      '-omit_video_pes_length', '0', '-flush_packets', '1', 'pipe:1',
    ];
    const proc = new FfmpegProcess(ffmpegPath, args, { debug: (m) => log.debug(m), error: (m) => log.debug(m) }, `${label} source`);
    this.upstream = proc;
    proc.on('line', (line: string) => this.readFacts(line));
    proc.process.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    proc.once('exit', (exit: FfmpegExit) => this.onExit(proc, explainExit(exit, this.options.url)));
  }

  private async stopUpstream(): Promise<void> {
    const proc = this.upstream;
    this.upstream = undefined;
    clearInterval(this.stallTimer);
    this.clearCache();
    await proc?.stop();
  }

  private onExit(proc: FfmpegProcess | PluginRead, why: string): void {
    if (this.upstream !== proc) {
      return; // a stop we asked for
    }
    this.upstream = undefined;
    clearInterval(this.stallTimer);
    // Consumers that were receiving this read are cut where they are: a viewer's stream ends (HomeKit shows it ended,
    // rather than a frozen picture that resumes with timestamps from another read), a clip closes with what it has. Those
    // still waiting for a first picture wait for the next read.
    const receiving = [...this.sinks].filter((s) => !s.waiting);
    this.clearCache();
    receiving.forEach((s) => this.drop(s, `the camera's stream was cut (${why})`));
    if (this.stopped || !this.needed) {
      return;
    }
    // A camera that gives a picture and then fails again within seconds (garbage after a good start, a connection cut
    // each time) is still failing: its backoff goes on growing and the same reason stays out of the log. Only a read
    // that lasted starts both afresh.
    if (this.firstGopAt && Date.now() - this.firstGopAt >= SOURCE_STABLE_READ_MS) {
      this.failures = 0;
      this.lastFailure = '';
    }
    const wait = backoffMs(this.failures++, SOURCE_RETRY_MIN_MS, SOURCE_RETRY_MAX_MS);
    // A new reason is said out loud once; the same again goes to the debug log.
    // A failure that ffmpeg might not have (the camera's RTSP dialect, not its login, address or network): say the way out.
    const hint = proc instanceof PluginRead && !CAMERA_SIDE_FAILURE.test(why)
      ? ' (read in the plugin; if other apps such as VLC play this stream, "streamReader": "ffmpeg" reads it with ffmpeg)' : '';
    const line = `${this.options.label} stream: ${why}${hint}; reading it again in ${humanDuration(wait)}`;
    if (why !== this.lastFailure) {
      this.options.log.warn(line);
    } else {
      this.options.log.debug(line);
    }
    this.lastFailure = why;
    this.retryAt = Date.now() + wait;
    this.emit('down', why, wait);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.needed && !this.stopped) {
        this.startUpstream();
      }
    }, wait);
  }

  /** No bytes for SOURCE_STALL_MS: the camera hung without closing; kill the read so onExit retries it. Checked on an
   *  interval rather than re-armed per chunk (20 chunks a second per camera). */
  private armStall(): void {
    clearInterval(this.stallTimer);
    const proc = this.upstream;
    this.lastDataAt = Date.now();
    const stallMs = this.options.stallMs ?? SOURCE_STALL_MS;
    this.stallTimer = setInterval(() => {
      if (proc && this.upstream === proc && Date.now() - this.lastDataAt > stallMs) {
        clearInterval(this.stallTimer);
        this.options.log.debug(`${this.options.label} stream: no data for ${stallMs / 1000} s, restarting the read`);
        void proc.stop();
      }
    }, stallMs / 4);
  }

  private onData(chunk: Buffer, plain?: PlainTs): void {
    this.bytesIn += chunk.length;
    this.lastDataAt = Date.now();
    // The read in the plugin says when a chunk is its muxer's output between keyframes (whole packets, no table, no
    // keyframe): parsing its packets again would find nothing, and was a fifth of that read's CPU. Once the SPS search
    // of the GOP is over (it looks into the first video packets), such a chunk goes to the cache as it is.
    const last = this.gops.at(-1);
    if (plain && last && last.spsLook >= SPS_SEARCH_PACKETS) {
      if (plain.videoPts !== undefined) {
        last.minLagMs = Math.min(last.minLagMs, this.lastDataAt - plain.videoPts / 90);
      }
      if (chunk.length) {
        this.append(last, chunk);
      }
      this.trim();
      return;
    }
    // Packets between keyframes go to the cache and the consumers as one buffer per chunk (a view, not a copy, when they
    // are contiguous): per-packet objects cost the garbage collector more than the parsing itself.
    let run: TsPacketInfo[] = [];
    const flush = (): void => {
      const gop = this.gops.at(-1);
      if (run.length && gop) {
        this.append(gop, joined(run));
      }
      run = [];
    };
    const now = Date.now();
    for (const info of this.reader.push(chunk)) {
      this.note(info);
      if (info.isVideoFrameStart && info.pts !== undefined && !info.isKeyframe) {
        const gop = this.gops.at(-1);
        if (gop) {
          gop.minLagMs = Math.min(gop.minLagMs, now - info.pts / 90);
        }
      }
      if (info.isKeyframe) {
        flush();
        this.onKeyframe(info);
      }
      const gop = this.gops.at(-1);
      if (!gop) {
        continue;
      }
      run.push(info);
      // The SPS follows the keyframe's start within a few packets (after an SEI, for x264 streams).
      if (gop.spsLook < SPS_SEARCH_PACKETS && info.pid === this.reader.video) {
        gop.spsLook++;
        const payload = info.packet.subarray(info.payload);
        const sps = findSps(payload);
        if (sps) {
          this.streamFacts.profileIdc = sps.profileIdc;
          this.streamFacts.levelIdc = sps.levelIdc;
          this.noteSize(payload);
          gop.spsLook = SPS_SEARCH_PACKETS;
          this.emit('sps');
        }
      }
    }
    flush();
    this.trim();
  }

  /** Whole packets of the newest GOP: cached (within the bound) and sent to every consumer past its first keyframe. */
  private append(gop: Gop, data: Buffer): void {
    gop.seen += data.length;
    if (!gop.dropped && gop.bytes + data.length > SOURCE_CACHE_MAX_BYTES) {
      this.dropGop(gop);
    }
    if (!gop.dropped) {
      gop.packets.push(data);
      gop.bytes += data.length;
      this.cachedBytes += data.length;
    }
    this.sinks.forEach((s) => !s.waiting && this.send(s, data));
  }

  /**
   * The picture size from the SPS, which the camera may change mid-stream (its settings changed, a fallback to a lower
   * resolution): ffmpeg says the size only once, when the read starts. A change is said once, with both sizes; a copied
   * clip ends on it (its init segment has one size), a new one starts with the new size.
   */
  private noteSize(payload: Buffer): void {
    const nal = splitAnnexB(payload).find((n) => nalType(n) === NAL.SPS);
    let size: { width: number; height: number };
    try {
      size = parseSps(nal ?? Buffer.alloc(0));
    } catch {
      return; // cut short at the packet's end: ffmpeg's size stands
    }
    const now = `${size.width}x${size.height}`;
    if (this.spsSize && this.spsSize !== now) {
      this.options.log.warn(`${this.options.label} stream: the camera changed its picture size from ${this.spsSize} to ${now}`);
    }
    this.spsSize = now;
    this.streamFacts.width = size.width;
    this.streamFacts.height = size.height;
  }

  /** A GOP that by itself outgrows the cache is not kept: a broken or hostile stream must not take the memory. */
  private dropGop(gop: Gop): void {
    this.cachedBytes -= gop.bytes;
    gop.packets = [];
    gop.bytes = 0;
    gop.dropped = true;
    const line = `${this.options.label} stream: the camera sent more than ${SOURCE_CACHE_MAX_BYTES >> 20} MiB between two ` +
      'keyframes (frames far larger than a camera picture, or a keyframe interval of minutes); it is not kept, so new ' +
      'viewers and recordings wait for the next keyframe';
    if (!this.saidOversize) {
      this.options.log.warn(line);
      this.saidOversize = true;
    } else {
      this.options.log.debug(line);
    }
  }

  private note(info: TsPacketInfo): void {
    if (info.isTable) {
      if (info.pid === 0) {
        this.pat = Buffer.from(info.packet);
      } else {
        this.pmt = Buffer.from(info.packet);
      }
    }
  }

  private onKeyframe(info: TsPacketInfo): void {
    const last = this.gops.at(-1);
    if (last?.pts !== undefined && info.pts !== undefined && info.pts > last.pts) {
      this.streamFacts.keyframeIntervalMs = Math.round((info.pts - last.pts) / 90);
      this.streamFacts.keyframeIntervalsMs = [...(this.streamFacts.keyframeIntervalsMs ?? []), this.streamFacts.keyframeIntervalMs]
        .slice(-KEYFRAME_INTERVALS_KEPT);
      this.streamFacts.bitrateKbps = Math.round(last.seen * 8 / this.streamFacts.keyframeIntervalMs);
    }
    const at = Date.now();
    this.gops.push({ at, pts: info.pts, minLagMs: info.pts === undefined ? Infinity : at - info.pts / 90, packets: [], bytes: 0, seen: 0, dropped: false, spsLook: 0 });
    this.firstGopAt ||= at;
    // Consumers waiting for a picture start here, with the tables a decoder needs first.
    for (const sink of this.sinks) {
      if (sink.waiting) {
        sink.waiting = false;
        this.send(sink, this.header());
      }
    }
    this.emit('keyframe');
  }

  /** Keeps the GOPs the longest hold (or a live joiner: the newest GOP) needs, within the memory bound. */
  private trim(): void {
    const backMs = this.retainMs;
    const now = Date.now();
    while (this.gops.length > 1) {
      const second = this.gops[1];
      const enoughWithoutOldest = now - second.at >= backMs;
      if (!enoughWithoutOldest && this.cachedBytes <= SOURCE_CACHE_MAX_BYTES) {
        break;
      }
      this.cachedBytes -= this.gops.shift()?.bytes ?? 0;
    }
  }

  /** The history the longest hold or consumer needs (ms): kept up to date as they come and go, not per chunk. */
  private updateRetain(): void {
    this.retainMs = Math.max(0, ...this.holds.values(), ...[...this.sinks].map((s) => s.options.backMs ?? 0));
  }

  /**
   * Index of the GOP to start from: the newest keyframe captured at least `backMs` before `fromMs`, else the oldest
   * kept; -1 when none. Capture, not arrival: a keyframe is the largest frame and reaches us last, so its arrival
   * says it is younger than it is, and the clip would start a whole GOP earlier than needed.
   */
  private startGop(backMs: number, fromMs = Date.now()): number {
    if (this.gops.length === 0) {
      return -1;
    }
    const cutoff = fromMs - backMs;
    // Nothing before a GOP that was not kept: its frames are missing, so whoever starts earlier decodes garbage there.
    const oldest = this.gops.reduce((from, g, i) => (g.dropped ? i + 1 : from), 0);
    if (oldest >= this.gops.length) {
      return -1;
    }
    for (let i = this.gops.length - 1; i >= oldest; i--) {
      if (this.capturedAt(i) <= cutoff) {
        return i;
      }
    }
    return oldest;
  }

  /** When GOP `i`'s keyframe was captured (wall clock ms): its PTS plus the smallest transport lag seen, else its arrival. */
  private capturedAt(i: number): number {
    const gop = this.gops[i];
    const lag = Math.min(...this.gops.map((g) => g.minLagMs));
    const estimate = gop.pts !== undefined && Number.isFinite(lag) ? gop.pts / 90 + lag : gop.at;
    // The 33-bit PTS wraps every 26.5 h and a camera may jump its clock: an estimate that is not a little before the
    // arrival is not believed, and the arrival (a little late, never wrong by hours) is used instead.
    return estimate <= gop.at && gop.at - estimate <= CAPTURE_ESTIMATE_MAX_LAG_MS ? estimate : gop.at;
  }

  /**
   * How much earlier than `fromMs - backMs` an attach with these options would start right now (ms, ≥ 0; 0 when there is
   * nothing cached): the keyframe it must start on lies up to a keyframe interval before what was asked. A transcoded
   * clip decodes that lead but does not encode it.
   */
  leadMs(backMs: number, fromMs = Date.now()): number {
    const i = this.startGop(backMs, fromMs);
    return i < 0 ? 0 : Math.max(0, fromMs - backMs - this.capturedAt(i));
  }

  private header(): Buffer {
    return Buffer.concat([this.pat, this.pmt].filter((b): b is Buffer => b !== undefined));
  }

  private send(sink: Sink, data: Buffer): void {
    if (sink.ended) {
      return;
    }
    if (sink.out.writableLength > CONSUMER_MAX_BACKLOG_BYTES) {
      this.drop(sink, `it fell more than ${CONSUMER_MAX_BACKLOG_BYTES >> 20} MiB behind the camera`);
      return;
    }
    if (sink.out.writable) {
      sink.out.write(data);
    }
  }

  private drop(sink: Sink, reason: string | undefined): void {
    if (sink.ended) {
      return;
    }
    sink.ended = true;
    this.sinks.delete(sink);
    this.updateRetain();
    this.updatePace();
    if (reason) {
      sink.options.onEnd?.(reason);
    }
    this.trim();
    this.maybeIdle();
  }

  private clearCache(): void {
    this.gops = [];
    this.cachedBytes = 0;
    // Consumers still attached wait for the next read's first keyframe.
    this.sinks.forEach((s) => { s.waiting = true; });
  }

  /** ffmpeg's own description of its input: "Stream #0:0: Video: h264 (Main), yuv420p(progressive), 1920x1080, 15 fps, ..." */
  private readFacts(line: string): void {
    const video = /Stream #0:\d+.*?: Video: (\w+)[^,]*,.*?(\d{2,5})x(\d{2,5})/.exec(line);
    if (video && !line.includes('Output')) {
      this.streamFacts.codec = video[1];
      this.streamFacts.width = Number(video[2]);
      this.streamFacts.height = Number(video[3]);
      const fps = /([\d.]+) fps/.exec(line) ?? /([\d.]+) tbr/.exec(line);
      this.streamFacts.fps = fps ? Math.round(Number(fps[1])) : undefined;
      return;
    }
    const audio = /Stream #0:\d+.*?: Audio: (\w+).*?(\d+) Hz/.exec(line);
    if (audio && this.options.audio !== 'none') {
      this.streamFacts.audio = this.options.audio === 'aac' ? 'aac' : audio[1];
      this.streamFacts.audioSampleRateHz = Number(audio[2]);
    }
  }
}

const SPS_SEARCH_PACKETS = 8;
/** Read failures any reader would have: the login, the address, the network, the camera busy or gone quiet. */
const CAMERA_SIDE_FAILURE = /password|refused|no stream at|40[134]|resolve|unreachable|no route|timed out|stopped sending|sessions|bandwidth|busy|killed/i;
/** The largest single allocation the source's ffmpeg may make: frames of copied H.264 are a few MB at 4K. */
const FFMPEG_MAX_ALLOC_BYTES = 64 * 1024 * 1024;
/** A read that gave pictures this long counts as the camera having recovered (ms): its next failure waits the shortest
 *  time again. Ten seconds bound a camera that keeps cutting to a read per 10 s; the soak's 30 s kept a read of 17 s
 *  (just back from a reboot) waiting 27 s after it was cut, and the clips asked for meanwhile were lost. */
const SOURCE_STABLE_READ_MS = 10_000;
/** Keyframe intervals kept in StreamFacts: enough to tell a steady GOP from a variable one. */
const KEYFRAME_INTERVALS_KEPT = 4;

/** One buffer for a run of packets: a view when they sit one after another in the same chunk, a copy otherwise. */
function joined(run: TsPacketInfo[]): Buffer {
  const first = run[0].packet;
  const last = run[run.length - 1].packet;
  const length = run.length * TS_PACKET_BYTES;
  if (first.buffer === last.buffer && last.byteOffset + last.length - first.byteOffset === length) {
    return Buffer.from(first.buffer, first.byteOffset, length);
  }
  return Buffer.concat(run.map((p) => p.packet));
}
const SPS_WAIT_MS = 1_000;

/** host:port of an RTSP URL, without its credentials; undefined when it is not one. */
function streamHost(url: string | undefined): string | undefined {
  try {
    const u = new URL(url ?? '');
    return `${u.hostname}:${u.port || (u.protocol === 'rtsps:' ? '322' : '554')}`;
  } catch {
    return undefined;
  }
}

/**
 * One sentence a user can act on, from how the read ended. Where the connection failed it names the host it went to
 * (ffmpeg's own word for it, which follows an RTSP redirect, else the URL's): the camera may give a stream address on
 * another device (an NVR, a proxy) or an address this machine cannot reach, and "the camera refused" would send the
 * user to the wrong box.
 */
export function explainExit(exit: FfmpegExit, url?: string): string {
  // Killed from outside (another program, a service manager, the kernel short of memory): whatever ffmpeg last wrote is
  // not why it ended, and the camera is not to blame.
  if (exit.signal && !exit.stopped) {
    return `the process reading the camera was killed from outside (${exit.signal}: another program, or the system short of memory)`;
  }
  const tail = exit.tail.join(' ');
  const connected = /Connection to tcp:\/\/([^?\s]+?)(?:\?\S*)? failed/.exec(tail);
  const host = connected?.[1] ?? streamHost(url);
  const at = host ? ` at ${host}` : '';
  const resolve = /Failed to resolve hostname (\S+?):/.exec(tail);
  if (resolve) {
    return `the stream's host name ${resolve[1]} does not resolve (the camera gave a stream address this machine cannot look up)`;
  }
  if (/No route to host|Network is unreachable|Host is unreachable/i.test(tail)) {
    return `no route to the stream's address${at} (the camera gave an address this machine cannot reach)`;
  }
  // Status codes as whole words: ffmpeg's lines start with pointers like "[rtsp @ 0x55d4401a2b00]", which contain them.
  if (/\b401\b|Unauthorized/i.test(tail)) {
    return 'the camera refused the user name or password for its RTSP stream';
  }
  if (/\b404\b|Not Found/i.test(tail)) {
    return 'the camera has no stream at the address ONVIF gave (404)';
  }
  if (/Connection refused/i.test(tail)) {
    return `the camera refused the RTSP connection${at} (is RTSP turned on in the camera?)`;
  }
  // What ffmpeg says when the answer is not RTSP, or what follows PLAY is not the H.264 the SDP announced.
  if (/Invalid data found|Could not find codec parameters/i.test(tail)) {
    return 'the camera sends something that is not a video stream the plugin can read (ffmpeg: ' +
      `${/Could not find codec parameters/i.test(tail) ? 'no picture size in what it sent' : 'invalid data'})`;
  }
  if (/timed out|Operation timed out/i.test(tail)) {
    return 'the camera stopped sending video';
  }
  if (/maximum|\b453\b|Not Enough Bandwidth|busy/i.test(tail)) {
    return 'the camera allows no more RTSP sessions (close other apps or NVRs reading it)';
  }
  if (exit.stopped) {
    return 'the camera stopped sending video';
  }
  return `the stream ended (${exit.tail.slice(-1)[0] ?? `ffmpeg exit ${exit.signal ?? exit.code}`})`;
}
