// H.264 reassembly from RTP (RFC 6184: single NAL units, STAP-A, FU-A) into access units, timing the first decodable
// keyframe and each frame's arrival.
import type { RtpHeader } from './srtp';
import { MAX_ARRIVALS } from './stream-clock';

export interface KeyframeInfo {
  /** streamNow() when the last packet of the keyframe's access unit arrived. */
  at: number;
  /** streamNow() when its first packet arrived. */
  firstPacketAt: number;
  rtpTimestamp: number;
  /** Access units completed before it (0 = the very first). */
  accessUnitIndex: number;
  bytes: number;
}

interface AccessUnit {
  timestamp: number;
  firstPacketAt: number;
  lastPacketAt: number;
  complete: boolean;
  vcl: boolean;
  /** An IDR slice arrived after SPS and PPS had been seen. */
  decodableIdr: boolean;
  bytes: number;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/**
 * RFC 6184 depacketizer (single NAL, STAP-A, FU-A; what ffmpeg and cameras send in non-interleaved mode): builds an
 * Annex-B elementary stream (bounded) and finds access units, so the first decodable keyframe — an IDR whose access
 * unit arrived whole, with SPS and PPS before it — can be timed as it arrives.
 */
export class H264Assembler {
  accessUnits = 0;
  frames = 0;
  keyframes = 0;
  incompleteFrames = 0;
  unsupportedPackets = 0;
  firstKeyframe: KeyframeInfo | undefined;
  esTruncated = false;
  /** streamNow() when each frame (VCL access unit) was complete, in order: with its drawn frame number, its latency. */
  readonly frameArrivals: number[] = [];
  private readonly chunks: Buffer[] = [];
  private esBytes = 0;
  private current: AccessUnit | undefined;
  private fragments: Buffer[] | undefined;
  private lastSequence: number | undefined;
  private haveSps = false;
  private havePps = false;

  constructor(private readonly maxEsBytes: number, private readonly onKeyframe: (info: KeyframeInfo) => void) {}

  push(header: RtpHeader, payload: Buffer, at: number): void {
    if (this.current && this.current.timestamp !== header.timestamp) {
      this.finish(this.current); // the marker bit was lost: the timestamp change ends the access unit
    }
    const gap = this.lastSequence !== undefined && ((this.lastSequence + 1) & 0xffff) !== header.sequence;
    this.lastSequence = header.sequence;
    this.current ??= { timestamp: header.timestamp, firstPacketAt: at, lastPacketAt: at, complete: true, vcl: false, decodableIdr: false, bytes: 0 };
    const au = this.current;
    au.lastPacketAt = at;
    if (gap) {
      au.complete = false;
      this.fragments = undefined;
    }
    this.depacketize(au, payload);
    if (header.marker) {
      this.finish(au);
    }
  }

  elementaryStream(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private depacketize(au: AccessUnit, payload: Buffer): void {
    if (payload.length === 0) {
      return;
    }
    const type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      this.addNal(au, payload);
    } else if (type === 24) {
      for (let offset = 1; offset + 2 <= payload.length;) {
        const size = payload.readUInt16BE(offset);
        offset += 2;
        if (size === 0 || offset + size > payload.length) {
          au.complete = false;
          break;
        }
        this.addNal(au, payload.subarray(offset, offset + size));
        offset += size;
      }
    } else if (type === 28 && payload.length >= 2) {
      const fuHeader = payload[1];
      if (fuHeader & 0x80) {
        this.fragments = [Buffer.from([(payload[0] & 0xe0) | (fuHeader & 0x1f)]), payload.subarray(2)];
      } else if (this.fragments) {
        this.fragments.push(payload.subarray(2));
      } else {
        au.complete = false; // a fragment whose start was lost
      }
      if (fuHeader & 0x40 && this.fragments) {
        this.addNal(au, Buffer.concat(this.fragments));
        this.fragments = undefined;
      }
    } else {
      this.unsupportedPackets++;
      au.complete = false;
    }
  }

  private addNal(au: AccessUnit, nal: Buffer): void {
    const type = nal[0] & 0x1f;
    if (type === 7) {
      this.haveSps = true;
    } else if (type === 8) {
      this.havePps = true;
    } else if (type === 5 && this.haveSps && this.havePps) {
      au.decodableIdr = true;
    }
    au.vcl ||= type >= 1 && type <= 5;
    au.bytes += nal.length;
    if (this.esBytes + nal.length + 4 > this.maxEsBytes) {
      this.esTruncated = true;
      return;
    }
    this.chunks.push(START_CODE, nal);
    this.esBytes += nal.length + 4;
  }

  private finish(au: AccessUnit): void {
    this.current = undefined;
    this.fragments = undefined;
    const index = this.accessUnits++;
    if (au.vcl) {
      this.frames++;
      if (this.frameArrivals.length < MAX_ARRIVALS) {
        this.frameArrivals.push(au.lastPacketAt);
      }
      if (!au.complete) {
        this.incompleteFrames++;
      }
    }
    if (au.decodableIdr && au.complete) {
      this.keyframes++;
      if (!this.firstKeyframe) {
        this.firstKeyframe = { at: au.lastPacketAt, firstPacketAt: au.firstPacketAt, rtpTimestamp: au.timestamp, accessUnitIndex: index, bytes: au.bytes };
        this.onKeyframe(this.firstKeyframe);
      }
    }
  }
}
