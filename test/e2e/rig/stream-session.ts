// One negotiated live stream session (SetupEndpoints done): the SelectedRTPStreamConfiguration START / RECONFIGURE /
// END writes, its two receivers, and the waits on what arrives.
import { randomBytes } from 'node:crypto';
import { track } from './cleanup';
import { withTimeout } from './wait';
import type { KeyframeInfo } from './h264-assembler';
import { SrtpReceiver } from './srtp-receiver';
import type { MediaKind, ReceiverStats } from './srtp-receiver';
import { AudioBitrateMode, AudioCodec, H264Level, H264Profile, sampleRateCode, SessionCommand, SetupStatus } from './stream-capabilities';
import type { CameraStreamClient } from './stream-client';
import { streamNow } from './stream-clock';
import { encodeTlv, f32le, Tlv, u16le, u32le } from './tlv8';

export interface SrtpParams {
  suite: number;
  key: Buffer;
  salt: Buffer;
}

/** The accessory's SetupEndpoints answer, decoded. */
export interface SetupAnswer {
  sessionId: Buffer;
  /** SetupStatus: 0 success, 1 busy, 2 error. */
  status: number;
  addressVersion?: number;
  address?: string;
  videoPort?: number;
  audioPort?: number;
  videoSrtp?: SrtpParams;
  audioSrtp?: SrtpParams;
  videoSsrc?: number;
  audioSsrc?: number;
}

export function decodeSetupAnswer(value: unknown): SetupAnswer {
  const top = Tlv.fromBase64(value, 'SetupEndpoints response');
  const answer: SetupAnswer = { sessionId: top.get(1) ?? Buffer.alloc(0), status: top.uint(2, 'status') };
  if (answer.status !== SetupStatus.Success) {
    return answer;
  }
  const address = top.nested(3, 'accessory address');
  const srtp = (tlv: Tlv): SrtpParams => ({ suite: tlv.uint(1, 'crypto suite'), key: tlv.get(2) ?? Buffer.alloc(0), salt: tlv.get(3) ?? Buffer.alloc(0) });
  return {
    ...answer,
    addressVersion: address.uint(1, 'address version'),
    address: address.require(2, 'address').toString('utf8'),
    videoPort: address.uint(3, 'video port'),
    audioPort: address.uint(4, 'audio port'),
    videoSrtp: srtp(top.nested(4, 'video SRTP parameters')),
    audioSrtp: srtp(top.nested(5, 'audio SRTP parameters')),
    videoSsrc: top.uint(6, 'video SSRC'),
    audioSsrc: top.uint(7, 'audio SSRC'),
  };
}

export interface VideoSelection {
  profile: number;
  level: number;
  width: number;
  height: number;
  fps: number;
  maxBitrateKbps: number;
  payloadType: number;
  rtcpIntervalS: number;
  mtu: number;
}

export interface AudioSelection {
  codec: number;
  channels: number;
  bitrateMode: number;
  sampleRateKhz: number;
  packetTimeMs: number;
  maxBitrateKbps: number;
  payloadType: number;
  rtcpIntervalS: number;
  comfortNoise: boolean;
  comfortNoisePayloadType: number;
}

export interface StartOptions {
  /** width/height/fps are required; the rest defaults to what iOS sends (Main profile if offered, highest offered level, 299 kbps, PT 99, RTCP 0.5 s, MTU 1378). */
  video: Pick<VideoSelection, 'width' | 'height' | 'fps'> & Partial<VideoSelection>;
  /** Defaults: Opus, mono, variable bitrate, 24 kHz, 20 ms, 24 kbps, PT 110, RTCP 5 s, no comfort noise (PT 13). */
  audio?: Partial<AudioSelection>;
  /** Return a failed write's status instead of throwing. */
  allowFailure?: boolean;
}

export interface ReconfigureOptions {
  video: Pick<VideoSelection, 'width' | 'height' | 'fps'> & Partial<VideoSelection>;
  allowFailure?: boolean;
}

/** When a SelectedRTPStreamConfiguration write went out and came back (streamNow() ms), and the accessory's status. */
export interface WriteResult {
  command: number;
  status: number;
  sentAt: number;
  answeredAt: number;
}

/** What the Home app sends when nothing else is asked for (see StartOptions). */
const VIDEO_DEFAULTS: Omit<VideoSelection, 'width' | 'height' | 'fps'> = {
  profile: H264Profile.Main, level: H264Level.Level4_0, maxBitrateKbps: 299, payloadType: 99, rtcpIntervalS: 0.5, mtu: 1378,
};
const AUDIO_DEFAULTS: AudioSelection = {
  codec: AudioCodec.Opus, channels: 1, bitrateMode: AudioBitrateMode.Variable, sampleRateKhz: 24, packetTimeMs: 20,
  maxBitrateKbps: 24, payloadType: 110, rtcpIntervalS: 5, comfortNoise: false, comfortNoisePayloadType: 13,
};
const RTCP_SEND_INTERVAL_MS = 500;
const END_ON_CLOSE_TIMEOUT_MS = 5_000;
const VIDEO_CLOCK_RATE = 90_000;
const OPUS_CLOCK_RATE = 48_000; // RFC 7587: Opus RTP always runs at 48 kHz

function randomSsrc(): number {
  return randomBytes(4).readUInt32BE(0) >>> 0;
}

/** One negotiated stream session (SetupEndpoints done): START, RECONFIGURE, END, receive, RTCP. Close it (tracked). */
export class StreamSession {
  /** Our SSRCs, sent in the selected parameters and used as the RTCP sender SSRC. */
  readonly controllerVideoSsrc = randomSsrc();
  readonly controllerAudioSsrc = randomSsrc();
  startResult: WriteResult | undefined;
  endResult: WriteResult | undefined;
  videoSelection: VideoSelection | undefined;
  audioSelection: AudioSelection | undefined;
  private closed = false;
  private readonly untrack: () => void;

  constructor(
    private readonly client: CameraStreamClient,
    readonly sessionId: Buffer,
    readonly video: SrtpReceiver,
    readonly audio: SrtpReceiver,
    readonly answer: SetupAnswer,
    readonly setupWrite: { sentAt: number; answeredAt: number },
  ) {
    this.untrack = track({ label: `stream session ${sessionId.toString('hex').slice(0, 8)} (ports ${video.port}/${audio.port})`, stop: () => this.close() });
  }

  get ok(): boolean {
    return this.answer.status === SetupStatus.Success;
  }

  async start(options: StartOptions): Promise<WriteResult> {
    this.requireUsable('START');
    const caps = await this.client.capabilities();
    const h264 = caps.video[0];
    // iOS asks for Main profile at the highest offered level (a Home app START seen in the wild: Main, 4.0, 299 kbps).
    const video: VideoSelection = {
      ...VIDEO_DEFAULTS,
      profile: !h264 || h264.profiles.includes(H264Profile.Main) ? H264Profile.Main : Math.max(...h264.profiles),
      level: h264 ? Math.max(...h264.levels) : H264Level.Level4_0,
      ...options.video,
    };
    const audio: AudioSelection = { ...AUDIO_DEFAULTS, ...options.audio };
    this.videoSelection = video;
    this.audioSelection = audio;
    const value = encodeTlv([
      [1, this.sessionControl(SessionCommand.Start)],
      [2, this.videoParameters(video)],
      [3, encodeTlv([
        [1, audio.codec],
        [2, encodeTlv([[1, audio.channels], [2, audio.bitrateMode], [3, sampleRateCode(audio.sampleRateKhz)], [4, audio.packetTimeMs]])],
        [3, encodeTlv([
          [1, audio.payloadType], [2, u32le(this.controllerAudioSsrc)], [3, u16le(audio.maxBitrateKbps)],
          [4, f32le(audio.rtcpIntervalS)], [6, audio.comfortNoisePayloadType],
        ])],
        [4, audio.comfortNoise ? 1 : 0],
      ])],
    ]);
    const result = await this.client.writeSelected(value, SessionCommand.Start, options.allowFailure);
    this.startResult = result;
    if (result.status === 0) {
      // RTCP flows once the stream runs, from the RTP sockets (rtcp-mux), to the ports the accessory answered with.
      this.video.startRtcp(this.controllerVideoSsrc, VIDEO_CLOCK_RATE, RTCP_SEND_INTERVAL_MS);
      const audioClock = audio.codec === AudioCodec.Opus ? OPUS_CLOCK_RATE : audio.sampleRateKhz * 1000;
      this.audio.startRtcp(this.controllerAudioSsrc, audioClock, RTCP_SEND_INTERVAL_MS);
    }
    return result;
  }

  async reconfigure(options: ReconfigureOptions): Promise<WriteResult> {
    this.requireUsable('RECONFIGURE');
    const video: VideoSelection = { ...VIDEO_DEFAULTS, ...this.videoSelection, ...options.video };
    this.videoSelection = video;
    const value = encodeTlv([[1, this.sessionControl(SessionCommand.Reconfigure)], [2, this.videoParameters(video)]]);
    return this.client.writeSelected(value, SessionCommand.Reconfigure, options.allowFailure);
  }

  /** END; RTCP stops first, as the Home app stops reporting when it closes the view. */
  async end(options: { allowFailure?: boolean } = {}): Promise<WriteResult> {
    this.requireUsable('END');
    this.video.stopRtcp();
    this.audio.stopRtcp();
    const result = await this.client.writeSelected(encodeTlv([[1, this.sessionControl(SessionCommand.End)]]), SessionCommand.End, options.allowFailure);
    this.endResult = result;
    return result;
  }

  pauseRtcp(): void {
    this.video.pauseRtcp();
    this.audio.pauseRtcp();
  }

  resumeRtcp(): void {
    this.video.resumeRtcp();
    this.audio.resumeRtcp();
  }

  stats(): { video: ReceiverStats; audio: ReceiverStats } {
    return { video: this.video.snapshot(), audio: this.audio.snapshot() };
  }

  /** Resolves once n authenticated RTP packets arrived on that port (counting from `since`, default: all). */
  waitForPackets(n: number, timeoutMs: number, kind: MediaKind = 'video', since = 0): Promise<number> {
    const receiver = kind === 'video' ? this.video : this.audio;
    return receiver.waitFor(() => {
      const count = receiver.packetsSince(since);
      return count >= n ? count : undefined;
    }, timeoutMs, `${n} authenticated RTP packets`);
  }

  /** Authenticated RTP packets at or after `since` on one port or both; every datagram with `all`. */
  packetsSince(since: number, kind?: MediaKind, all = false): number {
    const receivers = kind === undefined ? [this.video, this.audio] : [kind === 'video' ? this.video : this.audio];
    return receivers.reduce((sum, r) => sum + r.packetsSince(since, all), 0);
  }

  /** The first decodable keyframe (IDR access unit, whole, after SPS and PPS). */
  waitForKeyframe(timeoutMs: number): Promise<KeyframeInfo> {
    return this.video.waitFor(() => this.video.snapshot().firstKeyframe, timeoutMs, 'the first decodable H.264 keyframe');
  }

  /** Milliseconds from the START write going out to the first packet / first decodable keyframe (undefined: not yet). */
  timing(): { toFirstPacketMs?: number; toFirstKeyframeMs?: number; startWriteMs?: number } {
    const start = this.startResult;
    if (!start) {
      return {};
    }
    const v = this.video.snapshot();
    return {
      startWriteMs: start.answeredAt - start.sentAt,
      toFirstPacketMs: v.firstPacketAt === undefined ? undefined : v.firstPacketAt - start.sentAt,
      toFirstKeyframeMs: v.firstKeyframe === undefined ? undefined : v.firstKeyframe.at - start.sentAt,
    };
  }

  /** Resolves once no datagram at all arrived on either port for quietMs; returns when the quiet began. */
  async waitForSilence(quietMs: number, timeoutMs: number): Promise<number> {
    const deadline = streamNow() + timeoutMs;
    for (let i = 0; streamNow() < deadline && i < 10_000; i++) {
      const since = streamNow() - quietMs;
      if (this.packetsSince(since, undefined, true) === 0) {
        return since;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, quietMs)));
    }
    throw new Error(`packets still arriving ${timeoutMs} ms later (no ${quietMs} ms of quiet): ${JSON.stringify(this.stats())}`);
  }

  /** Stop RTCP and close the sockets; a started, not ended session is ENDed first (bounded, best effort). */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    if (this.startResult?.status === 0 && !this.endResult) {
      await withTimeout(this.end({ allowFailure: true }), END_ON_CLOSE_TIMEOUT_MS, 'END on close').catch(() => undefined);
    }
    this.closed = true;
    this.untrack();
    this.video.close();
    this.audio.close();
  }

  private requireUsable(command: string): void {
    if (this.closed) {
      throw new Error(`${command} on a closed stream session`);
    }
    if (!this.ok) {
      throw new Error(`${command} impossible: SetupEndpoints answered status ${this.answer.status} (0 success, 1 busy, 2 error)`);
    }
  }

  private sessionControl(command: number): Buffer {
    return encodeTlv([[1, this.sessionId], [2, command]]);
  }

  private videoParameters(v: VideoSelection): Buffer {
    return encodeTlv([
      [1, 0], // H.264
      [2, encodeTlv([[1, v.profile], [2, v.level], [3, 0]])], // packetization mode 0: non-interleaved
      [3, encodeTlv([[1, u16le(v.width)], [2, u16le(v.height)], [3, v.fps]])],
      [4, encodeTlv([
        [1, v.payloadType], [2, u32le(this.controllerVideoSsrc)], [3, u16le(v.maxBitrateKbps)],
        [4, f32le(v.rtcpIntervalS)], [5, u16le(v.mtu)],
      ])],
    ]);
  }
}
