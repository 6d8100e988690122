// HomeKit's H.264 words in the two other vocabularies the plugin speaks: the SPS (what a camera sends) and ffmpeg's
// encoder options (what we make when the camera's video cannot be copied). Live view and recording share them.

/** SPS profile_idc for HomeKit's H264Profile values (0 Baseline, 1 Main, 2 High). */
export const HOMEKIT_PROFILE_IDC = [66, 77, 100];
/** SPS level_idc for HomeKit's H264Level values (0 = 3.1, 1 = 3.2, 2 = 4.0). */
export const HOMEKIT_LEVEL_IDC = [31, 32, 40];
/** The same values as ffmpeg's -profile:v and -level:v take them. */
export const X264_PROFILES = ['baseline', 'main', 'high'];
export const X264_LEVELS = ['3.1', '3.2', '4.0'];

export interface EncodeOptions {
  encoder: string;
  /** libx264 only: ultrafast + zerolatency for live view, a better preset for recordings. */
  x264Preset: string[];
  /** HomeKit's H264Profile and H264Level values. */
  profile: number;
  level: number;
  width: number;
  height: number;
  fps: number;
  kbps: number;
  keyframeIntervalFrames: number;
  /** Keyframes forced at exactly this interval (s): HKSV fragments must start on them. */
  forceKeyframesS?: number;
}

/** ffmpeg video-encoding arguments for HomeKit: scaled into the asked size (aspect kept), constant-ish bitrate, no B-frames. */
export function encodeArgs(o: EncodeOptions): string[] {
  return [
    '-c:v', o.encoder, ...(o.encoder === 'libx264' ? o.x264Preset : []),
    '-pix_fmt', 'yuv420p', '-profile:v', X264_PROFILES[o.profile] ?? 'main', '-level:v', X264_LEVELS[o.level] ?? '4.0',
    '-vf', `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease:force_divisible_by=2`, '-r', String(o.fps),
    '-b:v', `${o.kbps}k`, '-maxrate', `${o.kbps}k`, '-bufsize', `${o.kbps * 2}k`,
    '-g', String(o.keyframeIntervalFrames),
    ...(o.forceKeyframesS ? ['-force_key_frames', `expr:gte(t,n_forced*${o.forceKeyframesS})`] : []),
    '-bf', '0',
  ];
}
