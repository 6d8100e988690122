// One HKSV clip made in the plugin when the camera's H.264 (and AAC, if any) can be copied: the source's MPEG-TS in,
// the init segment and fragments out. A fragment leaves the moment the keyframe that closes it starts to arrive, with no
// process between the camera and the hub, where an ffmpeg remux held each fragment back by a few hundred milliseconds.
import { AAC_FRAME_SAMPLES, AAC_SAMPLE_RATES, AudioUnit, KeyframeStart, StreamUnusable, TsDemuxer, VideoUnit } from './ts-demux';
import { NAL, nalType, parseSps, splitAnnexB } from './h264';
import { AudioTrack, fragment, initSegment, parameterSets, Sample, toLengthPrefixed, VideoTrack, VIDEO_TIMESCALE } from './fmp4';
import type { Mp4Packet } from './mp4';
import { CLIP_AUDIO_CATCH_UP_MAX_MS, CLIP_AUDIO_FIRST_WAIT_MS, CLIP_AUDIO_WAIT_MS } from '../settings';

/** A jump in the camera's timestamps larger than this is a new stream (the camera or the read restarted): 90 kHz. */
const DISCONTINUITY_90K = 5 * VIDEO_TIMESCALE;
/** Frame duration assumed across a discontinuity until the next frame says otherwise (90 kHz, 15 fps). */
const FALLBACK_FRAME_90K = VIDEO_TIMESCALE / 15;

export interface CopyClipOptions {
  /** A fragment closes at the first keyframe once it holds at least this much video (ms). */
  minFragmentMs: number;
  /** The camera's AAC copied, left out, or converted (sent to `convert`, back through addConvertedAudio()). */
  audio: 'copy' | 'none' | 'convert';
  /** What the converted audio is (for the init segment). */
  convertedTrack?: AudioTrack;
  convert?: (unit: AudioUnit) => void;
  /** Each packet as soon as it is complete: the init segment with the first fragment, then every fragment. */
  onPacket: (packet: Mp4Packet) => void;
}

/** Video of a fragment, closed by the keyframe at `endPts`, waiting for the converted audio of its time. */
interface Closed {
  baseTime: number;
  samples: Sample[];
  endPts: number;
  /** The converted audio this fragment waits for (90 kHz): up to its end, less what the converter still holds. */
  audioTarget: number;
  closedAt: number;
  /** Closed while the clip was still catching up (no fragment sent yet, or one before it still waiting): its audio is
   *  all in the converter already, which works through the prebuffer's seconds as fast as the machine allows. */
  catchUp: boolean;
}

/** The picture size an SPS gives, if it can be read (one cut short at a packet's end may not be). */
function spsSize(sps: Buffer | undefined): { width: number; height: number } | undefined {
  try {
    return sps && parseSps(sps);
  } catch {
    return undefined;
  }
}

export class CopyClip {
  private readonly demuxer = new TsDemuxer();
  private video?: VideoTrack;
  private audio?: AudioTrack;
  private initSent = false;
  private sequence = 0;
  private pendingVideo: VideoUnit[] = [];
  private pendingAudio: AudioUnit[] = [];
  /** Decode time that is 0 in the clip (90 kHz, the camera's clock plus `shift`). */
  private zero?: number;
  /** Added to the camera's timestamps so a restarted stream continues the clip's timeline. */
  private shift = 0;
  private lastDts?: number;
  private lastDuration = FALLBACK_FRAME_90K;
  /** Where the audio written so far ends (samples). */
  private audioEnd = 0;
  private closed: Closed[] = [];
  /** Converted audio has arrived up to here (90 kHz, shifted). */
  private audioUpTo = -Infinity;
  private waitTimer?: NodeJS.Timeout;
  /** The camera's audio sent to the converter ends here (90 kHz, shifted). */
  private convertedIn = -Infinity;
  private lastSentAt = 0;
  /** When the converter last gave audio (ms). */
  private audioProgressAt = 0;
  /** Why this clip cannot take more of the stream, once it cannot. */
  private unusable?: StreamUnusable;

  constructor(private readonly options: CopyClipOptions) {
    this.audio = options.audio === 'convert' ? options.convertedTrack : undefined;
  }

  /**
   * MPEG-TS bytes in; the packets they complete go to onPacket. Throws StreamUnusable when the stream cannot go on in
   * this clip (a frame over 8 MiB, another picture size than the init segment's): finish() then gives what was recorded.
   */
  push(chunk: Buffer): void {
    if (this.unusable) {
      throw this.unusable;
    }
    for (const unit of this.demuxer.push(chunk)) {
      if (unit.track === 'keyframe') {
        this.checkSize(unit);
        this.maybeCut(unit.dts + this.shiftFor(unit.dts), unit.pts + this.shiftFor(unit.dts));
      } else if (unit.track === 'video') {
        this.onVideo(unit);
      } else if (this.zero !== undefined) {
        if (this.options.audio === 'copy') {
          this.onAudio(unit);
        } else if (this.options.audio === 'convert') {
          this.options.convert?.(unit);
          this.convertedIn = unit.pts + this.shift + AAC_FRAME_SAMPLES * VIDEO_TIMESCALE / AAC_SAMPLE_RATES[unit.rateIndex];
        }
      }
    }
    this.drain();
    if (this.demuxer.broken) {
      throw this.demuxer.broken;
    }
  }

  /**
   * The init segment has one picture size, and a hub decodes every fragment with it: a keyframe with an SPS of another
   * size (the camera's stream settings were changed, the camera fell back to a lower resolution) ends the clip before
   * that keyframe, so the frames since the last fragment close it. The next clip starts with the new size.
   */
  private checkSize(unit: KeyframeStart): void {
    this.checkSps(splitAnnexB(unit.head).find((n) => nalType(n) === NAL.SPS));
  }

  private checkSps(sps: Buffer | undefined): void {
    if (!this.video) {
      return;
    }
    const next = spsSize(sps);
    const ours = spsSize(this.video.sps);
    if (next && ours && (next.width !== ours.width || next.height !== ours.height)) {
      throw this.unusable = new StreamUnusable(`the camera changed its picture size from ${ours.width}x${ours.height} to ${next.width}x${next.height}`);
    }
  }

  /** Audio back from the converter, on the camera's clock: goes into the fragments with the video of its time. */
  addConvertedAudio(units: AudioUnit[]): void {
    if (this.audio && units.length) {
      this.pendingAudio.push(...units.map((u) => ({ ...u, pts: u.pts + this.shift })));
      const last = this.pendingAudio[this.pendingAudio.length - 1];
      this.audioUpTo = last.pts + AAC_FRAME_SAMPLES * VIDEO_TIMESCALE / this.audio.sampleRate;
      this.audioProgressAt = Date.now();
      this.drain();
    }
  }

  /**
   * The camera's stream was cut: every fragment closed so far goes out now (not waiting for audio), then what arrived
   * since the last keyframe as one shorter fragment. Returns that last packet (for isLast), undefined when nothing is
   * left to send.
   */
  finish(): Mp4Packet | undefined {
    const last = this.pendingVideo.at(-1);
    if (last) {
      this.maybeCut(last.dts + this.lastDuration, last.pts + this.lastDuration, true);
    }
    const sent: Mp4Packet[] = [];
    this.drain(sent);
    const final = sent.pop();
    sent.forEach((p) => this.options.onPacket(p));
    return final;
  }

  /** No more input: stops waiting for audio. */
  close(): void {
    clearTimeout(this.waitTimer);
    this.closed = [];
  }

  /** The shift a unit at this camera decode time gets: changed only by a keyframe after a jump. */
  private shiftFor(dts: number): number {
    if (this.lastDts === undefined) {
      return this.shift;
    }
    const shifted = dts + this.shift;
    if (shifted <= this.lastDts - DISCONTINUITY_90K / 50 || shifted > this.lastDts + DISCONTINUITY_90K) {
      this.shift = this.lastDts + this.lastDuration - dts;
    }
    return this.shift;
  }

  private onVideo(unit: VideoUnit): void {
    if (!this.pendingVideo.length && !unit.key) {
      return; // a clip starts on a keyframe
    }
    if (unit.key) {
      if (this.video) {
        // The whole access unit, for an SPS that did not fit the keyframe's first packet (after a long SEI).
        this.checkSps(parameterSets(unit.data)?.sps);
      }
      this.video ??= parameterSets(unit.data);
      if (!this.video) {
        return; // no SPS/PPS yet: wait for a keyframe that has them
      }
    }
    const dts = unit.dts + this.shift;
    if (this.lastDts !== undefined && dts > this.lastDts) {
      this.lastDuration = dts - this.lastDts;
    }
    this.lastDts = dts;
    this.zero ??= dts;
    this.pendingVideo.push({ ...unit, dts, pts: unit.pts + this.shift });
  }

  private onAudio(unit: AudioUnit): void {
    if (!this.audio && !this.initSent) {
      const sampleRate = AAC_SAMPLE_RATES[unit.rateIndex];
      this.audio = { objectType: unit.objectType, rateIndex: unit.rateIndex, channels: unit.channels, sampleRate };
    }
    if (this.audio) {
      this.pendingAudio.push({ ...unit, pts: unit.pts + this.shift });
    }
  }

  /** A keyframe starts at `dts`: the video since the last cut is a fragment if it is long enough. */
  private maybeCut(dts: number, pts: number, force = false): void {
    const first = this.pendingVideo[0];
    if (!first || !this.video || this.zero === undefined || (!force && dts - first.dts < this.options.minFragmentMs * 90)) {
      return;
    }
    const samples: Sample[] = this.pendingVideo.map((u, i) => {
      const next = this.pendingVideo[i + 1]?.dts ?? dts;
      return { data: toLengthPrefixed(u.data), duration: Math.max(1, next - u.dts), compositionOffset: Math.max(0, u.pts - u.dts), sync: u.key };
    });
    // Converted audio is waited for as far as the camera had sent it when the keyframe came (as an ffmpeg muxer interleaves
    // by time): not for audio still on its way from the camera, which opens the next fragment instead.
    const audioTarget = Math.min(pts, this.convertedIn);
    const catchUp = this.sequence === 0 || this.closed.length > 0;
    this.closed.push({ baseTime: first.dts - this.zero, samples, endPts: pts, audioTarget, closedAt: Date.now(), catchUp });
    this.pendingVideo = [];
  }

  /** Sends the closed fragments whose audio is here: at once when copying or without audio; converted audio is waited
   *  for up to CLIP_AUDIO_WAIT_MS for a live fragment, counted from the fragment's close or the previous one's sending,
   *  whichever is later (what has not come by then opens the next fragment). The prebuffer's fragments (catching up)
   *  wait while the converter keeps giving audio, up to CLIP_AUDIO_FIRST_WAIT_MS without any and
   *  CLIP_AUDIO_CATCH_UP_MAX_MS in all: on a loaded machine the converter takes seconds for the prebuffer's audio, and a
   *  fixed 0.1 s left a prebuffered fragment with 2.3 s of sound for 4 s of video. */
  private drain(collect?: Mp4Packet[]): void {
    const now = collect !== undefined;
    const emit = (p: Mp4Packet): void => (collect ? void collect.push(p) : this.options.onPacket(p));
    clearTimeout(this.waitTimer);
    while (this.closed.length && this.video && this.zero !== undefined) {
      const next = this.closed[0];
      const t = Date.now();
      const left = next.catchUp
        ? Math.min(CLIP_AUDIO_FIRST_WAIT_MS - (t - Math.max(next.closedAt, this.lastSentAt, this.audioProgressAt)),
          CLIP_AUDIO_CATCH_UP_MAX_MS - (t - next.closedAt))
        : CLIP_AUDIO_WAIT_MS - (t - Math.max(next.closedAt, this.lastSentAt));
      if (!now && this.options.audio === 'convert' && this.audioUpTo < next.audioTarget && left > 0) {
        this.waitTimer = setTimeout(() => this.drain(), left);
        return;
      }
      this.closed.shift();
      this.lastSentAt = Date.now();
      if (!this.initSent) {
        emit({ kind: 'init', data: initSegment(this.video, this.audio) });
        this.initSent = true;
      }
      const taken = this.pendingAudio.filter((a) => a.pts < next.endPts);
      this.pendingAudio = this.pendingAudio.filter((a) => a.pts >= next.endPts);
      const audio = this.audio && this.audioRun(taken, this.zero);
      emit({ kind: 'fragment', data: fragment(++this.sequence, { baseTime: next.baseTime, samples: next.samples }, audio) });
    }
  }

  /** The audio frames of a fragment, on the clip's timeline (samples at the audio's rate); frames before it are dropped. */
  private audioRun(units: AudioUnit[], zero: number): { baseTime: number; samples: Sample[] } | undefined {
    const rate = this.audio?.sampleRate ?? 0;
    const kept = units.filter((a) => Math.round((a.pts - zero) * rate / VIDEO_TIMESCALE) >= this.audioEnd - AAC_FRAME_SAMPLES / 2);
    if (!kept.length) {
      return undefined;
    }
    const at = Math.round((kept[0].pts - zero) * rate / VIDEO_TIMESCALE);
    // Contiguous with what came before unless the camera's clock says there was a gap of more than half a frame.
    const baseTime = Math.abs(at - this.audioEnd) <= AAC_FRAME_SAMPLES / 2 ? this.audioEnd : at;
    this.audioEnd = baseTime + kept.length * AAC_FRAME_SAMPLES;
    return { baseTime, samples: kept.map((a) => ({ data: a.data, duration: AAC_FRAME_SAMPLES, sync: true })) };
  }
}
