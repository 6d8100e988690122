// The source's MPEG-TS back into what was in it: H.264 access units and AAC frames with their 90 kHz timestamps, so a
// recording can be muxed into fragmented MP4 in the plugin. PES packets are put together per PID (ISO/IEC 13818-1
// §2.4.3.6); a PES ends when its stated length is reached or, for video PES longer than 64 KiB (length 0), when the next
// one starts. AAC comes as ADTS frames (ISO/IEC 13818-7 §6.2), one or more per PES.
import { NAL, nalType, parseSps, splitAnnexB } from './h264';
import { dtsOf, ptsOf, TsReader } from './mpegts';

const PTS_WRAP = 2 ** 33;
/** ADTS sampling_frequency_index → Hz. */
export const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/** Samples per AAC-LC frame. */
export const AAC_FRAME_SAMPLES = 1024;
/** A PES larger than this is a broken stream, not video (bytes). */
export const MAX_PES_BYTES = 8 * 1024 * 1024;

/**
 * The camera's stream cannot go on in what is being made of it (a frame no camera sends, another picture size than the
 * clip's): what was made so far is good and ends there. Its message is the reason, said to the user as it is.
 */
export class StreamUnusable extends Error {}

export interface VideoUnit {
  track: 'video';
  /** 90 kHz, unwrapped (grows past 2^33). */
  pts: number;
  dts: number;
  /** Starts on a random access point (the TS random_access_indicator, set by ffmpeg's muxer on keyframes). */
  key: boolean;
  /** Annex B bytes of the access unit. */
  data: Buffer;
}

export interface AudioUnit {
  track: 'audio';
  pts: number;
  /** One raw AAC frame (the ADTS header removed). */
  data: Buffer;
  /** The same frame with its ADTS header, as a decoder reads it from a pipe. */
  adts: Buffer;
  /** From the ADTS header: MPEG-4 audio object type (2 = AAC-LC), sampling frequency index, channel configuration. */
  objectType: number;
  rateIndex: number;
  channels: number;
}

export type AdtsFrame = Omit<AudioUnit, 'track' | 'pts'>;

/** Announced the moment a keyframe's first packet arrives (its data is still on the way): the instant a fragment can close. */
export interface KeyframeStart {
  track: 'keyframe';
  pts: number;
  dts: number;
  /** The keyframe's first bytes (its first TS packet's payload after the PES header): where cameras put SPS and PPS. */
  head: Buffer;
}

export type Demuxed = VideoUnit | AudioUnit | KeyframeStart;

interface Pes {
  chunks: Buffer[];
  bytes: number;
  /** Total PES size from its header (bytes), or 0 when unbounded. */
  expected: number;
  key: boolean;
}

export class TsDemuxer {
  private readonly reader = new TsReader();
  private video?: Pes;
  private audio?: Pes;
  private lastVideoPts?: number;
  private lastAudioPts?: number;
  private videoWrap = 0;
  private audioWrap = 0;
  /** Set when the stream turned out unusable: the units completed before it were returned, every later push throws it. */
  broken?: StreamUnusable;

  push(chunk: Buffer): Demuxed[] {
    if (this.broken) {
      throw this.broken;
    }
    const out: Demuxed[] = [];
    for (const info of this.reader.push(chunk)) {
      const isVideo = info.pid === this.reader.video;
      if ((!isVideo && info.pid !== this.reader.audio) || info.payload >= info.packet.length) {
        continue;
      }
      const payload = info.packet.subarray(info.payload);
      if (info.unitStart) {
        this.finish(isVideo, out);
        const pes: Pes = { chunks: [Buffer.from(payload)], bytes: payload.length, expected: 0, key: info.isKeyframe };
        const length = payload.length >= 6 ? payload.readUInt16BE(4) : 0;
        pes.expected = length ? length + 6 : 0;
        if (isVideo) {
          this.video = pes;
          const pts = ptsOf(payload);
          const dts = dtsOf(payload);
          if (info.isKeyframe && pts !== undefined && dts !== undefined) {
            const [p, d] = this.unwrapVideo(pts, dts, false);
            out.push({ track: 'keyframe', pts: p, dts: d, head: payload.length > 9 ? payload.subarray(9 + payload[8]) : Buffer.alloc(0) });
          }
        } else {
          this.audio = pes;
        }
      } else {
        const pes = isVideo ? this.video : this.audio;
        if (!pes) {
          continue; // joined mid-PES: wait for the next start
        }
        pes.chunks.push(Buffer.from(payload));
        pes.bytes += payload.length;
        if (pes.bytes > MAX_PES_BYTES) {
          // Nothing more is read or held: the frames completed before it go out, the next push throws.
          this.video = undefined;
          this.audio = undefined;
          this.broken = new StreamUnusable(`the camera sent a ${isVideo ? 'video' : 'audio'} frame over ${MAX_PES_BYTES >> 20} MiB ` +
            '(a broken stream: no camera picture is that large)');
          return out;
        }
      }
      const pes = isVideo ? this.video : this.audio;
      if (pes && pes.expected && pes.bytes >= pes.expected) {
        this.finish(isVideo, out);
      }
    }
    return out;
  }

  /** The video access unit still open (its PES had no length): a stream that ended gives its last frame this way. */
  flush(): Demuxed[] {
    const out: Demuxed[] = [];
    this.finish(true, out);
    this.finish(false, out);
    return out;
  }

  private finish(isVideo: boolean, out: Demuxed[]): void {
    const pes = isVideo ? this.video : this.audio;
    if (isVideo) {
      this.video = undefined;
    } else {
      this.audio = undefined;
    }
    if (!pes) {
      return;
    }
    const data = pes.chunks.length === 1 ? pes.chunks[0] : Buffer.concat(pes.chunks);
    const pts = ptsOf(data);
    const dts = dtsOf(data);
    if (data.length < 9 || pts === undefined || dts === undefined) {
      return; // no timestamp: nothing a muxer can place
    }
    const body = data.subarray(9 + data[8], pes.expected ? pes.expected : data.length);
    if (isVideo) {
      const [p, d] = this.unwrapVideo(pts, dts, true);
      out.push({ track: 'video', pts: p, dts: d, key: pes.key, data: body });
    } else {
      this.adts(this.unwrapAudio(pts), body, out);
    }
  }

  /** ADTS frames of one PES; the first carries the PES's PTS, each next one a frame's duration later. */
  private adts(pts: number, body: Buffer, out: Demuxed[]): void {
    TsDemuxer.adtsFrames(body).forEach((f, n) => {
      out.push({ ...f, track: 'audio', pts: pts + Math.round(n * AAC_FRAME_SAMPLES * 90000 / AAC_SAMPLE_RATES[f.rateIndex]) });
    });
  }

  /** The whole ADTS frames at the start of `data` (a trailing partial frame is left out). */
  static adtsFrames(data: Buffer): AdtsFrame[] {
    const frames: AdtsFrame[] = [];
    let at = 0;
    while (at + 7 <= data.length && data[at] === 0xff && (data[at + 1] & 0xf0) === 0xf0) {
      const protectionAbsent = data[at + 1] & 0x01;
      const objectType = ((data[at + 2] >> 6) & 0x03) + 1;
      const rateIndex = (data[at + 2] >> 2) & 0x0f;
      const channels = ((data[at + 2] & 0x01) << 2) | (data[at + 3] >> 6);
      const length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5);
      const header = protectionAbsent ? 7 : 9;
      if (length < header || at + length > data.length || !AAC_SAMPLE_RATES[rateIndex]) {
        break;
      }
      frames.push({ data: data.subarray(at + header, at + length), adts: data.subarray(at, at + length), objectType, rateIndex, channels });
      at += length;
    }
    return frames;
  }

  /** Keeps timestamps growing across the 33-bit wrap (every 26.5 h). `commit` = this is the unit's own, remember it. */
  private unwrapVideo(pts: number, dts: number, commit: boolean): [number, number] {
    let wrap = this.videoWrap;
    if (this.lastVideoPts !== undefined && dts + wrap < this.lastVideoPts - PTS_WRAP / 2) {
      wrap += PTS_WRAP;
    }
    if (commit) {
      this.videoWrap = wrap;
      this.lastVideoPts = dts + wrap;
    }
    return [pts + wrap + (pts < dts - PTS_WRAP / 2 ? PTS_WRAP : 0), dts + wrap];
  }

  private unwrapAudio(pts: number): number {
    if (this.lastAudioPts !== undefined && pts + this.audioWrap < this.lastAudioPts - PTS_WRAP / 2) {
      this.audioWrap += PTS_WRAP;
    }
    this.lastAudioPts = pts + this.audioWrap;
    return this.lastAudioPts;
  }
}

/** A keyframe's first packets wait for its SPS at most this many video packets: the SPS follows the keyframe's start
 *  within a few (after the access unit delimiter and, in x264 streams read by ffmpeg, a ~700-byte SEI). */
const SIZE_GUARD_LOOK_PACKETS = 8;

/**
 * The source's MPEG-TS on its way to a clip that copies the video through ffmpeg (a clip with silent audio): it passes as
 * it comes, except that a keyframe's first packets wait until its SPS is read. From a keyframe whose SPS gives another
 * picture size than the clip's first, nothing passes and `changed` says why: the clip's init segment has one size and a
 * hub decodes every fragment with it, so the clip ends with what came before, as CopyClip ends a clip muxed in the plugin.
 */
export class PictureSizeGuard {
  private readonly reader = new TsReader();
  private size?: { width: number; height: number };
  /** A keyframe's packets (copies) and its video payloads so far, until its SPS is read. */
  private held?: { packets: Buffer[]; es: Buffer[]; look: number };
  /** Why nothing passes any more: the camera changed its picture size. */
  changed?: string;

  /** TS in; the whole packets that may go on to the clip out (an empty buffer while a keyframe waits, or after a change). */
  push(chunk: Buffer): Buffer {
    const pass: Buffer[] = [];
    for (const info of this.reader.push(chunk)) {
      if (this.changed) {
        break;
      }
      const isVideo = info.pid === this.reader.video;
      if (isVideo && info.isKeyframe) {
        this.release(pass);
        this.held = { packets: [], es: [], look: 0 };
      }
      if (!this.held) {
        pass.push(info.packet);
        continue;
      }
      this.held.packets.push(Buffer.from(info.packet));
      if (isVideo && info.payload < info.packet.length) {
        this.held.es.push(this.held.packets[this.held.packets.length - 1].subarray(info.payload));
        this.held.look++;
        this.judge(pass);
      }
    }
    return pass.length === 1 ? pass[0] : Buffer.concat(pass);
  }

  /** The held keyframe's SPS, once whole: the same size (or the first) lets it pass, another ends the stream here. */
  private judge(pass: Buffer[]): void {
    const held = this.held as { packets: Buffer[]; es: Buffer[]; look: number };
    const sps = splitAnnexB(Buffer.concat(held.es)).find((n) => nalType(n) === NAL.SPS);
    let size: { width: number; height: number } | undefined;
    try {
      size = sps && parseSps(sps);
    } catch {
      size = undefined; // cut short at the packet's end: the next packet completes it
    }
    if (!size) {
      if (held.look >= SIZE_GUARD_LOOK_PACKETS) {
        this.release(pass); // no SPS with this keyframe: nothing says the size changed
      }
      return;
    }
    if (this.size && (size.width !== this.size.width || size.height !== this.size.height)) {
      this.changed = `the camera changed its picture size from ${this.size.width}x${this.size.height} to ${size.width}x${size.height}`;
      this.held = undefined;
      return;
    }
    this.size ??= size;
    this.release(pass);
  }

  private release(pass: Buffer[]): void {
    if (this.held) {
      pass.push(...this.held.packets);
      this.held = undefined;
    }
  }
}
