import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const MARKER = join('tools', 'camera-sim', 'media', 'rtsp_server.py');
const MAX_LEVELS = 12;

/**
 * The repository root, found by walking up from this file: the same code runs from tools/ (ts-node)
 * and from .build/tools/ (compiled), and non-TS files are only in the source tree.
 */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < MAX_LEVELS; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, MARKER))) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      break;
    }
    dir = parent;
  }
  throw new Error(`camera-sim media: cannot find the repository root (a folder with package.json and ${MARKER}) above ${__dirname}`);
}
