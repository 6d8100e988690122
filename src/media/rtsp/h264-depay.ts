// H.264 out of RTP (RFC 6184, packetization-mode 0 and 1): single NAL unit packets (§5.6), STAP-A aggregates (§5.7.1)
// and FU-A fragments (§5.8) become whole NAL units, grouped into access units (§5.1: all packets of an access unit share
// its timestamp; the marker bit is set on its last packet). What leaves is always decodable: a lost, late or malformed
// packet drops the access unit it belongs to and every one after it until the next IDR (the frames in between refer to
// the lost one), and the stream starts on an IDR for the same reason. An IDR without SPS/PPS (cameras that send them only
// in the SDP's sprop-parameter-sets, §8.1, or only once) gets the last ones known put in front of it.
import { NAL, nalType } from '../h264';
import { MAX_PES_BYTES } from '../ts-demux';
import { isSequenceRestart, RtpPacket, sequenceGap, TimestampUnwrapper } from './rtp';
import { Slab } from './slab';

export interface H264AccessUnit {
  /** NAL units without start codes, in decoding order: views into the RTP packets where one packet held the unit, into
   *  a slab (slab.ts) where FU-A fragments were put together; never reused, so they may be kept. */
  nalus: Buffer[];
  /** RTP timestamp (90 kHz), unwrapped: keeps growing past 2^32. */
  timestamp: number;
  /** Holds an IDR slice (type 5): a decoder can start here. */
  keyframe: boolean;
}

export interface H264DepayOptions {
  onAccessUnit: (au: H264AccessUnit) => void;
  /** Something was dropped, with a sentence saying what and why; once per incident (a loss, an oversized frame). */
  onDrop?: (reason: string) => void;
  /** SPS and PPS from the SDP (parseSpropParameterSets). */
  parameterSets?: Buffer[];
  /** An access unit larger than this is dropped, not buffered (bytes); default the project's 8 MiB frame bound. */
  maxAccessUnitBytes?: number;
}

/** RFC 6184 §5.2 NAL unit types carried in the RTP payload's first byte. */
const STAP_A = 24;
const FU_A = 28;
const UNSUPPORTED = new Set([25, 26, 27, 29]); // STAP-B, MTAP16, MTAP24, FU-B: packetization-mode 2 only
const FU_START = 0x80;
const FU_END = 0x40;
/** FU-A NAL units are put together in slabs of this size (bytes): about a second of a 2 Mb/s camera. */
const FU_SLAB_BYTES = 64 * 1024;

interface Pending {
  raw: number;
  nalus: Buffer[];
  bytes: number;
  keyframe: boolean;
  /** Its first packet came right after lost ones: whatever began the access unit may have been among them. */
  afterGap: boolean;
  /** A FU-A NAL unit being put together: its rebuilt header byte, then its pieces (views into the RTP packets). */
  fu?: { header: number; chunks: Buffer[]; bytes: number };
}

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

export class H264Depayloader {
  private readonly maxBytes: number;
  private readonly unwrapper = new TimestampUnwrapper();
  /** Where FU-A NAL units are put together. */
  private readonly slab = new Slab(FU_SLAB_BYTES);
  private expectedSeq?: number;
  private current?: Pending;
  /** The timestamp of an access unit known broken: its remaining packets are skipped, not buffered. */
  private poisoned?: number;
  /** Only an access unit with an IDR may go out next: at the start and after anything was dropped. */
  private waitForIdr = true;
  private sps?: Buffer;
  private pps?: Buffer;
  /** The camera sends SPS/PPS in the stream (not only in the SDP). */
  private inBandParameterSets = false;
  /** The timestamp of the last packet taken in sequence. */
  private lastRaw?: number;

  constructor(private readonly options: H264DepayOptions) {
    this.maxBytes = options.maxAccessUnitBytes ?? MAX_PES_BYTES;
    for (const nal of options.parameterSets ?? []) {
      this.remember(nal);
    }
  }

  push(packet: RtpPacket): void {
    // The first packet read may be anywhere in an access unit, as after a loss.
    let afterGap = this.expectedSeq === undefined;
    if (this.expectedSeq !== undefined) {
      const gap = sequenceGap(this.expectedSeq, packet.sequence);
      if (gap < 0 && !isSequenceRestart(gap)) {
        return; // late or repeated: the reorder buffer (reorder.ts) gave up on its place, and its access unit was dropped as lost
      }
      if (gap !== 0) {
        const why = gap > 0 ? `${gap} RTP packet${gap === 1 ? '' : 's'} of the video lost` : 'the camera started its RTP sequence over';
        this.expectedSeq = (packet.sequence + 1) & 0xffff;
        if (packet.timestamp === this.lastRaw) {
          this.broken(packet, why); // the loss is inside this packet's access unit
          return;
        }
        // The access unit being read lost its end; this packet starts another, which may have lost its start.
        this.broken(undefined, why);
        afterGap = true;
      }
    }
    this.expectedSeq = (packet.sequence + 1) & 0xffff;
    this.lastRaw = packet.timestamp;
    if (this.poisoned !== undefined) {
      if (packet.timestamp === this.poisoned) {
        if (packet.marker) {
          this.poisoned = undefined; // its last packet: the next one starts a clean access unit
        }
        return;
      }
      this.poisoned = undefined;
    }
    if (this.current && this.current.raw !== packet.timestamp) {
      this.finish(); // the camera sets no marker bit: a new timestamp is a new access unit
    }
    const au = this.current ?? (this.current = { raw: packet.timestamp, nalus: [], bytes: 0, keyframe: false, afterGap });
    const problem = this.depacketize(au, packet.payload);
    if (problem) {
      this.broken(packet, problem);
      return;
    }
    if (au.bytes + (au.fu?.bytes ?? 0) > this.maxBytes) {
      this.broken(packet, `the camera sent a video frame over ${this.maxBytes >> 20} MiB (a broken stream: no camera picture is that large)`);
      return;
    }
    if (packet.marker) {
      this.finish();
    }
  }

  /** The NAL units of one RTP payload into `au`, or what is wrong with it. */
  private depacketize(au: Pending, payload: Buffer): string | undefined {
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
      const piece = payload.subarray(2);
      if (header & FU_START) {
        if (au.fu) {
          return 'a FU-A fragment started before the last one ended';
        }
        au.fu = { header: (payload[0] & 0xe0) | (header & 0x1f), chunks: [piece], bytes: 1 + piece.length };
      } else if (!au.fu) {
        return 'a FU-A fragment without its start';
      } else {
        au.fu.chunks.push(piece);
        au.fu.bytes += piece.length;
      }
      if (header & FU_END) {
        // Put together in a slab (slab.ts): most of a camera's video bytes come in FU-A units, 15-30 a second.
        const nal = this.slab.take(au.fu.bytes);
        nal[0] = au.fu.header;
        let at = 1;
        for (const chunk of au.fu.chunks) {
          at += chunk.copy(nal, at);
        }
        au.fu = undefined;
        this.add(au, nal);
      }
      return undefined;
    }
    if (UNSUPPORTED.has(type)) {
      return `an RTP packet of type ${type}, which only packetization-mode 2 uses (not read)`;
    }
    return undefined; // 0, 30, 31: undefined types, ignored as §5.4 asks
  }

  private add(au: Pending, nal: Buffer): void {
    au.nalus.push(nal);
    au.bytes += nal.length;
    const type = nalType(nal);
    if (type === NAL.IDR) {
      au.keyframe = true;
    } else if (type === NAL.SPS || type === NAL.PPS) {
      this.inBandParameterSets = true;
      this.remember(nal);
    }
  }

  /** Keeps a copy (not a view holding the whole socket chunk) of the latest SPS and PPS. */
  private remember(nal: Buffer): void {
    const type = nalType(nal);
    const known = type === NAL.SPS ? this.sps : type === NAL.PPS ? this.pps : undefined;
    if (type !== NAL.SPS && type !== NAL.PPS) {
      return;
    }
    if (!known || !known.equals(nal)) {
      if (type === NAL.SPS) {
        this.sps = Buffer.from(nal);
      } else {
        this.pps = Buffer.from(nal);
      }
    }
  }

  /** The access unit being read is lost, and so is everything until the next IDR. With `packet`, the rest of the access
   *  unit that packet belongs to is skipped too (a marker means it ends there). */
  private broken(packet: RtpPacket | undefined, why: string): void {
    const au = this.current;
    this.current = undefined;
    const wasWaiting = this.waitForIdr;
    this.waitForIdr = true;
    this.poisoned = packet && !packet.marker ? packet.timestamp : undefined;
    if (!wasWaiting || au?.keyframe) {
      this.options.onDrop?.(`${why}: the frame is dropped, and the video resumes at the next keyframe`);
    }
  }

  /** An access unit whose first packet followed lost ones is whole only if it is an IDR whose first slice starts the
   *  picture (first_mb_in_slice 0, ue(v) "1" as the slice header's first bit: H.264 §7.3.3) and the SPS/PPS it needs
   *  were not among the lost: it carries its own, or the camera sends them only in the SDP. */
  private wholeAfterGap(au: Pending): boolean {
    const firstSlice = au.nalus.find((n) => nalType(n) === NAL.IDR || nalType(n) === 1);
    const startsPicture = firstSlice !== undefined && firstSlice.length > 1 && (firstSlice[1] & 0x80) !== 0;
    const ownSets = au.nalus.some((n) => nalType(n) === NAL.SPS) && au.nalus.some((n) => nalType(n) === NAL.PPS);
    return au.keyframe && startsPicture && (ownSets || !this.inBandParameterSets);
  }

  private finish(): void {
    const au = this.current;
    this.current = undefined;
    if (!au || au.nalus.length === 0) {
      return;
    }
    if (au.fu) {
      this.waitForIdr = true; // its last fragment never came: the NAL unit is incomplete
      this.options.onDrop?.('a video frame ended inside a FU-A NAL unit: the frame is dropped, and the video resumes at the next keyframe');
      return;
    }
    if ((this.waitForIdr && !au.keyframe) || (au.afterGap && !this.wholeAfterGap(au))) {
      return;
    }
    this.waitForIdr = false;
    let nalus = au.nalus;
    if (au.keyframe) {
      nalus = this.withParameterSets(nalus);
    }
    this.options.onAccessUnit({ nalus, timestamp: this.unwrapper.unwrap(au.raw), keyframe: au.keyframe });
  }

  /** The IDR access unit with the known SPS and PPS in front of its first slice where it lacks them (after an access
   *  unit delimiter, which must come first: H.264 §7.4.1.2.3). */
  private withParameterSets(nalus: Buffer[]): Buffer[] {
    const hasSps = nalus.some((n) => nalType(n) === NAL.SPS);
    const hasPps = nalus.some((n) => nalType(n) === NAL.PPS);
    const missing = [...(!hasSps && this.sps ? [this.sps] : []), ...(!hasPps && this.pps ? [this.pps] : [])];
    if (missing.length === 0) {
      return nalus;
    }
    const at = nalType(nalus[0]) === NAL.AUD ? 1 : 0;
    return [...nalus.slice(0, at), ...missing, ...nalus.slice(at)];
  }
}
