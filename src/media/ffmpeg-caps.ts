// What the ffmpeg at hand can encode: decides which live audio codec HomeKit is offered (AAC-ELD needs libfdk_aac,
// which Debian's ffmpeg lacks) and whether a configured hardware encoder exists.
import { execFile } from 'node:child_process';
import { FFMPEG_PROBE_TIMEOUT_MS } from '../settings';

const cache = new Map<string, Promise<Set<string>>>();

/** Encoder names of an ffmpeg binary, asked once per binary; empty when it cannot be run. */
export function encodersOf(ffmpegPath: string): Promise<Set<string>> {
  let known = cache.get(ffmpegPath);
  if (!known) {
    known = new Promise((resolve) => {
      execFile(ffmpegPath, ['-hide_banner', '-encoders'], { timeout: FFMPEG_PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) => {
        // " V....D libx264   libx264 H.264 ..." → libx264
        const names = (stdout || '').split('\n').map((l) => /^\s[VAS][\w.]{5}\s+(\S+)/.exec(l)?.[1]).filter((n): n is string => !!n);
        resolve(err && names.length === 0 ? new Set() : new Set(names));
      });
    });
    cache.set(ffmpegPath, known);
  }
  return known;
}
