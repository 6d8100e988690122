// One camera's video: reads its ONVIF profiles, makes a media source per profile used (main, and sub for small viewers),
// and the live view (with snapshots) and recording delegates that camera.ts hands to HAP's CameraController.
import type { HAP } from 'homebridge';
import type { CameraConfig } from '../config';
import type { OnvifDevice } from '../onvif/device';
import { SoapError } from '../onvif/soap';
import type { MediaProfile } from '../onvif/profiles';
import type { CameraLog } from '../util/log';
import { registerSecret } from '../util/redact';
import { encodersOf, encodersOfSync } from './ffmpeg-caps';
import { CameraStream, LiveOptions, LiveStreams } from './live';
import { Recording } from './recording';
import { Snapshots } from './snapshot';
import { MediaSource, SourceOptions } from './source';

/** The RTSP URL with the camera's credentials in it (ONVIF gives it without); the password is registered for redaction. */
export function withCredentials(uri: string, username: string, password: string): string {
  if (!username) {
    return uri;
  }
  const url = new URL(uri);
  if (!url.username) {
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
  }
  registerSecret(url.password);
  return url.toString();
}

/** The profiles worth reading: the largest H.264 (else the largest of any codec, transcoded) and the smallest H.264 as "sub". */
export function pickProfiles(profiles: MediaProfile[]): { name: string; profile: MediaProfile }[] {
  const video = profiles.filter((p) => p.width > 0 && p.height > 0 && !/JPEG/i.test(p.encoding));
  const h264 = video.filter((p) => /^H264$/i.test(p.encoding)).sort((a, b) => b.width - a.width);
  const main = h264[0] ?? [...video].sort((a, b) => b.width - a.width)[0];
  if (!main) {
    return [];
  }
  const sub = h264.at(-1);
  return sub && sub.width < main.width ? [{ name: 'main', profile: main }, { name: 'sub', profile: sub }] : [{ name: 'main', profile: main }];
}

function audioMode(profile: MediaProfile, config: CameraConfig): SourceOptions['audio'] {
  if (!config.audio || !profile.audio) {
    return 'none';
  }
  return /AAC/i.test(profile.audio.encoding) ? 'copy' : 'aac';
}

/**
 * A stream the plugin reads, as the camera described it: kept in the accessory's context so that after a restart the
 * camera is whole in Home (live view, the hub's recording configuration, data streams) before it answers again. The
 * URI carries no credentials.
 */
export interface KnownStream {
  name: string;
  profile: MediaProfile;
  uri: string;
}

/** Known streams read back from an accessory's context, or undefined when it holds none (or something else). */
export function knownStreamsOf(value: unknown): KnownStream[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    return undefined;
  }
  const ok = value.every((k: Partial<KnownStream> | null) => typeof k?.name === 'string' && typeof k.uri === 'string' &&
    typeof k.profile?.token === 'string' && typeof k.profile.width === 'number' && typeof k.profile.height === 'number' &&
    typeof k.profile.encoding === 'string');
  return ok ? value as KnownStream[] : undefined;
}

/** Whether HomeKit would be offered the same thing for both: the same profiles at the same sizes and codecs. */
function sameShape(a: KnownStream[], b: KnownStream[]): boolean {
  const shape = (k: KnownStream[]): string => JSON.stringify(k.map((s) => [s.name, s.profile.width, s.profile.height, s.profile.encoding,
    Boolean(s.profile.audio)]));
  return shape(a) === shape(b);
}

export class CameraMedia {
  /**
   * `streams`: largest first. `live`: the streaming delegate (live view and snapshots). `recording`: the HomeKit Secure
   * Video delegate, when the config's "recording" is on. `audioCodec`: the live audio codec HomeKit is offered (what this
   * ffmpeg can make), undefined for none.
   */
  private constructor(private knownStreams: KnownStream[], readonly streams: CameraStream[], readonly live: LiveStreams,
    readonly snapshots: Snapshots, readonly recording: Recording | undefined, readonly audioCodec: LiveOptions['audioCodec'],
    private readonly config: CameraConfig) {}

  /** Reads the profiles worth using and their stream URIs (throws with the reason when the camera offers no usable video). */
  static async describe(device: OnvifDevice, signal: AbortSignal): Promise<KnownStream[]> {
    const chosen = pickProfiles(await device.getProfiles(signal));
    if (chosen.length === 0) {
      throw new Error('the camera lists no video profile (check its ONVIF media settings)');
    }
    const known: KnownStream[] = [];
    for (const { name, profile } of chosen) {
      // A 0.0.0.0 or loopback host in the camera's answer is already moved onto the configured host (OnvifDevice.usable).
      known.push({ name, profile, uri: await device.getStreamUri(profile.token, signal) });
    }
    return known;
  }

  /** Reads the camera's streams and makes its media (see create). */
  static async open(hap: HAP, device: OnvifDevice, config: CameraConfig, log: CameraLog, ffmpegPath: string, encoder: string,
    signal: AbortSignal): Promise<CameraMedia> {
    const known = await CameraMedia.describe(device, signal);
    return CameraMedia.create(hap, device, config, log, ffmpegPath, encoder, known, await encodersOf(ffmpegPath));
  }

  /**
   * The camera's media from streams it described, now or in an earlier run, and what the ffmpeg can encode: nothing here
   * needs the camera to answer, and nothing waits (a camera restored from the last run is whole before the bridge is up).
   */
  static create(hap: HAP, device: OnvifDevice, config: CameraConfig, log: CameraLog, ffmpegPath: string, encoder: string,
    known: KnownStream[], encoders: Set<string> = encodersOfSync(ffmpegPath)): CameraMedia {
    const streams: CameraStream[] = known.map(({ name, profile, uri }) => ({
      name, profile,
      source: new MediaSource({
        label: name, url: withCredentials(uri, config.username, config.password), cameraHost: config.host, ffmpegPath, log, audio: audioMode(profile, config),
        readInPlugin: config.streamReader !== 'ffmpeg', rtspTransport: config.rtspTransport,
      }),
    }));
    const main = streams[0];
    let snapshotUri: Promise<string | undefined> | undefined;
    const snapshots = new Snapshots({
      log, ffmpegPath, username: config.username, password: config.password,
      // Asked once when it answers; a camera that refuses (a SOAP fault: it has none) keeps using the stream fallback,
      // while a timeout is asked again next time.
      snapshotUri: (s) => (snapshotUri ??= device.getSnapshotUri(main.profile.token, s).catch((err: Error) => {
        log.debug(`no snapshot URL from the camera (${err.message}); using a frame of the video stream`);
        if (!(err instanceof SoapError && err.kind === 'fault')) {
          snapshotUri = undefined;
        }
        return undefined;
      })),
      keyframe: (s) => main.source.keyframe(s),
    });
    const audioCodec = !config.audio ? undefined : encoders.has('libfdk_aac') ? 'aac-eld' : encoders.has('libopus') ? 'opus' : undefined;
    if (config.audio && !audioCodec) {
      log.warn('live view has no sound: this ffmpeg has neither libfdk_aac nor libopus');
    }
    if (encoder !== 'libx264' && encoders.size && !encoders.has(encoder)) {
      log.warn(`"videoEncoder": this ffmpeg has no ${encoder} encoder; streams that need transcoding will fail`);
    }
    const live = new LiveStreams({
      log, ffmpegPath, streams, audioCodec, encoder,
      ssrc: () => hap.CameraController.generateSynchronisationSource(),
      snapshot: (w, h) => snapshots.snapshot(w, h),
    });
    const recording = config.recording ? new Recording({
      hap, log, ffmpegPath, encoder, streams, audio: config.audio, maxRecordingSeconds: config.maxRecordingSeconds,
    }) : undefined;
    return new CameraMedia(known, streams, live, snapshots, recording, audioCodec, config);
  }

  /** The streams as described, for the accessory's context. */
  get known(): KnownStream[] {
    return this.knownStreams;
  }

  /**
   * The camera answered and described its streams again. New URIs are used from the next read; false when the streams
   * no longer match what HomeKit was offered (another size or codec), which HomeKit only learns at the next restart.
   */
  /** The camera answers again after an outage: reads waiting to retry go now. */
  cameraBack(): void {
    this.streams.forEach((s) => s.source.retryNow());
  }

  refresh(known: KnownStream[]): boolean {
    if (!sameShape(known, this.knownStreams)) {
      return false;
    }
    known.forEach((k, i) => this.streams[i].source.retarget(withCredentials(k.uri, this.config.username, this.config.password)));
    this.knownStreams = known;
    return true;
  }

  async stop(): Promise<void> {
    this.recording?.stop();
    await this.live.stopAll();
    await this.snapshots.close();
    await Promise.all(this.streams.map((s) => s.source.stop()));
  }
}
