// What the H.264 (RFC 6184) and H.265 (RFC 7798) depacketizers share: RTP packets in sequence become NAL units grouped
// into access units (RFC 6184 §5.1, RFC 7798 §4.1: all packets of an access unit share its timestamp, the marker bit is
// set on its last packet). What leaves is always decodable: a lost, late or malformed packet drops the access unit it
// belongs to and every one after it until the next keyframe (IDR, IRAP: the frames in between refer to the lost one),
// and the stream starts on a keyframe for the same reason. A keyframe without its parameter sets (cameras that send them
// only in the SDP, or only once) gets the last ones known put in front of it. The codec's subclass says how its payloads
// hold NAL units (single, aggregated, fragmented) and which NAL units are which.
import { MAX_PES_BYTES } from '../ts-demux';
import { isSequenceRestart, RtpPacket, sequenceGap, TimestampUnwrapper } from './rtp';
import { Slab } from './slab';

export interface NalAccessUnit {
  codec: 'h264' | 'h265';
  /** NAL units without start codes, in decoding order: views into the RTP packets where one packet held the unit, into
   *  a slab (slab.ts) where fragments were put together; never reused, so they may be kept. */
  nalus: Buffer[];
  /** RTP timestamp (90 kHz), unwrapped: keeps growing past 2^32. */
  timestamp: number;
  /** Holds a slice a decoder can start at (H.264 IDR, H.265 IRAP). */
  keyframe: boolean;
}

export interface NalDepayOptions {
  onAccessUnit: (au: NalAccessUnit) => void;
  /** Something was dropped, with a sentence saying what and why; once per incident (a loss, an oversized frame). */
  onDrop?: (reason: string) => void;
  /** Parameter sets from the SDP (H.264 sprop-parameter-sets; H.265 sprop-vps, sprop-sps, sprop-pps). */
  parameterSets?: Buffer[];
  /** An access unit larger than this is dropped, not buffered (bytes); default the project's 8 MiB frame bound. */
  maxAccessUnitBytes?: number;
}

/** Fragmented NAL units are put together in slabs of this size (bytes): about a second of a 2 Mb/s camera. */
const FU_SLAB_BYTES = 64 * 1024;

export interface PendingUnit {
  raw: number;
  nalus: Buffer[];
  bytes: number;
  keyframe: boolean;
  /** Its first packet came right after lost ones: whatever began the access unit may have been among them. */
  afterGap: boolean;
  /** A fragmented NAL unit being put together: its rebuilt header (`headerBytes` bytes, big-endian), then its pieces
   *  (views into the RTP packets). */
  fu?: { header: number; headerBytes: number; chunks: Buffer[]; bytes: number };
}

export abstract class NalDepayloader {
  private readonly maxBytes: number;
  private readonly unwrapper = new TimestampUnwrapper();
  /** Where fragmented NAL units are put together. */
  private readonly slab = new Slab(FU_SLAB_BYTES);
  private expectedSeq?: number;
  private current?: PendingUnit;
  /** The timestamp of an access unit known broken: its remaining packets are skipped, not buffered. */
  private poisoned?: number;
  /** Only an access unit with a keyframe may go out next: at the start and after anything was dropped. */
  private waitForKeyframe = true;
  /** The latest parameter set of each type (copies, not views holding a socket chunk). */
  private readonly sets = new Map<number, Buffer>();
  /** The camera sends parameter sets in the stream (not only in the SDP). */
  private inBandParameterSets = false;
  /** The timestamp of the last packet taken in sequence. */
  private lastRaw?: number;

  protected abstract readonly codec: NalAccessUnit['codec'];
  /** The fragmentation unit's name in drop sentences (FU-A, FU). */
  protected abstract readonly fuName: string;
  /** Parameter set NAL unit types, in the order they go in front of a keyframe. */
  protected abstract readonly parameterSetTypes: readonly number[];
  protected abstract nalType(nal: Buffer): number;
  protected abstract isKeyframeType(type: number): boolean;
  protected abstract isDelimiterType(type: number): boolean;
  /** The NAL units of one RTP payload into `au` (with add() and fragment()), or what is wrong with it. */
  protected abstract depacketize(au: PendingUnit, payload: Buffer): string | undefined;
  /** The access unit's first slice starts its picture (its first slice segment, its first macroblock). */
  protected abstract startsPicture(nalus: Buffer[]): boolean;

  constructor(private readonly options: NalDepayOptions) {
    this.maxBytes = options.maxAccessUnitBytes ?? MAX_PES_BYTES;
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

  /** Parameter sets known before the stream (the SDP's): the subclass's constructor gives them. */
  protected rememberAll(nalus: Buffer[]): void {
    for (const nal of nalus) {
      this.remember(nal);
    }
  }

  /** One piece of a fragmented NAL unit (RFC 6184 §5.8, RFC 7798 §4.4.3): `header` is the NAL unit's header rebuilt
   *  from the packet's (`headerBytes` bytes), `piece` the fragment's bytes after it; or what is wrong. */
  protected fragment(au: PendingUnit, start: boolean, end: boolean, header: number, headerBytes: number, piece: Buffer): string | undefined {
    if (start) {
      if (au.fu) {
        return `a ${this.fuName} fragment started before the last one ended`;
      }
      au.fu = { header, headerBytes, chunks: [piece], bytes: headerBytes + piece.length };
    } else if (!au.fu) {
      return `a ${this.fuName} fragment without its start`;
    } else {
      au.fu.chunks.push(piece);
      au.fu.bytes += piece.length;
    }
    if (end) {
      // Put together in a slab (slab.ts): most of a camera's video bytes come in fragments, 15-30 a second.
      const nal = this.slab.take(au.fu.bytes);
      nal.writeUIntBE(au.fu.header, 0, au.fu.headerBytes);
      let at = au.fu.headerBytes;
      for (const chunk of au.fu.chunks) {
        at += chunk.copy(nal, at);
      }
      au.fu = undefined;
      this.add(au, nal);
    }
    return undefined;
  }

  protected add(au: PendingUnit, nal: Buffer): void {
    au.nalus.push(nal);
    au.bytes += nal.length;
    const type = this.nalType(nal);
    if (this.isKeyframeType(type)) {
      au.keyframe = true;
    } else if (this.parameterSetTypes.includes(type)) {
      this.inBandParameterSets = true;
      this.remember(nal);
    }
  }

  /** Whether an access unit that is whole and follows a whole keyframe is sent (H.265: not a leading picture that
   *  refers to pictures before the keyframe the read started at). */
  protected decodable(_au: PendingUnit, _resumed: boolean): boolean {
    return true;
  }

  /** Keeps a copy (not a view holding the whole socket chunk) of the latest parameter set of each type. */
  private remember(nal: Buffer): void {
    const type = this.nalType(nal);
    if (!this.parameterSetTypes.includes(type)) {
      return;
    }
    const known = this.sets.get(type);
    if (!known || !known.equals(nal)) {
      this.sets.set(type, Buffer.from(nal));
    }
  }

  /** The access unit being read is lost, and so is everything until the next keyframe. With `packet`, the rest of the
   *  access unit that packet belongs to is skipped too (a marker means it ends there). */
  private broken(packet: RtpPacket | undefined, why: string): void {
    const au = this.current;
    this.current = undefined;
    const wasWaiting = this.waitForKeyframe;
    this.waitForKeyframe = true;
    this.poisoned = packet && !packet.marker ? packet.timestamp : undefined;
    if (!wasWaiting || au?.keyframe) {
      this.options.onDrop?.(`${why}: the frame is dropped, and the video resumes at the next keyframe`);
    }
  }

  /** An access unit whose first packet followed lost ones is whole only if it is a keyframe whose first slice starts the
   *  picture and the parameter sets it needs were not among the lost: it carries its own, or the camera sends them only
   *  in the SDP. */
  private wholeAfterGap(au: PendingUnit): boolean {
    const ownSets = this.parameterSetTypes.every((t) => au.nalus.some((n) => this.nalType(n) === t));
    return au.keyframe && this.startsPicture(au.nalus) && (ownSets || !this.inBandParameterSets);
  }

  private finish(): void {
    const au = this.current;
    this.current = undefined;
    if (!au || au.nalus.length === 0) {
      return;
    }
    if (au.fu) {
      this.waitForKeyframe = true; // its last fragment never came: the NAL unit is incomplete
      this.options.onDrop?.(`a video frame ended inside a ${this.fuName} NAL unit: the frame is dropped, and the video resumes at the next keyframe`);
      return;
    }
    if ((this.waitForKeyframe && !au.keyframe) || (au.afterGap && !this.wholeAfterGap(au))) {
      return;
    }
    const resumed = this.waitForKeyframe;
    this.waitForKeyframe = false;
    if (!this.decodable(au, resumed)) {
      return;
    }
    let nalus = au.nalus;
    if (au.keyframe) {
      nalus = this.withParameterSets(nalus);
    }
    this.options.onAccessUnit({ codec: this.codec, nalus, timestamp: this.unwrapper.unwrap(au.raw), keyframe: au.keyframe });
  }

  /** The keyframe's access unit with the known parameter sets in front of its first slice where it lacks them (after
   *  an access unit delimiter, which must come first: H.264 §7.4.1.2.3, H.265 §7.4.2.4.4). */
  private withParameterSets(nalus: Buffer[]): Buffer[] {
    const missing: Buffer[] = [];
    for (const type of this.parameterSetTypes) {
      const known = this.sets.get(type);
      if (known && !nalus.some((n) => this.nalType(n) === type)) {
        missing.push(known);
      }
    }
    if (missing.length === 0) {
      return nalus;
    }
    const at = this.isDelimiterType(this.nalType(nalus[0])) ? 1 : 0;
    return [...nalus.slice(0, at), ...missing, ...nalus.slice(at)];
  }
}
