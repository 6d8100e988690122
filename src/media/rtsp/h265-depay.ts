// H.265 out of RTP (RFC 7798): single NAL unit packets (§4.4.1), aggregation packets (AP, type 48, §4.4.2) and
// fragmentation units (FU, type 49, §4.4.3) become whole NAL units, grouped into access units by nal-depay.ts (sequence,
// loss, the IRAP picture to resume at, VPS/SPS/PPS from the SDP's sprop-vps/sps/pps, §7.1, put in front of an IRAP
// lacking them). PACI packets (type 50, §4.4.4) and undefined types (51-63) are ignored, as §4.4.4 and §4.1 allow.
//
// DONL/DOND (§4.4): with sprop-max-don-diff > 0 every NAL unit carries its decoding order number, because the sender may
// send NAL units out of decoding order. The fields are skipped and NAL units taken in transmission order: cameras send
// one picture at a time in decoding order (no camera seen interleaves), and putting access units back into DON order
// would need a de-interleaving buffer of sprop-depack-buf-nalus (§6) for a sender that does not exist here.
import { HEVC_NAL, HEVC_NAL_HEADER_BYTES, hevcNalType, isHevcIrap, isHevcSlice } from '../h265';
import { NalAccessUnit, NalDepayloader, NalDepayOptions, PendingUnit } from './nal-depay';

export type H265AccessUnit = NalAccessUnit;

export interface H265DepayOptions extends NalDepayOptions {
  /** sprop-max-don-diff (RFC 7798 §7.1): above 0, each packet carries DONL (and APs DOND) fields. Default 0. */
  maxDonDiff?: number;
}

/** RFC 7798 §4.4 payload header types. */
const AP = 48;
const FU = 49;
/** FU header (§4.4.3): S, E, then the fragmented NAL unit's type. */
const FU_START = 0x80;
const FU_END = 0x40;
const DONL_BYTES = 2;
const DOND_BYTES = 1;
const SIZE_BYTES = 2;

/** The NAL units of the SDP's sprop-vps, sprop-sps and sprop-pps (RFC 7798 §7.1: each a comma-separated list of base64
 *  NAL units), VPS first; bad ones (forbidden bit set, shorter than a header) are left out. */
export function parseHevcSpropParameterSets(fmtp: Record<string, string>): Buffer[] {
  return ['sprop-vps', 'sprop-sps', 'sprop-pps'].flatMap((name) => (fmtp[name] ?? '').split(','))
    .map((s) => Buffer.from(s.trim(), 'base64'))
    .filter((n) => n.length > HEVC_NAL_HEADER_BYTES && (n[0] & 0x80) === 0);
}

export class H265Depayloader extends NalDepayloader {
  protected readonly codec = 'h265';
  protected readonly fuName = 'FU';
  protected readonly parameterSetTypes = [HEVC_NAL.VPS, HEVC_NAL.SPS, HEVC_NAL.PPS];
  private readonly don: boolean;
  /** RASL pictures (§3.115) after the keyframe just sent refer to pictures before it: not sent. */
  private skipRasl = false;

  constructor(options: H265DepayOptions) {
    super(options);
    this.don = (options.maxDonDiff ?? 0) > 0;
    this.rememberAll(options.parameterSets ?? []);
  }

  protected nalType(nal: Buffer): number {
    return hevcNalType(nal);
  }

  protected isKeyframeType(type: number): boolean {
    return isHevcIrap(type);
  }

  protected isDelimiterType(type: number): boolean {
    return type === HEVC_NAL.AUD;
  }

  protected depacketize(au: PendingUnit, payload: Buffer): string | undefined {
    if (payload.length < HEVC_NAL_HEADER_BYTES) {
      return 'an RTP packet too short for its H.265 payload header';
    }
    const type = hevcNalType(payload);
    const donBytes = this.don ? DONL_BYTES : 0;
    if (type < AP) {
      // §4.4.1: the payload header is the NAL unit's header; DONL, when present, sits between it and the payload.
      if (!donBytes) {
        this.add(au, payload);
        return undefined;
      }
      if (payload.length <= HEVC_NAL_HEADER_BYTES + donBytes) {
        return 'a malformed H.265 single NAL unit packet';
      }
      const nal = Buffer.allocUnsafe(payload.length - donBytes);
      payload.copy(nal, 0, 0, HEVC_NAL_HEADER_BYTES);
      payload.copy(nal, HEVC_NAL_HEADER_BYTES, HEVC_NAL_HEADER_BYTES + donBytes);
      this.add(au, nal);
      return undefined;
    }
    if (type === AP) {
      // §4.4.2: after the payload header, aggregation units: [DONL (first) or DOND (later)], a 16-bit size, a NAL unit.
      let count = 0;
      for (let at = HEVC_NAL_HEADER_BYTES; at < payload.length; count++) {
        at += this.don ? (count === 0 ? DONL_BYTES : DOND_BYTES) : 0;
        const size = at + SIZE_BYTES <= payload.length ? payload.readUInt16BE(at) : 0;
        if (size < HEVC_NAL_HEADER_BYTES || at + SIZE_BYTES + size > payload.length) {
          return 'a malformed H.265 aggregation packet';
        }
        this.add(au, payload.subarray(at + SIZE_BYTES, at + SIZE_BYTES + size));
        at += SIZE_BYTES + size;
      }
      return count === 0 ? 'an empty H.265 aggregation packet' : undefined;
    }
    if (type === FU) {
      // §4.4.3: payload header (type 49), FU header (S, E, FuType), DONL in the first fragment only, then a piece of the
      // NAL unit without its header, which is the payload header with FuType for the type (F, layer, TID kept).
      const fuHeader = payload[HEVC_NAL_HEADER_BYTES];
      const start = (fuHeader & FU_START) !== 0;
      const pieceAt = HEVC_NAL_HEADER_BYTES + 1 + (start ? donBytes : 0);
      if (payload.length <= pieceAt) {
        return 'a malformed H.265 FU packet';
      }
      const header = (((payload[0] & 0x81) | ((fuHeader & 0x3f) << 1)) << 8) | payload[1];
      return this.fragment(au, start, (fuHeader & FU_END) !== 0, header, HEVC_NAL_HEADER_BYTES, payload.subarray(pieceAt));
    }
    return undefined; // PACI (type 50, §4.4.4: a NAL unit behind scalability hints) and 51-63: ignored
  }

  /** first_slice_segment_in_pic_flag, the slice segment header's first bit (H.265 §7.3.6.1). */
  protected startsPicture(nalus: Buffer[]): boolean {
    const firstSlice = nalus.find((n) => isHevcSlice(hevcNalType(n)));
    return firstSlice !== undefined && firstSlice.length > HEVC_NAL_HEADER_BYTES && (firstSlice[HEVC_NAL_HEADER_BYTES] & 0x80) !== 0;
  }

  /** After a CRA the read resumed at, or any BLA, its RASL pictures are not decodable (§8.1.3: a decoder discards them). */
  protected decodable(au: PendingUnit, resumed: boolean): boolean {
    const firstSlice = au.nalus.find((n) => isHevcSlice(hevcNalType(n)));
    const type = firstSlice ? hevcNalType(firstSlice) : -1;
    if (au.keyframe) {
      this.skipRasl = (resumed && type === HEVC_NAL.CRA) || (type >= HEVC_NAL.IRAP_FIRST && type <= HEVC_NAL.BLA_N_LP);
      return true;
    }
    return !(this.skipRasl && (type === HEVC_NAL.RASL_N || type === HEVC_NAL.RASL_R));
  }
}
