// A camera's stream read in Node: the RTSP client, the RTP parser and the H.264/H.265/AAC depacketizers behind one object, so
// that no ffmpeg runs to copy a stream. Two steps, so the caller can choose ffmpeg for what this does not read:
//   const reader = new RtspReader({ url, label, tracks: 'video+audio', signal });
//   const info = await reader.open();          // connect, log in, follow redirects, DESCRIBE: nothing is played yet
//   if (!info.readable) { await reader.close(); /* use ffmpeg: info.unreadable says why */ }
//   reader.on('video', (au) => ...).on('audio', (frame) => ...).on('close', (reason, error) => ...);
//   await reader.play();                       // SETUP each track read here, PLAY; events until close
// 'close' comes once, whatever ended the read (the camera, a bound, close(), the signal), with a sentence for the log.
import { EventEmitter } from 'node:events';
import { AacConfig, AacDepayloader, AacFrame, parseAudioSpecificConfig } from './aac-depay';
import { RtspClient, RtspError } from './client';
import { H264Depayloader, parseSpropParameterSets } from './h264-depay';
import { H265Depayloader, parseHevcSpropParameterSets } from './h265-depay';
import { NalAccessUnit, NalDepayloader } from './nal-depay';
import { ReorderBuffer } from './reorder';
import { parseRtp, RtpPacket } from './rtp';
import { resolveControl, SdpMedia } from './sdp';
import { NAL, nalType } from '../h264';
import { HEVC_NAL, hevcNalType } from '../h265';

export interface RtspVideoInfo {
  /** 'h264', 'h265', or the SDP's encoding name in lower case. */
  codec: string;
  payloadType: number;
  clockRate: number;
  /** The track's SETUP URL. */
  control: string;
  /** SPS and PPS from sprop-parameter-sets (RFC 6184 §8.1), or for H.265 with the VPS from sprop-vps, sprop-sps and
   *  sprop-pps (RFC 7798 §7.1), when the SDP has them. */
  vps?: Buffer;
  sps?: Buffer;
  pps?: Buffer;
  fmtp: Record<string, string>;
}

export interface RtspAudioInfo {
  /** 'aac' (mpeg4-generic AAC-hbr/lbr), 'pcmu', 'pcma', or the SDP's encoding name in lower case (mp4a-latm, opus...). */
  codec: string;
  payloadType: number;
  clockRate: number;
  sampleRate: number;
  channels: number;
  control: string;
  /** For 'aac': the AudioSpecificConfig from config= (object type, rate, channels). */
  aac?: AacConfig;
  fmtp: Record<string, string>;
}

export interface RtspDescription {
  video?: RtspVideoInfo;
  /** Undefined when the camera sends no audio ('none'). */
  audio?: RtspAudioInfo;
  /** Where the stream is read from (after redirects), host without brackets. */
  host: string;
  port: number;
  redirected: boolean;
  /** play() reads what was asked for: H.264 or H.265 video, and AAC audio when 'video+audio' was asked and the camera has
   *  audio. */
  readable: boolean;
  /** Why not, as a sentence, when !readable. */
  unreadable?: string;
}

export interface RtspReaderOptions {
  url: string;
  /** The camera and stream, e.g. "Gate main": starts debug lines. */
  label: string;
  tracks: 'video' | 'video+audio';
  signal?: AbortSignal;
  requestTimeoutMs?: number;
  mediaTimeoutMs?: number;
  debug?: (line: string) => void;
  /** RTP interleaved on the RTSP connection ('tcp', the default) or over UDP (a camera that refuses UDP is read over TCP,
   *  said in the debug log). */
  transport?: 'tcp' | 'udp';
}

export interface RtspReaderEvents {
  /** An access unit; its `codec` says H.264 or H.265. */
  video: [au: NalAccessUnit];
  audio: [frame: AacFrame];
  /** A depacketizer dropped something (loss, a malformed or oversized frame): what and why. */
  drop: [reason: string];
  /** Once: why the read ended, and the error when it was not close(). */
  close: [reason: string, error: RtspError | undefined];
}

export interface RtspReaderStats {
  videoUnits: number;
  audioFrames: number;
  drops: number;
  /** RTP and RTCP bytes received (with their headers). */
  bytes: number;
  /** RTP packets that came out of order and were put back in it (reorder.ts). */
  reordered: number;
  /** RTP packets that came after their place was given up on as lost, or twice: dropped. */
  late: number;
  /** UDP datagrams from another address or port than the camera's: ignored. */
  foreign: number;
  /** How the video's RTP came: 'udp' only when asked for and the camera agreed. */
  transport: 'tcp' | 'udp';
}

/** Codec names as a user knows them, for the sentence saying why a stream goes to ffmpeg. */
const CODEC_NAMES: Record<string, string> = {
  pcmu: 'G.711 µ-law (PCMU)', pcma: 'G.711 A-law (PCMA)', aac: 'AAC in a form the plugin does not read',
  'mpeg4-generic': 'MPEG-4 audio the plugin does not read', 'mp4a-latm': 'AAC in LATM',
};
/** Video codecs play() depacketizes (the names videoInfo() gives). */
const READ_VIDEO = new Set(['h264', 'h265']);
const VIDEO_CHANNELS: [number, number] = [0, 1];
const AUDIO_CHANNELS: [number, number] = [2, 3];
/** RFC 3551 §6 static payload types a camera may use without an a=rtpmap. */
const STATIC_TYPES: Record<number, { encoding: string; clockRate: number; channels: number }> = {
  0: { encoding: 'PCMU', clockRate: 8000, channels: 1 },
  8: { encoding: 'PCMA', clockRate: 8000, channels: 1 },
};

export class RtspReader extends EventEmitter<RtspReaderEvents> {
  private readonly client: RtspClient;
  private description?: RtspDescription;
  private base = '';
  private aggregate?: string;
  private video?: NalDepayloader;
  private audio?: AacDepayloader;
  private videoChannel = -1;
  private audioChannel = -1;
  private videoOrder?: ReorderBuffer;
  private audioOrder?: ReorderBuffer;
  private transport: 'tcp' | 'udp' = 'tcp';
  private closedWith?: string;
  private readonly counts = { videoUnits: 0, audioFrames: 0, drops: 0, bytes: 0 };

  constructor(private readonly options: RtspReaderOptions) {
    super();
    this.client = new RtspClient({
      url: options.url, signal: options.signal, requestTimeoutMs: options.requestTimeoutMs, mediaTimeoutMs: options.mediaTimeoutMs,
      transport: options.transport,
      onFrame: (channel, data) => this.onFrame(channel, data),
      onClose: (error) => this.onClose(error),
      debug: (line) => options.debug?.(`${options.label} stream: ${line}`),
    });
  }

  /** Connects and describes the stream; rejects with an RtspError whose message is the sentence for the user. */
  async open(): Promise<RtspDescription> {
    const d = await this.client.describe();
    this.base = d.base;
    this.aggregate = d.sdp.control && d.sdp.control !== '*' ? resolveControl(d.base, d.sdp.control) : d.base;
    const videoMedia = d.sdp.media.find((m) => m.type === 'video');
    const audioMedia = d.sdp.media.find((m) => m.type === 'audio');
    const video = videoMedia ? this.videoInfo(videoMedia) : undefined;
    const audio = audioMedia ? this.audioInfo(audioMedia) : undefined;
    let unreadable: string | undefined;
    if (!video) {
      unreadable = 'the camera\'s stream has no video';
    } else if (!READ_VIDEO.has(video.codec)) {
      unreadable = `the camera's video is ${CODEC_NAMES[video.codec] ?? video.codec.toUpperCase()}, which the plugin reads only through ffmpeg`;
    } else if (this.options.tracks === 'video+audio' && audio && (audio.codec !== 'aac' || !audio.aac)) {
      unreadable = `the camera's audio is ${CODEC_NAMES[audio.codec] ?? audio.codec.toUpperCase()}, which the plugin reads only through ffmpeg`;
    }
    this.description = { video, audio, host: d.host, port: d.port, redirected: d.redirected, readable: !unreadable, unreadable };
    return this.description;
  }

  /** SETUP of the H.264 or H.265 video (and the AAC audio when asked for and present), PLAY; 'video' and 'audio' follow.
   *  Rejects when the video is neither (see open()'s `readable`); audio that is not AAC is not set up. */
  async play(): Promise<void> {
    const d = this.description ?? await this.open();
    const { label, debug } = this.options;
    if (!d.video || !READ_VIDEO.has(d.video.codec)) {
      const e = new RtspError('status', d.unreadable ?? 'the camera\'s video is neither H.264 nor H.265');
      await this.close(e.message);
      throw e;
    }
    const depay = {
      parameterSets: [d.video.vps, d.video.sps, d.video.pps].filter((b): b is Buffer => b !== undefined),
      onAccessUnit: (au: NalAccessUnit): void => {
        this.counts.videoUnits++;
        this.emit('video', au);
      },
      onDrop: (reason: string): void => this.dropped(reason),
    };
    // sprop-max-don-diff above 0 puts DONL fields in every H.265 packet (RFC 7798 §7.1).
    this.video = d.video.codec === 'h265'
      ? new H265Depayloader({ ...depay, maxDonDiff: Number(d.video.fmtp['sprop-max-don-diff'] ?? 0) || 0 })
      : new H264Depayloader(depay);
    const video = this.video;
    this.videoOrder = new ReorderBuffer({ onPacket: (p) => video.push(p) });
    const setup = await this.client.setup(d.video.control, VIDEO_CHANNELS);
    this.videoChannel = setup.channels[0];
    this.transport = setup.transport;
    if (this.options.tracks === 'video+audio' && d.audio?.codec === 'aac' && d.audio.aac) {
      try {
        this.audio = new AacDepayloader({
          fmtp: d.audio.fmtp,
          onFrame: (frame) => {
            this.counts.audioFrames++;
            this.emit('audio', frame);
          },
          onDrop: (reason) => this.dropped(reason),
        });
        const audio = this.audio;
        this.audioOrder = new ReorderBuffer({ onPacket: (p) => audio.push(p) });
        this.audioChannel = (await this.client.setup(d.audio.control, AUDIO_CHANNELS)).channels[0];
      } catch (err) {
        if (err instanceof RtspError) {
          throw err;
        }
        debug?.(`${label} stream: ${(err as Error).message}; reading the video alone`);
        this.audio = undefined;
        this.audioOrder = undefined;
      }
    }
    await this.client.play(this.aggregate ?? this.base);
  }

  /** Ends the read (TEARDOWN, bounded); 'close' is emitted with `reason`. Idempotent. */
  async close(reason = 'the read was closed'): Promise<void> {
    this.closedWith ??= reason;
    await this.client.close();
  }

  /** Reads the camera's connection at most every `ms` (0: as the bytes come): see RtspClient.paceReads. */
  paceReads(ms: number): void {
    this.client.paceReads(ms);
  }

  stats(): RtspReaderStats {
    const orders = [this.videoOrder, this.audioOrder].map((o) => o?.stats);
    const sum = (f: (s: NonNullable<(typeof orders)[number]>) => number): number => orders.reduce((n, s) => n + (s ? f(s) : 0), 0);
    return {
      ...this.counts, reordered: sum((s) => s.filled), late: sum((s) => s.late + s.duplicates), foreign: this.client.foreignPackets,
      transport: this.transport,
    };
  }

  /** RTCP receiver reports sent (over UDP only). */
  get receiverReports(): number {
    return this.client.receiverReports;
  }

  private onFrame(channel: number, data: Buffer): void {
    this.counts.bytes += data.length;
    // Each depacketizer takes its packets in sequence order, whatever order they came in (reorder.ts).
    const order = channel === this.videoChannel ? this.videoOrder : channel === this.audioChannel ? this.audioOrder : undefined;
    if (!order) {
      return; // RTCP (odd channels) and anything not set up
    }
    const packet: RtpPacket | undefined = parseRtp(data);
    if (!packet) {
      this.dropped(`a malformed RTP packet on channel ${channel}`);
      return;
    }
    order.push(packet);
  }

  private dropped(reason: string): void {
    this.counts.drops++;
    this.emit('drop', reason);
  }

  private onClose(error: RtspError | undefined): void {
    this.videoOrder?.close();
    this.audioOrder?.close();
    this.emit('close', error?.message ?? this.closedWith ?? 'the read was closed', error);
  }

  private videoInfo(m: SdpMedia): RtspVideoInfo {
    const pt = m.formats[0] ?? -1;
    const map = m.rtpmap.get(pt);
    const encoding = (map?.encoding ?? `payload type ${pt}`).toLowerCase();
    const codec = encoding === 'h265' || encoding === 'hevc' ? 'h265' : encoding;
    const fmtp = m.fmtp.get(pt) ?? {};
    const info: RtspVideoInfo = { codec, payloadType: pt, clockRate: map?.clockRate ?? 90_000, control: resolveControl(this.base, m.control), fmtp };
    if (codec === 'h264') {
      const sets = parseSpropParameterSets(fmtp['sprop-parameter-sets']);
      info.sps = sets.find((n) => nalType(n) === NAL.SPS);
      info.pps = sets.find((n) => nalType(n) === NAL.PPS);
    } else if (codec === 'h265') {
      const sets = parseHevcSpropParameterSets(fmtp);
      info.vps = sets.find((n) => hevcNalType(n) === HEVC_NAL.VPS);
      info.sps = sets.find((n) => hevcNalType(n) === HEVC_NAL.SPS);
      info.pps = sets.find((n) => hevcNalType(n) === HEVC_NAL.PPS);
    }
    return info;
  }

  private audioInfo(m: SdpMedia): RtspAudioInfo {
    const pt = m.formats[0] ?? -1;
    const map = m.rtpmap.get(pt) ?? STATIC_TYPES[pt];
    const encoding = (map?.encoding ?? `payload type ${pt}`).toLowerCase();
    const fmtp = m.fmtp.get(pt) ?? {};
    const aacMode = encoding === 'mpeg4-generic' && /^aac-(hbr|lbr)$/i.test(fmtp.mode ?? '');
    const aac = aacMode ? parseAudioSpecificConfig(fmtp.config) : undefined;
    const clockRate = map?.clockRate ?? 8000;
    return {
      codec: aacMode ? 'aac' : encoding, payloadType: pt, clockRate, control: resolveControl(this.base, m.control), fmtp, aac,
      sampleRate: aac?.sampleRate ?? clockRate, channels: aac?.channels ?? map?.channels ?? 1,
    };
  }
}
