// What several benchmarks compute the same way: nearest-rank percentiles and the versions they ran against.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/e2e/rig/paths';

/** Nearest-rank percentile of values sorted ascending; NaN for none. */
export function nearestRank(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN;
}

/** The version of an installed package, from its directory under the repo root (e.g. node_modules/homebridge1). */
export function packageVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(repoRoot(), dir, 'package.json'), 'utf8')) as { version: string }).version;
}
