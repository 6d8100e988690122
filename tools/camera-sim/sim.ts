// CameraSim: N simulated cameras in this process, sharing one RTSP media server.
import { SimCamera } from './camera';
import { MediaServer } from './media';
import { ProfileName } from './personalities';
import { BUILTIN_JPEG } from './snapshot';
import { profilesWithGop, SimStreamProfile } from './stream-profiles';
import type { SentFrames } from './media';
import { ExternalStream, SimCameraOptions, SimOptions, VENDORS, Vendor } from './types';
import { urlHost } from '../../src/util/address';

export const MAX_CAMERAS = 256;
const DEFAULT_RTSP_PORT = 8554; // only printed in URIs when there is no media server

function vendorFor(opts: SimOptions, cam: SimCameraOptions, index: number): Vendor {
  if (cam.vendor) {
    return cam.vendor;
  }
  if (opts.vendor === 'mixed') {
    return VENDORS[index % VENDORS.length];
  }
  return opts.vendor ?? 'hikvision';
}

// The media server takes absolute paths; url(path) appends them to rtsp://host:port.
const rtspPath = (index: number, profile: ProfileName): string => `/cam${index + 1}/${profile}`;

const EXTERNAL_DEFAULT_FPS = 15;
const EXTERNAL_DEFAULT_KBPS = 1000;

/** What the ONVIF profile says of a stream another server serves. */
function externalProfile(name: ProfileName, s: ExternalStream): SimStreamProfile {
  const fps = s.fps ?? EXTERNAL_DEFAULT_FPS;
  return {
    name, width: s.width, height: s.height, fps, gopFrames: s.gopFrames ?? fps, bitrateKbps: s.bitrateKbps ?? EXTERNAL_DEFAULT_KBPS,
    h264Profile: 'Main', level: '3.1',
  };
}

/** A camera's external streams per profile (the sub profile is the main stream again when it has no own), or undefined. */
function externalStreams(cam: SimCameraOptions): Record<ProfileName, ExternalStream> | undefined {
  return cam.external && { main: cam.external.main, sub: cam.external.sub ?? cam.external.main };
}

export class CameraSim {
  private stopping: Promise<void> | undefined;

  private constructor(readonly cameras: SimCamera[], private readonly media: MediaServer | undefined) {}

  static async start(opts: SimOptions): Promise<CameraSim> {
    const list: SimCameraOptions[] = typeof opts.cameras === 'number'
      ? Array.from({ length: opts.cameras }, () => ({})) : opts.cameras;
    if (list.length < 1 || list.length > MAX_CAMERAS) {
      throw new Error(`cameras must be 1..${MAX_CAMERAS}`);
    }
    const audioOf = (cam: SimCameraOptions): boolean => cam.audio !== false;
    const host = opts.host ?? '127.0.0.1';
    if (host !== '127.0.0.1' && opts.media !== false) {
      throw new Error(`the media server listens on 127.0.0.1 only: host ${host} needs media: false`);
    }
    // Cameras whose streams another server serves need no media server: none starts when no camera needs it.
    const media = opts.media === false || list.every((cam) => cam.external) ? undefined : await MediaServer.start({
      host: '127.0.0.1',
      port: opts.rtspPort,
      cacheDir: opts.cacheDir,
      paths: list.flatMap((cam, i) => (cam.external ? [] : (['main', 'sub'] as const).map((profile) =>
        ({ path: rtspPath(i, profile), profile, audio: audioOf(cam), gop: profile === 'main' ? cam.gop : undefined })))),
    });
    const cameras: SimCamera[] = [];
    try {
      for (const [i, cam] of list.entries()) {
        const external = externalStreams(cam);
        cameras.push(await SimCamera.create({
          index: i,
          name: cam.name ?? `Sim Camera ${i + 1}`,
          vendor: vendorFor(opts, cam, i),
          username: cam.username ?? 'admin',
          // Not a word that appears in logs for other reasons: redaction replaces the password wherever it occurs.
          password: cam.password ?? 'Sim-Pass-4821',
          clockSkewMs: cam.clockSkewMs ?? 0,
          soapAuth: cam.soapAuth ?? 'wsse',
          snapshotAuth: cam.snapshotAuth ?? 'digest',
          audio: audioOf(cam),
          port: cam.port ?? 0,
          host,
          streams: external
            ? { main: externalProfile('main', external.main), sub: externalProfile('sub', external.sub) }
            : profilesWithGop(cam.gop),
          streamUri: (profile) => external?.[profile].url ?? (media
            ? media.url(rtspPath(i, profile))
            : `rtsp://${urlHost(host)}:${opts.rtspPort ?? DEFAULT_RTSP_PORT}${rtspPath(i, profile)}`),
          // The media server's picture is another camera's: an external camera without its own JPEG serves the built-in one.
          snapshot: (profile) => (media && !external ? media.snapshot(profile) : BUILTIN_JPEG),
          rtspPaths: external ? [] : [rtspPath(i, 'main'), rtspPath(i, 'sub')],
          rtspSessions: media && !external ? () => media.sessions() : undefined,
        }));
      }
    } catch (err) {
      await Promise.all(cameras.map((c) => c.stop()));
      await media?.stop();
      throw err;
    }
    return new CameraSim(cameras, media);
  }

  /** Each video frame camera `index` (0-based) sent on a profile lately: its drawn frame index and send time (ms). */
  frames(index: number, profile: ProfileName): Promise<SentFrames> {
    if (!this.media) {
      throw new Error('camera-sim: started without media');
    }
    return this.media.frames(rtspPath(index, profile));
  }

  /** Camera `index` drops its RTSP readers of a profile (their connections closed): resolves with how many. */
  cutStream(index: number, profile: ProfileName): Promise<number> {
    if (!this.media) {
      throw new Error('camera-sim: started without media');
    }
    return this.media.cut(rtspPath(index, profile));
  }

  /** Closes every camera port and the media server (which kills its children). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.cameras.map((c) => c.stop()));
      await this.media?.stop();
    })();
    return this.stopping;
  }
}
