// The controller side of a HomeKit live stream, for tests: reads what a CameraRTPStreamManagement service offers,
// negotiates a session the way the Home app does (SetupEndpoints write + read, then SelectedRTPStreamConfiguration
// START / RECONFIGURE / END), receives the SRTP video and audio on UDP sockets it owns on 127.0.0.1, authenticates and
// decrypts every packet itself (RFC 3711), reassembles H.264 access units to time the first decodable keyframe, and
// sends SRTCP receiver reports from the same sockets every 0.5 s as iOS does (an accessory may stop a stream without them).
// Sections: TLV8 codec, HAP enums and capability decoding, SRTP/SRTCP crypto, H.264 reassembly, receiver, session, client.
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket, Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { track } from './cleanup';
import type { CharacteristicRef, ControllerHost, HapClient } from './hap-client';
import { CharacteristicType, ServiceType, ServiceView } from './hap-model';
import { withTimeout } from './wait';

/** The rig's clock for stream timing: monotonic milliseconds (performance.now()). */
export function streamNow(): number {
  return performance.now();
}

// ------------------------------------------------------------------------------------------------------------ TLV8

/** One field of a TLV8 record. A list value becomes entries of the same type separated by empty type-0 delimiters. */
export type TlvField = readonly [type: number, value: Buffer | number | readonly (Buffer | number)[]];

function pushTlvEntry(parts: Buffer[], type: number, data: Buffer): void {
  if (data.length === 0) {
    parts.push(Buffer.from([type, 0]));
    return;
  }
  // Values over 255 bytes continue in further entries of the same type.
  for (let offset = 0; offset < data.length; offset += 255) {
    const chunk = data.subarray(offset, offset + 255);
    parts.push(Buffer.from([type, chunk.length]), chunk);
  }
}

export function encodeTlv(fields: readonly TlvField[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, value] of fields) {
    const list = Array.isArray(value) ? value as readonly (Buffer | number)[] : [value as Buffer | number];
    list.forEach((item, index) => {
      if (index > 0) {
        parts.push(Buffer.from([0, 0]));
      }
      pushTlvEntry(parts, type, typeof item === 'number' ? Buffer.from([item]) : item);
    });
  }
  return Buffer.concat(parts);
}

export function u16le(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return b;
}

export function u32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

export function f32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  return b;
}

/** A decoded TLV8 record: entries in order, fragments of one value joined, list delimiters dropped. */
export class Tlv {
  private constructor(readonly items: readonly { type: number; value: Buffer }[], private readonly what: string) {}

  static decode(data: Buffer, what = 'TLV'): Tlv {
    const items: { type: number; value: Buffer }[] = [];
    let lastType = -1;
    let lastLength = -1;
    let offset = 0;
    while (offset < data.length) {
      if (offset + 2 > data.length || offset + 2 + data[offset + 1] > data.length) {
        throw new Error(`${what}: truncated TLV entry at byte ${offset} of ${data.length}`);
      }
      const type = data[offset];
      const length = data[offset + 1];
      const value = data.subarray(offset + 2, offset + 2 + length);
      offset += 2 + length;
      if (type === 0 && length === 0) {
        lastType = -1; // delimiter: the next entry starts a new list item
        continue;
      }
      if (type === lastType && lastLength === 255) {
        const last = items[items.length - 1];
        last.value = Buffer.concat([last.value, value]);
      } else {
        items.push({ type, value });
      }
      lastType = type;
      lastLength = length;
    }
    return new Tlv(items, what);
  }

  /** A characteristic value as HAP JSON carries TLV8: a base64 string. */
  static fromBase64(value: unknown, what: string): Tlv {
    if (typeof value !== 'string') {
      throw new Error(`${what}: expected a base64 TLV8 string, got ${JSON.stringify(value)}`);
    }
    return Tlv.decode(Buffer.from(value, 'base64'), what);
  }

  has(type: number): boolean {
    return this.items.some((i) => i.type === type);
  }

  get(type: number): Buffer | undefined {
    return this.items.find((i) => i.type === type)?.value;
  }

  all(type: number): Buffer[] {
    return this.items.filter((i) => i.type === type).map((i) => i.value);
  }

  require(type: number, name: string): Buffer {
    const value = this.get(type);
    if (value === undefined) {
      throw new Error(`${this.what}: missing ${name} (type ${type}); has types ${this.items.map((i) => i.type).join(',')}`);
    }
    return value;
  }

  /** Little-endian unsigned integer of 1, 2, 4 (or up to 6) bytes. */
  uint(type: number, name: string): number {
    const value = this.require(type, name);
    if (value.length === 0 || value.length > 6) {
      throw new Error(`${this.what}: ${name} has ${value.length} bytes, expected 1 to 6`);
    }
    return value.readUIntLE(0, value.length);
  }

  optionalUint(type: number): number | undefined {
    const value = this.get(type);
    return value && value.length > 0 && value.length <= 6 ? value.readUIntLE(0, value.length) : undefined;
  }

  nested(type: number, name: string): Tlv {
    return Tlv.decode(this.require(type, name), `${this.what}/${name}`);
  }

  nestedAll(type: number, name: string): Tlv[] {
    return this.all(type).map((v, i) => Tlv.decode(v, `${this.what}/${name}[${i}]`));
  }
}

// ------------------------------------------------------------------------- HAP enums and capability decoding

/** Values of HAP's camera TLVs (as HAP-NodeJS lib/camera/RTPStreamManagement defines them). */
export const H264Profile = { Baseline: 0, Main: 1, High: 2 } as const;
export const H264Level = { Level3_1: 0, Level3_2: 1, Level4_0: 2 } as const;
export const AudioCodec = { PCMU: 0, PCMA: 1, AacEld: 2, Opus: 3, MSBC: 4, AMR: 5, AmrWb: 6 } as const;
export const AudioBitrateMode = { Variable: 0, Constant: 1 } as const;
export const SrtpSuite = { AesCm128HmacSha1_80: 0, AesCm256HmacSha1_80: 1, None: 2 } as const;
export const SessionCommand = { End: 0, Start: 1, Suspend: 2, Resume: 3, Reconfigure: 4 } as const;
export const StreamingStatus = { Available: 0, InUse: 1, Unavailable: 2 } as const;
export const SetupStatus = { Success: 0, Busy: 1, Error: 2 } as const;

/** HAP's sample-rate code (0, 1, 2) ↔ kHz. */
const SAMPLE_RATES_KHZ = [8, 16, 24];

export function sampleRateKhz(code: number): number {
  return SAMPLE_RATES_KHZ[code] ?? -1;
}

export function sampleRateCode(khz: number): number {
  const code = SAMPLE_RATES_KHZ.indexOf(khz);
  if (code < 0) {
    throw new Error(`HAP has no code for ${khz} kHz (known: ${SAMPLE_RATES_KHZ.join(', ')})`);
  }
  return code;
}

/** Short types of the stream-management characteristics (the rig's hapModel table lists only some). */
const Chr = {
  SupportedVideo: CharacteristicType.SupportedVideoStreamConfiguration,
  SupportedAudio: '115',
  SupportedRtp: '116',
  Selected: CharacteristicType.SelectedRTPStreamConfiguration,
  SetupEndpoints: CharacteristicType.SetupEndpoints,
  StreamingStatus: CharacteristicType.StreamingStatus,
  Active: 'B0',
} as const;

export interface StreamResolution {
  width: number;
  height: number;
  fps: number;
}

export interface VideoCodecSupport {
  /** 0 = H.264. */
  codecType: number;
  profiles: number[];
  levels: number[];
  packetizationModes: number[];
  cvoSupported: boolean;
  resolutions: StreamResolution[];
}

export interface AudioCodecSupport {
  /** AudioCodec value: 3 Opus, 2 AAC-ELD, ... */
  codecType: number;
  channels: number;
  /** AudioBitrateMode. */
  bitrateMode: number;
  sampleRatesKhz: number[];
}

export interface StreamCapabilities {
  video: VideoCodecSupport[];
  audio: AudioCodecSupport[];
  comfortNoise: boolean;
  /** SrtpSuite values. */
  cryptoSuites: number[];
}

export function decodeSupportedVideo(value: unknown): VideoCodecSupport[] {
  const top = Tlv.fromBase64(value, 'SupportedVideoStreamConfiguration');
  return top.nestedAll(1, 'codec configuration').map((config) => {
    const params = config.nested(2, 'codec parameters');
    return {
      codecType: config.uint(1, 'codec type'),
      profiles: params.all(1).map((b) => b[0]),
      levels: params.all(2).map((b) => b[0]),
      packetizationModes: params.all(3).map((b) => b[0]),
      cvoSupported: params.optionalUint(4) === 1,
      resolutions: config.nestedAll(3, 'attributes').map((a) => ({
        width: a.uint(1, 'width'),
        height: a.uint(2, 'height'),
        fps: a.uint(3, 'frame rate'),
      })),
    };
  });
}

export function decodeSupportedAudio(value: unknown): { codecs: AudioCodecSupport[]; comfortNoise: boolean } {
  const top = Tlv.fromBase64(value, 'SupportedAudioStreamConfiguration');
  const codecs = top.nestedAll(1, 'codec configuration').map((config) => {
    const params = config.nested(2, 'codec parameters');
    return {
      codecType: config.uint(1, 'codec type'),
      channels: params.optionalUint(1) ?? 1,
      bitrateMode: params.optionalUint(2) ?? AudioBitrateMode.Variable,
      sampleRatesKhz: params.all(3).map((b) => sampleRateKhz(b[0])),
    };
  });
  return { codecs, comfortNoise: top.optionalUint(2) === 1 };
}

export function decodeSupportedRtp(value: unknown): number[] {
  // Each suite is its own entry; some encoders put several suite bytes in one entry.
  return Tlv.fromBase64(value, 'SupportedRTPConfiguration').all(2).flatMap((b) => [...b]);
}

export function decodeStreamingStatus(value: unknown): number {
  return Tlv.fromBase64(value, 'StreamingStatus').uint(1, 'status');
}

// ------------------------------------------------------------------------------------------- SRTP / SRTCP

export const SRTP_KEY_LENGTH = 16;
export const SRTP_SALT_LENGTH = 14;
const SRTP_AUTH_KEY_LENGTH = 20;
/** HMAC-SHA1 truncated to 80 bits. */
const SRTP_TAG_LENGTH = 10;
const SRTCP_INDEX_LENGTH = 4;

/** Master key and salt of one SRTP direction (AES_CM_128_HMAC_SHA1_80). */
export interface SrtpKeys {
  key: Buffer;
  salt: Buffer;
}

export function randomSrtpKeys(): SrtpKeys {
  return { key: randomBytes(SRTP_KEY_LENGTH), salt: randomBytes(SRTP_SALT_LENGTH) };
}

function aesCtr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** RFC 3711 4.3 key derivation with key_derivation_rate 0 (what HomeKit and ffmpeg use): AES-CM over zeros. */
export function deriveSrtpKey(master: SrtpKeys, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  master.salt.copy(iv, 0);
  iv[7] ^= label; // key_id = label || 48-bit r (= 0), right-aligned against the 112-bit salt
  return aesCtr(master.key, iv, Buffer.alloc(length));
}

/** RFC 3711 4.1.1 counter: salt * 2^16 XOR SSRC * 2^64 XOR index * 2^16. */
function packetIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  iv.writeUInt16BE(iv.readUInt16BE(8) ^ (Math.floor(index / 2 ** 32) & 0xffff), 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ (index >>> 0)) >>> 0, 10);
  return iv;
}

interface SessionKeys {
  enc: Buffer;
  auth: Buffer;
  salt: Buffer;
}

function sessionKeys(master: SrtpKeys, firstLabel: number): SessionKeys {
  return {
    enc: deriveSrtpKey(master, firstLabel, SRTP_KEY_LENGTH),
    auth: deriveSrtpKey(master, firstLabel + 1, SRTP_AUTH_KEY_LENGTH),
    salt: deriveSrtpKey(master, firstLabel + 2, SRTP_SALT_LENGTH),
  };
}

function authTag(key: Buffer, ...parts: Buffer[]): Buffer {
  const hmac = createHmac('sha1', key);
  parts.forEach((p) => hmac.update(p));
  return hmac.digest().subarray(0, SRTP_TAG_LENGTH);
}

function tagMatches(expected: Buffer, actual: Buffer): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  padding: boolean;
  /** Bytes before the payload: fixed header, CSRCs, extension. */
  headerLength: number;
}

/** RFC 5761 demultiplexing: RTCP packet types 192..223 land in 64..95 once the marker bit is masked. */
export function isRtcp(packet: Buffer): boolean {
  const pt = packet.length >= 2 ? packet[1] & 0x7f : 0;
  return pt >= 64 && pt <= 95;
}

export function parseRtpHeader(packet: Buffer): RtpHeader | undefined {
  if (packet.length < 12 || packet[0] >> 6 !== 2) {
    return undefined;
  }
  let headerLength = 12 + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10) {
    if (packet.length < headerLength + 4) {
      return undefined;
    }
    headerLength += 4 + packet.readUInt16BE(headerLength + 2) * 4;
  }
  if (packet.length < headerLength) {
    return undefined;
  }
  return {
    marker: (packet[1] & 0x80) !== 0,
    payloadType: packet[1] & 0x7f,
    sequence: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    padding: (packet[0] & 0x20) !== 0,
    headerLength,
  };
}

/** Receiving side of one SRTP master key: per-SSRC rollover counters, authentication, decryption. */
export class SrtpReceiveContext {
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private readonly rollover = new Map<number, { roc: number; highest: number }>();

  constructor(master: SrtpKeys) {
    this.rtp = sessionKeys(master, 0);
    this.rtcp = sessionKeys(master, 3);
  }

  /** Authenticated, decrypted RTP (payload without padding), or undefined when the tag does not match this key. */
  unprotectRtp(packet: Buffer): { header: RtpHeader; payload: Buffer; index: number } | undefined {
    if (packet.length < 12 + SRTP_TAG_LENGTH) {
      return undefined;
    }
    const authed = packet.subarray(0, packet.length - SRTP_TAG_LENGTH);
    const header = parseRtpHeader(authed);
    if (!header) {
      return undefined;
    }
    const state = this.rollover.get(header.ssrc);
    const roc = this.guessRollover(state, header.sequence);
    if (roc < 0) {
      return undefined;
    }
    const rocBytes = Buffer.alloc(4);
    rocBytes.writeUInt32BE(roc);
    if (!tagMatches(authTag(this.rtp.auth, authed, rocBytes), packet.subarray(authed.length))) {
      return undefined;
    }
    const index = roc * 65536 + header.sequence;
    let payload = aesCtr(this.rtp.enc, packetIv(this.rtp.salt, header.ssrc, index), authed.subarray(header.headerLength));
    if (header.padding && payload.length > 0) {
      payload = payload.subarray(0, Math.max(0, payload.length - payload[payload.length - 1]));
    }
    if (!state) {
      this.rollover.set(header.ssrc, { roc, highest: header.sequence });
    } else if (roc === state.roc + 1 || (roc === state.roc && header.sequence > state.highest)) {
      state.roc = roc;
      state.highest = header.sequence;
    }
    return { header, payload, index };
  }

  /** RFC 3550 extended highest sequence number received from this SSRC. */
  extendedHighest(ssrc: number): number | undefined {
    const state = this.rollover.get(ssrc);
    return state ? state.roc * 65536 + state.highest : undefined;
  }

  /** Authenticated, decrypted compound RTCP, or undefined when the tag does not match this key. */
  unprotectRtcp(packet: Buffer): Buffer | undefined {
    if (packet.length < 8 + SRTCP_INDEX_LENGTH + SRTP_TAG_LENGTH) {
      return undefined;
    }
    const authed = packet.subarray(0, packet.length - SRTP_TAG_LENGTH);
    if (!tagMatches(authTag(this.rtcp.auth, authed), packet.subarray(authed.length))) {
      return undefined;
    }
    const eIndex = authed.readUInt32BE(authed.length - SRTCP_INDEX_LENGTH);
    const body = authed.subarray(8, authed.length - SRTCP_INDEX_LENGTH);
    const ssrc = packet.readUInt32BE(4);
    const plain = eIndex >>> 31 ? aesCtr(this.rtcp.enc, packetIv(this.rtcp.salt, ssrc, eIndex & 0x7fffffff), body) : body;
    return Buffer.concat([authed.subarray(0, 8), plain]);
  }

  /** RFC 3711 3.3.1: the rollover counter this sequence number most likely belongs to (-1: before the stream began). */
  private guessRollover(state: { roc: number; highest: number } | undefined, seq: number): number {
    if (!state) {
      return 0;
    }
    if (state.highest < 32768) {
      return seq - state.highest > 32768 ? state.roc - 1 : state.roc;
    }
    return state.highest - 32768 > seq ? state.roc + 1 : state.roc;
  }
}

/** Sending side of SRTCP for one master key (the controller's): encrypts and signs compound RTCP. */
export class SrtcpSender {
  private readonly keys: SessionKeys;
  private index = 0;

  constructor(master: SrtpKeys) {
    this.keys = sessionKeys(master, 3);
  }

  protect(plain: Buffer): Buffer {
    const index = this.index;
    this.index = (this.index + 1) & 0x7fffffff;
    const ssrc = plain.readUInt32BE(4);
    const encrypted = aesCtr(this.keys.enc, packetIv(this.keys.salt, ssrc, index), plain.subarray(8));
    const eIndex = Buffer.alloc(4);
    eIndex.writeUInt32BE((0x80000000 | index) >>> 0);
    const authed = Buffer.concat([plain.subarray(0, 8), encrypted, eIndex]);
    return Buffer.concat([authed, authTag(this.keys.auth, authed)]);
  }
}

// ------------------------------------------------------------------------------------------- H.264 reassembly

export interface KeyframeInfo {
  /** streamNow() when the last packet of the keyframe's access unit arrived. */
  at: number;
  /** streamNow() when its first packet arrived. */
  firstPacketAt: number;
  rtpTimestamp: number;
  /** Access units completed before it (0 = the very first). */
  accessUnitIndex: number;
  bytes: number;
}

interface AccessUnit {
  timestamp: number;
  firstPacketAt: number;
  lastPacketAt: number;
  complete: boolean;
  vcl: boolean;
  /** An IDR slice arrived after SPS and PPS had been seen. */
  decodableIdr: boolean;
  bytes: number;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/**
 * RFC 6184 depacketizer (single NAL, STAP-A, FU-A; what ffmpeg and cameras send in non-interleaved mode): builds an
 * Annex-B elementary stream (bounded) and finds access units, so the first decodable keyframe — an IDR whose access
 * unit arrived whole, with SPS and PPS before it — can be timed as it arrives.
 */
class H264Assembler {
  accessUnits = 0;
  frames = 0;
  keyframes = 0;
  incompleteFrames = 0;
  unsupportedPackets = 0;
  firstKeyframe: KeyframeInfo | undefined;
  esTruncated = false;
  /** streamNow() when each frame (VCL access unit) was complete, in order: with its drawn frame number, its latency. */
  readonly frameArrivals: number[] = [];
  private readonly chunks: Buffer[] = [];
  private esBytes = 0;
  private current: AccessUnit | undefined;
  private fragments: Buffer[] | undefined;
  private lastSequence: number | undefined;
  private haveSps = false;
  private havePps = false;

  constructor(private readonly maxEsBytes: number, private readonly onKeyframe: (info: KeyframeInfo) => void) {}

  push(header: RtpHeader, payload: Buffer, at: number): void {
    if (this.current && this.current.timestamp !== header.timestamp) {
      this.finish(this.current); // the marker bit was lost: the timestamp change ends the access unit
    }
    const gap = this.lastSequence !== undefined && ((this.lastSequence + 1) & 0xffff) !== header.sequence;
    this.lastSequence = header.sequence;
    this.current ??= { timestamp: header.timestamp, firstPacketAt: at, lastPacketAt: at, complete: true, vcl: false, decodableIdr: false, bytes: 0 };
    const au = this.current;
    au.lastPacketAt = at;
    if (gap) {
      au.complete = false;
      this.fragments = undefined;
    }
    this.depacketize(au, payload);
    if (header.marker) {
      this.finish(au);
    }
  }

  elementaryStream(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private depacketize(au: AccessUnit, payload: Buffer): void {
    if (payload.length === 0) {
      return;
    }
    const type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      this.addNal(au, payload);
    } else if (type === 24) {
      for (let offset = 1; offset + 2 <= payload.length;) {
        const size = payload.readUInt16BE(offset);
        offset += 2;
        if (size === 0 || offset + size > payload.length) {
          au.complete = false;
          break;
        }
        this.addNal(au, payload.subarray(offset, offset + size));
        offset += size;
      }
    } else if (type === 28 && payload.length >= 2) {
      const fuHeader = payload[1];
      if (fuHeader & 0x80) {
        this.fragments = [Buffer.from([(payload[0] & 0xe0) | (fuHeader & 0x1f)]), payload.subarray(2)];
      } else if (this.fragments) {
        this.fragments.push(payload.subarray(2));
      } else {
        au.complete = false; // a fragment whose start was lost
      }
      if (fuHeader & 0x40 && this.fragments) {
        this.addNal(au, Buffer.concat(this.fragments));
        this.fragments = undefined;
      }
    } else {
      this.unsupportedPackets++;
      au.complete = false;
    }
  }

  private addNal(au: AccessUnit, nal: Buffer): void {
    const type = nal[0] & 0x1f;
    if (type === 7) {
      this.haveSps = true;
    } else if (type === 8) {
      this.havePps = true;
    } else if (type === 5 && this.haveSps && this.havePps) {
      au.decodableIdr = true;
    }
    au.vcl ||= type >= 1 && type <= 5;
    au.bytes += nal.length;
    if (this.esBytes + nal.length + 4 > this.maxEsBytes) {
      this.esTruncated = true;
      return;
    }
    this.chunks.push(START_CODE, nal);
    this.esBytes += nal.length + 4;
  }

  private finish(au: AccessUnit): void {
    this.current = undefined;
    this.fragments = undefined;
    const index = this.accessUnits++;
    if (au.vcl) {
      this.frames++;
      if (this.frameArrivals.length < MAX_ARRIVALS) {
        this.frameArrivals.push(au.lastPacketAt);
      }
      if (!au.complete) {
        this.incompleteFrames++;
      }
    }
    if (au.decodableIdr && au.complete) {
      this.keyframes++;
      if (!this.firstKeyframe) {
        this.firstKeyframe = { at: au.lastPacketAt, firstPacketAt: au.firstPacketAt, rtpTimestamp: au.timestamp, accessUnitIndex: index, bytes: au.bytes };
        this.onKeyframe(this.firstKeyframe);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------- receiver

export type MediaKind = 'video' | 'audio';

/** One datagram as it arrived (SRTP or SRTCP, still encrypted): what media-probe's decodeSrtp replays to ffmpeg. */
export interface CapturedDatagram {
  at: number;
  data: Buffer;
}

export interface ReceiverStats {
  kind: MediaKind;
  /** Our local UDP port (on the controller's loopback address). */
  port: number;
  /** Every datagram, whatever it is. */
  datagrams: number;
  bytes: number;
  /** RTP packets that authenticated with the accessory's (or, failing that, the controller's) key. */
  rtpPackets: number;
  rtpBytes: number;
  /** RTP-looking datagrams that authenticated with neither key. */
  authFailures: number;
  rtcpReceived: number;
  senderReports: number;
  rtcpSent: number;
  rtcpSendErrors: number;
  /** Which key decrypted the media: the accessory's from SetupEndpoints (as the spec says) or our own (echoed keys). */
  keySource: 'accessory' | 'controller' | undefined;
  payloadTypes: Record<number, number>;
  ssrcs: number[];
  /** RFC 3550 packets expected minus received for the main SSRC. */
  lost: number;
  firstDatagramAt: number | undefined;
  lastDatagramAt: number | undefined;
  firstPacketAt: number | undefined;
  lastPacketAt: number | undefined;
  /** Video only: access units with a slice, keyframes (decodable IDR access units), damaged frames. */
  frames: number;
  keyframes: number;
  incompleteFrames: number;
  firstKeyframe: KeyframeInfo | undefined;
}

export interface ReceiverOptions {
  /** Datagrams kept for replay (decodeSrtp), bounded by bytes. Default 32 MiB. */
  maxCaptureBytes?: number;
  /** Annex-B video kept, bounded. Default 64 MiB. */
  maxElementaryStreamBytes?: number;
}

const MAX_ARRIVALS = 200_000;
const DEFAULT_CAPTURE_BYTES = 32 * 1024 * 1024;
const DEFAULT_ES_BYTES = 64 * 1024 * 1024;
const RTCP_CNAME = 'courtyard-rig@127.0.0.1';

/** Per-source reception statistics (RFC 3550 A.3, A.8) for the receiver reports. */
interface SourceStats {
  ssrc: number;
  baseExtended: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
  jitter: number;
  lastTransit: number | undefined;
  lastSrNtpMiddle: number;
  lastSrAt: number;
}

/** Binary search: how many sorted times are >= since. */
function countSince(times: number[], since: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < since) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return times.length - lo;
}

/** One media port: a UDP socket on loopback (127.0.0.1 or ::1, the controller's family) that receives SRTP (and SRTCP, muxed) and sends our SRTCP back. */
export class SrtpReceiver {
  private readonly stats: ReceiverStats;
  private readonly rtpArrivals: number[] = [];
  private readonly datagramArrivals: number[] = [];
  private readonly captured: CapturedDatagram[] = [];
  private capturedBytes = 0;
  private captureTruncatedFlag = false;
  private readonly maxCaptureBytes: number;
  private readonly h264: H264Assembler | undefined;
  private accessoryContext: SrtpReceiveContext | undefined;
  private readonly controllerContext: SrtpReceiveContext;
  private readonly rtcpSender: SrtcpSender;
  private remote: { address: string; port: number } | undefined;
  private senderSsrc = 0;
  private clockRate = 90_000;
  private source: SourceStats | undefined;
  private rtcpTimer: NodeJS.Timeout | undefined;
  private rtcpPaused = false;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  private constructor(readonly kind: MediaKind, private readonly socket: Socket, readonly controllerKeys: SrtpKeys, options: ReceiverOptions) {
    const address = socket.address();
    this.maxCaptureBytes = options.maxCaptureBytes ?? DEFAULT_CAPTURE_BYTES;
    this.controllerContext = new SrtpReceiveContext(controllerKeys);
    this.rtcpSender = new SrtcpSender(controllerKeys);
    this.stats = {
      kind, port: address.port, datagrams: 0, bytes: 0, rtpPackets: 0, rtpBytes: 0, authFailures: 0, rtcpReceived: 0,
      senderReports: 0, rtcpSent: 0, rtcpSendErrors: 0, keySource: undefined, payloadTypes: {}, ssrcs: [], lost: 0,
      firstDatagramAt: undefined, lastDatagramAt: undefined, firstPacketAt: undefined, lastPacketAt: undefined, frames: 0, keyframes: 0,
      incompleteFrames: 0, firstKeyframe: undefined,
    };
    if (kind === 'video') {
      this.h264 = new H264Assembler(options.maxElementaryStreamBytes ?? DEFAULT_ES_BYTES, () => this.notify());
    }
    socket.on('message', (data: Buffer) => this.onDatagram(data, streamNow()));
  }

  /** Bind a fresh UDP socket on host (port chosen by the OS). */
  static bind(kind: MediaKind, controllerKeys: SrtpKeys, options: ReceiverOptions = {}, host: ControllerHost = '127.0.0.1'): Promise<SrtpReceiver> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.removeListener('error', reject);
        socket.on('error', () => undefined); // send errors are counted where they happen; never crash the test process
        resolve(new SrtpReceiver(kind, socket, controllerKeys, options));
      });
    });
  }

  get port(): number {
    return this.stats.port;
  }

  /** The accessory's answer: its key (to decrypt what it sends) and where our RTCP goes. */
  setAccessory(keys: SrtpKeys | undefined, remote: { address: string; port: number }): void {
    this.accessoryContext = keys && keys.key.length === SRTP_KEY_LENGTH ? new SrtpReceiveContext(keys) : undefined;
    this.remote = remote;
  }

  /** Begin sending receiver reports every intervalMs (the first one now). */
  startRtcp(senderSsrc: number, clockRate: number, intervalMs: number): void {
    this.senderSsrc = senderSsrc;
    this.clockRate = clockRate;
    this.stopRtcp();
    this.rtcpTimer = setInterval(() => this.sendReport(), intervalMs);
    this.rtcpTimer.unref();
    this.sendReport();
  }

  stopRtcp(): void {
    if (this.rtcpTimer) {
      clearInterval(this.rtcpTimer);
      this.rtcpTimer = undefined;
    }
  }

  /** Stop/resume sending RTCP without ending anything: a controller that went away without saying so. */
  pauseRtcp(): void {
    this.rtcpPaused = true;
  }

  resumeRtcp(): void {
    this.rtcpPaused = false;
    this.sendReport();
  }

  snapshot(): ReceiverStats {
    const h = this.h264;
    return {
      ...this.stats,
      payloadTypes: { ...this.stats.payloadTypes },
      ssrcs: [...this.stats.ssrcs],
      lost: this.source ? Math.max(0, this.expected(this.source) - this.source.received) : 0,
      frames: h?.frames ?? 0,
      keyframes: h?.keyframes ?? 0,
      incompleteFrames: h?.incompleteFrames ?? 0,
      firstKeyframe: h?.firstKeyframe,
    };
  }

  /** Authenticated RTP packets that arrived at or after `since` (streamNow() ms); all datagrams with `all`. */
  packetsSince(since: number, all = false): number {
    return countSince(all ? this.datagramArrivals : this.rtpArrivals, since);
  }

  /** Datagrams as received, for replay; `truncated` when the capture bound was reached (the start is kept). */
  capture(): { datagrams: CapturedDatagram[]; truncated: boolean } {
    return { datagrams: [...this.captured], truncated: this.captureTruncatedFlag };
  }

  /** streamNow() at which each video frame arrived whole, in order (the frames of elementaryStream()). */
  frameArrivals(): number[] {
    return [...(this.h264?.frameArrivals ?? [])];
  }

  /** The decrypted video as an Annex-B H.264 elementary stream (bounded; see ReceiverOptions). */
  elementaryStream(): Buffer {
    if (!this.h264) {
      throw new Error('elementaryStream() is for the video receiver');
    }
    return this.h264.elementaryStream();
  }

  /** Resolves once check() returns a value (re-evaluated on every datagram); rejects after timeoutMs with what + stats. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const already = check();
    if (already !== undefined) {
      return Promise.resolve(already);
    }
    let listener: () => void = () => undefined;
    const found = new Promise<T>((resolve) => {
      listener = () => {
        const value = check();
        if (value !== undefined) {
          resolve(value);
        }
      };
      this.listeners.add(listener);
    });
    return withTimeout(found, timeoutMs, `${what} on the ${this.kind} port ${this.port}`)
      .catch((err: Error) => {
        throw new Error(`${err.message}; stats ${JSON.stringify(this.snapshot())}`);
      })
      .finally(() => this.listeners.delete(listener));
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.stopRtcp();
    this.listeners.clear();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private onDatagram(data: Buffer, at: number): void {
    const s = this.stats;
    s.datagrams++;
    s.bytes += data.length;
    s.firstDatagramAt ??= at;
    s.lastDatagramAt = at;
    this.pushBounded(this.datagramArrivals, at);
    if (!this.captureTruncatedFlag) {
      if (this.capturedBytes + data.length <= this.maxCaptureBytes) {
        this.captured.push({ at, data });
        this.capturedBytes += data.length;
      } else {
        this.captureTruncatedFlag = true;
      }
    }
    if (isRtcp(data)) {
      this.onRtcp(data, at);
    } else {
      this.onRtp(data, at);
    }
    this.notify();
  }

  private onRtp(data: Buffer, at: number): void {
    const s = this.stats;
    let result = this.accessoryContext?.unprotectRtp(data);
    let source: ReceiverStats['keySource'] = 'accessory';
    if (!result) {
      result = this.controllerContext.unprotectRtp(data);
      source = 'controller';
    }
    if (!result) {
      s.authFailures++;
      return;
    }
    const { header, payload } = result;
    s.keySource ??= source;
    s.rtpPackets++;
    s.rtpBytes += data.length;
    s.firstPacketAt ??= at;
    s.lastPacketAt = at;
    s.payloadTypes[header.payloadType] = (s.payloadTypes[header.payloadType] ?? 0) + 1;
    if (!s.ssrcs.includes(header.ssrc)) {
      s.ssrcs.push(header.ssrc);
    }
    this.pushBounded(this.rtpArrivals, at);
    this.updateSource(header, result.index, at);
    this.h264?.push(header, payload, at);
  }

  private onRtcp(data: Buffer, at: number): void {
    this.stats.rtcpReceived++;
    const plain = this.accessoryContext?.unprotectRtcp(data) ?? this.controllerContext.unprotectRtcp(data);
    // Remember the sender report's NTP time so our reports carry LSR/DLSR like a real receiver's.
    for (let offset = 0; plain && offset + 8 <= plain.length;) {
      const type = plain[offset + 1];
      const length = (plain.readUInt16BE(offset + 2) + 1) * 4;
      if (type === 200 && offset + 20 <= plain.length) {
        this.stats.senderReports++;
        if (this.source && plain.readUInt32BE(offset + 4) === this.source.ssrc) {
          this.source.lastSrNtpMiddle = plain.readUInt32BE(offset + 10);
          this.source.lastSrAt = at;
        }
      }
      offset += length;
    }
  }

  private updateSource(header: RtpHeader, index: number, at: number): void {
    this.source ??= {
      ssrc: header.ssrc, baseExtended: index, received: 0, expectedPrior: 0, receivedPrior: 0, jitter: 0,
      lastTransit: undefined, lastSrNtpMiddle: 0, lastSrAt: 0,
    };
    const src = this.source;
    if (src.ssrc !== header.ssrc) {
      return;
    }
    src.received++;
    const transit = (at * this.clockRate) / 1000 - header.timestamp;
    if (src.lastTransit !== undefined) {
      src.jitter += (Math.abs(transit - src.lastTransit) - src.jitter) / 16;
    }
    src.lastTransit = transit;
  }

  private expected(src: SourceStats): number {
    const highest = this.accessoryContext?.extendedHighest(src.ssrc) ?? this.controllerContext.extendedHighest(src.ssrc) ?? src.baseExtended;
    return highest - src.baseExtended + 1;
  }

  /** RFC 3550 compound RTCP: RR (one block once media arrived) + SDES CNAME, then SRTCP-protected. */
  private buildReport(at: number): Buffer {
    const src = this.source;
    const blocks = src ? 1 : 0;
    const rr = Buffer.alloc(8 + 24 * blocks);
    rr[0] = 0x80 | blocks;
    rr[1] = 201;
    rr.writeUInt16BE(rr.length / 4 - 1, 2);
    rr.writeUInt32BE(this.senderSsrc >>> 0, 4);
    if (src) {
      const expected = this.expected(src);
      const expectedInterval = expected - src.expectedPrior;
      const lostInterval = expectedInterval - (src.received - src.receivedPrior);
      src.expectedPrior = expected;
      src.receivedPrior = src.received;
      const fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
      const cumulative = Math.max(-0x800000, Math.min(0x7fffff, expected - src.received));
      rr.writeUInt32BE(src.ssrc >>> 0, 8);
      rr.writeUInt32BE((((fraction & 0xff) << 24) | (cumulative & 0xffffff)) >>> 0, 12);
      rr.writeUInt32BE((src.baseExtended + expected - 1) >>> 0, 16);
      rr.writeUInt32BE(Math.floor(src.jitter) >>> 0, 20);
      rr.writeUInt32BE(src.lastSrNtpMiddle >>> 0, 24);
      rr.writeUInt32BE(src.lastSrAt ? Math.floor(((at - src.lastSrAt) / 1000) * 65536) >>> 0 : 0, 28);
    }
    const cname = Buffer.from(RTCP_CNAME);
    const sdesLength = Math.ceil((4 + 2 + cname.length + 1) / 4) * 4;
    const sdes = Buffer.alloc(4 + sdesLength);
    sdes[0] = 0x81;
    sdes[1] = 202;
    sdes.writeUInt16BE(sdes.length / 4 - 1, 2);
    sdes.writeUInt32BE(this.senderSsrc >>> 0, 4);
    sdes[8] = 1; // CNAME
    sdes[9] = cname.length;
    cname.copy(sdes, 10); // the rest stays zero: END item and padding
    return this.rtcpSender.protect(Buffer.concat([rr, sdes]));
  }

  private sendReport(): void {
    if (this.closed || this.rtcpPaused || !this.remote || !this.rtcpTimer) {
      return;
    }
    const packet = this.buildReport(streamNow());
    this.socket.send(packet, this.remote.port, this.remote.address, (err) => {
      if (err) {
        this.stats.rtcpSendErrors++;
      } else {
        this.stats.rtcpSent++;
      }
    });
  }

  private pushBounded(list: number[], at: number): void {
    list.push(at);
    if (list.length > MAX_ARRIVALS) {
      list.splice(0, MAX_ARRIVALS / 2); // old arrivals are of no use to packetsSince(recent)
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      listener();
    }
  }
}

// --------------------------------------------------------------------------------------------------- session

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

// ---------------------------------------------------------------------------------------------------- client

export interface SetupOptions {
  /** Our keys (random by default). */
  videoKeys?: SrtpKeys;
  audioKeys?: SrtpKeys;
  receiver?: ReceiverOptions;
}

/** The characteristics of one CameraRTPStreamManagement service. */
export interface StreamManagementRefs {
  serviceIid: number;
  supportedVideo: CharacteristicRef;
  supportedAudio: CharacteristicRef;
  supportedRtp: CharacteristicRef;
  setupEndpoints: CharacteristicRef;
  selected: CharacteristicRef;
  streamingStatus: CharacteristicRef;
  active?: CharacteristicRef;
}

/** A HomeKit controller's view of one camera stream (one CameraRTPStreamManagement service of an accessory). */
export class CameraStreamClient {
  private cachedCapabilities: StreamCapabilities | undefined;

  private constructor(readonly hap: HapClient, readonly aid: number, readonly refs: StreamManagementRefs) {}

  /** Find the accessory's stream-management services (ordered by iid) and use the one at streamIndex (default 0). */
  static async open(hap: HapClient, aid: number, options: { streamIndex?: number } = {}): Promise<CameraStreamClient> {
    const list = await hap.accessories();
    const accessory = list.byAid(aid);
    if (!accessory) {
      throw new Error(`no accessory with aid ${aid}; there are ${list.all.map((a) => a.aid).join(', ')}`);
    }
    const services = accessory.servicesOfType(ServiceType.CameraRTPStreamManagement).sort((a, b) => a.iid - b.iid);
    const index = options.streamIndex ?? 0;
    const service = services[index];
    if (!service) {
      throw new Error(`accessory ${aid} has ${services.length} CameraRTPStreamManagement service(s), no index ${index}`);
    }
    const ref = (s: ServiceView, type: string): CharacteristicRef => ({ aid, iid: s.requireCharacteristic(type).iid });
    const active = service.characteristic(Chr.Active);
    return new CameraStreamClient(hap, aid, {
      serviceIid: service.iid,
      supportedVideo: ref(service, Chr.SupportedVideo),
      supportedAudio: ref(service, Chr.SupportedAudio),
      supportedRtp: ref(service, Chr.SupportedRtp),
      setupEndpoints: ref(service, Chr.SetupEndpoints),
      selected: ref(service, Chr.Selected),
      streamingStatus: ref(service, Chr.StreamingStatus),
      active: active ? { aid, iid: active.iid } : undefined,
    });
  }

  /** What the service offers (read once, then cached; refresh to read again). */
  async capabilities(refresh = false): Promise<StreamCapabilities> {
    if (this.cachedCapabilities && !refresh) {
      return this.cachedCapabilities;
    }
    const r = this.refs;
    const values = await this.hap.read([r.supportedVideo, r.supportedAudio, r.supportedRtp]);
    const value = (ref: CharacteristicRef): unknown => values.get(`${ref.aid}.${ref.iid}`);
    const audio = decodeSupportedAudio(value(r.supportedAudio));
    this.cachedCapabilities = {
      video: decodeSupportedVideo(value(r.supportedVideo)),
      audio: audio.codecs,
      comfortNoise: audio.comfortNoise,
      cryptoSuites: decodeSupportedRtp(value(r.supportedRtp)),
    };
    return this.cachedCapabilities;
  }

  /** StreamingStatus: 0 available, 1 in use, 2 unavailable. */
  async streamingStatus(): Promise<number> {
    return decodeStreamingStatus(await this.hap.readValue(this.refs.streamingStatus));
  }

  /**
   * Bind our video and audio ports on the controller's own address (127.0.0.1, or ::1 for an IPv6 controller), write
   * SetupEndpoints as iOS does (new session id, that address with its version (0 IPv4, 1 IPv6) and the ports, AES_CM_128_HMAC_SHA1_80 key + salt per medium), read the answer back. A busy/error answer still returns a
   * session (check `ok` / `answer.status`); a rejected write throws.
   */
  async setup(options: SetupOptions = {}): Promise<StreamSession> {
    const videoKeys = options.videoKeys ?? randomSrtpKeys();
    const audioKeys = options.audioKeys ?? randomSrtpKeys();
    const host = this.hap.host;
    const video = await SrtpReceiver.bind('video', videoKeys, options.receiver, host);
    const audio = await SrtpReceiver.bind('audio', audioKeys, options.receiver, host).catch((err: Error) => {
      video.close();
      throw err;
    });
    try {
      const sessionId = randomBytes(16);
      const srtp = (keys: SrtpKeys): Buffer => encodeTlv([[1, SrtpSuite.AesCm128HmacSha1_80], [2, keys.key], [3, keys.salt]]);
      const request = encodeTlv([
        [1, sessionId],
        [3, encodeTlv([[1, host.includes(':') ? 1 : 0], [2, Buffer.from(host)], [3, u16le(video.port)], [4, u16le(audio.port)]])],
        [4, srtp(videoKeys)],
        [5, srtp(audioKeys)],
      ]).toString('base64');
      const sentAt = streamNow();
      const written = await this.hap.writeWithStatus(this.refs.setupEndpoints, request);
      if (written.status !== 0) {
        throw new Error(`SetupEndpoints write refused with HAP status ${written.status}`);
      }
      // Like iOS: write, then read the answer back (HAP-NodeJS does not put it in a write response).
      const raw = await this.hap.readValue(this.refs.setupEndpoints);
      const answeredAt = streamNow();
      const answer = decodeSetupAnswer(raw);
      if (answer.status === SetupStatus.Success && !answer.sessionId.equals(sessionId)) {
        throw new Error(`SetupEndpoints answered for session ${answer.sessionId.toString('hex')}, not ours (${sessionId.toString('hex')})`);
      }
      if (answer.status === SetupStatus.Success) {
        video.setAccessory(answer.videoSrtp, { address: answer.address ?? host, port: answer.videoPort ?? 0 });
        audio.setAccessory(answer.audioSrtp, { address: answer.address ?? host, port: answer.audioPort ?? 0 });
      }
      return new StreamSession(this, sessionId, video, audio, answer, { sentAt, answeredAt });
    } catch (err) {
      video.close();
      audio.close();
      throw err;
    }
  }

  /** @internal SelectedRTPStreamConfiguration write with timing; throws on a non-zero status unless allowFailure. */
  async writeSelected(value: Buffer, command: number, allowFailure = false): Promise<WriteResult> {
    const sentAt = streamNow();
    const { status } = await this.hap.writeWithStatus(this.refs.selected, value.toString('base64'));
    const result = { command, status, sentAt, answeredAt: streamNow() };
    if (status !== 0 && !allowFailure) {
      throw new Error(`SelectedRTPStreamConfiguration command ${command} refused with HAP status ${status}`);
    }
    return result;
  }
}
