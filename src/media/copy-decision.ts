// Whether a camera's video can go to HomeKit as the camera sends it (copied) or must be transcoded, and when not, why:
// one sentence that names the camera setting to change and what to set it to. Live view copies any H.264 HomeKit shows;
// a HomeKit Secure Video clip copies only video that meets the hub's recording configuration (size, H.264 profile and
// level, and a keyframe interval and bitrate its fragments can take). Live view, recording and `probe` all ask here.
import type { CameraRecordingConfiguration } from 'homebridge';
import type { MediaProfile } from '../onvif/profiles';
import { HKSV_COPY_MAX_KBPS, HKSV_KEYFRAME_TOLERANCE } from '../settings';
import { HOMEKIT_LEVEL_IDC, HOMEKIT_PROFILE_IDC } from './h264';
import type { StreamFacts } from './source';

/** H.264 profile_idc → the name cameras' settings use. */
const PROFILE_NAMES: Record<number, string> = {
  66: 'Baseline', 77: 'Main', 88: 'Extended', 100: 'High', 110: 'High 10', 122: 'High 4:2:2', 244: 'High 4:4:4',
};

/**
 * What copied video must be: who takes it (in the sentence), the highest H.264 profile and level it takes (HAP's
 * H264Profile and H264Level: 0 Baseline / 3.1, 1 Main / 3.2, 2 High / 4.0), and the size, when one is asked for.
 */
interface CopyTarget {
  who: string;
  profile: number;
  level?: number;
  width?: number;
  height?: number;
}

/** The camera settings live view and recording check alike: codec, size, H.264 profile and level. */
function h264Blocker(f: StreamFacts, t: CopyTarget): string | undefined {
  if (f.codec !== 'h264') {
    return `the camera sends ${f.codec?.toUpperCase() ?? 'an unknown codec'} and ${t.who} takes H.264 only; set the camera's stream to H.264`;
  }
  if (t.width !== undefined && (f.width !== t.width || f.height !== t.height)) {
    const size = `${t.width}x${t.height}`;
    return `the camera's stream is ${f.width}x${f.height} and ${t.who} takes ${size}; set one of the camera's streams to ${size}`;
  }
  const profiles = HOMEKIT_PROFILE_IDC.slice(0, t.profile + 1);
  if (f.profileIdc !== undefined && !profiles.includes(f.profileIdc)) {
    const name = PROFILE_NAMES[f.profileIdc] ? `${PROFILE_NAMES[f.profileIdc]} (${f.profileIdc})` : `profile_idc ${f.profileIdc}`;
    const names = profiles.map((idc) => PROFILE_NAMES[idc]);
    const takes = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0];
    return `the camera's H.264 profile is ${name} and ${t.who} takes ${takes}; set the camera's H.264 profile to ${names.at(-1)}`;
  }
  const maxLevelIdc = t.level === undefined ? undefined : HOMEKIT_LEVEL_IDC[t.level] ?? 40;
  if (maxLevelIdc !== undefined && f.levelIdc !== undefined && f.levelIdc > maxLevelIdc) {
    const max = (maxLevelIdc / 10).toFixed(1);
    return `the camera's H.264 level is ${(f.levelIdc / 10).toFixed(1)} and ${t.who} takes up to ${max}; set the camera's ` +
      `H.264 level to ${max} (or lower its resolution or frame rate)`;
  }
  return undefined;
}

/** Why live view cannot copy the camera's video (HomeKit shows H.264 Baseline, Main or High at any size), or undefined. */
export function liveCopyBlocker(facts: StreamFacts): string | undefined {
  return h264Blocker(facts, { who: 'HomeKit', profile: HOMEKIT_PROFILE_IDC.length - 1 });
}

/** The fragment length the hub selected (ms). */
export function fragmentLengthMs(config: CameraRecordingConfiguration): number {
  return config.mediaContainerConfiguration.fragmentLength || config.videoCodec.parameters.iFrameInterval;
}

/**
 * Why a clip of the hub's configuration cannot copy the camera's stream of this ONVIF profile, whose measured facts are
 * `f`, or undefined when it can.
 */
export function recordingCopyBlocker(config: CameraRecordingConfiguration, profile: MediaProfile, f: StreamFacts): string | undefined {
  const [width, height] = config.videoCodec.resolution;
  const p = config.videoCodec.parameters;
  const h264 = h264Blocker(f, { who: 'the hub', profile: p.profile, level: p.level, width, height });
  if (h264) {
    return h264;
  }
  const kbps = profile.bitrateKbps ?? f.bitrateKbps;
  const fps = f.fps ?? profile.fps;
  // Measured once two keyframes have arrived; until then what ONVIF says (GovLength frames at the frame rate).
  const gopMs = f.keyframeIntervalMs ?? (profile.govLength && fps ? profile.govLength / fps * 1000 : undefined);
  const fragmentMs = fragmentLengthMs(config);
  if (gopMs === undefined || !keyframesFitFragments(gopMs, f.keyframeIntervalsMs, fragmentMs)) {
    // Copying cuts fragments only at the camera's keyframes: they must fall on every fragment boundary (a GOP of 1, 2 or
    // 4 s for the hubs' 4 s fragments, cut every 4th, 2nd or each keyframe). Fragments of another length (a 3, 5 or 8 s
    // or a variable GOP) are not known to be accepted by hubs, so those clips are transcoded with keyframes forced on
    // the fragment boundaries.
    const varies = isVariable(f.keyframeIntervalsMs);
    const told = gopMs === undefined ? 'unknown' : varies ? `variable (${f.keyframeIntervalsMs?.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s)` : `${(gopMs / 1000).toFixed(1)} s`;
    const frames = (s: number): string => (fps ? `${Math.round(fps * s)} frames` : `${s} s`);
    return `the camera's keyframe interval is ${told}, which does not divide the hub's ${fragmentMs / 1000} s fragments; ` +
      `set the camera's I-frame interval (GOP) to a fixed ${frames(p.iFrameInterval / 1000)}` +
      `${fragmentMs >= 2000 ? ` (or ${frames(fragmentMs / 2000)})` : ''}${varies ? ' and turn off its smart/variable GOP' : ''}`;
  }
  if (kbps !== undefined && kbps > HKSV_COPY_MAX_KBPS) {
    return `the camera's bitrate (${kbps} kbps) is above ${HKSV_COPY_MAX_KBPS} kbps; lower it to 2048 kbps in the camera`;
  }
  return undefined;
}

/** The camera's keyframe intervals (the last few measured) vary by more than the tolerance: a variable GOP. */
function isVariable(intervalsMs: number[] | undefined): boolean {
  if (!intervalsMs || intervalsMs.length < 2) {
    return false;
  }
  return Math.max(...intervalsMs) - Math.min(...intervalsMs) > Math.max(...intervalsMs) * HKSV_KEYFRAME_TOLERANCE;
}

/** A steady GOP whose whole multiple is the fragment length (within the tolerance): copying can cut every fragment. */
function keyframesFitFragments(gopMs: number, intervalsMs: number[] | undefined, fragmentMs: number): boolean {
  if (isVariable(intervalsMs) || gopMs <= 0 || gopMs > fragmentMs * (1 + HKSV_KEYFRAME_TOLERANCE)) {
    return false;
  }
  const per = Math.max(1, Math.round(fragmentMs / gopMs));
  return Math.abs(per * gopMs - fragmentMs) <= fragmentMs * HKSV_KEYFRAME_TOLERANCE;
}
