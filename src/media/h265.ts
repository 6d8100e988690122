// The H.265 (HEVC) bitstream words the plugin reads: NAL unit types (ITU-T H.265 §7.4.2.2, Table 7-1) and the picture
// size, profile and level from an SPS (§7.3.2.2.1). HomeKit shows no H.265, so an H.265 camera's video is always
// transcoded; the plugin reads it only to carry it (the HKSV prebuffer, the transcoder's input) and to say its size.
import { BitReader, rbsp } from './h264';

/** NAL unit types the plugin looks at (Table 7-1). */
export const HEVC_NAL = {
  /** Random access skipped leading picture: refers to pictures before its IRAP (§3.115), undecodable when the read
   *  started at that IRAP. */
  RASL_N: 8, RASL_R: 9,
  /** IRAP pictures (§3.73): BLA_W_LP 16 … CRA_NUT 21 (22 and 23 are reserved IRAP types); a decoder can start at one. */
  IRAP_FIRST: 16, BLA_N_LP: 18, IDR_W_RADL: 19, IDR_N_LP: 20, CRA: 21, IRAP_LAST: 23,
  VPS: 32, SPS: 33, PPS: 34, AUD: 35, SEI_PREFIX: 39, SEI_SUFFIX: 40,
} as const;

/** The NAL unit header is two bytes (§7.3.1.2): forbidden_zero_bit, nal_unit_type (6 bits), nuh_layer_id (6 bits),
 *  nuh_temporal_id_plus1 (3 bits). */
export const HEVC_NAL_HEADER_BYTES = 2;

export function hevcNalType(nal: Buffer): number {
  return (nal[0] >> 1) & 0x3f;
}

/** A coded slice segment of an IRAP picture: a decoder can start here (a keyframe). */
export function isHevcIrap(type: number): boolean {
  return type >= HEVC_NAL.IRAP_FIRST && type <= HEVC_NAL.IRAP_LAST;
}

/** A coded slice segment (VCL NAL unit types 0–31, §7.4.2.2). */
export function isHevcSlice(type: number): boolean {
  return type < HEVC_NAL.VPS;
}

export interface HevcSpsInfo {
  /** general_profile_idc (§A.3): 1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions. */
  profileIdc: number;
  /** general_level_idc: 30 times the level (level 4.1 is 123). */
  levelIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** Picture size after the conformance window (pixels). */
  width: number;
  height: number;
}

/** Skips profile_tier_level(1, maxSubLayersMinus1) after its general part (§7.3.3), returning the general profile and
 *  level: 2+1+5 bits profile, 32 compatibility flags, 4 source flags, 43+1 constraint bits, 8 bits level. */
function profileTierLevel(r: BitReader, maxSubLayersMinus1: number): { profileIdc: number; levelIdc: number } {
  r.u(3); // general_profile_space, general_tier_flag
  const profileIdc = r.u(5);
  r.u(32); // general_profile_compatibility_flag[32]
  r.u(4); // progressive, interlaced, non_packed, frame_only
  r.u(43); // constraint flags (their meaning depends on the profile)
  r.u(1); // general_inbld_flag or reserved
  const levelIdc = r.u(8);
  const profilePresent: number[] = [];
  const levelPresent: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.u(1));
    levelPresent.push(r.u(1));
  }
  if (maxSubLayersMinus1 > 0) {
    for (let i = maxSubLayersMinus1; i < 8; i++) {
      r.u(2); // reserved_zero_2bits
    }
  }
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) {
      r.u(88); // sub_layer profile space … constraint flags, as the general ones
    }
    if (levelPresent[i]) {
      r.u(8); // sub_layer_level_idc
    }
  }
  return { profileIdc, levelIdc };
}

/** Profile, level, chroma format and the picture size within the conformance window from an SPS NAL unit (with its
 *  two header bytes). */
export function parseHevcSps(nal: Buffer): HevcSpsInfo {
  if (nal.length < 4 || hevcNalType(nal) !== HEVC_NAL.SPS) {
    throw new Error('not an H.265 SPS');
  }
  const r = new BitReader(rbsp(nal, HEVC_NAL_HEADER_BYTES), 'H.265 SPS');
  r.u(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  r.u(1); // sps_temporal_id_nesting_flag
  const { profileIdc, levelIdc } = profileTierLevel(r, maxSubLayersMinus1);
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.ue();
  const separateColourPlane = chromaFormatIdc === 3 ? r.u(1) : 0;
  const lumaWidth = r.ue();
  const lumaHeight = r.ue();
  let window = [0, 0, 0, 0];
  if (r.u(1)) { // conformance_window_flag
    window = [r.ue(), r.ue(), r.ue(), r.ue()]; // left, right, top, bottom
  }
  const bitDepthLuma = r.ue() + 8;
  const bitDepthChroma = r.ue() + 8;
  // The window's offsets count chroma samples: SubWidthC and SubHeightC of Table 6-1 (4:2:0 2×2, 4:2:2 2×1, else 1×1).
  const chromaArray = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidth = chromaArray === 1 || chromaArray === 2 ? 2 : 1;
  const subHeight = chromaArray === 1 ? 2 : 1;
  return {
    profileIdc, levelIdc, chromaFormatIdc, bitDepthLuma, bitDepthChroma,
    width: lumaWidth - subWidth * (window[0] + window[1]),
    height: lumaHeight - subHeight * (window[2] + window[3]),
  };
}
