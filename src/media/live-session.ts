// One HomeKit viewer. Copied video (HomeKit can show the camera's H.264) is sent by the plugin itself (rtp/live-sender.ts:
// no process per viewer); its sound, when the viewer gets audio, comes from the camera's one shared audio encoder
// (live-audio.ts), re-stamped and encrypted for this viewer (rtp/relay-viewer.ts). Video that must be transcoded goes
// through one ffmpeg for video and audio. Either reads the camera's media source (MPEG-TS). A watch on the viewer's
// RTCP (video and audio ports) ends a stream whose phone went away.
import type { AudioInfo, VideoInfo } from 'homebridge';
import {
  LIVE_CATCH_UP_RATE, LIVE_RTCP_CHECK_MS, LIVE_RTCP_DEFAULT_MS, LIVE_RTCP_REPORT_MAX_MS, LIVE_RTCP_REPORT_MIN_MS,
  LIVE_RTCP_TIMEOUT_MS, LIVE_TRANSCODE_GOP_S,
} from '../settings';
import { FfmpegExit, FfmpegProcess } from './ffmpeg';
import { encodeArgs } from './h264';
import type { Log } from '../util/log';
import { AUDIO_PACKET_BYTES, audioClockHz, audioEncodeArgs, AudioMembership, AudioSelection, LiveAudio } from './live-audio';
import { ReturnPorts, srtpOutput } from './return-ports';
import { LiveSender, VIDEO_CLOCK_HZ } from './rtp/live-sender';
import { RelayViewer } from './rtp/relay-viewer';
import { RtpStream } from './rtp/rtp-stream';
import { SrtpSender } from './rtp/srtp';
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
  audio?: Pick<AudioInfo, 'pt' | 'ssrc'> & AudioSelection;
  encoder: string;
}

/** ffmpeg reading the source's MPEG-TS on stdin. */
function inputArgs(): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    // The source's cached GOP is already here: probing a little costs no time and finds the audio parameters. No
    // `-fflags nobuffer`: it drops what was read while probing — the cached keyframe — and the picture would then wait
    // for the camera's next keyframe (up to its keyframe interval, 4 s and more). The cached frames go out at
    // LIVE_CATCH_UP_RATE times real time: the keyframe at once, the rest paced so a viewer's UDP buffer never overflows
    // (an unpaced GOP is a megabyte in a millisecond: frames were lost in the e2e test).
    '-probesize', '32768', '-analyzeduration', '500000', '-readrate', String(LIVE_CATCH_UP_RATE),
    '-f', 'mpegts', '-i', 'pipe:0',
  ];
}

/** The camera's first audio track as HomeKit asked for it (Opus or AAC-ELD), SRTP to the viewer's audio port. */
function audioOutputArgs(a: NonNullable<StreamPlan['audio']>, to: Endpoint): string[] {
  return [...audioEncodeArgs(a), '-payload_type', String(a.pt), '-ssrc', String(a.ssrc),
    ...srtpOutput(to.audioKey, to, to.audioPort, AUDIO_PACKET_BYTES)];
}

/** The ffmpeg arguments for a plan sent wholly by ffmpeg (video and audio): argument arrays only, never a shell. */
export function sessionArgs(plan: StreamPlan, to: Endpoint): string[] {
  const v = plan.video;
  const args = [...inputArgs(), '-map', '0:v:0'];
  if (plan.copy) {
    args.push('-c:v', 'copy');
  } else {
    args.push(...encodeArgs({
      encoder: plan.encoder, x264Preset: ['-preset', 'ultrafast', '-tune', 'zerolatency'], profile: v.profile, level: v.level,
      width: v.width, height: v.height, fps: v.fps, kbps: Math.max(100, v.max_bit_rate), keyframeIntervalFrames: v.fps * LIVE_TRANSCODE_GOP_S,
    }));
  }
  args.push('-payload_type', String(v.pt), '-ssrc', String(v.ssrc), ...srtpOutput(to.videoKey, to, to.videoPort, v.mtu));
  if (plan.audio) {
    args.push(...audioOutputArgs(plan.audio, to));
  }
  return args;
}

/** The interval of our sender reports: HomeKit's selected RTCP interval (s), within bounds (ms). */
export function reportIntervalMs(rtcpIntervalS: number): number {
  if (!(rtcpIntervalS > 0)) {
    return LIVE_RTCP_DEFAULT_MS;
  }
  return Math.min(LIVE_RTCP_REPORT_MAX_MS, Math.max(LIVE_RTCP_REPORT_MIN_MS, Math.round(rtcpIntervalS * 1000)));
}

/** The session's video RTP: one SRTP context and one numbering for every sender a reconfigure may start. */
interface VideoRtp {
  srtp: SrtpSender;
  rtp: RtpStream;
}

/**
 * One viewer's stream: per plan (a reconfigure may replace it) either the plugin's own sender for copied video (plus its
 * place at the camera's shared audio encoder when there is audio) or one ffmpeg; the RTCP watch; and one end.
 */
export class LiveSession {
  private ffmpeg?: FfmpegProcess;
  private sender?: LiveSender;
  private videoRtp?: VideoRtp;
  /** This viewer's copy of the shared audio: one SRTP context and numbering for the session, whichever encoder. */
  private audioRelay?: RelayViewer;
  private listening?: AudioMembership;
  private attachment?: Attachment;
  private lastRtcp = Date.now();
  private watch?: NodeJS.Timeout;
  private ended = false;
  private readonly rtcpTimeoutMs: number;
  private readonly reportMs: number;

  constructor(readonly id: string, private readonly ffmpegPath: string, private readonly to: Endpoint,
    private readonly ports: ReturnPorts, private readonly log: SessionLog, rtcpIntervalS: number,
    /** The camera's shared audio encoders. */
    private readonly audio: LiveAudio,
    /** Called once when the session ends by itself (viewer gone, ffmpeg failed): HAP must be told. */
    private readonly onEnd: (reason: string) => void) {
    this.rtcpTimeoutMs = Math.max(LIVE_RTCP_TIMEOUT_MS, rtcpIntervalS * 1000 * 10);
    this.reportMs = reportIntervalMs(rtcpIntervalS);
    const heard = (): void => {
      this.lastRtcp = Date.now();
    };
    ports.video.on('message', heard);
    ports.audio.on('message', heard);
  }

  /** Starts (or, on reconfigure, replaces) what sends this plan. */
  run(plan: StreamPlan): void {
    if (this.ended) {
      return;
    }
    this.replace();
    if (plan.copy) {
      this.runCopy(plan);
    } else {
      void this.stopListening(); // the transcoding ffmpeg sends the audio too
      const proc = this.spawn(sessionArgs(plan, this.to));
      if (proc.process.stdin) {
        this.attachment = plan.source.attach(proc.process.stdin, {
          onEnd: (reason) => this.ffmpeg === proc && this.end(`the camera's stream ended: ${reason}`),
        });
      }
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
    const { proc, sender } = this.replace();
    const left = this.stopListening();
    // Their BYEs leave before the sockets close.
    await Promise.all([sender?.stop(true), this.audioRelay?.stop(true)]);
    this.ports.close();
    await Promise.all([proc?.wait(), left]);
  }

  get running(): boolean {
    return !this.ended;
  }

  /** Copied video from the plugin's sender, from the port HomeKit was told; audio, if any, from the camera's shared
   *  encoder for this stream and selection. */
  private runCopy(plan: StreamPlan): void {
    if (plan.audio) {
      this.listen(plan.source, plan.profileName, plan.audio);
    } else {
      void this.stopListening();
    }
    if (this.videoRtp?.rtp.ssrc !== plan.video.ssrc) {
      this.videoRtp = { srtp: new SrtpSender(this.to.videoKey), rtp: new RtpStream(plan.video.ssrc, plan.video.pt, VIDEO_CLOCK_HZ) };
    }
    const sender = new LiveSender({
      socket: this.ports.video, address: this.to.target, port: this.to.videoPort, ...this.videoRtp, mtu: plan.video.mtu,
      rtcpIntervalMs: this.reportMs, catchUpRate: LIVE_CATCH_UP_RATE,
      onEnd: (reason) => this.sender === sender && this.end(reason),
    });
    this.sender = sender;
    this.attachment = plan.source.units().attach(sender); // its end() ends the session through onEnd
  }

  /**
   * Joins (or stays at) the shared encoder of this stream and selection. A reconfigure that keeps both keeps the sound
   * going untouched; one that changes the stream moves the viewer to that stream's encoder, its numbering going on.
   */
  private listen(source: MediaSource, streamName: string, audio: NonNullable<StreamPlan['audio']>): void {
    const now = this.listening;
    if (now && now.source === source && now.selection.codec === audio.codec && now.selection.sample_rate === audio.sample_rate
      && now.selection.bit_rate === audio.bit_rate && now.selection.packet_time === audio.packet_time) {
      return;
    }
    void this.stopListening();
    this.audioRelay ??= new RelayViewer({
      socket: this.ports.audio, address: this.to.target, port: this.to.audioPort, srtp: new SrtpSender(this.to.audioKey),
      rtp: new RtpStream(audio.ssrc, audio.pt, audioClockHz(audio)), rtcpIntervalMs: this.reportMs,
    });
    this.listening = this.audio.join(source, streamName, audio, this.audioRelay);
  }

  /** Leaves the shared encoder; resolves when its ffmpeg is gone if this viewer was its last. */
  private stopListening(): Promise<void> {
    const membership = this.listening;
    this.listening = undefined;
    return membership?.leave() ?? Promise.resolve();
  }

  private spawn(args: string[]): FfmpegProcess {
    const proc = new FfmpegProcess(this.ffmpegPath, args, this.log, `live ${this.id.slice(0, 8)}`);
    this.ffmpeg = proc;
    proc.once('exit', (exit: FfmpegExit) => {
      if (this.ffmpeg === proc && !exit.stopped) {
        this.end(`the video process ended (${exit.tail.slice(-1)[0] ?? `exit ${exit.signal ?? exit.code}`})`);
      }
    });
    return proc;
  }

  /** Detaches from the source and stops what sent the last plan (the sender without BYE: the stream may go on). */
  private replace(): { proc?: FfmpegProcess; sender?: LiveSender } {
    const proc = this.ffmpeg;
    const sender = this.sender;
    this.ffmpeg = undefined;
    this.sender = undefined;
    this.attachment?.detach();
    this.attachment = undefined;
    void proc?.stop();
    if (!this.ended) {
      void sender?.stop(false);
    }
    return { proc, sender };
  }

  private end(reason: string): void {
    if (this.ended) {
      return;
    }
    void this.stop();
    this.onEnd(reason);
  }
}
