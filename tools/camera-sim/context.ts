// What the SOAP service handlers may see of a simulated camera.
import { PullPointManager } from './events';
import { RenderedMessage } from './messages';
import { Personality, ProfileName } from './personalities';
import type { DeviceInfo as OnvifDeviceInfo } from '../../src/onvif/device';
import { SoapRequest } from './soap';
import { SimStreamProfile } from './stream-profiles';

/** What GetDeviceInformation answers (the plugin's own type), plus the MAC GetNetworkInterfaces reports. */
export interface DeviceInfo extends OnvifDeviceInfo {
  mac: string;
}

export interface CameraContext {
  readonly personality: Personality;
  readonly name: string;
  readonly info: DeviceInfo;
  readonly audio: boolean;
  readonly clockSkewMs: number;
  /** SetSystemDateAndTime: the camera's clock becomes this UTC time (manual time, as a user setting the clock). */
  setClock(utcMs: number): void;
  readonly baseUrl: string;                       // http://127.0.0.1:PORT
  readonly streams: Record<ProfileName, SimStreamProfile>;
  readonly pullPoints: PullPointManager;
  streamUri(profile: ProfileName): string;
  /** Current state of every property topic as PropertyOperation="Initialized" messages. */
  initializedStates(): RenderedMessage[];
  /** Operations (local names, e.g. GetStreamUri) answered with a fault instead, for hostile-input tests. */
  readonly faults: ReadonlySet<string>;
}

export interface SoapCall {
  camera: CameraContext;
  request: SoapRequest;
  url: URL;
  signal: AbortSignal;   // aborted when the client goes away (ends long-polls)
}

export interface SoapReply {
  body: string;
  action?: string;       // wsa:Action header, sent by the events service
}

export type SoapHandler = (call: SoapCall) => SoapReply | Promise<SoapReply>;

export const cameraNow = (camera: CameraContext): number => Date.now() + camera.clockSkewMs;
