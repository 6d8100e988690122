// Just enough MPEG-TS (ISO/IEC 13818-1) to cut a camera's stream at keyframes: 188-byte packets, PAT/PMT to find the
// video and AAC audio PIDs, the random_access_indicator ffmpeg's muxer sets on keyframes, and the PTS of each video PES.

export const TS_PACKET_BYTES = 188;
const SYNC = 0x47;
const PAT_PID = 0;

/** PMT stream_type values for the video codecs cameras send. */
const VIDEO_STREAM_TYPES = new Set([0x1b /* H.264 */, 0x24 /* H.265 */, 0x02 /* MPEG-2 */, 0x10 /* MPEG-4 part 2 */]);
/** PMT stream_type of AAC in ADTS frames: what the source carries (camera AAC copied, other audio converted to it). */
const AAC_ADTS_STREAM_TYPE = 0x0f;

export interface TsPacketInfo {
  /** The packet itself (a view into the chunk it came in: copy it if you keep it past the next chunk). */
  packet: Buffer;
  pid: number;
  /** PAT or PMT: a consumer joining later needs the newest of these first. */
  isTable: boolean;
  /** First packet of a video keyframe (random_access_indicator on a PES start of the video PID). */
  isKeyframe: boolean;
  /** First packet of a video PES (one frame). */
  isVideoFrameStart: boolean;
  /** PTS of that frame in 90 kHz units, when it starts here. */
  pts?: number;
  /** A PES starts in this packet (payload_unit_start_indicator). */
  unitStart: boolean;
  /** Offset of the payload in `packet` (188 when it has none). */
  payload: number;
}

/** Splits a byte stream into TS packets (resynchronising on garbage) and reads the fields above. */
export class TsReader {
  private rest = Buffer.alloc(0);
  private pmtPid?: number;
  private videoPid?: number;
  private videoType?: number;
  private audioPid?: number;

  /** The PID carrying video, once the PMT has been read. */
  get video(): number | undefined {
    return this.videoPid;
  }

  /** The PMT stream_type of the video (0x1b H.264, 0x24 H.265). */
  get videoStreamType(): number | undefined {
    return this.videoType;
  }

  /** The PID carrying AAC (ADTS) audio, if the PMT lists one. */
  get audio(): number | undefined {
    return this.audioPid;
  }

  push(chunk: Buffer): TsPacketInfo[] {
    let data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: TsPacketInfo[] = [];
    let at = 0;
    while (data.length - at >= TS_PACKET_BYTES) {
      if (data[at] !== SYNC) {
        // Lost sync (should not happen from a pipe): skip to the next sync byte.
        const next = data.indexOf(SYNC, at + 1);
        at = next < 0 ? data.length : next;
        continue;
      }
      out.push(this.read(data.subarray(at, at + TS_PACKET_BYTES)));
      at += TS_PACKET_BYTES;
    }
    data = data.subarray(at);
    this.rest = data.length ? Buffer.from(data) : Buffer.alloc(0);
    return out;
  }

  private read(packet: Buffer): TsPacketInfo {
    const pid = ((packet[1] & 0x1f) << 8) | packet[2];
    const unitStart = (packet[1] & 0x40) !== 0;
    const adaptation = (packet[3] >> 4) & 0x3;
    let payload = 4;
    let randomAccess = false;
    if (adaptation & 0x2) {
      const afLength = packet[4];
      randomAccess = afLength > 0 && (packet[5] & 0x40) !== 0;
      payload = 5 + afLength;
    }
    const hasPayload = (adaptation & 0x1) !== 0 && payload < TS_PACKET_BYTES;
    const info: TsPacketInfo = {
      packet, pid, isTable: false, isKeyframe: false, isVideoFrameStart: false, unitStart, payload: hasPayload ? payload : TS_PACKET_BYTES,
    };
    if (pid === PAT_PID || pid === this.pmtPid) {
      info.isTable = true;
      if (hasPayload && unitStart) {
        this.readTable(packet.subarray(payload), pid === PAT_PID);
      }
    } else if (pid === this.videoPid && unitStart && hasPayload) {
      info.isVideoFrameStart = true;
      info.isKeyframe = randomAccess;
      info.pts = ptsOf(packet.subarray(payload));
    }
    return info;
  }

  /** PAT → PMT PID; PMT → first video and first AAC PID. Sections from ffmpeg fit one packet. */
  private readTable(payload: Buffer, isPat: boolean): void {
    const section = payload.subarray(1 + payload[0]);
    if (section.length < 12) {
      return;
    }
    const sectionLength = ((section[1] & 0x0f) << 8) | section[2];
    const end = Math.min(section.length, 3 + sectionLength - 4); // without the CRC
    if (isPat) {
      for (let i = 8; i + 4 <= end; i += 4) {
        const program = section.readUInt16BE(i);
        if (program !== 0) {
          this.pmtPid = section.readUInt16BE(i + 2) & 0x1fff;
          return;
        }
      }
      return;
    }
    const infoLength = section.readUInt16BE(10) & 0x0fff;
    let video: number | undefined;
    let audio: number | undefined;
    for (let i = 12 + infoLength; i + 5 <= end;) {
      const type = section[i];
      const pid = section.readUInt16BE(i + 1) & 0x1fff;
      if (VIDEO_STREAM_TYPES.has(type) && video === undefined) {
        video = pid;
        this.videoType = type;
      } else if (type === AAC_ADTS_STREAM_TYPE && audio === undefined) {
        audio = pid;
      }
      i += 5 + (section.readUInt16BE(i + 3) & 0x0fff);
    }
    this.videoPid = video ?? this.videoPid;
    this.audioPid = audio;
  }
}

/** The PTS of a PES header (90 kHz), if it carries one. */
export function ptsOf(pes: Buffer): number | undefined {
  if (pes.length < 14 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1 || (pes[7] & 0x80) === 0) {
    return undefined;
  }
  return timestamp(pes, 9);
}

/** The DTS of a PES header (90 kHz): its own when the header has one, else the PTS. */
export function dtsOf(pes: Buffer): number | undefined {
  if (pes.length >= 19 && (pes[7] & 0xc0) === 0xc0) {
    return timestamp(pes, 14);
  }
  return ptsOf(pes);
}

/** 33 bits spread over 5 bytes with marker bits; multiplied rather than shifted to stay exact above 2^31. */
function timestamp(pes: Buffer, at: number): number {
  const p = pes.subarray(at, at + 5);
  return ((p[0] >> 1) & 0x07) * 2 ** 30 + (p[1] << 22) + ((p[2] >> 1) << 15) + (p[3] << 7) + (p[4] >> 1);
}
