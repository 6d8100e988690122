// HomeKit's streaming delegate for one camera: picks the camera profile nearest each request, copies its H.264 when
// HomeKit can show it (transcodes only when not), runs one LiveSession per viewer and the camera's shared audio encoders
// (live-audio.ts: one ffmpeg per stream and audio selection, whoever listens), and answers snapshots.
import type {
  CameraStreamingDelegate, PrepareStreamCallback, PrepareStreamRequest, ReconfiguredVideoInfo, SnapshotRequest,
  SnapshotRequestCallback, StartStreamRequest, StreamingRequest, StreamRequestCallback,
} from 'homebridge';
import { EventEmitter } from 'node:events';
import type { MediaProfile } from '../onvif/profiles';
import { answerOnce } from '../util/guard';
import { liveCopyBlocker } from './copy-decision';
import { LiveAudio } from './live-audio';
import { Endpoint, LiveSession, SessionLog, StreamPlan } from './live-session';
import { ReturnPorts, ViewerRoute, viewerRoute } from './return-ports';
import type { MediaSource } from './source';

/** One camera profile the plugin reads: what ONVIF says of it and its media source. */
export interface CameraStream {
  /** "main", "sub": for log lines and the probe command. */
  name: string;
  profile: MediaProfile;
  source: MediaSource;
}

export interface LiveOptions {
  log: SessionLog;
  ffmpegPath: string;
  /** Largest first. */
  streams: CameraStream[];
  /** The live audio codec HomeKit was offered (AAC-ELD needs an ffmpeg with libfdk_aac), or undefined for no audio. */
  audioCodec?: 'opus' | 'aac-eld';
  encoder: string;
  /** A random 32-bit SSRC (HAP's CameraController.generateSynchronisationSource). */
  ssrc: () => number;
  snapshot: (width: number, height: number) => Promise<Buffer>;
}

interface Prepared {
  endpoint: Endpoint;
  ports: ReturnPorts;
  videoSsrc: number;
  audioSsrc: number;
}

/** The stream nearest a request: the smallest at least as wide (iOS scales down well), else the widest. */
export function chooseStream(streams: CameraStream[], width: number): CameraStream {
  const byWidth = [...streams].sort((a, b) => a.profile.width - b.profile.width);
  return byWidth.find((s) => s.profile.width >= width) ?? byWidth[byWidth.length - 1];
}

/**
 * Emits 'ended' (sessionId) when a stream ends on this side (the viewer gone, the camera's stream cut, the camera turned
 * off in Home): HomeKit must be told (HAP's CameraController.forceStopStreamingSession).
 */
export class LiveStreams extends EventEmitter implements CameraStreamingDelegate {
  private readonly prepared = new Map<string, Prepared>();
  private readonly sessions = new Map<string, LiveSession>();
  /** What each running stream sends, so a reconfigure can tell whether anything must change. */
  private readonly plans = new Map<string, StreamPlan>();
  /** The sound of copied views: one encoder shared by the viewers of a camera stream who asked for the same audio. */
  readonly audio: LiveAudio;

  constructor(private readonly options: LiveOptions) {
    super();
    this.audio = new LiveAudio({ ffmpegPath: options.ffmpegPath, log: options.log });
  }

  handleSnapshotRequest(request: SnapshotRequest, callback: SnapshotRequestCallback): void {
    answerOnce(this.options.log, 'snapshot', callback, () => this.options.snapshot(request.width, request.height));
  }

  prepareStream(request: PrepareStreamRequest, callback: PrepareStreamCallback): void {
    answerOnce(this.options.log, 'live view (prepare)', callback, async () => {
      const { route, ports } = await this.openRoute(request);
      const prepared: Prepared = {
        endpoint: {
          family: route.family, target: route.target,
          videoPort: request.video.port, videoKey: Buffer.concat([request.video.srtp_key, request.video.srtp_salt]),
          audioPort: request.audio.port, audioKey: Buffer.concat([request.audio.srtp_key, request.audio.srtp_salt]),
        },
        ports, videoSsrc: this.options.ssrc(), audioSsrc: this.options.ssrc(),
      };
      this.prepared.get(request.sessionID)?.ports.close();
      this.prepared.set(request.sessionID, prepared);
      this.options.log.debug(`live view prepared: viewer ${route.target} (IPv${route.family}), RTCP back to ${route.bind} ` +
        `ports ${ports.video.address().port}/${ports.audio.address().port} (HomeKit connection on ${request.sourceAddress})`);
      return {
        // What the return sockets are bound to is what the viewer is told to send to (HAP would otherwise announce the
        // first address of the interface, which need not be the one the viewer reached us on).
        addressOverride: route.advertise,
        video: { port: ports.video.address().port, ssrc: prepared.videoSsrc, srtp_key: request.video.srtp_key, srtp_salt: request.video.srtp_salt },
        audio: { port: ports.audio.address().port, ssrc: prepared.audioSsrc, srtp_key: request.audio.srtp_key, srtp_salt: request.audio.srtp_salt },
      };
    });
  }

  /** The viewer's route and the sockets for its RTCP; a failure is one sentence that says what to change. */
  private async openRoute(request: PrepareStreamRequest): Promise<{ route: ViewerRoute; ports: ReturnPorts }> {
    try {
      const route = viewerRoute(request);
      return { route, ports: await ReturnPorts.open(route) };
    } catch (err) {
      throw new Error(`no stream for the viewer at ${request.targetAddress}: ${(err as Error).message}. Check Homebridge's ` +
        '"bind" setting (Homebridge Settings → Network): leave it empty, or pick the network interface the iPhones and the ' +
        'home hub use');
    }
  }

  handleStreamRequest(request: StreamingRequest, callback: StreamRequestCallback): void {
    answerOnce(this.options.log, `live view (${request.type})`, callback, async () => {
      if (request.type === 'start') {
        await this.start(request);
      } else if (request.type === 'reconfigure') {
        await this.reconfigure(request.sessionID, request.video);
      } else {
        await this.stopSession(request.sessionID);
      }
    });
  }

  /** Ends every stream (the camera is going away); resolves when their ffmpegs are gone. */
  async stopAll(): Promise<void> {
    this.prepared.forEach((p) => p.ports.close());
    this.prepared.clear();
    await Promise.all([...this.sessions.keys()].map((id) => this.stopSession(id)));
    await this.audio.stopAll();
  }

  /** Ends every stream and tells HomeKit (the camera was turned off in Home). */
  async endAll(reason: string): Promise<void> {
    const ids = [...this.sessions.keys()];
    if (ids.length) {
      this.options.log.info(`live view stopped: ${reason}`);
    }
    await Promise.all(ids.map(async (id) => {
      await this.stopSession(id);
      this.emit('ended', id);
    }));
  }

  private async start(request: StartStreamRequest): Promise<void> {
    const prepared = this.prepared.get(request.sessionID);
    if (!prepared) {
      throw new Error('HomeKit started a stream it did not prepare');
    }
    this.prepared.delete(request.sessionID);
    const { log, ffmpegPath } = this.options;
    const session = new LiveSession(request.sessionID, ffmpegPath, prepared.endpoint, prepared.ports, log,
      request.video.rtcp_interval, this.audio, (reason) => {
        log.info(`live view stopped: ${reason}`);
        this.forget(request.sessionID);
        this.emit('ended', request.sessionID);
      });
    this.sessions.set(request.sessionID, session);
    try {
      const plan = await this.plan(request, prepared);
      if (!session.running) {
        return;
      }
      session.run(plan);
      log.info(`live view started: ${plan.profileName} stream ${plan.facts.width ?? '?'}x${plan.facts.height ?? '?'}, ` +
        (plan.copy ? 'copied as the camera sends it' : `transcoded to ${plan.video.width}x${plan.video.height} ` +
          `${plan.video.fps} fps ${plan.video.max_bit_rate} kbps (${plan.transcodeReason})`) +
        `, ${plan.audio ? `audio ${plan.audio.codec}` : 'no audio'}`);
    } catch (err) {
      this.forget(request.sessionID);
      await session.stop();
      throw err;
    }
  }

  /** A new size, frame rate or bitrate for a running stream (iOS asks when the tile grows or the network changes). */
  private async reconfigure(sessionId: string, video: ReconfiguredVideoInfo): Promise<void> {
    const session = this.sessions.get(sessionId);
    const last = session && this.plans.get(sessionId);
    if (!session || !last) {
      return;
    }
    const next = await this.planFor({ ...last.video, ...video }, last.audio, last);
    // Copy of the same stream: a new size or bitrate changes nothing we send; iOS scales.
    if (next.copy && last.copy && next.source === last.source) {
      this.options.log.debug(`live view reconfigured to ${video.width}x${video.height}; still copying the ${last.profileName} stream`);
      return;
    }
    this.plans.set(sessionId, next);
    session.run(next);
    this.options.log.debug(`live view reconfigured to ${video.width}x${video.height} ${video.fps} fps`);
  }

  private async plan(request: StartStreamRequest, prepared: Prepared): Promise<StreamPlan> {
    const v = request.video;
    const a = request.audio;
    const codec = this.options.audioCodec;
    const wantsOpus = String(a.codec).toUpperCase() === 'OPUS';
    const audio = codec && ((codec === 'opus') === wantsOpus)
      ? { codec, pt: a.pt, ssrc: prepared.audioSsrc, sample_rate: a.sample_rate, bit_rate: a.bit_rate, packet_time: a.packet_time }
      : undefined;
    const plan = await this.planFor({ width: v.width, height: v.height, fps: v.fps, max_bit_rate: v.max_bit_rate, profile: v.profile,
      level: v.level, pt: v.pt, ssrc: prepared.videoSsrc, mtu: v.mtu }, audio);
    this.plans.set(request.sessionID, plan);
    return plan;
  }

  private async planFor(video: StreamPlan['video'], audio: StreamPlan['audio'], previous?: StreamPlan): Promise<StreamPlan> {
    const stream = chooseStream(this.options.streams, video.width);
    const facts = await stream.source.facts();
    const blocker = liveCopyBlocker(facts);
    return {
      source: stream.source, profileName: stream.name, copy: blocker === undefined, transcodeReason: blocker, facts, video,
      // No audio track to send when the camera has none (an ffmpeg mapping a missing track would fail the whole stream).
      audio: facts.audio ? audio ?? previous?.audio : undefined,
      encoder: this.options.encoder,
    };
  }

  private async stopSession(sessionId: string): Promise<void> {
    this.prepared.get(sessionId)?.ports.close();
    this.prepared.delete(sessionId);
    const session = this.sessions.get(sessionId);
    this.forget(sessionId);
    await session?.stop();
  }

  /** A session that ended, however it ended, is forgotten with its plan. */
  private forget(sessionId: string): void {
    this.sessions.delete(sessionId);
    this.plans.delete(sessionId);
  }
}
