// Real H.265 for the HEVC tests: libx265 (Debian's ffmpeg has it) from ffmpeg's test pattern, as an Annex B stream cut
// into access units. Small and fast (a 320x240 second is made in about 0.2 s).
import { execFileSync, spawnSync } from 'node:child_process';
import { splitAnnexB } from '../../src/media/h264';
import { HEVC_NAL, hevcNalType, isHevcIrap, isHevcSlice } from '../../src/media/h265';

export interface HevcOptions {
  /** e.g. '320x240' */
  size: string;
  frames: number;
  fps?: number;
  /** Extra x265-params (':'-separated), after log-level=error. Default: keyint 10, no B-frames. */
  x265?: string;
  pixFmt?: string;
}

/** An Annex B H.265 stream from libx265. */
export function encodeHevc(o: HevcOptions): Buffer {
  return execFileSync('ffmpeg', [
    '-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=s=${o.size}:r=${o.fps ?? 15}`, '-frames:v', String(o.frames),
    '-pix_fmt', o.pixFmt ?? 'yuv420p', '-c:v', 'libx265', '-preset', 'ultrafast',
    '-x265-params', `log-level=error:${o.x265 ?? 'keyint=10:min-keyint=10:bframes=0:scenecut=0'}`, '-f', 'hevc', 'pipe:1',
  ], { maxBuffer: 64 << 20, timeout: 20_000 });
}

export interface HevcUnit {
  nalus: Buffer[];
  keyframe: boolean;
}

/** Access units of an Annex B stream (H.265 §7.4.2.4.4): a new one starts at an AUD, VPS, SPS, PPS or prefix SEI after a
 *  slice, or at a slice with first_slice_segment_in_pic_flag set after a slice. */
export function hevcAccessUnits(annexB: Buffer): HevcUnit[] {
  const out: HevcUnit[] = [];
  let current: Buffer[] = [];
  let hasSlice = false;
  const close = (): void => {
    if (current.length) {
      out.push({ nalus: current, keyframe: current.some((n) => isHevcIrap(hevcNalType(n))) });
    }
    current = [];
    hasSlice = false;
  };
  for (const nal of splitAnnexB(annexB)) {
    const type = hevcNalType(nal);
    const slice = isHevcSlice(type);
    if (hasSlice && ((type >= HEVC_NAL.VPS && type <= HEVC_NAL.AUD) || type === HEVC_NAL.SEI_PREFIX || (slice && (nal[2] & 0x80) !== 0))) {
      close();
    }
    current.push(nal);
    hasSlice ||= slice;
  }
  close();
  return out;
}

/** What ffprobe reads from a stream (a file or '-' with `input`): codec, size, frames, keyframes; and ffmpeg's errors
 *  decoding it all. */
export function probeVideo(args: string[], input?: Buffer): { codec: string; width: number; height: number; level: number; frames: number; keyframes: number } {
  const text = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,level:frame=key_frame',
    '-of', 'json', ...args], { input, maxBuffer: 64 << 20, timeout: 20_000 }).toString();
  const j = JSON.parse(text) as { streams: { codec_name: string; width: number; height: number; level: number }[]; frames: { key_frame: number }[] };
  return {
    codec: j.streams[0]?.codec_name, width: j.streams[0]?.width, height: j.streams[0]?.height, level: j.streams[0]?.level,
    frames: j.frames.length, keyframes: j.frames.filter((f) => f.key_frame === 1).length,
  };
}

/** ffmpeg's decoder errors for a stream (empty: it decoded cleanly). */
export function decodeErrors(args: string[], input?: Buffer): string {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', ...args, '-f', 'null', '-'], { input, maxBuffer: 64 << 20, timeout: 20_000 });
  return `${r.stderr.toString()}${r.status === 0 ? '' : `exit ${r.status}`}`;
}
