import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFfmpeg } from '../../src/media/ffmpeg-path';

describe('findFfmpeg', () => {
  let dir: string;
  let fake: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-ffmpeg-'));
    fake = join(dir, 'ffmpeg');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers the configured videoProcessor', () => {
    const c = findFfmpeg(fake, { PATH: '' }, () => '/nowhere');
    assert.deepEqual(c, { path: fake, source: 'videoProcessor', problems: [] });
  });

  it('uses ffmpeg-for-homebridge next, and says why a configured path was not used', () => {
    const c = findFfmpeg('/no/such/ffmpeg', { PATH: dir }, () => fake);
    assert.equal(c.source, 'ffmpeg-for-homebridge');
    assert.match(c.problems[0], /"videoProcessor" \/no\/such\/ffmpeg is not an executable file/);
  });

  it('falls back to ffmpeg on PATH', () => {
    assert.deepEqual(findFfmpeg(undefined, { PATH: `/nonexistent:${dir}` }, () => undefined), { path: fake, source: 'PATH', problems: [] });
  });

  it('gives one clear problem when there is no ffmpeg at all', () => {
    const c = findFfmpeg(undefined, { PATH: '/nonexistent' }, () => undefined);
    assert.equal(c.path, undefined);
    assert.equal(c.problems.length, 1);
    assert.match(c.problems[0], /no ffmpeg found: install it .* or set "videoProcessor"/);
  });
});
