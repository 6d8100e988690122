// SRTP and SRTCP for the rig's stream receiver (RFC 3711, AES_CM_128_HMAC_SHA1_80): key derivation, packet
// authentication and decryption, RTP header parsing, and sending SRTCP receiver reports.
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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
