// A camera profile's stream read in the plugin: the RTSP reader (rtsp/reader.ts) gives H.264 or H.265 access units and AAC frames,
// the TS muxer (ts-mux.ts) turns them into the MPEG-TS every consumer of the media source already takes (the keyframe
// cache, copied clips, viewers, transcoders). No ffmpeg runs while only the HKSV prebuffer reads a camera: that process
// (about 50 MB resident and 2 % of a core per camera) was the largest cost of a plugin with eight cameras.
//
// Timestamps: each RTP stream has its own clock and a random start (RFC 3550 §5.1). Video goes on its 90 kHz clock from
// 1 s (where ffmpeg's RTSP reader starts too); audio is placed by the arrival of its first frame against the video's
// first, then on its own clock: cameras send both from one capture clock, so they stay in step within the arrival
// jitter of those first packets (a few ms on a LAN).
import { EventEmitter } from 'node:events';
import type { StreamFacts } from './source';
import { RtspReader } from './rtsp/reader';
import { TsMuxer, wrapTimestamp } from './ts-mux';
import { NAL, nalType, parseSps } from './h264';
import { HEVC_NAL, hevcNalType, parseHevcSps } from './h265';

/** How a read ended: `why` is the sentence for the log; `stopped` when we ended it. */
export interface PluginReadExit {
  why: string;
  stopped: boolean;
  /** What was dropped since the last good picture, when anything was: a stream that stalls on garbage is not silent. */
  garbled?: string;
}

export interface PluginReadOptions {
  url: string;
  label: string;
  /** Read the camera's audio too (AAC only: anything else makes the read unreadable here). */
  audio: boolean;
  debug: (line: string) => void;
  /** How the camera's RTP is read: interleaved on the RTSP connection (default) or over UDP (see RtspReaderOptions). */
  transport?: 'tcp' | 'udp';
}

const VIDEO_START_90K = 90_000;
/** How long paced reads wait for an announced sound's first frame (90 kHz: 2 s of picture). */
const AUDIO_CLOCK_WAIT_90K = 180_000;
/** Frames whose timestamps give the frame rate: a second or two of a camera stream. */
const FPS_SAMPLE_FRAMES = 16;
/** Parameter set NAL unit types in the order they go first in a keyframe, the SPS's and the delimiter's type, and each
 *  codec's type reader. */
const PARAMETER_SETS = {
  h264: { types: [NAL.SPS, NAL.PPS] as number[], sps: NAL.SPS as number, aud: NAL.AUD as number, type: nalType },
  h265: { types: [HEVC_NAL.VPS, HEVC_NAL.SPS, HEVC_NAL.PPS] as number[], sps: HEVC_NAL.SPS as number, aud: HEVC_NAL.AUD as number, type: hevcNalType },
};

/**
 * Said with a chunk of TS that is the muxer's output between keyframes: whole packets, no PAT/PMT, no keyframe start, so
 * the source keeps it without parsing its packets again. `videoPts`: the PTS of the video frame it holds (33 bits, as
 * its PES header says), absent for an AAC frame.
 */
export interface PlainTs {
  videoPts?: number;
}

/**
 * Emits 'data' (TS bytes, and a PlainTs when the chunk is one), 'facts' (Partial<StreamFacts>, once the stream says them), 'drop' (reason: a frame lost or
 * refused, the video resumes at the next keyframe), 'unreadable' (reason: this stream needs ffmpeg; then 'exit' follows
 * with stopped = true) and 'exit' (PluginReadExit) once.
 */
export class PluginRead extends EventEmitter {
  private readonly abort = new AbortController();
  private readonly reader: RtspReader;
  private muxer?: TsMuxer;
  private codec: 'h264' | 'h265' = 'h264';
  private stopRequested = false;
  private exited = false;
  private videoBase?: number;
  private videoArrival = 0;
  private audioBase?: { ts: number; pts: number };
  private audioRate = 0;
  private readonly frameTimes: number[] = [];
  /** The last thing dropped since the last good picture. */
  private garbled?: string;
  /** What paceReads() asked for: it reaches the reader once the sound's clock is settled (settleAudioClock). */
  private paceMs = 0;
  private audioClockSettled = false;

  constructor(private readonly options: PluginReadOptions) {
    super();
    this.reader = new RtspReader({
      url: options.url, label: options.label, tracks: options.audio ? 'video+audio' : 'video', signal: this.abort.signal,
      debug: options.debug, transport: options.transport,
    });
    this.reader.on('close', (reason) => this.exit(reason));
    this.reader.on('drop', (reason) => {
      this.garbled = reason;
      this.emit('drop', reason);
    });
    void this.run();
  }

  get running(): boolean {
    return !this.exited;
  }

  /**
   * Reads the camera's connection at most every `ms` (0: as the bytes come, the default). For a read only the HKSV
   * prebuffer holds (no viewer, no clip): a quarter of a second costs about a third of reading every burst the camera
   * sends; anyone watching wants 0 again, and gets what waited in the kernel at once.
   */
  paceReads(ms: number): void {
    this.paceMs = ms;
    if (this.audioClockSettled) {
      this.reader.paceReads(ms);
    }
  }

  /**
   * The sound's first frame is placed by its arrival against the picture's first (see the top): until it has been, the
   * read takes the bytes as they come, or frames a pause apart would arrive together and put the sound off by up to that
   * pause. Settled when that frame is placed, when the stream has no sound to read, or when none came within
   * AUDIO_CLOCK_WAIT_90K of picture; then the pace asked for applies.
   */
  private settleAudioClock(): void {
    if (!this.audioClockSettled) {
      this.audioClockSettled = true;
      this.reader.paceReads(this.paceMs);
    }
  }

  /** Ends the read (TEARDOWN, bounded); resolves once it has ended. */
  async stop(): Promise<void> {
    if (this.exited) {
      return;
    }
    this.stopRequested = true;
    const ended = new Promise<void>((resolve) => this.once('exit', () => resolve()));
    await this.reader.close('stopped');
    this.abort.abort();
    await ended;
  }

  private async run(): Promise<void> {
    try {
      const d = await this.reader.open();
      if (!d.readable) {
        this.emit('unreadable', d.unreadable ?? 'the plugin cannot read this stream itself');
        this.stopRequested = true;
        await this.reader.close(d.unreadable);
        return;
      }
      const aac = this.options.audio ? d.audio?.aac : undefined;
      this.codec = d.video?.codec === 'h265' ? 'h265' : 'h264';
      this.muxer = new TsMuxer({
        video: this.codec, audio: aac ? { sampleRate: aac.sampleRate, channels: aac.channels, objectType: aac.objectType } : undefined,
      });
      this.audioRate = aac?.sampleRate ?? 0;
      if (!aac) {
        this.settleAudioClock();
      }
      this.emit('facts', {
        // ffmpeg's codec names, as the source's facts read from ffmpeg have them (copy-decision.ts transcodes 'hevc').
        codec: this.codec === 'h265' ? 'hevc' : 'h264', audio: aac ? 'aac' : undefined, audioSampleRateHz: aac?.sampleRate,
      } satisfies Partial<StreamFacts>);
      this.reader.on('video', (au) => {
        if (this.videoBase === undefined) {
          this.videoBase = au.timestamp;
          this.videoArrival = Date.now();
        }
        const pts = VIDEO_START_90K + au.timestamp - this.videoBase;
        if (pts - VIDEO_START_90K > AUDIO_CLOCK_WAIT_90K) {
          this.settleAudioClock(); // the camera announced sound but sends none: pace all the same
        }
        this.garbled = undefined;
        this.noteFrame(pts);
        const nalus = au.keyframe ? this.parameterSetsFirst(au.nalus) : au.nalus;
        const plain = !au.keyframe && this.muxer!.tablesWritten;
        const ts = this.muxer!.video({ nalus, pts, keyframe: au.keyframe });
        this.emit('data', ts, plain ? { videoPts: wrapTimestamp(pts) } satisfies PlainTs : undefined);
      });
      if (aac) {
        this.reader.on('audio', (frame) => {
          if (this.videoBase === undefined) {
            return; // placed against the video's clock: none before the first picture
          }
          if (this.audioBase === undefined) {
            this.audioBase = { ts: frame.timestamp, pts: VIDEO_START_90K + (Date.now() - this.videoArrival) * 90 };
            this.settleAudioClock();
          }
          const pts = this.audioBase.pts + Math.round((frame.timestamp - this.audioBase.ts) * 90_000 / this.audioRate);
          const plain = this.muxer!.tablesWritten;
          this.emit('data', this.muxer!.audio({ data: frame.data, pts }), plain ? {} satisfies PlainTs : undefined);
        });
      }
      await this.reader.play();
    } catch (err) {
      await this.reader.close((err as Error).message).catch(() => undefined);
      this.exit((err as Error).message);
    }
  }

  /**
   * A keyframe's parameter sets go first, in their order (H.264 SPS, PPS; H.265 VPS, SPS, PPS), after the delimiter the
   * muxer adds: H.264 §7.4.1.2.3 and H.265 §7.4.2.4.4 allow them before the SEI. x264 cameras send a ~700-byte SEI first,
   * and the source and copied clips read the picture size from the keyframe's first TS packets, as from ffmpeg's output.
   * The SPS also gives the size right away (and for H.264 the profile and level, which decide whether it is copied).
   */
  private parameterSetsFirst(nalus: Buffer[]): Buffer[] {
    const { types, sps: spsType, aud, type } = PARAMETER_SETS[this.codec];
    const sets = types.flatMap((t) => nalus.filter((n) => type(n) === t));
    const sps = sets.find((n) => type(n) === spsType);
    if (sps) {
      try {
        if (this.codec === 'h265') {
          const { width, height } = parseHevcSps(sps);
          this.emit('facts', { width, height } satisfies Partial<StreamFacts>);
        } else {
          const { width, height, profileIdc, levelIdc } = parseSps(sps);
          this.emit('facts', { width, height, profileIdc, levelIdc } satisfies Partial<StreamFacts>);
        }
      } catch {
        // a broken SPS: the source's own look at the stream decides
      }
    }
    if (!sets.length) {
      return nalus;
    }
    // A camera's own delimiter stays first (the muxer then adds none): one in the middle would start another access unit.
    const lead = nalus.length > 0 && type(nalus[0]) === aud ? [nalus[0]] : [];
    return [...lead, ...sets, ...nalus.filter((n) => !sets.includes(n) && !lead.includes(n))];
  }

  /** The frame rate from the first frames' timestamps (cameras say it in the SPS only sometimes). */
  private noteFrame(pts: number): void {
    if (this.frameTimes.length >= FPS_SAMPLE_FRAMES) {
      return;
    }
    this.frameTimes.push(pts);
    if (this.frameTimes.length === FPS_SAMPLE_FRAMES) {
      const span = this.frameTimes[FPS_SAMPLE_FRAMES - 1] - this.frameTimes[0];
      if (span > 0) {
        this.emit('facts', { fps: Math.round((FPS_SAMPLE_FRAMES - 1) * 90_000 / span) } satisfies Partial<StreamFacts>);
      }
    }
  }

  private exit(why: string): void {
    if (this.exited) {
      return;
    }
    this.exited = true;
    this.abort.abort();
    this.emit('exit', { why, stopped: this.stopRequested, garbled: this.garbled } satisfies PluginReadExit);
  }
}
