// The RTCP a sender owes its viewer (RFC 3550 §6): a sender report with an SDES CNAME item, as every compound packet
// must start (§6.1), and a BYE when the stream ends (§6.6). SRTCP protection is srtp.ts's.
import { hostname } from 'node:os';

const RTCP_VERSION = 2;
const PT_SR = 200;
const PT_SDES = 202;
const PT_BYE = 203;
const SDES_CNAME = 1;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
/** CNAME of the plugin's streams (RFC 3550 §6.5.1: user@host; truncated to fit the one-byte length). */
const CNAME = Buffer.from(`courtyard@${hostname()}`.slice(0, 255));

export interface SenderReport {
  ssrc: number;
  /** The wall-clock instant the report describes (ms since 1970). */
  wallMs: number;
  /** The RTP timestamp of that same instant on the stream's clock. */
  rtpTimestamp: number;
  packets: number;
  octets: number;
}

/** RFC 3550 §4: 64-bit NTP timestamp, seconds since 1900 and a 32-bit binary fraction. */
export function ntpTimestamp(wallMs: number): { seconds: number; fraction: number } {
  const seconds = Math.floor(wallMs / 1000);
  return { seconds: (seconds + NTP_UNIX_OFFSET_S) >>> 0, fraction: Math.floor(((wallMs - seconds * 1000) / 1000) * 2 ** 32) >>> 0 };
}

/** RFC 3550 §6.4.1: SR with no reception report blocks (the plugin receives nothing from the viewer but RTCP). */
function sr(r: SenderReport): Buffer {
  const out = Buffer.alloc(28);
  out[0] = RTCP_VERSION << 6;
  out[1] = PT_SR;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(r.ssrc >>> 0, 4);
  const ntp = ntpTimestamp(r.wallMs);
  out.writeUInt32BE(ntp.seconds, 8);
  out.writeUInt32BE(ntp.fraction, 12);
  out.writeUInt32BE(r.rtpTimestamp >>> 0, 16);
  out.writeUInt32BE(r.packets >>> 0, 20);
  out.writeUInt32BE(r.octets >>> 0, 24);
  return out;
}

/** RFC 3550 §6.5: one chunk, the CNAME item, then the END item (a zero) and padding to a 32-bit boundary. */
function sdes(ssrc: number): Buffer {
  const items = 2 + CNAME.length + 1;
  const out = Buffer.alloc(8 + Math.ceil(items / 4) * 4);
  out[0] = (RTCP_VERSION << 6) | 1;
  out[1] = PT_SDES;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(ssrc >>> 0, 4);
  out[8] = SDES_CNAME;
  out[9] = CNAME.length;
  CNAME.copy(out, 10);
  return out;
}

/** RFC 3550 §6.6: BYE for one source, no reason. */
function bye(ssrc: number): Buffer {
  const out = Buffer.alloc(8);
  out[0] = (RTCP_VERSION << 6) | 1;
  out[1] = PT_BYE;
  out.writeUInt16BE(1, 2);
  out.writeUInt32BE(ssrc >>> 0, 4);
  return out;
}

/** The compound packet a sender sends every reporting interval: SR + SDES, and BYE last when the stream ends. */
export function senderReport(r: SenderReport, ending = false): Buffer {
  return Buffer.concat([sr(r), sdes(r.ssrc), ...(ending ? [bye(r.ssrc)] : [])]);
}
