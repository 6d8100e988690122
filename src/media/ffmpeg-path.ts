import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type FfmpegSource = 'videoProcessor' | 'ffmpeg-for-homebridge' | 'PATH';

export interface FfmpegChoice {
  path?: string;
  source?: FfmpegSource;
  /** Said once per camera: a configured binary that could not be used, or no ffmpeg at all. */
  problems: string[];
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The binary ffmpeg-for-homebridge downloaded, when its install script ran (npm 11 skips it unless allowed). */
function bundled(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const p = require('ffmpeg-for-homebridge') as unknown;
    return typeof p === 'string' && executable(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

function onPath(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'ffmpeg'))) {
      return join(dir, 'ffmpeg');
    }
  }
  return undefined;
}

/** Picks ffmpeg in this order: the configured videoProcessor, ffmpeg-for-homebridge's binary, ffmpeg on PATH. */
export function findFfmpeg(videoProcessor: string | undefined, env: NodeJS.ProcessEnv = process.env,
  bundledPath: () => string | undefined = bundled): FfmpegChoice {
  const problems: string[] = [];
  if (videoProcessor) {
    if (executable(videoProcessor)) {
      return { path: videoProcessor, source: 'videoProcessor', problems };
    }
    problems.push(`"videoProcessor" ${videoProcessor} is not an executable file; falling back to the default ffmpeg`);
  }
  const fromPackage = bundledPath();
  if (fromPackage) {
    return { path: fromPackage, source: 'ffmpeg-for-homebridge', problems };
  }
  const fromPath = onPath(env);
  if (fromPath) {
    return { path: fromPath, source: 'PATH', problems };
  }
  problems.push('no ffmpeg found: install it (Debian/Raspberry Pi OS: sudo apt-get install ffmpeg) or set "videoProcessor" ' +
    'to its path; live view, snapshots and recording stay off until then, motion and doorbell still work');
  return { problems };
}
