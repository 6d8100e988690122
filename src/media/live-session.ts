// One HomeKit viewer: an ffmpeg that reads the camera's media source (MPEG-TS on stdin) and sends SRTP to the viewer,
// copying the camera's H.264 when HomeKit can show it, transcoding only when not; and a watch on the viewer's RTCP so a
// phone that went away does not leave an ffmpeg running.
import type { AudioInfo, VideoInfo } from 'homebridge';
import { LIVE_CATCH_UP_RATE, LIVE_RTCP_CHECK_MS, LIVE_RTCP_TIMEOUT_MS, LIVE_TRANSCODE_GOP_S } from '../settings';
import { FfmpegExit, FfmpegProcess } from './ffmpeg';
import { encodeArgs } from './h264';
import type { Log } from '../util/log';
import { ReturnPorts, srtpOutput } from './return-ports';
import type { Attachment, MediaSource, StreamFacts } from './source';

export type SessionLog = Log;

/** The viewer's side of the stream, from prepareStream: where to send and with which keys. */
export interface Endpoint {
  /** The viewer's address and its family (see return-ports.ts for how it is worked out). */
  family: 4 | 6;
  target: string;
  videoPort: number;
  videoKey: Buffer;
  audioPort: number;
  audioKey: Buffer;
}

/** What one ffmpeg run sends: decided per start or reconfigure. */
export interface StreamPlan {
  source: MediaSource;
  /** "main" / "sub": for log lines. */
  profileName: string;
  copy: boolean;
  /** Why the camera's video is transcoded: what the user could change in the camera to let it be copied. */
  transcodeReason?: string;
  facts: StreamFacts;
  video: Pick<VideoInfo, 'width' | 'height' | 'fps' | 'max_bit_rate' | 'profile' | 'level' | 'pt' | 'ssrc' | 'mtu'>;
  /** Undefined: no audio is sent (off in the config, the camera has none, or HomeKit asked for a codec we lack). */
  audio?: Pick<AudioInfo, 'pt' | 'ssrc' | 'sample_rate' | 'bit_rate' | 'packet_time'> & { codec: 'opus' | 'aac-eld' };
  encoder: string;
}

/** The ffmpeg arguments for a plan: argument arrays only, never a shell. */
export function sessionArgs(plan: StreamPlan, to: Endpoint): string[] {
  const v = plan.video;
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    // The source's cached GOP is already here: probing a little costs no time and finds the audio parameters. No
    // `-fflags nobuffer`: it drops what was read while probing — the cached keyframe — and the picture would then wait
    // for the camera's next keyframe (up to its keyframe interval, 4 s and more). The cached frames go out at
    // LIVE_CATCH_UP_RATE times real time: the keyframe at once, the rest paced so a viewer's UDP buffer never overflows
    // (an unpaced GOP is a megabyte in a millisecond: frames were lost in the e2e test).
    '-probesize', '32768', '-analyzeduration', '500000', '-readrate', String(LIVE_CATCH_UP_RATE),
    '-f', 'mpegts', '-i', 'pipe:0',
    '-map', '0:v:0',
  ];
  if (plan.copy) {
    args.push('-c:v', 'copy');
  } else {
    args.push(...encodeArgs({
      encoder: plan.encoder, x264Preset: ['-preset', 'ultrafast', '-tune', 'zerolatency'], profile: v.profile, level: v.level,
      width: v.width, height: v.height, fps: v.fps, kbps: Math.max(100, v.max_bit_rate), keyframeIntervalFrames: v.fps * LIVE_TRANSCODE_GOP_S,
    }));
  }
  args.push('-payload_type', String(v.pt), '-ssrc', String(v.ssrc), ...srtpOutput(to.videoKey, to, to.videoPort, v.mtu));
  const a = plan.audio;
  if (a) {
    args.push('-map', '0:a:0', '-ac', '1', '-ar', String(a.sample_rate * 1000), '-b:a', `${a.bit_rate || 24}k`);
    if (a.codec === 'opus') {
      args.push('-c:a', 'libopus', '-application', 'lowdelay', '-frame_duration', String(a.packet_time));
    } else {
      args.push('-c:a', 'libfdk_aac', '-profile:a', 'aac_eld', '-flags', '+global_header');
    }
    args.push('-payload_type', String(a.pt), '-ssrc', String(a.ssrc), ...srtpOutput(to.audioKey, to, to.audioPort, 188));
  }
  return args;
}

/** One viewer's stream: an ffmpeg per plan (a reconfigure may replace it), the RTCP watch, and one end. */
export class LiveSession {
  private ffmpeg?: FfmpegProcess;
  private attachment?: Attachment;
  private lastRtcp = Date.now();
  private watch?: NodeJS.Timeout;
  private ended = false;
  private readonly rtcpTimeoutMs: number;

  constructor(readonly id: string, private readonly ffmpegPath: string, private readonly to: Endpoint,
    private readonly ports: ReturnPorts, private readonly log: SessionLog, rtcpIntervalS: number,
    /** Called once when the session ends by itself (viewer gone, ffmpeg failed): HAP must be told. */
    private readonly onEnd: (reason: string) => void) {
    this.rtcpTimeoutMs = Math.max(LIVE_RTCP_TIMEOUT_MS, rtcpIntervalS * 1000 * 10);
    const heard = (): void => {
      this.lastRtcp = Date.now();
    };
    ports.video.on('message', heard);
    ports.audio.on('message', heard);
  }

  /** Starts (or, on reconfigure, replaces) the ffmpeg for this plan. */
  run(plan: StreamPlan): void {
    if (this.ended) {
      return;
    }
    this.replaceFfmpeg();
    const proc = new FfmpegProcess(this.ffmpegPath, sessionArgs(plan, this.to), this.log, `live ${this.id.slice(0, 8)}`);
    this.ffmpeg = proc;
    proc.once('exit', (exit: FfmpegExit) => {
      if (this.ffmpeg === proc && !exit.stopped) {
        this.end(`the video process ended (${exit.tail.slice(-1)[0] ?? `exit ${exit.signal ?? exit.code}`})`);
      }
    });
    if (proc.process.stdin) {
      this.attachment = plan.source.attach(proc.process.stdin, {
        onEnd: (reason) => this.ffmpeg === proc && this.end(`the camera's stream ended: ${reason}`),
      });
    }
    this.lastRtcp = Date.now();
    clearInterval(this.watch);
    this.watch = setInterval(() => {
      if (Date.now() - this.lastRtcp > this.rtcpTimeoutMs) {
        this.end(`the viewer stopped answering (no RTCP for ${Math.round(this.rtcpTimeoutMs / 1000)} s)`);
      }
    }, LIVE_RTCP_CHECK_MS);
  }

  /** Ends the stream; resolves when its ffmpeg is gone. Safe to call more than once. */
  async stop(): Promise<void> {
    this.ended = true;
    clearInterval(this.watch);
    const proc = this.replaceFfmpeg();
    this.ports.close();
    await proc?.wait();
  }

  get running(): boolean {
    return !this.ended;
  }

  private replaceFfmpeg(): FfmpegProcess | undefined {
    const proc = this.ffmpeg;
    this.ffmpeg = undefined;
    this.attachment?.detach();
    this.attachment = undefined;
    void proc?.stop();
    return proc;
  }

  private end(reason: string): void {
    if (this.ended) {
      return;
    }
    void this.stop();
    this.onEnd(reason);
  }
}
