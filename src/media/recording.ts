// HomeKit Secure Video for one camera: while the hub has recording on, a prebuffer is kept in the camera's media
// source; when the hub asks (on motion), the source, from a keyframe the prebuffer's length back, becomes fragmented MP4
// and the fragments go to the hub. When the camera's H.264 meets the hub's configuration (and its audio is AAC or not
// wanted) the plugin muxes it itself (copy-clip.ts); otherwise one ffmpeg per clip transcodes what must be.
import type { CameraRecordingConfiguration, CameraRecordingDelegate, HAP, RecordingPacket } from 'homebridge';
import {
  HKSV_MIN_FRAGMENT_FRACTION, HKSV_MOTION_RECENT_MS, HKSV_PACKET_TIMEOUT_MS, HKSV_PREBUFFER_MARGIN_MS, SOURCE_INTERLEAVE_DELTA_US,
} from '../settings';
import { Writable } from 'node:stream';
import { ClipAudio } from './clip-audio';
import { CopyClip } from './copy-clip';
import { fragmentLengthMs, recordingCopyBlocker } from './copy-decision';
import { FfmpegExit, FfmpegProcess } from './ffmpeg';
import { encodeArgs } from './h264';
import type { SessionLog } from './live-session';
import type { CameraStream } from './live';
import { Mp4Fragmenter, Mp4Packet } from './mp4';
import { AAC_SAMPLE_RATES, PictureSizeGuard, StreamUnusable } from './ts-demux';
import type { StreamFacts } from './source';

export interface RecordingDelegateOptions {
  hap: HAP;
  log: SessionLog;
  ffmpegPath: string;
  encoder: string;
  /** Largest first, as for live view. */
  streams: CameraStream[];
  /** Camera audio wanted at all (the config's "audio"). */
  audio: boolean;
  maxRecordingSeconds: number;
}

/** What each HDS close reason means for the user, in a sentence (HAP-NodeJS HDSProtocolSpecificErrorReason 0–9). */
export const CLOSE_REASONS: Record<number, string> = {
  0: 'the hub finished the clip normally',
  1: 'the hub did not allow the recording (the camera is off in Home, or recording is off for the current mode)',
  2: 'the hub was busy with other recordings; this clip was dropped',
  3: 'the hub cancelled the recording',
  4: 'the hub found the recording unsupported; check that the camera sends H.264 (Main/High) and remove and re-add it to the hub if it persists',
  5: 'the recording failed unexpectedly on the hub; if this repeats, restart the home hub',
  6: 'the hub timed out waiting for video: the camera or this server was too slow (check the camera\'s network and this server\'s CPU)',
  7: 'the hub could not use the video it received (bad data); check that the camera\'s keyframe interval is 4 s and its stream is H.264',
  8: 'the hub saw a protocol error on the data stream; if this repeats, restart Homebridge and the home hub',
  9: 'the hub rejected the recording configuration; turn recording off and on in the Home app',
};

// AudioRecordingSamplerate enum → Hz.
const SAMPLE_RATES_HZ = [8000, 16000, 24000, 32000, 44100, 48000];

export interface RecordingPlan {
  stream: CameraStream;
  copyVideo: boolean;
  /** Why the video is transcoded: which camera setting stops copying. */
  videoReason?: string;
  audio: 'copy' | 'transcode' | 'silent' | 'none';
  /** The camera's frame rate, when known: a transcode never makes more frames than the camera sends. */
  cameraFps?: number;
}

/** The stream a clip of this configuration reads: of the selected size when the camera has one, else the largest. */
export function recordingStream(config: CameraRecordingConfiguration, streams: CameraStream[]): CameraStream {
  const [width, height] = config.videoCodec.resolution;
  return streams.find((s) => s.profile.width === width && s.profile.height === height) ?? streams[0];
}

/** How a clip of this configuration is made from `stream`, whose measured facts are `f`: copied, or transcoded and why. */
export function planRecording(config: CameraRecordingConfiguration, stream: CameraStream, f: StreamFacts, audioWanted: boolean): RecordingPlan {
  const videoReason = recordingCopyBlocker(config, stream.profile, f);
  let audio: RecordingPlan['audio'] = 'none';
  if (audioWanted) {
    const rate = SAMPLE_RATES_HZ[config.audioCodec.samplerate];
    audio = !f.audio ? 'silent' : f.audio === 'aac' && f.audioSampleRateHz === rate ? 'copy' : 'transcode';
  }
  return { stream, copyVideo: videoReason === undefined, videoReason, audio, cameraFps: f.fps };
}

/** A clip the plugin muxes itself: the video copied; the audio copied, left out, or converted by an audio-only ffmpeg.
 *  A camera without a microphone recorded with sound (silence) still goes through ffmpeg. */
export function muxedInPlugin(plan: RecordingPlan): boolean {
  return plan.copyVideo && plan.audio !== 'silent';
}

/** Where the source writes a clip muxed in the plugin: each chunk becomes packets for the hub at once. */
function copyClipInput(clip: CopyClip, queue: PacketQueue, endEarly: (reason: string) => void): Writable {
  let ended = false;
  return new Writable({
    write(chunk: Buffer, _encoding, done): void {
      if (ended) {
        done();
        return;
      }
      try {
        clip.push(chunk);
      } catch (err) {
        ended = true;
        if (err instanceof StreamUnusable) {
          endEarly(err.message); // another picture size, a frame over the bound: the clip ends with what it has
        } else {
          queue.fail(err as Error);
        }
      }
      done();
    },
  });
}

/**
 * Where the source writes a clip that ffmpeg muxes while copying the video (silent audio): on to ffmpeg's stdin, until the
 * camera changes its picture size (PictureSizeGuard); then `changed` is called once and nothing more is written.
 */
function sizeGuardedInput(stdin: Writable, changed: (reason: string) => void): Writable {
  const guard = new PictureSizeGuard();
  return new Writable({
    write(chunk: Buffer, _encoding, done): void {
      if (guard.changed) {
        done();
        return;
      }
      const pass = guard.push(chunk);
      // Done once ffmpeg took it: the source sees ffmpeg's backlog here, and drops a clip that falls too far behind.
      if (pass.length && stdin.writable) {
        stdin.write(pass, () => done());
      } else {
        done();
      }
      if (guard.changed) {
        changed(guard.changed); // after the last packets before the change
      }
    },
  });
}

/** ffmpeg arguments for a clip: MPEG-TS from the source on stdin, fragmented MP4 with one fragment per keyframe on stdout. */
export function recordingArgs(plan: RecordingPlan, config: CameraRecordingConfiguration, encoder: string, leadMs = 0,
  preset: 'veryfast' | 'ultrafast' = 'veryfast'): string[] {
  const v = config.videoCodec;
  const [width, height, selectedFps] = v.resolution;
  // Never more frames than the camera sends: a 15 fps camera transcoded at the hub's 30 would only repeat each frame.
  const fps = plan.cameraFps ? Math.min(selectedFps, plan.cameraFps) : selectedFps;
  const fragmentMs = fragmentLengthMs(config);
  const intervalS = v.parameters.iFrameInterval / 1000;
  const rate = SAMPLE_RATES_HZ[config.audioCodec.samplerate];
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    '-probesize', '262144', '-analyzeduration', '500000', '-f', 'mpegts', '-i', 'pipe:0',
  ];
  if (plan.audio === 'silent') {
    // A generated input never waits: a bigger queue keeps ffmpeg from blocking on it while the camera's input catches up.
    args.push('-thread_queue_size', '512', '-f', 'lavfi', '-i', `anullsrc=channel_layout=mono:sample_rate=${rate}`);
  }
  args.push('-map', '0:v:0');
  if (plan.copyVideo) {
    args.push('-c:v', 'copy');
  } else {
    args.push(...encodeArgs({
      // zerolatency: no lookahead and no frame threads holding pictures back, so the keyframe that closes a fragment
      // leaves the encoder when it arrives (~0.9 s sooner at 15 fps). The first fragment's keyframe is the motion's own
      // moment, so without it a loaded machine missed the hub's 5 s (the soak: 4 of 12 clips of an 8 s-GOP camera).
      encoder, x264Preset: ['-preset', preset, '-tune', 'zerolatency'], profile: v.parameters.profile, level: v.parameters.level, width, height, fps,
      kbps: v.parameters.bitRate, keyframeIntervalFrames: Math.round(fps * intervalS), forceKeyframesS: intervalS,
    }));
  }
  if (plan.audio === 'copy') {
    args.push('-map', '0:a:0', '-c:a', 'copy');
  } else if (plan.audio !== 'none') {
    args.push('-map', plan.audio === 'silent' ? '1:a:0' : '0:a:0', '-c:a', 'aac', '-profile:a', 'aac_low',
      '-ar', String(rate), '-ac', String(config.audioCodec.audioChannels || 1), '-b:a', `${config.audioCodec.bitrate || 64}k`);
  }
  if (plan.audio === 'silent') {
    // The generated silence never ends: the clip ends with the camera's video (its input closed), and ffmpeg writes what
    // it holds as the last fragment. Stopped with a signal instead, it wrote a last "moof" of size 0 (ffmpeg 6).
    args.push('-shortest');
  }
  // A fragment is cut at the first keyframe once it is (nearly) the hub's length, and written at once: the keyframe that
  // closes it is all ffmpeg waits for. Copying, there is no interleaving wait for audio (video arrives as the camera
  // sends it). Transcoding, the encoder holds video back (lookahead, threads: about a second) while audio flows on: the
  // muxer must interleave by time, or a fragment would carry a second of audio past its last video frame.
  if (!plan.copyVideo && leadMs >= TRANSCODE_SKIP_MIN_MS) {
    // The clip must start on a keyframe, which a camera with a long keyframe interval sent up to that interval before the
    // prebuffer the hub asked for (8 s GOP: up to 12 s back for a 4 s prebuffer). Copying, that lead costs nothing;
    // transcoding, it is decoded (needed for the pictures after it) but not encoded: the encoder's first fragment is the
    // hub's prebuffer, not 3× it, which a small machine under load could not make within the hub's patience.
    args.push('-ss', (leadMs / 1000).toFixed(3));
  }
  args.push('-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer',
    '-min_frag_duration', String(Math.round(fragmentMs * HKSV_MIN_FRAGMENT_FRACTION * 1000)),
    ...(plan.copyVideo ? ['-max_interleave_delta', String(SOURCE_INTERLEAVE_DELTA_US)] : []), '-flush_packets', '1', 'pipe:1');
  return args;
}

/** A transcoded clip's lead before the prebuffer shorter than this is encoded anyway (ms): not worth a cut. */
const TRANSCODE_SKIP_MIN_MS = 500;
/** Of a transcoded clip's lead, this much is kept (ms): the camera saw the motion before its event reached us (the
 *  event's own latency, tens of ms), and the hub's prebuffer counts back from the camera's moment. */
const TRANSCODE_LEAD_KEPT_MS = 300;
/** A transcoded clip's first fragment slower than this (ms, after the hub's request) moves later clips to a faster preset:
 *  2 s of margin before the hub's ~5 s. */
const TRANSCODE_SLOW_FIRST_MS = 3_000;

/** Waits for the next fragment, the clip's end, or the hub's patience running out. */
class PacketQueue {
  private readonly packets: { packet: Mp4Packet; last: boolean }[] = [];
  private wake?: () => void;
  private failure?: Error;

  /** `last`: the clip ends with this packet (the camera's stream was cut). */
  put(packet: Mp4Packet, last = false): void {
    this.packets.push({ packet, last });
    this.wake?.();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake?.();
  }

  /** The next packet; undefined when `signal` ended the clip; throws on failure or after `timeoutMs` without one
   *  (`stalled` says why, in a sentence). */
  async next(timeoutMs: number, signal: AbortSignal, stalled: (timeoutMs: number) => string): Promise<{ packet: Mp4Packet; last: boolean } | undefined> {
    if (!this.packets.length && !this.failure && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    if (signal.aborted) {
      return undefined;
    }
    const p = this.packets.shift();
    if (p) {
      return p;
    }
    throw this.failure ?? new Error(stalled(timeoutMs));
  }
}

export class Recording implements CameraRecordingDelegate {
  private configuration?: CameraRecordingConfiguration;
  private recordingActive = false;
  private cameraActive = true;
  /** HomeKit's "Record audio" switch for this camera (RecordingAudioActive), as a clip starts. */
  private audioActive = false;
  private releasePrebuffer?: () => void;
  private prebufferStream?: CameraStream;
  private readonly clips = new Map<number, AbortController>();
  private lastPlanLine = '';
  /** libx264's preset for transcoded clips: 'ultrafast' once this machine was too slow for 'veryfast'. */
  private preset: 'veryfast' | 'ultrafast' = 'veryfast';
  /** When MotionDetected last turned on (wall clock ms): the instant a clip's prebuffer counts back from. */
  private motionAt = 0;

  constructor(private readonly options: RecordingDelegateOptions) {}

  updateRecordingActive(active: boolean): void {
    this.recordingActive = active;
    this.options.log.info(active ? 'recording on: the hub records clips on motion' : 'recording off: prebuffer stopped');
    this.refreshPrebuffer();
  }

  updateRecordingConfiguration(configuration: CameraRecordingConfiguration | undefined): void {
    this.configuration = configuration;
    if (configuration) {
      const [w, h, fps] = configuration.videoCodec.resolution;
      this.options.log.debug(`recording configuration: ${w}x${h} ${fps} fps, ${configuration.videoCodec.parameters.bitRate} kbps, ` +
        `keyframes every ${configuration.videoCodec.parameters.iFrameInterval} ms, prebuffer ${configuration.prebufferLength} ms, ` +
        `fragments ${configuration.mediaContainerConfiguration.fragmentLength} ms`);
    }
    this.refreshPrebuffer();
  }

  /** The sensor HKSV records on turned on: a clip's prebuffer is measured back from the motion, not from the request. */
  motionDetected(): void {
    this.motionAt = Date.now();
  }

  /** HomeKit's "Record audio" switch for this camera; clips that start from now on follow it. */
  setAudioActive(active: boolean): void {
    this.audioActive = active;
  }

  /** HomeKit's camera on/off (Operating Mode): off frees the prebuffer; HAP itself refuses streams and recordings then. */
  setCameraActive(active: boolean): void {
    if (active !== this.cameraActive) {
      this.cameraActive = active;
      this.options.log.info(active ? 'camera turned on in Home' : 'camera turned off in Home: no live view, recording or prebuffer');
      this.refreshPrebuffer();
    }
  }

  /** Ends every clip and the prebuffer (the camera is going away). */
  stop(): void {
    this.clips.forEach((c) => c.abort());
    this.releasePrebuffer?.();
    this.releasePrebuffer = undefined;
  }

  async *handleRecordingStreamRequest(streamId: number, signal?: AbortSignal): AsyncGenerator<RecordingPacket> {
    const { hap, log } = this.options;
    const config = this.configuration;
    if (!config) {
      throw new hap.HDSProtocolError(hap.HDSProtocolSpecificErrorReason.INVALID_CONFIGURATION);
    }
    const abort = new AbortController();
    signal?.addEventListener('abort', () => abort.abort(), { once: true });
    this.clips.set(streamId, abort);
    let ffmpeg: FfmpegProcess | undefined;
    let audio: ClipAudio | undefined;
    let closeClip: (() => void) | undefined;
    let finishClip: (() => Mp4Packet | undefined) | undefined;
    let detach: (() => void) | undefined;
    let endedEarly = false;
    /** Something reached the hub: a failure after it ends the clip early, one before it records nothing. */
    let sent = false;
    /** A transcoded clip that starts from a full prebuffer: its first fragment's time is the encoder's. */
    let fromCache = false;
    const queue = new PacketQueue();
    // The camera's stream can no longer go into this clip (cut, another size, a frame over the bound): a clip muxed here
    // keeps what was recorded, the frames since the last keyframe as its last fragment; an ffmpeg clip fails.
    const endEarly = (reason: string): void => {
      if (endedEarly) {
        return;
      }
      endedEarly = true;
      const final = finishClip?.();
      if (final) {
        log.warn(`recording: clip ${streamId} ends early, with what was recorded: ${reason}`);
        queue.put(final, true);
      } else {
        queue.fail(new Error(`the camera's stream ended: ${reason}`));
      }
    };
    try {
      const audioWanted = this.options.audio && this.audioActive;
      const stream = recordingStream(config, this.options.streams);
      const plan = planRecording(config, stream, await stream.source.facts(abort.signal), audioWanted);
      this.explain(plan);
      let input: Writable | undefined;
      if (muxedInPlugin(plan)) {
        const a = config.audioCodec;
        const convertedTrack = { objectType: 2, sampleRate: SAMPLE_RATES_HZ[a.samplerate], rateIndex: AAC_SAMPLE_RATES.indexOf(SAMPLE_RATES_HZ[a.samplerate]),
          channels: a.audioChannels || 1 };
        const clip: CopyClip = new CopyClip({
          minFragmentMs: fragmentLengthMs(config) * HKSV_MIN_FRAGMENT_FRACTION,
          audio: plan.audio === 'transcode' ? 'convert' : plan.audio === 'copy' ? 'copy' : 'none',
          convertedTrack, convert: (unit) => audio?.push(unit), onPacket: (p) => queue.put(p),
        });
        closeClip = () => clip.close();
        finishClip = () => clip.finish();
        audio = plan.audio === 'transcode'
          ? new ClipAudio({
            ffmpegPath: this.options.ffmpegPath, log, label: `recording ${streamId}`, sampleRate: convertedTrack.sampleRate,
            channels: convertedTrack.channels, kbps: a.bitrate || 64, onFrames: (units) => clip.addConvertedAudio(units), signal: abort.signal,
          })
          : undefined;
        input = copyClipInput(clip, queue, (reason) => endEarly(reason));
      } else {
        const fragmenter = new Mp4Fragmenter();
        // No await from here to the attach below: the lead is measured on the cache the attach starts from.
        const rawLead = plan.stream.source.leadMs(config.prebufferLength, this.clipFrom(Date.now()));
        const lead = Math.max(0, rawLead - TRANSCODE_LEAD_KEPT_MS);
        // Only a clip whose prebuffer was all there (not one after a restart, waiting for live video) times the encoder.
        fromCache = rawLead > 0;
        ffmpeg = new FfmpegProcess(this.options.ffmpegPath, recordingArgs(plan, config, this.options.encoder, lead, this.preset), log,
          `recording ${streamId}`, abort.signal);
        // Copying, a new picture size from the camera ends the clip (as one muxed here ends): ffmpeg's input ends before
        // it, ffmpeg writes what it holds as the last fragment and exits (-shortest), and that fragment goes to the hub
        // with isLast.
        let draining: string | undefined;
        const last: Mp4Packet[] = [];
        ffmpeg.process.stdout?.on('data', (chunk: Buffer) => {
          try {
            fragmenter.push(chunk).forEach((p) => (draining ? last.push(p) : queue.put(p)));
          } catch (err) {
            queue.fail(err as Error);
          }
        });
        ffmpeg.process.stdout?.on('end', () => {
          if (draining) {
            const final = last.pop();
            last.forEach((p) => queue.put(p));
            if (final) {
              queue.put(final, true);
            } else {
              queue.fail(new Error(`the camera's stream ended: ${draining}`));
            }
          }
        });
        ffmpeg.once('exit', (exit: FfmpegExit) => draining || queue.fail(new Error(`the video process ended (${exit.tail.slice(-1)[0] ?? `exit ${exit.code}`})`)));
        const stdin = ffmpeg.process.stdin ?? undefined;
        input = stdin && plan.copyVideo
          ? sizeGuardedInput(stdin, (reason) => {
            if (!draining && !endedEarly) {
              draining = reason;
              endedEarly = true;
              log.warn(`recording: clip ${streamId} ends early, with what was recorded: ${reason}`);
              stdin.end();
            }
          })
          : stdin;
      }
      if (input) {
        const attachment = plan.stream.source.attach(input, {
          backMs: config.prebufferLength,
          fromMs: this.clipFrom(Date.now()),
          onEnd: (reason) => endEarly(reason),
        });
        detach = () => {
          attachment.detach();
          input?.destroy();
          ffmpeg?.process.stdin?.destroy(); // behind the size guard, ffmpeg's input is not `input` itself
        };
      }
      const started = Date.now();
      let fragmentSent = false;
      const capMs = this.options.maxRecordingSeconds * 1000;
      // No fragment for the hub's patience: a transcoded clip whose camera kept sending is the encoder falling behind.
      const source = plan.stream.source;
      let bytesIn = source.stats().bytesIn;
      const stalled = (ms: number): string => {
        const sending = source.stats().bytesIn > bytesIn;
        return !plan.copyVideo && sending
          ? `the encoder (${this.options.encoder}) made no fragment for ${ms / 1000} s while the camera's video kept coming: this ` +
            `machine is too slow to transcode it in time (${plan.videoReason}; fix that in the camera so clips are copied)`
          : `the camera sent no video for ${ms / 1000} s`;
      };
      log.debug(`recording clip ${streamId} started`);
      // The init segment and the prebuffered fragments come at once; then one fragment per keyframe interval.
      for (;;) {
        const next = await queue.next(HKSV_PACKET_TIMEOUT_MS, abort.signal, stalled);
        bytesIn = source.stats().bytesIn;
        if (!next) {
          return; // the hub closed the clip
        }
        const atCap = next.packet.kind === 'fragment' && Date.now() - started >= capMs;
        if (!plan.copyVideo && next.packet.kind === 'fragment' && !fragmentSent) {
          fragmentSent = true;
          if (fromCache) {
            this.firstFragmentTook(Date.now() - started);
          }
        }
        yield { data: next.packet.data, isLast: next.last || atCap };
        sent = true;
        if (next.last) {
          return;
        }
        if (atCap) {
          log.info(`recording: clip ended after ${this.options.maxRecordingSeconds} s ("maxRecordingSeconds")`);
          return;
        }
      }
    } catch (err) {
      if (abort.signal.aborted) {
        return;
      }
      log.warn(`recording: clip ${streamId} ${sent ? 'ended early' : 'not recorded'}: ${(err as Error).message}`);
      throw new hap.HDSProtocolError(hap.HDSProtocolSpecificErrorReason.UNEXPECTED_FAILURE);
    } finally {
      this.clips.delete(streamId);
      detach?.();
      closeClip?.();
      await Promise.all([ffmpeg?.stop(), audio?.stop()]);
    }
  }

  /**
   * A transcoded clip's first fragment is the hub's whole prebuffer, encoded while the hub waits (about 5 s). When this
   * machine needed more than TRANSCODE_SLOW_FIRST_MS for it, later clips use libx264's fastest preset (a little more
   * blocky at the same bitrate, about twice as fast): the soak's 8 s-GOP camera lost 3 of 11 clips on a loaded machine.
   */
  private firstFragmentTook(ms: number): void {
    if (ms > TRANSCODE_SLOW_FIRST_MS && this.preset === 'veryfast' && this.options.encoder === 'libx264') {
      this.preset = 'ultrafast';
      this.options.log.warn(`recording: this machine took ${(ms / 1000).toFixed(1)} s to transcode a clip's first fragment (the hub waits ` +
        'about 5 s); clips now use the faster "ultrafast" preset. Set the camera\'s keyframe interval so clips are copied, or ' +
        'a hardware "videoEncoder", to avoid transcoding');
    }
  }

  /** The instant a clip's prebuffer counts back from: the motion that started it, when recent, else the hub's request. */
  private clipFrom(requestedAt: number): number {
    return requestedAt - this.motionAt <= HKSV_MOTION_RECENT_MS ? this.motionAt : requestedAt;
  }

  acknowledgeStream(streamId: number): void {
    this.options.log.debug(`recording clip ${streamId} acknowledged by the hub`);
    this.clips.get(streamId)?.abort();
  }

  closeRecordingStream(streamId: number, reason: number | undefined): void {
    const sentence = reason === undefined ? 'the hub closed the connection' : CLOSE_REASONS[reason] ?? `the hub ended it (reason ${reason})`;
    if (reason === undefined || reason === 0) {
      this.options.log.debug(`recording clip ${streamId} ended: ${sentence}`);
    } else {
      this.options.log.warn(`recording clip ended: ${sentence} (HomeKit reason ${reason})`);
    }
    this.clips.get(streamId)?.abort();
  }

  /** Keeps the prebuffer exactly while it can be used: recording on, camera on, a configuration chosen. */
  private refreshPrebuffer(): void {
    const config = this.configuration;
    const want = this.recordingActive && this.cameraActive && config !== undefined;
    const stream = config && recordingStream(config, this.options.streams);
    if (want && this.releasePrebuffer && stream === this.prebufferStream) {
      return;
    }
    this.releasePrebuffer?.();
    this.releasePrebuffer = undefined;
    if (want && stream) {
      this.prebufferStream = stream;
      this.releasePrebuffer = stream.source.hold(config.prebufferLength + HKSV_PREBUFFER_MARGIN_MS);
      void this.explainAhead(config, stream);
    }
  }

  /** Says at once (not at the first motion) whether clips will copy or transcode, and why. */
  private async explainAhead(config: CameraRecordingConfiguration, stream: CameraStream): Promise<void> {
    try {
      this.explain(planRecording(config, stream, await stream.source.facts(), this.options.audio && this.audioActive));
    } catch (err) {
      this.options.log.warn(`recording: no video from the camera yet (${(err as Error).message}); clips will fail until it sends video`);
    }
  }

  private explain(plan: RecordingPlan): void {
    const line = plan.copyVideo
      ? `recording: copying the camera's ${plan.stream.name} stream as it is (no transcoding${muxedInPlugin(plan) ? ', muxed in the plugin' : ''}), audio ${plan.audio}`
      : `recording: transcoding with ${this.options.encoder} because ${plan.videoReason}; audio ${plan.audio}`;
    if (line !== this.lastPlanLine) {
      this.lastPlanLine = line;
      this.options.log.info(line);
    }
  }
}
