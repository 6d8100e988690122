/** One encoded stream a simulated camera offers (an ONVIF media profile). */
export interface SimStreamProfile {
  name: 'main' | 'sub';
  width: number;
  height: number;
  fps: number;
  /** Frames from one keyframe to the next; fixed (no scene-cut keyframes). For a variable GOP: the longest gap. */
  gopFrames: number;
  /** A variable GOP: the gaps between keyframes (frames), repeated; undefined for a fixed GOP of gopFrames. */
  gopPatternFrames?: number[];
  bitrateKbps: number;
  h264Profile: 'Main' | 'High' | 'Baseline';
  /** H.264 level as ffmpeg's -level takes it ("4.0"); ffprobe reports it as level_idc (40). */
  level: string;
}

export const PROFILES: Record<'main' | 'sub', SimStreamProfile> = {
  // A 4 s keyframe interval is what HomeKit Secure Video hubs ask for, so a plugin can stream-copy it.
  main: { name: 'main', width: 1920, height: 1080, fps: 15, gopFrames: 60, bitrateKbps: 2000, h264Profile: 'Main', level: '4.0' },
  sub: { name: 'sub', width: 640, height: 360, fps: 15, gopFrames: 60, bitrateKbps: 400, h264Profile: 'Main', level: '3.0' },
};

/** Keyframe intervals a simulated camera can be given (s): what cameras ship with, and a variable one ("auto"/smart codec). */
export type GopOption = 1 | 2 | 4 | 8 | 'variable';
export const GOP_OPTIONS: readonly GopOption[] = [1, 2, 4, 8, 'variable'];
/** The variable GOP's keyframe gaps (s), repeated: irregular, 3–8 s, none a divisor of the hubs' 4 s fragments but one. */
export const VARIABLE_GOP_S = [3, 5, 8] as const;

/** `profile` with keyframes every `gop` seconds (or the variable pattern). */
export function withGop(profile: SimStreamProfile, gop: GopOption): SimStreamProfile {
  if (gop === 'variable') {
    const pattern = VARIABLE_GOP_S.map((s) => s * profile.fps);
    return { ...profile, gopFrames: Math.max(...pattern), gopPatternFrames: pattern };
  }
  return { ...profile, gopFrames: gop * profile.fps, gopPatternFrames: undefined };
}

/** Whole GOPs per clip, so the loop point is a keyframe; 2 keeps the clip (and a loop test) short. */
export const CLIP_GOPS = 2;

/** The clip's audio: AAC-LC mono, like most cameras' microphones. */
export const AUDIO = { sampleRate: 16000, channels: 1, bitrateKbps: 32, toneHz: 1000 } as const;

/** AAC-LC codes 1024 samples per frame. */
export const AAC_FRAME_SAMPLES = 1024;

/** Keyframe positions within one clip (frame indexes), the first at 0. */
export function keyframeIndexes(profile: SimStreamProfile): number[] {
  const gaps = profile.gopPatternFrames ?? [profile.gopFrames];
  const out: number[] = [];
  for (let at = 0, i = 0; at < clipFrames(profile); at += gaps[i++ % gaps.length]) {
    out.push(at);
  }
  return out;
}

/**
 * Frames per clip: at least CLIP_GOPS GOPs (a whole variable pattern), whole GOPs so the loop point is a keyframe, and a
 * whole number of AAC frames so audio and video loop together (the RTSP server refuses a clip that is not).
 */
export function clipFrames(profile: SimStreamProfile): number {
  const unit = profile.gopPatternFrames ? profile.gopPatternFrames.reduce((a, b) => a + b, 0) : profile.gopFrames;
  const minUnits = profile.gopPatternFrames ? 1 : CLIP_GOPS;
  for (let units = minUnits; units < minUnits + 64; units++) {
    const frames = units * unit;
    if ((frames * AUDIO.sampleRate) % (profile.fps * AAC_FRAME_SAMPLES) === 0) {
      return frames;
    }
  }
  throw new Error(`no clip length fits GOP ${unit} frames at ${profile.fps} fps with ${AUDIO.sampleRate} Hz AAC`);
}

export function clipSeconds(profile: SimStreamProfile): number {
  return clipFrames(profile) / profile.fps;
}

// ---- Frame numbers drawn into the picture ----
// Each frame carries its index in the clip as a row of square blocks at the top left: a white start block, FRAME_BITS
// bits (least significant first, white = 1) and an odd-parity block, on black. Blocks are a thirtieth of the width
// (64 px at 1080p, 21 px at 360p): they survive H.264 at camera bitrates and scaling, and read back from a tiny
// area-averaged gray image (test/e2e/rig/frame-numbers.ts). The simulator logs when it sends each index.
export const FRAME_BITS = 16;
export const FRAME_BLOCKS = FRAME_BITS + 2;
/** Block size as a fraction of the picture's width. */
export const FRAME_BLOCK_OF_WIDTH = 1 / 30;
