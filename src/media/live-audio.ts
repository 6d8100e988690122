// A camera's live sound for the viewers whose video the plugin copies: the one thing still transcoded (HomeKit takes
// Opus or AAC-ELD, cameras send AAC), so one small audio-only ffmpeg per camera stream and audio selection, shared by
// every viewer who listens. It reads the camera's AAC from the media source (one attachment, demuxed here: only the
// ADTS frames go to ffmpeg), encodes, and sends plain RTP to a loopback port of the plugin's (rtp/loopback-rtp.ts);
// each viewer gets its own re-stamped, SRTP-protected copy (rtp/relay-viewer.ts).
//
// Started with the first viewer, stopped with the last. An encoder that dies while viewers listen is restarted after a
// bounded backoff; the viewers' video goes on, and the log says why the sound stopped and when it is back.
import type { AudioInfo } from 'homebridge';
import { randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { backoffMs, humanDuration } from '../util/backoff';
import type { Log } from '../util/log';
import { FfmpegExit, FfmpegProcess } from './ffmpeg';
import { LoopbackRtpInput, RtpIn } from './rtp/loopback-rtp';
import type { RelayViewer } from './rtp/relay-viewer';
import { SRTP_TAG_BYTES } from './rtp/srtp';
import { TS_PACKET_BYTES, TsReader } from './mpegts';
import type { Attachment, MediaSource } from './source';
import { StreamUnusable, TsDemuxer } from './ts-demux';

/** What HomeKit selected for a viewer's audio, apart from its SSRC and payload type (each viewer's own). */
export type AudioSelection = Pick<AudioInfo, 'sample_rate' | 'bit_rate' | 'packet_time'> & { codec: 'opus' | 'aac-eld' };

/** The datagrams a viewer gets are at most this large (bytes, SRTP included), as when ffmpeg sent SRTP itself. */
export const AUDIO_PACKET_BYTES = 188;
/** The encoder's RTP payload type on loopback: dynamic (RFC 3551 §6) and outside 64–95, which RFC 5761 §4 leaves to RTCP. */
const ENCODER_PAYLOAD_TYPE = 97;
/** Opus's RTP clock is 48 kHz whatever the sampling rate (RFC 7587 §4.1). */
const OPUS_CLOCK_HZ = 48_000;
/** ADTS not yet read by the encoder past which it counts as stuck (bytes; about 30 s of the camera's AAC at 64 kbps). */
const ENCODER_STDIN_MAX_BYTES = 256 * 1024;
/** Restart backoff of an encoder that died while viewers listen (ms), and the run length after which a death counts as
 *  the first again (ms). */
const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;
const HEALTHY_RUN_MS = 30_000;

/** The RTP clock of the encoded audio: 48 kHz for Opus, the sampling rate for AAC (RFC 3640 §3.3.1, ffmpeg's muxer). */
export function audioClockHz(a: AudioSelection): number {
  return a.codec === 'opus' ? OPUS_CLOCK_HZ : a.sample_rate * 1000;
}

/** The camera's first audio track encoded as HomeKit asked (Opus, or AAC-ELD where ffmpeg has libfdk_aac), mono. */
export function audioEncodeArgs(a: AudioSelection): string[] {
  const args = ['-map', '0:a:0', '-ac', '1', '-ar', String(a.sample_rate * 1000), '-b:a', `${a.bit_rate || 24}k`];
  if (a.codec === 'opus') {
    args.push('-c:a', 'libopus', '-application', 'lowdelay', '-frame_duration', String(a.packet_time));
  } else {
    args.push('-c:a', 'libfdk_aac', '-profile:a', 'aac_eld', '-flags', '+global_header');
  }
  return args;
}

/**
 * The shared encoder's ffmpeg: ADTS frames on stdin, written as they come from the camera (no `-readrate`), none probed
 * ahead (a probe buffer stays a permanent delay; see clip-audio.ts); plain RTP with a fixed SSRC and payload type to the
 * plugin's loopback port, datagrams small enough that each viewer's SRTP tag still fits AUDIO_PACKET_BYTES.
 */
export function encoderArgs(a: AudioSelection, url: string, ssrc: number): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    '-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'aac', '-i', 'pipe:0',
    ...audioEncodeArgs(a),
    '-payload_type', String(ENCODER_PAYLOAD_TYPE), '-ssrc', String(ssrc), '-f', 'rtp', url,
  ];
}

function selectionKey(a: AudioSelection): string {
  return `${a.codec}/${a.sample_rate}/${a.bit_rate}/${a.packet_time}`;
}

function describe(a: AudioSelection): string {
  return `${a.codec === 'opus' ? 'Opus' : 'AAC-ELD'} ${a.sample_rate} kHz`;
}

export interface LiveAudioOptions {
  ffmpegPath: string;
  log: Log;
}

/** One viewer's place at an encoder. */
export interface AudioMembership {
  readonly source: MediaSource;
  readonly selection: AudioSelection;
  /** Leaves the encoder; resolves when its ffmpeg is gone if this was its last viewer. */
  leave(): Promise<void>;
}

/** The shared audio encoders of one camera, one per camera stream and audio selection that has viewers. */
export class LiveAudio {
  private readonly encoders = new Set<SharedEncoder>();
  private readonly stopping = new Set<Promise<void>>();

  constructor(private readonly o: LiveAudioOptions) {}

  /** Adds a viewer to the encoder of this stream and selection, starting it if it is the first. */
  join(source: MediaSource, streamName: string, selection: AudioSelection, viewer: RelayViewer): AudioMembership {
    const key = selectionKey(selection);
    let encoder = [...this.encoders].find((e) => e.source === source && e.key === key);
    if (!encoder) {
      encoder = new SharedEncoder(source, selection, this.o, `live audio (${streamName}, ${describe(selection)})`);
      this.encoders.add(encoder);
      encoder.start();
    }
    const joined = encoder;
    joined.viewers.add(viewer);
    let left = false;
    return {
      source, selection,
      leave: (): Promise<void> => {
        if (left) {
          return Promise.resolve();
        }
        left = true;
        joined.viewers.delete(viewer);
        if (joined.viewers.size > 0) {
          return Promise.resolve();
        }
        this.encoders.delete(joined);
        const stopped = joined.stop();
        this.stopping.add(stopped);
        void stopped.finally(() => this.stopping.delete(stopped));
        return stopped;
      },
    };
  }

  /** Encoders running now (one ffmpeg each, or one waiting to be restarted). */
  get size(): number {
    return this.encoders.size;
  }

  /** Stops every encoder (the camera is going away); resolves when their ffmpegs are gone. */
  async stopAll(): Promise<void> {
    const all = [...this.encoders].map((e) => e.stop());
    this.encoders.clear();
    await Promise.all([...all, ...this.stopping]);
  }
}

/** One ffmpeg run at a time for one stream and selection, its input and its fan-out to the viewers. */
class SharedEncoder {
  readonly viewers = new Set<RelayViewer>();
  readonly key: string;
  private input?: LoopbackRtpInput;
  private proc?: FfmpegProcess;
  private attachment?: Attachment;
  private demuxer = new TsDemuxer();
  /** Reads the tables of what reaches the demuxer: the video PID, whose packets are left out. */
  private tables = new TsReader();
  /** The source writes whole TS packets; should a chunk ever not be, everything goes to the demuxer unfiltered. */
  private aligned = true;
  /** Within source.attach: what is written now is the source's cached group, seconds old. The sound starts live. */
  private priming = false;
  /** The SSRC of the running ffmpeg: packets under another (an earlier run's late ones) are not relayed. */
  private ssrc = -1;
  private failures = 0;
  private startedAt = 0;
  /** The sound of this encoder stopped and was said so: its return is said too. */
  private silent = false;
  private restartTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly source: MediaSource, readonly selection: AudioSelection, private readonly o: LiveAudioOptions,
    private readonly label: string) {
    this.key = selectionKey(selection);
  }

  start(): void {
    void this.run().catch((err: Error) => this.died(`it could not start (${err.message})`));
  }

  /** Stops the ffmpeg (q, then TERM, then KILL) and closes the loopback port; resolves when the process is gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const proc = this.halt();
    await proc?.stop();
    this.input?.close();
  }

  private async run(): Promise<void> {
    this.input ??= await LoopbackRtpInput.open((packet) => this.fanOut(packet));
    if (this.stopped) {
      this.input.close();
      return;
    }
    // ffmpeg's -ssrc is a positive int (0 would be its own random pick, past 2^31 - 1 it refuses to start).
    this.ssrc = randomInt(1, 2 ** 31);
    const { ffmpegPath, log } = this.o;
    const proc = new FfmpegProcess(ffmpegPath, encoderArgs(this.selection, this.input.url(AUDIO_PACKET_BYTES - SRTP_TAG_BYTES), this.ssrc),
      log, this.label);
    this.proc = proc;
    this.startedAt = Date.now();
    proc.once('exit', (exit: FfmpegExit) => {
      if (this.proc === proc && !exit.stopped) {
        this.died(`its ffmpeg ended (${exit.tail.at(-1) ?? `exit ${exit.signal ?? exit.code}`})`);
      }
    });
    this.demuxer = new TsDemuxer();
    this.tables = new TsReader();
    this.aligned = true;
    const out = new Writable({
      write: (chunk: Buffer, _encoding, done): void => {
        this.take(chunk, proc);
        done();
      },
    });
    this.priming = true;
    try {
      this.attachment = this.source.attach(out, {
        onEnd: (reason) => this.proc === proc && this.died(`the camera's stream ended for it (${reason})`),
      });
    } finally {
      this.priming = false;
    }
  }

  /** The camera's AAC frames, as ADTS, to the encoder as they come. */
  private take(chunk: Buffer, proc: FfmpegProcess): void {
    if (this.proc !== proc) {
      return;
    }
    let units;
    try {
      units = this.demuxer.push(this.withoutVideo(chunk));
    } catch (err) {
      this.died(err instanceof StreamUnusable ? err.message : `the camera's stream could not be read (${(err as Error).message})`);
      return;
    }
    const stdin = proc.process.stdin;
    if (this.priming || !stdin?.writable) {
      return;
    }
    for (const unit of units) {
      if (unit.track !== 'audio') {
        continue;
      }
      if (stdin.writableLength > ENCODER_STDIN_MAX_BYTES) {
        this.died(`its ffmpeg stopped reading the camera's sound (${ENCODER_STDIN_MAX_BYTES >> 10} KiB waiting)`);
        return;
      }
      stdin.write(unit.adts);
    }
  }

  /**
   * The chunk without its video packets (ISO/IEC 13818-1 §2.4.3.2: the PID in bytes 1–2 of each 188-byte packet): the
   * encoder needs the tables and the audio, and assembling every video frame only to drop it was most of its cost.
   */
  private withoutVideo(chunk: Buffer): Buffer {
    this.aligned &&= chunk.length % TS_PACKET_BYTES === 0;
    const video = this.tables.video;
    if (!this.aligned || video === undefined) {
      this.tables.push(chunk);
      return chunk;
    }
    const kept: Buffer[] = [];
    let run = -1;
    for (let at = 0; at < chunk.length; at += TS_PACKET_BYTES) {
      const isVideo = (((chunk[at + 1] & 0x1f) << 8) | chunk[at + 2]) === video;
      if (isVideo && run >= 0) {
        kept.push(chunk.subarray(run, at));
        run = -1;
      } else if (!isVideo && run < 0) {
        run = at;
      }
    }
    if (run >= 0) {
      kept.push(chunk.subarray(run));
    }
    const out = kept.length === 1 ? kept[0] : Buffer.concat(kept);
    this.tables.push(out); // a new PMT (another read of the camera) may name another video PID
    return out;
  }

  private fanOut(packet: RtpIn): void {
    if (packet.ssrc !== this.ssrc || this.stopped) {
      return;
    }
    if (this.silent) {
      this.silent = false;
      this.o.log.info(`${this.label}: the sound is back for ${this.viewers.size} viewer(s)`);
    }
    for (const viewer of this.viewers) {
      viewer.relay(packet);
    }
  }

  /** This run is over without being asked: its viewers watch on without sound until a restart after a backoff. */
  private died(reason: string): void {
    if (this.stopped) {
      return;
    }
    this.halt();
    if (Date.now() - this.startedAt > HEALTHY_RUN_MS) {
      this.failures = 0;
    }
    const delayMs = backoffMs(this.failures++, RESTART_MIN_MS, RESTART_MAX_MS);
    const line = `${this.label}: the sound stopped for ${this.viewers.size} viewer(s), the picture goes on: ${reason}. ` +
      `Trying again in ${humanDuration(delayMs)}; if it keeps stopping, run Homebridge with -D to see ffmpeg's messages`;
    if (this.silent) {
      this.o.log.debug(line); // said once per outage, not once per retry
    } else {
      this.o.log.warn(line);
    }
    this.silent = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => this.start(), delayMs);
  }

  /** Detaches from the camera and asks the ffmpeg to go; returns it. */
  private halt(): FfmpegProcess | undefined {
    const proc = this.proc;
    this.proc = undefined;
    this.ssrc = -1;
    this.attachment?.detach();
    this.attachment = undefined;
    void proc?.stop();
    return proc;
  }
}
