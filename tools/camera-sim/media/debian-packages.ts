import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-root';

/** The list lives in debian-packages.json so the plain-JS install script can read it before any build. */
function load(): string[] {
  const file = join(repoRoot(), 'tools', 'camera-sim', 'media', 'debian-packages.json');
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) {
    throw new Error(`${file}: expected a JSON array of package names`);
  }
  return parsed;
}

/** Debian packages the simulated cameras' media needs: ffmpeg (clips) and GStreamer's RTSP server. */
export const DEBIAN_PACKAGES: readonly string[] = load();

/** The exact command that installs them. */
export function aptInstallHint(): string {
  return `apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
}
