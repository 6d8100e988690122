// The camera's H.264 or H.265 access units and AAC frames into MPEG-TS (ISO/IEC 13818-1), the same TS the source's ffmpeg read
// (`-c copy -f mpegts -muxdelay 0 -omit_video_pes_length 0`) gives its consumers: mpegts.ts's TsReader (tables, keyframes
// by random_access_indicator, PTS), ts-demux.ts's TsDemuxer (a PES ends when its stated length is reached) and the
// ffmpeg processes reading it on stdin. Same PIDs, program number, table bytes and PES layout as ffmpeg's muxer.
//
// Deliberately left out, as the consumers need none of it:
// - DTS: cameras send no B-frames, so decode order is presentation order and a PES carries its PTS only (§2.4.3.7:
//   DTS is absent when equal to PTS). A stream with B-frames needs a DTS per access unit first.
// - The SDT (a DVB table, ETSI EN 300 468, naming the service "Service01"): nothing here reads it.
// - PAT/PMT repeated every 100 ms as ffmpeg does: every consumer of the source starts at a keyframe, and the tables come
//   right before each one (source.ts also sends its newest PAT/PMT to whoever joins).
// - PCR more often than once per video frame (§2.7.2 asks at most 100 ms apart: a camera under 10 fps is over it;
//   ffmpeg and TsReader ignore the spacing).
import { TS_PACKET_BYTES } from './mpegts';
import { Slab } from './rtsp/slab';
import { AAC_SAMPLE_RATES } from './ts-demux';

/** PIDs and program number as ffmpeg's mpegts muxer chooses them (its defaults: -mpegts_pmt_start_pid 0x1000,
 *  -mpegts_start_pid 0x100, -mpegts_service_id 1, -mpegts_transport_stream_id 1). */
export const TS_PMT_PID = 0x1000;
export const TS_VIDEO_PID = 0x100;
export const TS_AUDIO_PID = 0x101;
export const TS_PROGRAM_NUMBER = 1;
const TRANSPORT_STREAM_ID = 1;
const PAT_PID = 0;

/** PMT stream_type (§2.4.4.9, Table 2-34): H.264 (ITU-T H.264 | ISO/IEC 14496-10), HEVC (ITU-T H.265 | ISO/IEC
 *  23008-2), AAC in ADTS (ISO/IEC 13818-7). */
const STREAM_TYPE_H264 = 0x1b;
const STREAM_TYPE_HEVC = 0x24;
const STREAM_TYPE_AAC_ADTS = 0x0f;
/** PES stream_id (§2.4.3.7, Table 2-22): the first video and the first audio stream, as ffmpeg numbers them. */
const STREAM_ID_VIDEO = 0xe0;
const STREAM_ID_AUDIO = 0xc0;

/** PTS and PCR base are 33-bit counts of the 90 kHz clock (§2.4.3.7, §2.4.3.5). */
const TIMESTAMP_WRAP = 2 ** 33;
const PAYLOAD_BYTES = TS_PACKET_BYTES - 4;
/** PES header with a PTS only: start code prefix, stream_id, PES_packet_length, two flag bytes, header length, PTS. */
const PES_HEADER_BYTES = 14;
/** Adaptation field with flags and a PCR: length, flags, 6 bytes of PCR (§2.4.3.4). */
const AF_PCR_BYTES = 8;
/** Adaptation field with flags only. */
const AF_FLAGS_BYTES = 2;
/** ITU-T H.264 §7.3.2.4 access unit delimiter with primary_pic_type 7 (any slice type), behind a 4-byte start code:
 *  §2.14 of 13818-1 says each AVC access unit in a TS shall contain one; ffmpeg's muxer adds the same bytes. */
const AUD_H264 = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
/** ITU-T H.265 §7.3.2.5 access unit delimiter (NAL type 35, layer 0, TemporalId 0) with pic_type 2 (any slice type):
 *  §2.17 of 13818-1 asks the same of HEVC access units, and ffmpeg's muxer adds these bytes. */
const AUD_HEVC = Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]);
/** Whether a NAL unit is an access unit delimiter (H.264 type 9 in the low 5 bits, H.265 type 35 in bits 1-6). */
const IS_AUD = {
  h264: (nal: Buffer): boolean => (nal[0] & 0x1f) === 9,
  h265: (nal: Buffer): boolean => ((nal[0] >> 1) & 0x3f) === 35,
};
/** Annex B start code with zero_byte (ITU-T H.264 §B.1.2), before every NAL unit as ffmpeg's RTSP depacketizer writes it. */
const START_CODE_BYTES = 4;
/** ADTS header without CRC (ISO/IEC 13818-7 §6.2.1, 14496-3 §1.A.2.2). */
const ADTS_HEADER_BYTES = 7;
/** ADTS frame_length is 13 bits and counts the header. */
const ADTS_MAX_FRAME_BYTES = 0x1fff;
/** Output slab size (bytes): about a second of a 2 Mb/s camera's TS. */
const OUTPUT_SLAB_BYTES = 64 * 1024;

export interface TsMuxerOptions {
  /** The video's codec (default 'h264'): the PMT's stream_type and the access unit delimiter follow it. */
  video?: 'h264' | 'h265';
  /** The AAC stream, from its AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1); without it the program has video only. */
  audio?: { sampleRate: number; channels: number; objectType: number };
}

export interface H264AccessUnit {
  /** NAL units of one picture (H.264, or H.265 for a muxer made so), without start codes; a keyframe should carry its
   *  parameter sets (source.ts and copy-clip.ts read the picture size from the keyframe's first packets). */
  nalus: Buffer[];
  /** Presentation time, 90 kHz; any range (it is wrapped to 33 bits). */
  pts: number;
  keyframe: boolean;
}

export interface AacFrame {
  /** One raw AAC frame (no ADTS header). */
  data: Buffer;
  /** 90 kHz; any range. */
  pts: number;
}

/** CRC-32/MPEG-2 (§2.4.4, Annex A: polynomial 0x04C11DB7, initial value all ones, no reflection, no final XOR). */
const CRC_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) {
      c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    }
    table[i] = c >>> 0;
  }
  return table;
})();

export function crc32Mpeg2(data: Buffer, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ data[i]) & 0xff];
  }
  return crc >>> 0;
}

/** A PSI section in one TS packet (§2.4.4): pointer_field 0, the section, its CRC, 0xFF stuffing after it (§2.4.4.2).
 *  `body` follows the 8-byte common header (table_id_extension, version 0, current_next_indicator 1, section 0 of 0). */
function psiPacket(pid: number, tableId: number, tableIdExtension: number, body: number[]): Buffer {
  const packet = Buffer.alloc(TS_PACKET_BYTES, 0xff);
  packet.set([0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10, 0x00]); // payload_unit_start, payload only, CC 0; pointer_field
  const sectionLength = 5 + body.length + 4; // after the length field: the rest of the header, the body, the CRC
  const section = [tableId, 0xb0 | (sectionLength >> 8), sectionLength & 0xff, tableIdExtension >> 8, tableIdExtension & 0xff, 0xc1, 0, 0, ...body];
  packet.set(section, 5);
  packet.writeUInt32BE(crc32Mpeg2(packet, 5, 5 + section.length), 5 + section.length);
  return packet;
}

/** PAT (§2.4.4.3): program 1 → the PMT's PID. */
export function patPacket(): Buffer {
  return psiPacket(PAT_PID, 0x00, TRANSPORT_STREAM_ID, [TS_PROGRAM_NUMBER >> 8, TS_PROGRAM_NUMBER & 0xff, 0xe0 | (TS_PMT_PID >> 8), TS_PMT_PID & 0xff]);
}

/** registration_descriptor (§2.6.8, tag 5) with format_identifier "HEVC", which ffmpeg's muxer puts on an HEVC stream. */
const HEVC_REGISTRATION = [0x05, 0x04, 0x48, 0x45, 0x56, 0x43];

/** PMT (§2.4.4.8): PCR on the video PID, H.264 (or HEVC, with ffmpeg's registration descriptor) video and optionally
 *  ADTS AAC. */
export function pmtPacket(withAudio: boolean, video: 'h264' | 'h265' = 'h264'): Buffer {
  const stream = (type: number, pid: number, descriptors: number[] = []): number[] =>
    [type, 0xe0 | (pid >> 8), pid & 0xff, 0xf0, descriptors.length, ...descriptors];
  return psiPacket(TS_PMT_PID, 0x02, TS_PROGRAM_NUMBER, [
    0xe0 | (TS_VIDEO_PID >> 8), TS_VIDEO_PID & 0xff, 0xf0, 0x00, // PCR_PID, program_info_length 0
    ...(video === 'h265' ? stream(STREAM_TYPE_HEVC, TS_VIDEO_PID, HEVC_REGISTRATION) : stream(STREAM_TYPE_H264, TS_VIDEO_PID)),
    ...(withAudio ? stream(STREAM_TYPE_AAC_ADTS, TS_AUDIO_PID) : []),
  ]);
}

/** A 90 kHz time as a PES header or PCR carries it: 33 bits, wrapping. */
export function wrapTimestamp(t: number): number {
  const wrapped = Math.round(t) % TIMESTAMP_WRAP;
  return wrapped < 0 ? wrapped + TIMESTAMP_WRAP : wrapped;
}

/** PES header with PTS only (§2.4.3.6/7): '10' marker, no scrambling/priority/alignment flags (as ffmpeg writes them),
 *  PTS_DTS_flags '10', header_data_length 5. Bits above 31 are taken by division: JS shifts are 32-bit. */
function writePesHeader(out: Buffer, at: number, streamId: number, pesPacketLength: number, pts: number): void {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = 1;
  out[at + 3] = streamId;
  out[at + 4] = pesPacketLength >> 8;
  out[at + 5] = pesPacketLength & 0xff;
  out[at + 6] = 0x80;
  out[at + 7] = 0x80;
  out[at + 8] = 5;
  out[at + 9] = 0x21 | ((Math.floor(pts / 2 ** 30) & 0x07) << 1); // '0010', PTS[32..30], marker
  out[at + 10] = (pts >>> 22) & 0xff;
  out[at + 11] = (((pts >>> 15) & 0x7f) << 1) | 1;
  out[at + 12] = (pts >>> 7) & 0xff;
  out[at + 13] = ((pts & 0x7f) << 1) | 1;
}

/** program_clock_reference (§2.4.3.5): 33-bit base, 6 reserved bits (ones), 9-bit extension 0. */
function writePcr(out: Buffer, at: number, base: number): void {
  out[at] = Math.floor(base / 2 ** 25) & 0xff;
  out[at + 1] = (base >>> 17) & 0xff;
  out[at + 2] = (base >>> 9) & 0xff;
  out[at + 3] = (base >>> 1) & 0xff;
  out[at + 4] = ((base & 1) << 7) | 0x7e;
  out[at + 5] = 0;
}

/** TS packets for a PES of `total` bytes whose first packet has an adaptation field of `firstAf` bytes. */
function packetCount(total: number, firstAf: number): number {
  const first = PAYLOAD_BYTES - firstAf;
  return total <= first ? 1 : 1 + Math.ceil((total - first) / PAYLOAD_BYTES);
}

export class TsMuxer {
  private readonly pat = patPacket();
  private readonly pmt: Buffer;
  private readonly aud: Buffer;
  private readonly isAud: (nal: Buffer) => boolean;
  private readonly audioConfig?: { rateIndex: number; profile: number; channelConfig: number };
  /** continuity_counter per PID (§2.4.3.3): the next value to write. */
  private ccPat = 0;
  private ccPmt = 0;
  private ccVideo = 0;
  private ccAudio = 0;
  private tablesSent = false;
  /** Where the output goes: one allocation per slab, not per frame (slab.ts); the source's cache keeps the pieces. */
  private readonly slab = new Slab(OUTPUT_SLAB_BYTES);

  constructor(options: TsMuxerOptions = {}) {
    const audio = options.audio;
    if (audio) {
      const rateIndex = AAC_SAMPLE_RATES.indexOf(audio.sampleRate);
      // ADTS can carry neither another rate (an explicit frequency) nor a channel layout only a PCE describes.
      if (rateIndex < 0) {
        throw new RangeError(`AAC at ${audio.sampleRate} Hz cannot be carried in ADTS (rates: ${AAC_SAMPLE_RATES.join(', ')})`);
      }
      if (!(audio.objectType >= 1 && audio.objectType <= 4)) {
        throw new RangeError(`AAC object type ${audio.objectType} cannot be carried in ADTS (1 to 4; 2 is AAC-LC)`);
      }
      if (!(audio.channels >= 1 && audio.channels <= 8)) {
        throw new RangeError(`AAC with ${audio.channels} channels cannot be carried in ADTS without a PCE (1 to 8)`);
      }
      // channel_configuration 7 is the 8-channel (7.1) layout (ISO/IEC 14496-3 Table 1.19).
      this.audioConfig = { rateIndex, profile: audio.objectType - 1, channelConfig: audio.channels === 8 ? 7 : audio.channels };
    }
    const video = options.video ?? 'h264';
    this.pmt = pmtPacket(audio !== undefined, video);
    this.aud = video === 'h265' ? AUD_HEVC : AUD_H264;
    this.isAud = IS_AUD[video];
  }

  /** PAT and PMT went out already: a non-keyframe access unit or an AAC frame comes without them. */
  get tablesWritten(): boolean {
    return this.tablesSent;
  }

  /**
   * One access unit as TS packets (whole 188-byte packets in one buffer: a piece of a slab, kept as long as anyone
   * holds it). A keyframe (and the very first output) is preceded by PAT and PMT, and its first packet has
   * random_access_indicator set; every video PES start carries a PCR equal to its PTS (ffmpeg's -muxdelay 0).
   * PES_packet_length is written when it fits 16 bits, else 0 (§2.4.3.7 allows 0 for video only), as ffmpeg's
   * -omit_video_pes_length 0 does: TsDemuxer then emits the frame on its last byte.
   */
  video(au: H264AccessUnit): Buffer {
    const nalus = au.nalus;
    const ownAud = nalus.length > 0 && nalus[0].length > 0 && this.isAud(nalus[0]);
    let total = PES_HEADER_BYTES + (ownAud ? 0 : this.aud.length);
    let empty = true;
    for (const nal of nalus) {
      if (nal.length > 0) {
        total += START_CODE_BYTES + nal.length;
        empty = false;
      }
    }
    if (empty) {
      return Buffer.alloc(0); // nothing to decode
    }
    const tables = au.keyframe || !this.tablesSent;
    const packets = packetCount(total, AF_PCR_BYTES);
    const out = this.slab.take((packets + (tables ? 2 : 0)) * TS_PACKET_BYTES);
    const pos = tables ? this.writeTables(out) : 0;
    // The PES is laid out whole at the end of its packets' space, then moved into them packet by packet.
    const pts = wrapTimestamp(au.pts);
    let at = pos + packets * TS_PACKET_BYTES - total;
    writePesHeader(out, at, STREAM_ID_VIDEO, total - 6 <= 0xffff ? total - 6 : 0, pts);
    at += PES_HEADER_BYTES;
    if (!ownAud) {
      at += this.aud.copy(out, at);
    }
    for (const nal of nalus) {
      if (nal.length > 0) {
        out[at] = 0;
        out[at + 1] = 0;
        out[at + 2] = 0;
        out[at + 3] = 1;
        at += START_CODE_BYTES;
        at += nal.copy(out, at);
      }
    }
    this.ccVideo = writePackets(out, pos, packets, total, TS_VIDEO_PID, this.ccVideo, au.keyframe, pts);
    return out;
  }

  /**
   * One AAC frame as one PES (latency over overhead: the live and recording paths want each frame the moment it exists),
   * behind an ADTS header. Its first packet has random_access_indicator set, as ffmpeg sets it: every AAC frame decodes
   * on its own.
   */
  audio(frame: AacFrame): Buffer {
    const config = this.audioConfig;
    if (!config) {
      throw new Error('TsMuxer: audio() on a muxer made without audio');
    }
    const frameLength = ADTS_HEADER_BYTES + frame.data.length;
    if (frameLength > ADTS_MAX_FRAME_BYTES) {
      throw new RangeError(`an AAC frame of ${frame.data.length} bytes does not fit ADTS (at most ${ADTS_MAX_FRAME_BYTES - ADTS_HEADER_BYTES}): not AAC`);
    }
    const total = PES_HEADER_BYTES + frameLength;
    const tables = !this.tablesSent;
    const packets = packetCount(total, AF_FLAGS_BYTES);
    const out = this.slab.take((packets + (tables ? 2 : 0)) * TS_PACKET_BYTES);
    const pos = tables ? this.writeTables(out) : 0;
    const at = pos + packets * TS_PACKET_BYTES - total;
    writePesHeader(out, at, STREAM_ID_AUDIO, total - 6, wrapTimestamp(frame.pts));
    // adts_fixed_header + adts_variable_header: syncword, MPEG-4, layer 0, no CRC; profile, rate, channels; frame length,
    // buffer fullness 0x7FF (variable bitrate), one raw data block.
    const a = at + PES_HEADER_BYTES;
    out[a] = 0xff;
    out[a + 1] = 0xf1;
    out[a + 2] = (config.profile << 6) | (config.rateIndex << 2) | (config.channelConfig >> 2);
    out[a + 3] = ((config.channelConfig & 0x03) << 6) | (frameLength >> 11);
    out[a + 4] = (frameLength >> 3) & 0xff;
    out[a + 5] = ((frameLength & 0x07) << 5) | 0x1f;
    out[a + 6] = 0xfc;
    frame.data.copy(out, a + ADTS_HEADER_BYTES);
    this.ccAudio = writePackets(out, pos, packets, total, TS_AUDIO_PID, this.ccAudio, true, -1);
    return out;
  }

  /** PAT then PMT at the start of `out`, with their continuity counters; returns where the next packet goes. */
  private writeTables(out: Buffer): number {
    this.pat.copy(out, 0);
    out[3] = 0x10 | this.ccPat;
    this.ccPat = (this.ccPat + 1) & 0x0f;
    this.pmt.copy(out, TS_PACKET_BYTES);
    out[TS_PACKET_BYTES + 3] = 0x10 | this.ccPmt;
    this.ccPmt = (this.ccPmt + 1) & 0x0f;
    this.tablesSent = true;
    return 2 * TS_PACKET_BYTES;
  }
}

/**
 * Cuts a PES of `total` bytes, laid out at the end of the `packets` packets' space from `pos`, into those packets
 * (§2.4.3.2), in place: payload_unit_start on the first, whose adaptation field carries random_access_indicator and,
 * with `pcr` >= 0, the PCR; the last is filled up to 188 bytes by adaptation-field stuffing (§2.4.3.5: the only stuffing
 * allowed before a PES's end). Moving bytes down never overwrites ones still to move: packet k (header included) ends
 * at or before where the bytes for the later packets start, since they fit in those packets exactly or with room to
 * spare. copyWithin moves without the view Buffer.copy makes per call (measured 2-3 times faster per packet). Returns
 * the next continuity counter: each packet here has a payload, so each counts.
 */
function writePackets(out: Buffer, pos: number, packets: number, total: number, pid: number, cc: number, randomAccess: boolean, pcr: number): number {
  const firstAf = pcr >= 0 ? AF_PCR_BYTES : randomAccess ? AF_FLAGS_BYTES : 0;
  let src = pos + packets * TS_PACKET_BYTES - total;
  let remaining = total;
  for (let k = 0; k < packets; k++) {
    const flagBytes = k === 0 ? firstAf : 0;
    const n = Math.min(remaining, PAYLOAD_BYTES - flagBytes);
    const af = PAYLOAD_BYTES - n; // adaptation field bytes, its length byte included
    out[pos] = 0x47;
    out[pos + 1] = (k === 0 ? 0x40 : 0) | (pid >> 8);
    out[pos + 2] = pid & 0xff;
    out[pos + 3] = (af ? 0x30 : 0x10) | cc;
    cc = (cc + 1) & 0x0f;
    let p = pos + 4;
    if (af > 0) {
      out[p] = af - 1;
      if (af > 1) {
        // A one-byte field is its length alone (0): 183 bytes of payload. Otherwise flags, maybe PCR, then 0xFF.
        out[p + 1] = flagBytes ? (randomAccess ? 0x40 : 0) | (pcr >= 0 ? 0x10 : 0) : 0;
        let q = p + 2;
        if (flagBytes && pcr >= 0) {
          writePcr(out, q, pcr);
          q += 6;
        }
        out.fill(0xff, q, p + af);
      }
      p += af;
    }
    out.copyWithin(p, src, src + n);
    src += n;
    remaining -= n;
    pos += TS_PACKET_BYTES;
  }
  return cc;
}
