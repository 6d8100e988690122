// Where the repo and the e2e scratch space are, independent of cwd and of whether we run from test/ or .build/test/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cachedRoot: string | undefined;

/** The directory holding package.json named homebridge-courtyard (searched upwards from this file, bounded). */
export function repoRoot(): string {
  if (cachedRoot) {
    return cachedRoot;
  }
  let dir = __dirname;
  for (let depth = 0; depth < 8; depth++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'homebridge-courtyard') {
      cachedRoot = dir;
      return dir;
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the homebridge-courtyard package.json above ${__dirname}`);
}

/** A fresh directory under <repo>/.test-tmp (git-ignored); the caller removes it. */
export function makeTempDir(prefix: string): string {
  const base = join(repoRoot(), '.test-tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${prefix}-`));
}
