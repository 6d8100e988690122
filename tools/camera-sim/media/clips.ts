import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstallHint } from './debian-packages';
import {
  AUDIO, FRAME_BITS, FRAME_BLOCK_OF_WIDTH, FRAME_BLOCKS, PROFILES, SimStreamProfile, clipSeconds, keyframeIndexes,
} from './profiles';
import { repoRoot } from './repo-root';
import { runProcess } from './run-process';

export interface ClipFiles {
  main: string;
  sub: string;
  mainJpeg: string;
  subJpeg: string;
}

const FFMPEG = 'ffmpeg';
/** Bump when the output changes in a way the argument lists do not show. */
const CACHE_FORMAT = 3;
const ENCODE_TIMEOUT_MS = 120_000;
const SNAPSHOT_AT_SECONDS = 1;
const OUTPUT_PLACEHOLDER = '<out>';
const INPUT_PLACEHOLDER = '<in>';

export function defaultCacheDir(): string {
  return join(repoRoot(), '.cache', 'camera-sim');
}

/**
 * The frame-number strip (see profiles.ts): black row, white start block, a white block per 1 bit of the frame index n,
 * a white parity block when the 1 bits are odd (so the blocks after the start block are always an even number of whites). drawbox's timeline
 * `enable` reads n per frame: no decoding or font needed, 18 cheap boxes per frame.
 */
export function frameNumberFilter(p: SimStreamProfile): string {
  const b = Math.round(p.width * FRAME_BLOCK_OF_WIDTH);
  const box = (i: number, color: string, enable?: string): string =>
    `drawbox=x=${i * b}:y=0:w=${b}:h=${b}:color=${color}:t=fill${enable ? `:enable='${enable}'` : ''}`;
  const bit = (k: number): string => `mod(floor(n/${2 ** k}),2)`;
  const ones = Array.from({ length: FRAME_BITS }, (_, k) => bit(k)).join('+');
  return [
    `drawbox=x=0:y=0:w=${FRAME_BLOCKS * b}:h=${b}:color=black:t=fill`,
    box(0, 'white'),
    ...Array.from({ length: FRAME_BITS }, (_, k) => box(k + 1, 'white', `eq(${bit(k)},1)`)),
    box(FRAME_BITS + 1, 'white', `eq(mod(${ones},2),1)`),
  ].join(',');
}

/** x264 keyframe placement: a fixed GOP, or the variable pattern's keyframes forced at their times (no scene cuts). */
function gopArgs(p: SimStreamProfile): string[] {
  if (!p.gopPatternFrames) {
    return ['-g', String(p.gopFrames), '-keyint_min', String(p.gopFrames), '-sc_threshold', '0'];
  }
  const times = keyframeIndexes(p).map((f) => (f / p.fps).toFixed(3)).join(',');
  return ['-g', String(p.gopFrames + 1), '-keyint_min', '1', '-sc_threshold', '0', '-force_key_frames', times];
}

/** ffmpeg arguments that encode one profile's clip: moving test picture with frame numbers + tone, set GOP, no B-frames. */
function clipArgs(p: SimStreamProfile): string[] {
  const seconds = clipSeconds(p);
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${p.width}x${p.height}:rate=${p.fps}:duration=${seconds}`,
    // One second more audio than video: the server cuts exactly one loop's worth of AAC frames after
    // the encoder's priming frame, which it could not do if the audio ended with the video.
    '-f', 'lavfi', '-i', `sine=frequency=${AUDIO.toneHz}:sample_rate=${AUDIO.sampleRate}:duration=${seconds + 1}`,
    '-map', '0:v', '-map', '1:a', '-vf', frameNumberFilter(p),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-profile:v', p.h264Profile.toLowerCase(), '-level:v', p.level,
    // Keyframes where the camera's GOP puts them (no scene-cut keyframes) and no B-frames, like an IP camera.
    ...gopArgs(p), '-bf', '0',
    '-b:v', `${p.bitrateKbps}k`, '-maxrate', `${p.bitrateKbps}k`, '-bufsize', `${p.bitrateKbps}k`,
    '-c:a', 'aac', '-b:a', `${AUDIO.bitrateKbps}k`, '-ac', String(AUDIO.channels), '-ar', String(AUDIO.sampleRate),
    '-movflags', '+faststart', '-f', 'mp4', OUTPUT_PLACEHOLDER,
  ];
}

/** ffmpeg arguments that take one JPEG frame out of a clip (so the snapshot matches the video). */
function jpegArgs(): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-ss', String(SNAPSHOT_AT_SECONDS), '-i', INPUT_PLACEHOLDER,
    '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '4', '-f', 'image2', '-update', '1', OUTPUT_PLACEHOLDER,
  ];
}

/** The cache key: every argument that shapes the files, so a change re-encodes and nothing else does. */
function cacheKey(p: SimStreamProfile): string {
  const spec = JSON.stringify({ format: CACHE_FORMAT, clip: clipArgs(p), jpeg: jpegArgs() });
  return createHash('sha256').update(spec).digest('hex').slice(0, 16);
}

function fill(args: string[], input: string, output: string): string[] {
  return args.map((a) => (a === OUTPUT_PLACEHOLDER ? output : a === INPUT_PLACEHOLDER ? input : a));
}

function isNonEmptyFile(file: string): boolean {
  return existsSync(file) && statSync(file).size > 0;
}

/**
 * Runs ffmpeg into a private temp name and renames it into place: rename is atomic, so neither a
 * crash nor a second process encoding the same file at the same time can leave a partial file.
 */
async function produce(final: string, args: string[], input: string): Promise<void> {
  if (isNonEmptyFile(final)) {
    return;
  }
  const temp = `${final}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    let result;
    try {
      result = await runProcess(FFMPEG, fill(args, input, temp), ENCODE_TIMEOUT_MS, 1024 * 1024);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(`camera-sim media: ffmpeg is not installed; run: ${aptInstallHint()}`);
      }
      throw err;
    }
    if (result.code !== 0 || !isNonEmptyFile(temp)) {
      throw new Error(`camera-sim media: ffmpeg failed to write ${final} (exit ${result.code ?? result.signal}): ${result.stderr.trim()}`);
    }
    renameSync(temp, final);
  } finally {
    rmSync(temp, { force: true });
  }
}

/** One profile's clip and snapshot, encoded once and cached (any GOP variant of a profile). */
export async function ensureProfile(cacheDir: string, p: SimStreamProfile): Promise<{ clip: string; jpeg: string }> {
  mkdirSync(cacheDir, { recursive: true });
  const base = join(cacheDir, `${p.name}-${p.width}x${p.height}-${cacheKey(p)}`);
  const clip = `${base}.mp4`;
  const jpeg = `${base}.jpg`;
  await produce(clip, clipArgs(p), '');
  await produce(jpeg, jpegArgs(), clip);
  return { clip, jpeg };
}

/**
 * Removes temp files of encodes that died with their process. Only ones older than twice the encode
 * timeout: a younger one may belong to a live encode in another process.
 */
function removeStaleTemps(cacheDir: string): void {
  const now = Date.now();
  for (const name of readdirSync(cacheDir)) {
    if (!name.endsWith('.tmp')) {
      continue;
    }
    const file = join(cacheDir, name);
    try {
      if (now - statSync(file).mtimeMs > 2 * ENCODE_TIMEOUT_MS) {
        rmSync(file, { force: true });
      }
    } catch {
      // Renamed or removed by its own process meanwhile: nothing to clean.
    }
  }
}

const inFlight = new Map<string, Promise<ClipFiles>>();

/**
 * Encodes (once; later calls hit the cache) the main and sub clips and their JPEG snapshots.
 * First run on 2 cores: about 2 s, mostly the 1080p encode.
 */
export function ensureClips(cacheDir: string = defaultCacheDir()): Promise<ClipFiles> {
  const pending = inFlight.get(cacheDir);
  if (pending) {
    return pending;
  }
  const work = (async (): Promise<ClipFiles> => {
    mkdirSync(cacheDir, { recursive: true });
    removeStaleTemps(cacheDir);
    const main = await ensureProfile(cacheDir, PROFILES.main);
    const sub = await ensureProfile(cacheDir, PROFILES.sub);
    return { main: main.clip, sub: sub.clip, mainJpeg: main.jpeg, subJpeg: sub.jpeg };
  })();
  inFlight.set(cacheDir, work);
  // Only concurrent callers share a run; later calls re-check the files (cheap), so a deleted cache heals.
  const forget = (): void => {
    inFlight.delete(cacheDir);
  };
  work.then(forget, forget);
  return work;
}
