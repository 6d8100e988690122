/** One encoded stream a simulated camera offers (an ONVIF media profile). */
export interface SimStreamProfile {
  name: 'main' | 'sub';
  width: number;
  height: number;
  fps: number;
  /** Frames from one keyframe to the next; fixed (no scene-cut keyframes). */
  gopFrames: number;
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

/** Whole GOPs per clip, so the loop point is a keyframe; 2 keeps the clip (and a loop test) short. */
export const CLIP_GOPS = 2;

/** The clip's audio: AAC-LC mono, like most cameras' microphones. */
export const AUDIO = { sampleRate: 16000, channels: 1, bitrateKbps: 32, toneHz: 1000 } as const;

/** AAC-LC codes 1024 samples per frame. */
export const AAC_FRAME_SAMPLES = 1024;

export function clipSeconds(profile: SimStreamProfile): number {
  return (CLIP_GOPS * profile.gopFrames) / profile.fps;
}
