// What the ffmpeg at hand can encode: decides which live audio codec HomeKit is offered (AAC-ELD needs libfdk_aac,
// which Debian's ffmpeg lacks) and whether a configured hardware encoder exists.
import { execFile, execFileSync } from 'node:child_process';
import { FFMPEG_PROBE_TIMEOUT_MS } from '../settings';

const cache = new Map<string, Promise<Set<string>>>();
const answered = new Map<string, Set<string>>();

// " V....D libx264   libx264 H.264 ..." → libx264
function encoderNames(stdout: string): Set<string> {
  return new Set(stdout.split('\n').map((l) => /^\s[VAS][\w.]{5}\s+(\S+)/.exec(l)?.[1]).filter((n): n is string => !!n));
}

/** Encoder names of an ffmpeg binary, asked once per binary; empty when it cannot be run. */
export function encodersOf(ffmpegPath: string): Promise<Set<string>> {
  let known = cache.get(ffmpegPath);
  if (!known) {
    known = new Promise((resolve) => {
      execFile(ffmpegPath, ['-hide_banner', '-encoders'], { timeout: FFMPEG_PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) => {
        const names = encoderNames(stdout || '');
        const result = err && names.size === 0 ? new Set<string>() : names;
        answered.set(ffmpegPath, result);
        resolve(result);
      });
    });
    cache.set(ffmpegPath, known);
  }
  return known;
}

/**
 * The same, answered at once: for putting cameras Home already has back before Homebridge publishes the bridge (it does
 * not wait for anything asynchronous), so a hub or a viewer arriving right after a restart finds each camera whole.
 * Runs ffmpeg synchronously (bounded) only when the binary has not been asked yet in this process.
 */
export function encodersOfSync(ffmpegPath: string): Set<string> {
  const known = answered.get(ffmpegPath);
  if (known) {
    return known;
  }
  let result: Set<string>;
  try {
    result = encoderNames(execFileSync(ffmpegPath, ['-hide_banner', '-encoders'],
      { timeout: FFMPEG_PROBE_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch (err) {
    result = encoderNames(String((err as { stdout?: unknown }).stdout ?? ''));
  }
  answered.set(ffmpegPath, result);
  cache.set(ffmpegPath, Promise.resolve(result));
  return result;
}
