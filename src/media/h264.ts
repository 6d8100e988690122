// HomeKit's H.264 words in the two other vocabularies the plugin speaks: the SPS (what a camera sends) and ffmpeg's
// encoder options (what we make when the camera's video cannot be copied). Live view and recording share them.

/** SPS profile_idc for HomeKit's H264Profile values (0 Baseline, 1 Main, 2 High). */
export const HOMEKIT_PROFILE_IDC = [66, 77, 100];
/** SPS level_idc for HomeKit's H264Level values (0 = 3.1, 1 = 3.2, 2 = 4.0). */
export const HOMEKIT_LEVEL_IDC = [31, 32, 40];
/** The same values as ffmpeg's -profile:v and -level:v take them. */
export const X264_PROFILES = ['baseline', 'main', 'high'];
export const X264_LEVELS = ['3.1', '3.2', '4.0'];

export interface EncodeOptions {
  encoder: string;
  /** libx264 only: ultrafast + zerolatency for live view, a better preset for recordings. */
  x264Preset: string[];
  /** HomeKit's H264Profile and H264Level values. */
  profile: number;
  level: number;
  width: number;
  height: number;
  fps: number;
  kbps: number;
  keyframeIntervalFrames: number;
  /** Keyframes forced at exactly this interval (s): HKSV fragments must start on them. */
  forceKeyframesS?: number;
}

/** ffmpeg video-encoding arguments for HomeKit: scaled into the asked size (aspect kept), constant-ish bitrate, no B-frames. */
export function encodeArgs(o: EncodeOptions): string[] {
  return [
    '-c:v', o.encoder, ...(o.encoder === 'libx264' ? o.x264Preset : []),
    '-pix_fmt', 'yuv420p', '-profile:v', X264_PROFILES[o.profile] ?? 'main', '-level:v', X264_LEVELS[o.level] ?? '4.0',
    '-vf', `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease:force_divisible_by=2`, '-r', String(o.fps),
    '-b:v', `${o.kbps}k`, '-maxrate', `${o.kbps}k`, '-bufsize', `${o.kbps * 2}k`,
    '-g', String(o.keyframeIntervalFrames),
    ...(o.forceKeyframesS ? ['-force_key_frames', `expr:gte(t,n_forced*${o.forceKeyframesS})`] : []),
    '-bf', '0',
  ];
}

// ---- The bitstream: NAL units and the SPS (ITU-T H.264 §7.3.1, §7.3.2.1.1) ----

/** NAL unit types the plugin looks at. */
export const NAL = { IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9 } as const;

/** The NAL units of an Annex B access unit (start codes 00 00 01 or 00 00 00 01), as views into `data`. */
export function splitAnnexB(data: Buffer): Buffer[] {
  const starts: { at: number; code: number }[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0) {
      if (data[i + 2] === 1) {
        starts.push({ at: i, code: 3 });
        i += 2;
      } else if (data[i + 2] === 0 && i + 3 < data.length && data[i + 3] === 1) {
        starts.push({ at: i, code: 4 });
        i += 3;
      }
    }
  }
  return starts.map((s, k) => data.subarray(s.at + s.code, k + 1 < starts.length ? starts[k + 1].at : data.length))
    .filter((nal) => nal.length > 0);
}

export function nalType(nal: Buffer): number {
  return nal[0] & 0x1f;
}

/** profile_idc and level_idc of an SPS that starts in `data` (an Annex B fragment: a TS packet's payload), if one does.
 *  They are the SPS's first bytes, so a packet that holds only the start of it is enough. */
export function findSps(data: Buffer): { profileIdc: number; levelIdc: number } | undefined {
  for (let i = 0; i + 6 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1 && (data[i + 3] & 0x1f) === NAL.SPS) {
      return { profileIdc: data[i + 4], levelIdc: data[i + 6] };
    }
  }
  return undefined;
}

export interface SpsInfo {
  profileIdc: number;
  /** constraint_set flags byte (avcC's profile_compatibility). */
  constraints: number;
  levelIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** Picture size after cropping (pixels). */
  width: number;
  height: number;
}

/** Reads MSB-first bit fields and exp-Golomb codes from an RBSP (emulation prevention bytes already removed), or any
 *  bit-packed header (the AAC AudioSpecificConfig and AU headers use it too); `what` names it when it ends early. */
export class BitReader {
  private bit = 0;
  constructor(private readonly data: Buffer, private readonly what = 'SPS') {}

  /** Bits read so far. */
  get position(): number {
    return this.bit;
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.bit >> 3;
      if (byte >= this.data.length) {
        throw new Error(`${this.what} ends early`);
      }
      v = v * 2 + ((this.data[byte] >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) {
        throw new Error('SPS has a malformed exp-Golomb field');
      }
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

/** The NAL payload after its `headerBytes`-byte header (1 in H.264, 2 in H.265) without emulation prevention bytes
 *  (00 00 03 → 00 00: H.264 §7.4.1, H.265 §7.4.2). */
export function rbsp(nal: Buffer, headerBytes = 1): Buffer {
  const out = Buffer.alloc(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = headerBytes; i < nal.length; i++) {
    if (zeros >= 2 && nal[i] === 3) {
      zeros = 0;
      continue;
    }
    zeros = nal[i] === 0 ? zeros + 1 : 0;
    out[n++] = nal[i];
  }
  return out.subarray(0, n);
}

/** Profile, level, chroma format and the cropped picture size from an SPS NAL unit (with its header byte). */
export function parseSps(nal: Buffer): SpsInfo {
  if (nal.length < 4 || nalType(nal) !== NAL.SPS) {
    throw new Error('not an SPS');
  }
  const r = new BitReader(rbsp(nal));
  const profileIdc = r.u(8);
  const constraints = r.u(8);
  const levelIdc = r.u(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  let separateColourPlane = 0;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) {
      separateColourPlane = r.u(1);
    }
    bitDepthLuma = r.ue() + 8;
    bitDepthChroma = r.ue() + 8;
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) { // seq_scaling_matrix_present_flag
      for (let i = 0; i < (chromaFormatIdc !== 3 ? 8 : 12); i++) {
        if (r.u(1)) {
          skipScalingList(r, i < 6 ? 16 : 64);
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue();
  } else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) {
      r.se();
    }
  }
  r.ue(); // max_num_ref_frames
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) {
    r.u(1); // mb_adaptive_frame_field_flag
  }
  r.u(1); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (r.u(1)) {
    crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  }
  const chromaArray = separateColourPlane ? 0 : chromaFormatIdc;
  const cropX = chromaArray === 0 ? 1 : chromaArray === 3 ? 1 : 2;
  const cropY = (chromaArray === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    profileIdc, constraints, levelIdc, chromaFormatIdc, bitDepthLuma, bitDepthChroma,
    width: widthMbs * 16 - cropX * (crop[0] + crop[1]),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (crop[2] + crop[3]),
  };
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      next = (last + r.se() + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}
