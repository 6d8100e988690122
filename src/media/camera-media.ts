// One camera's video in HomeKit: reads its ONVIF profiles, makes a media source per profile used (main, and sub for
// small viewers), and wires live view and snapshots (and recording) into HAP's CameraController.
import type { CameraController, HAP, PlatformAccessory } from 'homebridge';
import type { CameraConfig } from '../config';
import { streamingOptions } from '../homekit/camera-controller';
import type { OnvifDevice } from '../onvif/device';
import { SoapError } from '../onvif/soap';
import type { MediaProfile } from '../onvif/profiles';
import type { CameraLog } from '../util/log';
import { registerSecret } from '../util/redact';
import { encodersOf } from './ffmpeg-caps';
import { CameraStream, LiveStreams } from './live';
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

export class CameraMedia {
  readonly streams: CameraStream[];
  readonly live: LiveStreams;
  readonly snapshots: Snapshots;

  private constructor(streams: CameraStream[], live: LiveStreams, snapshots: Snapshots, readonly controller: CameraController) {
    this.streams = streams;
    this.live = live;
    this.snapshots = snapshots;
  }

  /** Reads the profiles and their stream URIs (throws with the reason when the camera offers no usable video). */
  static async open(hap: HAP, device: OnvifDevice, config: CameraConfig, log: CameraLog, ffmpegPath: string, encoder: string,
    signal: AbortSignal): Promise<CameraMedia> {
    const chosen = pickProfiles(await device.getProfiles(signal));
    if (chosen.length === 0) {
      throw new Error('the camera lists no video profile (check its ONVIF media settings)');
    }
    const streams: CameraStream[] = [];
    for (const { name, profile } of chosen) {
      const uri = withCredentials(await device.getStreamUri(profile.token, signal), config.username, config.password);
      const source = new MediaSource({ label: name, url: uri, ffmpegPath, log, audio: audioMode(profile, config) });
      streams.push({ name, profile, source });
    }
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
    const encoders = await encodersOf(ffmpegPath);
    const audioCodec = !config.audio ? undefined : encoders.has('libfdk_aac') ? 'aac-eld' : encoders.has('libopus') ? 'opus' : undefined;
    if (config.audio && !audioCodec) {
      log.warn('live view has no sound: this ffmpeg has neither libfdk_aac nor libopus');
    }
    if (encoder !== 'libx264' && encoders.size && !encoders.has(encoder)) {
      log.warn(`"videoEncoder": this ffmpeg has no ${encoder} encoder; streams that need transcoding will fail`);
    }
    // The delegate needs the controller (to end streams it ends) and the controller the delegate: tied through this.
    const ref: { controller?: CameraController } = {};
    const live = new LiveStreams({
      log, ffmpegPath, streams, audioCodec, encoder,
      ssrc: () => hap.CameraController.generateSynchronisationSource(),
      forceStop: (id) => ref.controller?.forceStopStreamingSession(id),
      snapshot: (w, h) => snapshots.snapshot(w, h),
    });
    const widest = main.profile;
    const controller = new hap.CameraController({
      cameraStreamCount: config.maxStreams,
      delegate: live,
      streamingOptions: streamingOptions(hap, widest.width, widest.height, audioCodec),
    });
    ref.controller = controller;
    return new CameraMedia(streams, live, snapshots, controller);
  }

  publish(accessory: PlatformAccessory): void {
    accessory.configureController(this.controller);
  }

  async stop(): Promise<void> {
    await this.live.stopAll();
    await this.snapshots.close();
    await Promise.all(this.streams.map((s) => s.source.stop()));
  }
}
