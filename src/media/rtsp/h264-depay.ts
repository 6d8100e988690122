// H.264 out of RTP (RFC 6184, packetization-mode 0 and 1): single NAL unit packets (§5.6), STAP-A aggregates (§5.7.1)
// and FU-A fragments (§5.8) become whole NAL units, grouped into access units by nal-depay.ts (sequence, loss, the
// IDR to resume at, SPS/PPS from the SDP's sprop-parameter-sets, §8.1, put in front of an IDR lacking them).
import { NAL, nalType } from '../h264';
import { NalAccessUnit, NalDepayloader, NalDepayOptions, PendingUnit } from './nal-depay';

/** An access unit (codec 'h264'; keyframe: it holds an IDR slice, type 5). */
export type H264AccessUnit = NalAccessUnit;

/** parameterSets: SPS and PPS from the SDP (parseSpropParameterSets). */
export type H264DepayOptions = NalDepayOptions;

/** RFC 6184 §5.2 NAL unit types carried in the RTP payload's first byte. */
const STAP_A = 24;
const FU_A = 28;
const UNSUPPORTED = new Set([25, 26, 27, 29]); // STAP-B, MTAP16, MTAP24, FU-B: packetization-mode 2 only
const FU_START = 0x80;
const FU_END = 0x40;

/** The NAL units of sprop-parameter-sets (RFC 6184 §8.1: base64 NAL units separated by commas); bad ones are left out. */
export function parseSpropParameterSets(value: string | undefined): Buffer[] {
  return (value ?? '').split(',').map((s) => Buffer.from(s.trim(), 'base64')).filter((n) => n.length > 0 && (n[0] & 0x80) === 0);
}

/** An access unit as an Annex B byte stream (ITU-T H.264 Annex B): each NAL unit behind a 4-byte start code. */
export function toAnnexB(nalus: Buffer[]): Buffer {
  const out = Buffer.allocUnsafe(nalus.reduce((n, nal) => n + 4 + nal.length, 0));
  let at = 0;
  for (const nal of nalus) {
    out.writeUInt32BE(1, at);
    nal.copy(out, at + 4);
    at += 4 + nal.length;
  }
  return out;
}

export class H264Depayloader extends NalDepayloader {
  protected readonly codec = 'h264';
  protected readonly fuName = 'FU-A';
  protected readonly parameterSetTypes = [NAL.SPS, NAL.PPS];

  constructor(options: H264DepayOptions) {
    super(options);
    this.rememberAll(options.parameterSets ?? []);
  }

  protected nalType(nal: Buffer): number {
    return nalType(nal);
  }

  protected isKeyframeType(type: number): boolean {
    return type === NAL.IDR;
  }

  protected isDelimiterType(type: number): boolean {
    return type === NAL.AUD;
  }

  /** The NAL units of one RTP payload into `au`, or what is wrong with it. */
  protected depacketize(au: PendingUnit, payload: Buffer): string | undefined {
    if (payload.length === 0) {
      return 'an empty RTP payload';
    }
    const type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      this.add(au, payload);
      return undefined;
    }
    if (type === STAP_A) {
      // §5.7.1: after the STAP-A header, NAL units each behind a 16-bit size.
      for (let at = 1; at < payload.length;) {
        const size = at + 2 <= payload.length ? payload.readUInt16BE(at) : 0;
        if (size === 0 || at + 2 + size > payload.length) {
          return 'a malformed STAP-A packet';
        }
        this.add(au, payload.subarray(at + 2, at + 2 + size));
        at += 2 + size;
      }
      return undefined;
    }
    if (type === FU_A) {
      // §5.8: FU indicator (F, NRI, 28), FU header (S, E, R, the NAL unit's type), then a piece of the NAL unit without
      // its header byte, which is rebuilt from the indicator's F/NRI and the header's type.
      if (payload.length < 3) {
        return 'a malformed FU-A packet';
      }
      const header = payload[1];
      return this.fragment(au, (header & FU_START) !== 0, (header & FU_END) !== 0, (payload[0] & 0xe0) | (header & 0x1f), 1, payload.subarray(2));
    }
    if (UNSUPPORTED.has(type)) {
      return `an RTP packet of type ${type}, which only packetization-mode 2 uses (not read)`;
    }
    return undefined; // 0, 30, 31: undefined types, ignored as §5.4 asks
  }

  /** first_mb_in_slice 0: ue(v) "1" as the slice header's first bit (H.264 §7.3.3). */
  protected startsPicture(nalus: Buffer[]): boolean {
    const firstSlice = nalus.find((n) => nalType(n) === NAL.IDR || nalType(n) === 1);
    return firstSlice !== undefined && firstSlice.length > 1 && (firstSlice[1] & 0x80) !== 0;
  }
}
