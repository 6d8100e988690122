// What a home hub does to a HomeKit Secure Video camera before it receives recordings: read the Supported*Recording
// Configuration TLVs, write SelectedCameraRecordingConfiguration, switch the camera and recording on, set up a HomeKit
// Data Stream and say hello on it. startRecordingHub() does all of it in one call and hands back the HDS connection.
//
// TLV layouts follow HAP-NodeJS lib/camera/RecordingManagement.js (what it advertises and how it parses the selected
// configuration) and lib/datastream/DataStreamManagement.js (SetupDataStreamTransport); the decoding here is our own,
// so a test reads the accessory the way a hub would, not through HAP-NodeJS's code.
import { randomBytes, randomInt } from 'node:crypto';
import type { CharacteristicRef, HapClient } from './hap-client';
import { AccessoryView, ServiceType, ServiceView } from './hap-model';
import { HdsClient } from './hds-client';
import { withTimeout } from './wait';

// ---------------------------------------------------------------------------------------------------------------
// Numbers of the HKSV TLVs (values as HAP-NodeJS's enums).

export const Hksv = {
  trigger: { MOTION: 1, DOORBELL: 2 },
  container: { FRAGMENTED_MP4: 0 },
  videoCodec: { H264: 0, H265: 1 },
  profile: { BASELINE: 0, MAIN: 1, HIGH: 2 },
  level: { L3_1: 0, L3_2: 1, L4_0: 2 },
  audioCodec: { AAC_LC: 0, AAC_ELD: 1 },
  audioBitrateMode: { VARIABLE: 0, CONSTANT: 1 },
  sampleRate: { KHZ_8: 0, KHZ_16: 1, KHZ_24: 2, KHZ_32: 3, KHZ_44_1: 4, KHZ_48: 5 },
} as const;

const RecordingCharacteristic = {
  Active: 'B0',
  SupportedCameraRecordingConfiguration: '205',
  SupportedVideoRecordingConfiguration: '206',
  SupportedAudioRecordingConfiguration: '207',
  SelectedCameraRecordingConfiguration: '209',
  RecordingAudioActive: '226',
  HomeKitCameraActive: '21B',
  EventSnapshotsActive: '223',
  PeriodicSnapshotsActive: '225',
  SetupDataStreamTransport: '131',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// TLV8: items longer than 255 bytes continue in the next item of the same type; lists of same-type items are
// separated by an empty item of type 0.

type TlvItems = Map<number, Buffer[]>;

export function tlvDecode(data: Buffer): TlvItems {
  const items: TlvItems = new Map();
  let offset = 0;
  let lastType = -1;
  let lastLength = 0;
  while (offset < data.length) { // every turn consumes at least the 2-byte item header
    if (offset + 2 > data.length) {
      throw new Error(`TLV8: truncated item header at byte ${offset}`);
    }
    const type = data[offset];
    const length = data[offset + 1];
    const value = data.subarray(offset + 2, offset + 2 + length);
    if (value.length !== length) {
      throw new Error(`TLV8: item of type ${type} at byte ${offset} announces ${length} bytes, ${value.length} left`);
    }
    offset += 2 + length;
    if (type === 0 && length === 0) {
      lastType = -1;
      continue;
    }
    const list = items.get(type) ?? [];
    if (type === lastType && lastLength === 255) {
      list[list.length - 1] = Buffer.concat([list[list.length - 1], value]);
    } else {
      list.push(value);
    }
    items.set(type, list);
    lastType = type;
    lastLength = length;
  }
  return items;
}

function tlvItem(type: number, value: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  do { // empty values still need one item
    const piece = value.subarray(offset, offset + 255);
    parts.push(Buffer.from([type, piece.length]), piece);
    offset += 255;
  } while (offset < value.length);
  return Buffer.concat(parts);
}

/** Encode [type, value] pairs in order; a number is one byte. */
export function tlvEncode(...entries: [number, Buffer | number][]): Buffer {
  return Buffer.concat(entries.map(([type, value]) => tlvItem(type, typeof value === 'number' ? Buffer.from([value]) : value)));
}

function tlvOne(items: TlvItems, type: number, what: string): Buffer {
  const found = items.get(type)?.[0];
  if (found === undefined) {
    throw new Error(`${what}: TLV type ${type} missing`);
  }
  return found;
}

function uintLE(value: Buffer): number {
  return value.length === 0 ? 0 : value.length <= 6 ? value.readUIntLE(0, value.length) : Number(value.readBigUInt64LE(0));
}

function le(bytes: number, value: number): Buffer {
  const buffer = Buffer.alloc(bytes);
  if (bytes === 8) {
    buffer.writeBigUInt64LE(BigInt(value));
  } else {
    buffer.writeUIntLE(value, 0, bytes);
  }
  return buffer;
}

// ---------------------------------------------------------------------------------------------------------------
// Supported recording configuration (what the camera offers).

export interface SupportedCameraRecording {
  prebufferLengthMs: number;
  /** Bit mask of Hksv.trigger. */
  eventTriggers: number;
  containers: { type: number; fragmentLengthMs: number }[];
}

export interface VideoResolution {
  width: number;
  height: number;
  fps: number;
}

export interface SupportedVideoCodec {
  codec: number;
  profiles: number[];
  levels: number[];
  resolutions: VideoResolution[];
}

export interface SupportedAudioCodec {
  codec: number;
  channels: number;
  bitrateModes: number[];
  sampleRates: number[];
}

export interface SupportedRecording {
  camera: SupportedCameraRecording;
  video: SupportedVideoCodec[];
  audio: SupportedAudioCodec[];
}

export function decodeSupportedCameraRecording(data: Buffer): SupportedCameraRecording {
  const top = tlvDecode(data);
  const what = 'SupportedCameraRecordingConfiguration';
  return {
    prebufferLengthMs: uintLE(tlvOne(top, 1, what)),
    eventTriggers: uintLE(tlvOne(top, 2, what)),
    containers: (top.get(3) ?? []).map((raw) => {
      const container = tlvDecode(raw);
      const parameters = tlvDecode(tlvOne(container, 2, `${what} container`));
      return { type: tlvOne(container, 1, `${what} container`)[0], fragmentLengthMs: uintLE(tlvOne(parameters, 1, `${what} container parameters`)) };
    }),
  };
}

export function decodeSupportedVideoRecording(data: Buffer): SupportedVideoCodec[] {
  const what = 'SupportedVideoRecordingConfiguration';
  return (tlvDecode(data).get(1) ?? []).map((raw) => {
    const codec = tlvDecode(raw);
    const parameters = tlvDecode(tlvOne(codec, 2, `${what} codec`));
    return {
      codec: tlvOne(codec, 1, `${what} codec`)[0],
      profiles: (parameters.get(1) ?? []).map((b) => b[0]),
      levels: (parameters.get(2) ?? []).map((b) => b[0]),
      resolutions: (codec.get(3) ?? []).map((attributes) => {
        const a = tlvDecode(attributes);
        return { width: uintLE(tlvOne(a, 1, `${what} attributes`)), height: uintLE(tlvOne(a, 2, `${what} attributes`)), fps: tlvOne(a, 3, `${what} attributes`)[0] };
      }),
    };
  });
}

export function decodeSupportedAudioRecording(data: Buffer): SupportedAudioCodec[] {
  const what = 'SupportedAudioRecordingConfiguration';
  return (tlvDecode(data).get(1) ?? []).map((raw) => {
    const codec = tlvDecode(raw);
    const parameters = tlvDecode(tlvOne(codec, 2, `${what} codec`));
    return {
      codec: tlvOne(codec, 1, `${what} codec`)[0],
      channels: tlvOne(parameters, 1, `${what} parameters`)[0],
      bitrateModes: (parameters.get(2) ?? []).map((b) => b[0]),
      sampleRates: (parameters.get(3) ?? []).map((b) => b[0]),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Selected recording configuration (what the hub picks).

export interface SelectedRecordingConfiguration {
  prebufferLengthMs: number;
  eventTriggers: number;
  containerType: number;
  fragmentLengthMs: number;
  video: { codec: number; profile: number; level: number; bitrateKbps: number; iFrameIntervalMs: number } & VideoResolution;
  audio: { codec: number; channels: number; bitrateMode: number; sampleRate: number; maxBitrateKbps: number };
}

export function encodeSelectedConfiguration(s: SelectedRecordingConfiguration): Buffer {
  const recording = tlvEncode(
    [1, le(4, s.prebufferLengthMs)],
    [2, le(8, s.eventTriggers)],
    [3, tlvEncode([1, s.containerType], [2, tlvEncode([1, le(4, s.fragmentLengthMs)])])],
  );
  const v = s.video;
  const video = tlvEncode(
    [1, v.codec],
    [2, tlvEncode([1, v.profile], [2, v.level], [3, le(4, v.bitrateKbps)], [4, le(4, v.iFrameIntervalMs)])],
    [3, tlvEncode([1, le(2, v.width)], [2, le(2, v.height)], [3, v.fps])],
  );
  const a = s.audio;
  const audio = tlvEncode([1, a.codec], [2, tlvEncode([1, a.channels], [2, a.bitrateMode], [3, a.sampleRate], [4, le(4, a.maxBitrateKbps)])]);
  return tlvEncode([1, recording], [2, video], [3, audio]);
}

export function decodeSelectedConfiguration(data: Buffer): SelectedRecordingConfiguration {
  const what = 'SelectedCameraRecordingConfiguration';
  const top = tlvDecode(data);
  const recording = tlvDecode(tlvOne(top, 1, what));
  const container = tlvDecode(tlvOne(recording, 3, `${what} recording`));
  const video = tlvDecode(tlvOne(top, 2, what));
  const videoParameters = tlvDecode(tlvOne(video, 2, `${what} video`));
  const attributes = tlvDecode(tlvOne(video, 3, `${what} video`));
  const audio = tlvDecode(tlvOne(top, 3, what));
  const audioParameters = tlvDecode(tlvOne(audio, 2, `${what} audio`));
  return {
    prebufferLengthMs: uintLE(tlvOne(recording, 1, what)),
    eventTriggers: uintLE(tlvOne(recording, 2, what)),
    containerType: tlvOne(container, 1, what)[0],
    fragmentLengthMs: uintLE(tlvOne(tlvDecode(tlvOne(container, 2, what)), 1, what)),
    video: {
      codec: tlvOne(video, 1, what)[0],
      profile: tlvOne(videoParameters, 1, what)[0],
      level: tlvOne(videoParameters, 2, what)[0],
      bitrateKbps: uintLE(tlvOne(videoParameters, 3, what)),
      iFrameIntervalMs: uintLE(tlvOne(videoParameters, 4, what)),
      width: uintLE(tlvOne(attributes, 1, what)),
      height: uintLE(tlvOne(attributes, 2, what)),
      fps: tlvOne(attributes, 3, what)[0],
    },
    audio: {
      codec: tlvOne(audio, 1, what)[0],
      channels: tlvOne(audioParameters, 1, what)[0],
      bitrateMode: tlvOne(audioParameters, 2, what)[0],
      sampleRate: tlvOne(audioParameters, 3, what)[0],
      maxBitrateKbps: uintLE(tlvOne(audioParameters, 4, what)),
    },
  };
}

/** What to ask for; anything left out is chosen the way described on each field. */
export interface RecordingPreferences {
  /** Default: 1920x1080 if offered, else the largest; the highest fps offered for that size. */
  resolution?: VideoResolution;
  /** Default: the highest offered. */
  profile?: number;
  /** Default: the highest offered. */
  level?: number;
  /** Default 2000 (hubs stay around there). */
  videoBitrateKbps?: number;
  /** Default 4000 (what hubs select). */
  iFrameIntervalMs?: number;
  /** Default 4000. */
  prebufferLengthMs?: number;
  /** Default 4000. */
  fragmentLengthMs?: number;
  /** Default MOTION (hubs never enable DOORBELL). */
  eventTriggers?: number;
  /** Default: the first codec offered. */
  audioCodec?: number;
  /** Default: the highest offered for that codec. */
  audioSampleRate?: number;
  /** Default 64. */
  audioMaxBitrateKbps?: number;
}

/** A selected configuration from what the camera supports; a preference the camera does not offer is an error. */
export function chooseConfiguration(supported: SupportedRecording, prefs: RecordingPreferences = {}): SelectedRecordingConfiguration {
  const video = supported.video.find((c) => c.codec === Hksv.videoCodec.H264) ?? supported.video[0];
  const audio = prefs.audioCodec === undefined ? supported.audio[0] : supported.audio.find((c) => c.codec === prefs.audioCodec);
  const container = supported.camera.containers[0];
  if (!video || video.resolutions.length === 0 || !audio || !container) {
    throw new Error(`the camera offers no usable recording configuration: ${JSON.stringify(supported)}`);
  }
  const pick = (wanted: number | undefined, offered: number[], what: string): number => {
    if (wanted === undefined) {
      return Math.max(...offered);
    }
    if (!offered.includes(wanted)) {
      throw new Error(`${what} ${wanted} is not offered (offered: ${offered.join(', ')})`);
    }
    return wanted;
  };
  let resolution = prefs.resolution;
  if (resolution) {
    const wanted = resolution;
    if (!video.resolutions.some((r) => r.width === wanted.width && r.height === wanted.height && r.fps === wanted.fps)) {
      throw new Error(`resolution ${wanted.width}x${wanted.height}@${wanted.fps} is not offered (offered: `
        + `${video.resolutions.map((r) => `${r.width}x${r.height}@${r.fps}`).join(', ')})`);
    }
  } else {
    const area = (r: VideoResolution): number => r.width * r.height;
    const size = video.resolutions.find((r) => r.width === 1920 && r.height === 1080)
      ?? video.resolutions.reduce((best, r) => (area(r) > area(best) ? r : best));
    resolution = video.resolutions.filter((r) => r.width === size.width && r.height === size.height)
      .reduce((best, r) => (r.fps > best.fps ? r : best));
  }
  return {
    prebufferLengthMs: prefs.prebufferLengthMs ?? 4000,
    eventTriggers: prefs.eventTriggers ?? Hksv.trigger.MOTION,
    containerType: container.type,
    fragmentLengthMs: prefs.fragmentLengthMs ?? 4000,
    video: {
      codec: video.codec,
      profile: pick(prefs.profile, video.profiles, 'profile'),
      level: pick(prefs.level, video.levels, 'level'),
      bitrateKbps: prefs.videoBitrateKbps ?? 2000,
      iFrameIntervalMs: prefs.iFrameIntervalMs ?? 4000,
      ...resolution,
    },
    audio: {
      codec: audio.codec,
      channels: audio.channels,
      bitrateMode: audio.bitrateModes[0] ?? Hksv.audioBitrateMode.VARIABLE,
      sampleRate: pick(prefs.audioSampleRate, audio.sampleRates, 'audio sample rate'),
      maxBitrateKbps: prefs.audioMaxBitrateKbps ?? 64,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Where the recording characteristics live on an accessory.

export interface RecordingCharacteristics {
  aid: number;
  recordingActive: CharacteristicRef;
  supportedCamera: CharacteristicRef;
  supportedVideo: CharacteristicRef;
  supportedAudio: CharacteristicRef;
  selected: CharacteristicRef;
  recordingAudioActive?: CharacteristicRef;
  homeKitCameraActive: CharacteristicRef;
  eventSnapshotsActive: CharacteristicRef;
  periodicSnapshotsActive?: CharacteristicRef;
  setupDataStream: CharacteristicRef;
}

export function recordingCharacteristicsOf(accessory: AccessoryView): RecordingCharacteristics {
  const recording = accessory.requireService(ServiceType.CameraRecordingManagement);
  const operating = accessory.requireService(ServiceType.CameraOperatingMode);
  // The transport service the recording service links to (HAP-NodeJS links them); else the only one there is.
  const transports = accessory.servicesOfType(ServiceType.DataStreamTransportManagement);
  const transport = transports.find((s) => recording.linked.includes(s.iid)) ?? accessory.requireService(ServiceType.DataStreamTransportManagement);
  const ref = (service: ServiceView, type: string): CharacteristicRef => {
    const c = service.requireCharacteristic(type);
    return { aid: c.aid, iid: c.iid };
  };
  const optional = (service: ServiceView, type: string): CharacteristicRef | undefined => {
    const c = service.characteristic(type);
    return c ? { aid: c.aid, iid: c.iid } : undefined;
  };
  const C = RecordingCharacteristic;
  return {
    aid: accessory.aid,
    recordingActive: ref(recording, C.Active),
    supportedCamera: ref(recording, C.SupportedCameraRecordingConfiguration),
    supportedVideo: ref(recording, C.SupportedVideoRecordingConfiguration),
    supportedAudio: ref(recording, C.SupportedAudioRecordingConfiguration),
    selected: ref(recording, C.SelectedCameraRecordingConfiguration),
    recordingAudioActive: optional(recording, C.RecordingAudioActive),
    homeKitCameraActive: ref(operating, C.HomeKitCameraActive),
    eventSnapshotsActive: ref(operating, C.EventSnapshotsActive),
    periodicSnapshotsActive: optional(operating, C.PeriodicSnapshotsActive),
    setupDataStream: ref(transport, C.SetupDataStreamTransport),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HAP requests the rig's HapClient does not make: timed writes, write-response, per-characteristic statuses, and the
// pair-verify shared secret. They need hap-controller 0.10's internals (the persistent connection and the pairing
// state), reached through HapClient.httpClient and checked at run time.

interface RawResponse {
  statusCode: number;
  body: Buffer;
}

interface HapControllerInternals {
  getDefaultVerifiedConnection(): Promise<{ put(path: string, body: Buffer): Promise<RawResponse> }>;
  pairingProtocol: { pairVerify: { sharedSecret: Buffer | null } };
}

function internalsOf(hap: HapClient): HapControllerInternals {
  const raw = hap.httpClient as unknown as Partial<HapControllerInternals>;
  if (typeof raw.getDefaultVerifiedConnection !== 'function' || typeof raw.pairingProtocol?.pairVerify !== 'object') {
    throw new Error('hap-controller internals changed: HttpClient.getDefaultVerifiedConnection / pairingProtocol.pairVerify not found');
  }
  return raw as HapControllerInternals;
}

export interface CharacteristicWrite {
  ref: CharacteristicRef;
  value: unknown;
  /** Ask for a write response (the new value comes back). */
  response?: boolean;
}

const TIMED_WRITE_TTL_MS = 5_000;

/**
 * PUT /characteristics on the client's persistent connection; every status must be 0. `timed` first sends PUT /prepare
 * (HAP timed write, needed for e.g. RecordingAudioActive). Returns write-response values keyed 'aid.iid'.
 */
export async function writeCharacteristics(hap: HapClient, writes: CharacteristicWrite[], options: { timed?: boolean; timeoutMs?: number } = {}): Promise<Map<string, unknown>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const connection = await withTimeout(internalsOf(hap).getDefaultVerifiedConnection(), timeoutMs, 'HAP pair-verify');
  const keys = writes.map((w) => `${w.ref.aid}.${w.ref.iid}`).join(', ');
  const put = async (path: string, body: unknown): Promise<RawResponse> =>
    withTimeout(connection.put(path, Buffer.from(JSON.stringify(body))), timeoutMs, `PUT ${path} ${keys}`);
  let pid: number | undefined;
  if (options.timed) {
    pid = randomInt(1, 2 ** 31);
    const prepared = await put('/prepare', { ttl: TIMED_WRITE_TTL_MS, pid });
    if (prepared.statusCode !== 200) {
      throw new Error(`PUT /prepare for ${keys}: HTTP ${prepared.statusCode} ${prepared.body.toString()}`);
    }
  }
  const response = await put('/characteristics', {
    characteristics: writes.map((w) => ({ aid: w.ref.aid, iid: w.ref.iid, value: w.value, ...(w.response ? { r: true } : {}) })),
    ...(pid === undefined ? {} : { pid }),
  });
  const values = new Map<string, unknown>();
  if (response.statusCode === 204) {
    return values;
  }
  if (response.statusCode !== 207) {
    throw new Error(`PUT /characteristics ${keys}: HTTP ${response.statusCode} ${response.body.toString()}`);
  }
  const parsed = JSON.parse(response.body.toString()) as { characteristics?: { aid: number; iid: number; status?: number; value?: unknown }[] };
  const failed: string[] = [];
  for (const c of parsed.characteristics ?? []) {
    if (c.status !== undefined && c.status !== 0) {
      failed.push(`${c.aid}.${c.iid} HAP status ${c.status}`);
    } else if (c.value !== undefined) {
      values.set(`${c.aid}.${c.iid}`, c.value);
    }
  }
  if (failed.length > 0) {
    throw new Error(`PUT /characteristics failed: ${failed.join(', ')}`);
  }
  return values;
}

async function readTlv(hap: HapClient, ref: CharacteristicRef): Promise<Buffer> {
  const value = await hap.readValue(ref);
  if (typeof value !== 'string') {
    throw new Error(`characteristic ${ref.aid}.${ref.iid} is not a TLV8 (base64) value: ${JSON.stringify(value)}`);
  }
  return Buffer.from(value, 'base64');
}

export async function readSupportedRecording(hap: HapClient, refs: RecordingCharacteristics): Promise<SupportedRecording> {
  return {
    camera: decodeSupportedCameraRecording(await readTlv(hap, refs.supportedCamera)),
    video: decodeSupportedVideoRecording(await readTlv(hap, refs.supportedVideo)),
    audio: decodeSupportedAudioRecording(await readTlv(hap, refs.supportedAudio)),
  };
}

export async function readSelectedConfiguration(hap: HapClient, refs: RecordingCharacteristics): Promise<SelectedRecordingConfiguration> {
  return decodeSelectedConfiguration(await readTlv(hap, refs.selected));
}

export async function writeSelectedConfiguration(hap: HapClient, refs: RecordingCharacteristics, selected: SelectedRecordingConfiguration): Promise<void> {
  await writeCharacteristics(hap, [{ ref: refs.selected, value: encodeSelectedConfiguration(selected).toString('base64') }]);
}

/** What the controller needs to open the HDS connection (HdsClient.connect takes it as is). */
export interface DataStreamSession {
  /** Where the hub reaches the accessory: the address its HAP connection uses (HAP's data stream server is on `::`). */
  host: string;
  port: number;
  sharedSecret: Buffer;
  controllerSalt: Buffer;
  accessorySalt: Buffer;
}

/**
 * SetupDataStreamTransport: start a HomeKit Data Stream session over TCP. The keys come from the shared secret of the
 * HAP connection that carries this write; hap-controller keeps one pair-verify state per client, overwritten by a
 * subscription connection's pair-verify — so call this on a client that has not subscribed (a fork()).
 */
export async function setupDataStream(hap: HapClient, refs: RecordingCharacteristics): Promise<DataStreamSession> {
  const internals = internalsOf(hap);
  await withTimeout(internals.getDefaultVerifiedConnection(), 15_000, 'HAP pair-verify');
  const secret = internals.pairingProtocol.pairVerify.sharedSecret;
  if (!secret) {
    throw new Error('no pair-verify shared secret on this HAP client');
  }
  const sharedSecret = Buffer.from(secret);
  const controllerSalt = randomBytes(32);
  // Session command 0 = start session, transport type 0 = HomeKit Data Stream over TCP.
  const request = tlvEncode([1, 0], [2, 0], [3, controllerSalt]);
  const values = await writeCharacteristics(hap, [{ ref: refs.setupDataStream, value: request.toString('base64'), response: true }]);
  const answer = values.get(`${refs.setupDataStream.aid}.${refs.setupDataStream.iid}`);
  if (typeof answer !== 'string') {
    throw new Error(`SetupDataStreamTransport gave no write response: ${JSON.stringify(answer)}`);
  }
  const items = tlvDecode(Buffer.from(answer, 'base64'));
  const status = tlvOne(items, 1, 'SetupDataStreamTransport response')[0];
  if (status !== 0) {
    throw new Error(`SetupDataStreamTransport refused with status ${status} (1 generic error, 2 busy)`);
  }
  const parameters = tlvDecode(tlvOne(items, 2, 'SetupDataStreamTransport response'));
  return {
    host: hap.host,
    port: uintLE(tlvOne(parameters, 1, 'SetupDataStreamTransport session parameters')),
    sharedSecret,
    controllerSalt,
    accessorySalt: tlvOne(items, 3, 'SetupDataStreamTransport response'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The one-call hub.

export interface RecordingHubOptions {
  /** How to choose from what the camera supports (see RecordingPreferences). */
  preferences?: RecordingPreferences;
  /** RecordingAudioActive (written when the camera has it). Default true. */
  recordingAudio?: boolean;
  /** EventSnapshotsActive. Default true. */
  eventSnapshots?: boolean;
  /** false: only read the configuration and open a data stream, write nothing (e.g. a second hub). Default true. */
  configure?: boolean;
  /** Bound for each HAP request and each HDS request. Default 15 s (HAP) and 10 s (HDS). */
  requestTimeoutMs?: number;
}

/**
 * A home hub for one camera: its own HAP connection (a fork of the test's client, as a hub is a controller of its own),
 * the recording configuration it selected and a ready HDS connection (hello done). close() ends both.
 */
export class RecordingHub {
  private constructor(
    /** The hub's own HAP client (same pairing as the test's). */
    readonly hap: HapClient,
    readonly characteristics: RecordingCharacteristics,
    readonly supported: SupportedRecording,
    /** What the hub wrote (undefined with configure: false). */
    readonly selected: SelectedRecordingConfiguration | undefined,
    readonly hds: HdsClient,
  ) {}

  static async start(hap: HapClient, aid: number, options: RecordingHubOptions = {}): Promise<RecordingHub> {
    const own = hap.fork(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs });
    try {
      const accessory = (await own.accessories()).byAid(aid);
      if (!accessory) {
        throw new Error(`no accessory with aid ${aid}`);
      }
      const refs = recordingCharacteristicsOf(accessory);
      const supported = await readSupportedRecording(own, refs);
      let selected: SelectedRecordingConfiguration | undefined;
      if (options.configure ?? true) {
        selected = chooseConfiguration(supported, options.preferences);
        // The order a hub uses: configuration first, so the camera knows it before recording is switched on.
        await writeSelectedConfiguration(own, refs, selected);
        await writeCharacteristics(own, [
          { ref: refs.homeKitCameraActive, value: 1 },
          { ref: refs.eventSnapshotsActive, value: (options.eventSnapshots ?? true) ? 1 : 0 },
        ]);
        if (refs.recordingAudioActive) {
          await writeCharacteristics(own, [{ ref: refs.recordingAudioActive, value: (options.recordingAudio ?? true) ? 1 : 0 }], { timed: true });
        }
        await writeCharacteristics(own, [{ ref: refs.recordingActive, value: 1 }]);
      }
      const session = await setupDataStream(own, refs);
      const hds = await HdsClient.connect({ ...session, requestTimeoutMs: options.requestTimeoutMs });
      try {
        await hds.hello();
      } catch (err) {
        await hds.end();
        throw err;
      }
      return new RecordingHub(own, refs, supported, selected, hds);
    } catch (err) {
      await own.close();
      throw err;
    }
  }

  /** dataSend/open on the hub's HDS connection (see HdsClient.openRecording). */
  openRecording(...args: Parameters<HdsClient['openRecording']>): ReturnType<HdsClient['openRecording']> {
    return this.hds.openRecording(...args);
  }

  /** CameraRecordingManagement.Active. */
  setRecordingActive(on: boolean): Promise<Map<string, unknown>> {
    return writeCharacteristics(this.hap, [{ ref: this.characteristics.recordingActive, value: on ? 1 : 0 }]);
  }

  /** CameraOperatingMode.HomeKitCameraActive (off makes the camera close a running recording with NOT_ALLOWED). */
  setCameraActive(on: boolean): Promise<Map<string, unknown>> {
    return writeCharacteristics(this.hap, [{ ref: this.characteristics.homeKitCameraActive, value: on ? 1 : 0 }]);
  }

  /** RecordingAudioActive (a timed write). */
  async setRecordingAudio(on: boolean): Promise<void> {
    if (!this.characteristics.recordingAudioActive) {
      throw new Error('the camera has no RecordingAudioActive characteristic');
    }
    await writeCharacteristics(this.hap, [{ ref: this.characteristics.recordingAudioActive, value: on ? 1 : 0 }], { timed: true });
  }

  readSelectedConfiguration(): Promise<SelectedRecordingConfiguration> {
    return readSelectedConfiguration(this.hap, this.characteristics);
  }

  /** End the HDS connection, then the hub's HAP connection. */
  async close(): Promise<void> {
    await this.hds.end();
    await this.hap.close();
  }
}

/** Turn recording on like a hub and return the hub with a ready HDS connection: `(await startRecordingHub(hap, aid)).openRecording()`. */
export function startRecordingHub(hap: HapClient, aid: number, options?: RecordingHubOptions): Promise<RecordingHub> {
  return RecordingHub.start(hap, aid, options);
}
