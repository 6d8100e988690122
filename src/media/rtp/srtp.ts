// The sending side of SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80, the suite HomeKit uses for live view (RFC 3711):
// session keys from the 30 bytes HomeKit hands over (16-byte master key + 14-byte master salt, §4.3), RTP payloads
// encrypted with AES in counter mode (§4.1.1) and authenticated with HMAC-SHA1 truncated to 80 bits (§4.2), RTCP the
// same with its own keys, an E flag and a 31-bit index (§3.4). node:crypto does the AES and the HMAC.
//
// Why not werift-rtp (the usual Node SRTP): it pulls in mediabunny, debug and a buffer polyfill for what is here about
// 150 lines, and these lines are tested against RFC 3711 Appendix B.2 and B.3 and against the e2e rig's independent
// decryptor (test/media/rtp/srtp.test.ts).
import { Cipher, createCipheriv, createHmac } from 'node:crypto';

export const SRTP_MASTER_KEY_BYTES = 16;
export const SRTP_MASTER_SALT_BYTES = 14;
/** HMAC-SHA1 truncated to 80 bits (RFC 3711 §4.2.1, the _80 of the suite's name). */
export const SRTP_TAG_BYTES = 10;
/** What SRTCP adds after the RTCP packet: E flag + index (4 bytes), then the tag (RFC 3711 §3.4). */
export const SRTCP_TRAILER_BYTES = 4 + SRTP_TAG_BYTES;
const SESSION_AUTH_KEY_BYTES = 20;
const AES_BLOCK_BYTES = 16;
/** RFC 3711 §4.3.1 key derivation labels. */
const LABEL = { rtpCipher: 0, rtpAuth: 1, rtpSalt: 2, rtcpCipher: 3, rtcpAuth: 4, rtcpSalt: 5 } as const;
/** The SRTCP index is 31 bits (RFC 3711 §3.4); it must not wrap under one key, and at 1 report a second it never will. */
const SRTCP_INDEX_MODULO = 2 ** 31;

/**
 * AES in counter mode as SRTP defines it (RFC 3711 §4.1.1): keystream block i is AES(key, IV + i). One ECB cipher is
 * kept per key and fed the counter blocks, rather than a CTR cipher made per packet. The IVs SRTP builds have their low
 * 16 bits zero (salt, SSRC and index are all shifted left by 16), and a packet is far shorter than 2^16 blocks, so
 * IV + i only ever changes the last two bytes.
 */
export class AesCm {
  private readonly ecb: Cipher;
  /** Counter blocks, reused: a packet's are made by doubling its first block, then numbering them. */
  private counters = Buffer.alloc(0);

  constructor(key: Buffer) {
    this.ecb = createCipheriv('aes-128-ecb', key, null);
    this.ecb.setAutoPadding(false);
  }

  keystream(iv: Buffer, bytes: number): Buffer {
    const blocks = Math.ceil(bytes / AES_BLOCK_BYTES);
    const length = blocks * AES_BLOCK_BYTES;
    if (this.counters.length < length) {
      this.counters = Buffer.alloc(length);
    }
    const counters = this.counters;
    iv.copy(counters, 0, 0, AES_BLOCK_BYTES);
    for (let filled = AES_BLOCK_BYTES; filled < length; filled *= 2) {
      counters.copyWithin(filled, 0, Math.min(filled, length - filled));
    }
    const low = iv.readUInt16BE(14);
    for (let i = 1; i < blocks; i++) {
      const n = (low + i) & 0xffff;
      counters[i * AES_BLOCK_BYTES + 14] = n >> 8;
      counters[i * AES_BLOCK_BYTES + 15] = n & 0xff;
    }
    // ECB without padding turns whole blocks into whole blocks at once: nothing is held back until a final().
    return this.ecb.update(counters.subarray(0, length));
  }

  /** XORs the keystream for `iv` over `data` in place. */
  apply(iv: Buffer, data: Buffer): void {
    if (data.length === 0) {
      return;
    }
    const stream = this.keystream(iv, data.length);
    let i = 0;
    // Four bytes at a time where both sit on 4-byte boundaries (a pooled packet buffer and its payload at offset 12
    // do): XOR does not care about byte order.
    if ((data.byteOffset & 3) === 0 && (stream.byteOffset & 3) === 0) {
      const words = data.length >> 2;
      const d = new Int32Array(data.buffer, data.byteOffset, words);
      const k = new Int32Array(stream.buffer, stream.byteOffset, words);
      for (let w = 0; w < words; w++) {
        d[w] ^= k[w];
      }
      i = words << 2;
    }
    for (; i < data.length; i++) {
      data[i] ^= stream[i];
    }
  }
}

/** RFC 3711 §4.3.1 with key_derivation_rate 0 (HomeKit's and ffmpeg's): AES-CM of the master key over zeros, from
 *  the IV (label XOR master salt) * 2^16, the label sitting in byte 7 of the 14-byte salt. */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, bytes: number): Buffer {
  const iv = Buffer.alloc(AES_BLOCK_BYTES);
  masterSalt.copy(iv, 0, 0, SRTP_MASTER_SALT_BYTES);
  iv[7] ^= label;
  return new AesCm(masterKey).keystream(iv, bytes).subarray(0, bytes);
}

/** RFC 3711 §4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), index being 48 bits (RTP) or 31 (RTCP). */
export function packetIv(sessionSalt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(AES_BLOCK_BYTES);
  sessionSalt.copy(iv, 0, 0, SRTP_MASTER_SALT_BYTES);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  iv.writeUInt16BE(iv.readUInt16BE(8) ^ (Math.floor(index / 2 ** 32) & 0xffff), 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ (index >>> 0)) >>> 0, 10);
  return iv;
}

interface SessionKeys {
  cipher: AesCm;
  auth: Buffer;
  salt: Buffer;
}

function sessionKeys(masterKey: Buffer, masterSalt: Buffer, rtcp: boolean): SessionKeys {
  const [c, a, s] = rtcp ? [LABEL.rtcpCipher, LABEL.rtcpAuth, LABEL.rtcpSalt] : [LABEL.rtpCipher, LABEL.rtpAuth, LABEL.rtpSalt];
  return {
    cipher: new AesCm(deriveSessionKey(masterKey, masterSalt, c, SRTP_MASTER_KEY_BYTES)),
    auth: deriveSessionKey(masterKey, masterSalt, a, SESSION_AUTH_KEY_BYTES),
    salt: deriveSessionKey(masterKey, masterSalt, s, SRTP_MASTER_SALT_BYTES),
  };
}

/** Bytes of the RTP header before the payload: the fixed 12, CSRCs and an extension (RFC 3550 §5.1, §5.3.1). */
function rtpHeaderLength(packet: Buffer): number {
  let length = 12 + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10) {
    length += 4 + packet.readUInt16BE(length + 2) * 4;
  }
  return length;
}

/**
 * One sending direction of SRTP and SRTCP under one master key (HomeKit gives one per medium). The caller numbers RTP
 * packets with a 48-bit index (rollover counter * 2^16 + sequence number, RFC 3711 §3.3.1) and must never use an
 * index twice under a key; SRTCP numbers itself.
 */
export class SrtpSender {
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private rtcpIndex = 0;
  private readonly roc = Buffer.alloc(4);

  /** `keyAndSalt`: the 16-byte master key followed by the 14-byte master salt (HAP's srtp_key + srtp_salt). */
  constructor(keyAndSalt: Buffer) {
    if (keyAndSalt.length !== SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES) {
      throw new Error(`an SRTP master key and salt are ${SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES} bytes, not ${keyAndSalt.length}`);
    }
    const key = keyAndSalt.subarray(0, SRTP_MASTER_KEY_BYTES);
    const salt = keyAndSalt.subarray(SRTP_MASTER_KEY_BYTES);
    this.rtp = sessionKeys(key, salt, false);
    this.rtcp = sessionKeys(key, salt, true);
  }

  /**
   * SRTP from an RTP packet whose sequence number is the low 16 bits of `index` (RFC 3711 §3.1): the header in the
   * clear, the payload encrypted, then the tag over header, payload and the rollover counter (§4.2).
   */
  protectRtp(packet: Buffer, index: number): Buffer {
    const out = Buffer.allocUnsafe(packet.length + SRTP_TAG_BYTES);
    packet.copy(out);
    this.protectRtpInPlace(out, packet.length, index);
    return out;
  }

  /** The same in place: `buffer` holds the RTP packet in its first `length` bytes and room for the tag after them. */
  protectRtpInPlace(buffer: Buffer, length: number, index: number): void {
    this.rtp.cipher.apply(packetIv(this.rtp.salt, buffer.readUInt32BE(8), index), buffer.subarray(rtpHeaderLength(buffer), length));
    this.roc.writeUInt32BE(Math.floor(index / 65536) >>> 0);
    createHmac('sha1', this.rtp.auth).update(buffer.subarray(0, length)).update(this.roc).digest()
      .copy(buffer, length, 0, SRTP_TAG_BYTES);
  }

  /** SRTCP from a compound RTCP packet (RFC 3711 §3.4): its first 8 bytes in the clear, the rest encrypted, then the
   *  E flag with the index, then the tag over all of that. */
  protectRtcp(packet: Buffer): Buffer {
    const index = this.rtcpIndex;
    this.rtcpIndex = (this.rtcpIndex + 1) % SRTCP_INDEX_MODULO;
    const out = Buffer.allocUnsafe(packet.length + SRTCP_TRAILER_BYTES);
    packet.copy(out);
    this.rtcp.cipher.apply(packetIv(this.rtcp.salt, packet.readUInt32BE(4), index), out.subarray(8, packet.length));
    out.writeUInt32BE((0x80000000 | index) >>> 0, packet.length);
    const authed = packet.length + 4;
    createHmac('sha1', this.rtcp.auth).update(out.subarray(0, authed)).digest().copy(out, authed, 0, SRTP_TAG_BYTES);
    return out;
  }
}
