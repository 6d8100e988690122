'use strict';
// Checks the Debian packages that the demo needs (ffmpeg, GStreamer's RTSP server for the simulated cameras) and, with
// --tests, what only the tests need (Chromium for the settings page test: heavy, and no use to `npm start`), and installs the missing ones with apt-get when allowed, or stops with
// the exact command to run.
// Plain JavaScript: it runs before anything is compiled.
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const PYTHON = '/usr/bin/python3'; // Debian's python: the one python3-gi belongs to (a pyenv python3 on PATH has no gi).

function mediaPackages() {
  const file = join(ROOT, 'tools/camera-sim/media/debian-packages.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
}

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20000 });
  return r.status === 0;
}

/** The Debian packages that are missing, by probing what they provide. */
function missingPackages({ tests = false } = {}) {
  const missing = [];
  if (!has('ffmpeg', ['-hide_banner', '-version']) || !has('ffprobe', ['-hide_banner', '-version'])) {
    missing.push('ffmpeg');
  }
  // The settings page's browser test drives Debian's Chromium (playwright-core downloads no browser here).
  if (tests && !existsSync('/usr/bin/chromium')) {
    missing.push('chromium');
  }
  const gst = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer";
  if (!existsSync(PYTHON) || !has(PYTHON, ['-c', gst])) {
    missing.push(...mediaPackages());
  }
  return [...new Set(missing)];
}

function ensureSystemDeps({ install, tests = false }) {
  const missing = missingPackages({ tests });
  if (missing.length === 0) {
    return;
  }
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!install || !isRoot) {
    throw new Error(`missing system packages: ${missing.join(', ')}. Install them with:\n  sudo sh -c '${command}'`);
  }
  console.log(`Installing missing system packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env, timeout: 15 * 60 * 1000 });
    if (r.status !== 0) {
      throw new Error(`apt-get ${args[0]} failed (exit ${r.status}); run it by hand:\n  sudo sh -c '${command}'`);
    }
  }
  const still = missingPackages({ tests });
  if (still.length) {
    throw new Error(`still missing after apt-get: ${still.join(', ')}`);
  }
}

module.exports = { ensureSystemDeps, missingPackages };

if (require.main === module) {
  try {
    ensureSystemDeps({ install: process.argv.includes('--install'), tests: process.argv.includes('--tests') });
    console.log('system packages: all present');
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
