// Which Homebridge release line the e2e suite runs against, and how to launch it: tools/test.js runs the suite once per
// line with COURTYARD_HB_LINE=1 (Homebridge 1.x on this Node) and =2 (Homebridge 2.x, ESM, on the bundled Node 22).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths';

export type HbLine = 1 | 2;

export interface HomebridgeLaunch {
  line: HbLine;
  /** Node binary that runs Homebridge. */
  node: string;
  /** Homebridge's bin script. */
  bin: string;
  /** Version from the installed package.json, e.g. '1.11.4'. */
  version: string;
}

export function currentHbLine(): HbLine {
  const raw = process.env.COURTYARD_HB_LINE ?? '2';
  if (raw !== '1' && raw !== '2') {
    throw new Error(`COURTYARD_HB_LINE must be 1 or 2, got "${raw}"`);
  }
  return raw === '1' ? 1 : 2;
}

function nodeMajor(version: string): number {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

export function homebridgeLaunchFor(line: HbLine): HomebridgeLaunch {
  const root = repoRoot();
  const packageDir = join(root, 'node_modules', line === 1 ? 'homebridge1' : 'homebridge');
  const bin = join(packageDir, 'bin', line === 1 ? 'homebridge' : 'homebridge.js');
  // Homebridge 2 requires Node >= 22; this process may be Node 20, so use the bundled Node 22 unless we already are.
  const node = line === 2 && nodeMajor(process.version) < 22 ? join(root, 'node_modules/node22/bin/node') : process.execPath;
  for (const file of [bin, node]) {
    if (!existsSync(file)) {
      throw new Error(`Homebridge ${line}.x launcher is missing ${file} (run npm ci)`);
    }
  }
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  if (nodeMajor(version) !== line) {
    throw new Error(`${packageDir} holds homebridge ${version}, expected ${line}.x`);
  }
  return { line, node, bin, version };
}
