// Public option/result types of the camera simulator (re-exported by index.ts).
import type { GopOption } from './media/profiles';

export type Vendor = 'hikvision' | 'dahua' | 'axis' | 'reolink' | 'generic';

export const VENDORS: readonly Vendor[] = ['hikvision', 'dahua', 'axis', 'reolink', 'generic'];

export interface SimCameraOptions {
  name?: string;            // default `Sim Camera ${i+1}`
  vendor?: Vendor;          // default: SimOptions.vendor, else 'hikvision'
  username?: string;        // default 'admin'
  password?: string;        // default 'Sim-Pass-4821'
  clockSkewMs?: number;     // camera clock minus real clock, default 0
  soapAuth?: 'wsse' | 'digest' | 'any';       // how SOAP requests authenticate; default 'wsse'
  snapshotAuth?: 'none' | 'basic' | 'digest'; // default 'digest'
  audio?: boolean;          // default true
  port?: number;            // ONVIF HTTP port, 0/undefined = ephemeral
  /** Main stream keyframe interval (s) or 'variable' (3, 5, 8 s repeating); default 4 s. */
  gop?: GopOption;
  /**
   * Streams another RTSP server serves (e.g. hostile-rtsp.ts: a camera that misbehaves on the wire): GetStreamUri answers
   * their URL and the ONVIF profile describes them as given here; the media server serves nothing for this camera (and
   * `gop` is ignored). Without `sub`, the sub profile is the main stream again (cameras with one stream list it twice).
   */
  external?: { main: ExternalStream; sub?: ExternalStream };
}

/** A stream served outside the simulator, as its ONVIF profile describes it. */
export interface ExternalStream {
  /** rtsp://... as GetStreamUri answers it (credentials are added by the client, as for any camera). */
  url: string;
  width: number;
  height: number;
  /** Default 15. */
  fps?: number;
  /** GovLength (frames from one keyframe to the next); default one second of frames. */
  gopFrames?: number;
  /** Default 1000. */
  bitrateKbps?: number;
}

/** The simulator never listens beyond this machine: one of the two loopback addresses. */
export type SimHost = '127.0.0.1' | '::1';

export interface SimOptions {
  cameras: number | SimCameraOptions[];
  /** Vendor for cameras that do not name one; 'mixed' cycles through every vendor. Default 'hikvision'. */
  vendor?: Vendor | 'mixed';
  media?: boolean;          // default true
  /** Loopback address the cameras listen on and write in their URLs; '::1' needs media: false. Default '127.0.0.1'. */
  host?: SimHost;
  rtspPort?: number;
  cacheDir?: string;
}

export interface SimEvent {
  topic: string;
  at: number;               // Date.now() when made available to pullers
  seq: number;
  /** NotificationMessages this action produced (0: a stateless topic switched "off", which real cameras never send). */
  messages: number;
}

export interface SimStats {
  subscriptions: number;
  maxSubscriptions: number;
  created: number;
  refused: number;          // CreatePullPointSubscription refused by the subscription cap
  expired: number;
  pulls: number;
  renews: number;
  unsubscribes: number;
  authFailures: number;
  rtspSessions?: Record<string, number>;
}
