// H.264 access units into RTP payloads (RFC 6184, packetization-mode 1 as HomeKit negotiates it): a NAL unit that fits
// the packet goes alone (§5.6), a larger one is cut into FU-A fragments (§5.8). SPS and PPS go before every IDR: cameras
// put them there, and one that does not (it sent them once, or only in its SDP) gets the last ones seen, since iOS
// decodes from a keyframe only with them. Access unit delimiters and filler data are left out: a decoder needs
// neither, and each would cost a packet per frame.
import { NAL, nalType } from '../h264';
import { SRTP_TAG_BYTES } from './srtp';
import { RTP_FIXED_HEADER_BYTES } from './rtp-stream';

/** RFC 6184 §5.4 NAL unit types of the payload formats used here. */
const FU_A = 28;
const FU_HEADER_BYTES = 2;
const FILLER_DATA = 12;
/** An MTU below this leaves no room for a FU-A fragment worth sending (bytes). */
const MIN_PACKET_BYTES = 64;
const START_CODE = Buffer.from([0, 0, 1]);

/**
 * The NAL units of an Annex B access unit (ITU-T H.264 Annex B), as views. The same cut as h264.ts's splitAnnexB, found
 * with Buffer.indexOf (native) rather than a loop over every byte: a 1080p keyframe is 100–300 kB, and the byte loop
 * cost more than all of the sending. Zero bytes before a start code (its 4th byte, trailing_zero_8bits) are not part
 * of the NAL unit before it.
 */
export function nalUnits(data: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = data.indexOf(START_CODE);
  while (start >= 0) {
    const from = start + START_CODE.length;
    const next = data.indexOf(START_CODE, from);
    let end = next < 0 ? data.length : next;
    while (end > from && data[end - 1] === 0) {
      end--;
    }
    if (end > from) {
      nals.push(data.subarray(from, end));
    }
    start = next;
  }
  return nals;
}

export class H264Packetizer {
  private sps?: Buffer;
  private pps?: Buffer;
  /** Largest RTP payload: the packet HomeKit allows, less the RTP header and the SRTP tag. */
  readonly maxPayload: number;

  /** `packetBytes`: the largest datagram HomeKit selected (its MTU, `plan.video.mtu`), RTP and SRTP included. */
  constructor(packetBytes: number) {
    if (packetBytes < MIN_PACKET_BYTES) {
      throw new Error(`an RTP packet of ${packetBytes} bytes cannot carry video (at least ${MIN_PACKET_BYTES})`);
    }
    this.maxPayload = packetBytes - RTP_FIXED_HEADER_BYTES - SRTP_TAG_BYTES;
  }

  /** The RTP payloads of one access unit (Annex B), in order; the last one gets the marker bit (RFC 6184 §5.1). */
  payloads(accessUnit: Buffer): Buffer[] {
    const nals = nalUnits(accessUnit).filter((nal) => nalType(nal) !== NAL.AUD && nalType(nal) !== FILLER_DATA);
    let hasSps = false;
    let hasPps = false;
    let idrAt = -1;
    nals.forEach((nal, i) => {
      const type = nalType(nal);
      if (type === NAL.SPS) {
        this.sps = Buffer.from(nal);
        hasSps = true;
      } else if (type === NAL.PPS) {
        this.pps = Buffer.from(nal);
        hasPps = true;
      } else if (type === NAL.IDR && idrAt < 0) {
        idrAt = i;
      }
    });
    if (idrAt >= 0 && (!hasSps || !hasPps)) {
      const missing = [hasSps ? undefined : this.sps, hasPps ? undefined : this.pps].filter((n): n is Buffer => n !== undefined);
      nals.splice(idrAt, 0, ...missing);
    }
    const out: Buffer[] = [];
    for (const nal of nals) {
      if (nal.length <= this.maxPayload) {
        out.push(nal);
      } else {
        this.fragment(nal, out);
      }
    }
    return out;
  }

  /** RFC 6184 §5.8: FU indicator (F and NRI of the NAL, type 28), FU header (S, E, the NAL's type), then a piece of
   *  the NAL without its own header byte. */
  private fragment(nal: Buffer, out: Buffer[]): void {
    const indicator = (nal[0] & 0xe0) | FU_A;
    const type = nal[0] & 0x1f;
    const room = this.maxPayload - FU_HEADER_BYTES;
    for (let at = 1; at < nal.length; at += room) {
      const piece = nal.subarray(at, Math.min(nal.length, at + room));
      const start = at === 1 ? 0x80 : 0;
      const end = at + room >= nal.length ? 0x40 : 0;
      const payload = Buffer.allocUnsafe(FU_HEADER_BYTES + piece.length);
      payload[0] = indicator;
      payload[1] = start | end | type;
      piece.copy(payload, FU_HEADER_BYTES);
      out.push(payload);
    }
  }
}
