// One camera's video in HomeKit: reads its ONVIF profiles, makes a media source per profile used (main, and sub for
// small viewers), and wires live view and snapshots (and recording) into HAP's CameraController.
import type { CameraController, HAP, PlatformAccessory, Service } from 'homebridge';
import type { CameraConfig } from '../config';
import { recordingOptions, streamingOptions } from '../homekit/camera-controller';
import type { OnvifDevice } from '../onvif/device';
import { SoapError } from '../onvif/soap';
import type { MediaProfile } from '../onvif/profiles';
import type { CameraLog } from '../util/log';
import { registerSecret } from '../util/redact';
import { encodersOf } from './ffmpeg-caps';
import { CameraStream, LiveStreams } from './live';
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

export class CameraMedia {
  readonly streams: CameraStream[];
  readonly live: LiveStreams;
  readonly snapshots: Snapshots;

  private constructor(streams: CameraStream[], live: LiveStreams, snapshots: Snapshots, readonly recording: Recording | undefined) {
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
      // A 0.0.0.0 or loopback host in the camera's answer is already moved onto the configured host (OnvifDevice.usable).
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
    const recording = config.recording ? new Recording({
      hap, log, ffmpegPath, encoder, streams, audio: config.audio, maxRecordingSeconds: config.maxRecordingSeconds,
      recordingAudioActive: () => Boolean(ref.controller?.recordingManagement?.recordingManagementService
        .getCharacteristic(hap.Characteristic.RecordingAudioActive).value),
    }) : undefined;
    const media = new CameraMedia(streams, live, snapshots, recording);
    media.build = (motion) => {
      const widest = main.profile;
      const controller = new hap.CameraController({
        cameraStreamCount: config.maxStreams,
        delegate: live,
        streamingOptions: streamingOptions(hap, widest.width, widest.height, audioCodec),
        recording: recording && { options: recordingOptions(hap, widest.width, widest.height, config.prebufferSeconds), delegate: recording },
        // HKSV records on this sensor: the camera's own motion sensor (a doorbell ring sets it too).
        sensors: recording && motion ? { motion } : undefined,
      });
      ref.controller = controller;
      if (recording && motion) {
        recording.followMotion(motion);
      }
      return controller;
    };
    return media;
  }

  private build?: (motion: Service | undefined) => CameraController;

  /** Adds the camera to its accessory; `motion` is the sensor HKSV records on. Camera on/off in Home is followed. */
  publish(accessory: PlatformAccessory, motion: Service | undefined, hap: HAP): void {
    const controller = this.build?.(motion);
    if (!controller) {
      return;
    }
    accessory.configureController(controller);
    const cameraActive = controller.recordingManagement?.operatingModeService.getCharacteristic(hap.Characteristic.HomeKitCameraActive);
    if (cameraActive) {
      this.recording?.setCameraActive(Boolean(cameraActive.value ?? true));
      cameraActive.on('change', (change: { newValue: unknown }) => {
        const on = Boolean(change.newValue);
        this.recording?.setCameraActive(on);
        // HAP refuses new streams of a camera turned off in Home; the ones running end too, as residents would expect.
        if (!on) {
          void this.live.endAll('the camera was turned off in Home');
        }
      });
    }
  }

  async stop(): Promise<void> {
    this.recording?.stop();
    await this.live.stopAll();
    await this.snapshots.close();
    await Promise.all(this.streams.map((s) => s.source.stop()));
  }
}
