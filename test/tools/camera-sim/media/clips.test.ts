import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIO, PROFILES, clipSeconds, ensureClips } from '../../../../tools/camera-sim/media';
import { runProcess } from '../../../../tools/camera-sim/media/run-process';
import { keyframeIntervals, packetsOf, probeFile } from './probe';

describe('camera-sim media clips', function () {
  this.timeout(120_000);

  for (const name of ['main', 'sub'] as const) {
    it(`encodes the ${name} clip as the profile says: H.264 size/profile/level, fixed GOP, whole GOPs, AAC-LC mono`, async () => {
      const profile = PROFILES[name];
      const clips = await ensureClips();
      const probe = await probeFile(clips[name]);
      const video = probe.streams.find((s) => s.codec_type === 'video');
      const audio = probe.streams.find((s) => s.codec_type === 'audio');
      assert.ok(video && audio, 'clip has video and audio');
      assert.equal(video.codec_name, 'h264');
      assert.equal(video.profile, profile.h264Profile);
      assert.equal(video.level, Math.round(Number(profile.level) * 10), 'level_idc as x264 wrote it');
      assert.deepEqual([video.width, video.height], [profile.width, profile.height]);
      const frames = packetsOf(probe, 'video');
      assert.equal(frames.length, clipSeconds(profile) * profile.fps);
      assert.equal(frames.length % profile.gopFrames, 0, 'whole GOPs: the loop point is a keyframe');
      assert.ok(frames[0].flags.startsWith('K'), 'starts on a keyframe');
      const intervals = keyframeIntervals(frames);
      assert.ok(intervals.length >= 1);
      assert.deepEqual(new Set(intervals), new Set([profile.gopFrames]));
      assert.equal(audio.codec_name, 'aac');
      assert.equal(audio.profile, 'LC');
      assert.equal(Number(audio.sample_rate), AUDIO.sampleRate);
      assert.equal(audio.channels, 1);
    });
  }

  it('makes JPEG snapshots of each profile size from the clip', async () => {
    const clips = await ensureClips();
    for (const [file, profile] of [[clips.mainJpeg, PROFILES.main], [clips.subJpeg, PROFILES.sub]] as const) {
      const probe = await probeFile(file);
      assert.equal(probe.streams[0]?.codec_name, 'mjpeg');
      assert.deepEqual([probe.streams[0].width, probe.streams[0].height], [profile.width, profile.height]);
    }
  });

  it('reuses the cache: a second call returns the same files untouched', async () => {
    const first = await ensureClips();
    const mtimes = Object.values(first).map((f) => statSync(f).mtimeMs);
    const second = await ensureClips();
    assert.deepEqual(second, first);
    assert.deepEqual(Object.values(second).map((f) => statSync(f).mtimeMs), mtimes);
  });

  it('two processes encoding a fresh cache at once both get complete files and leave no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'camera-sim-clips-'));
    try {
      const clipsModule = join(__dirname, '..', '..', '..', '..', 'tools', 'camera-sim', 'media', 'clips.js');
      const script = 'require(process.argv[1]).ensureClips(process.argv[2])'
        + '.then((c) => console.log(JSON.stringify(c)), (e) => { console.error(e); process.exit(1); })';
      const runs = await Promise.all([0, 1].map(() => runProcess(process.execPath, ['-e', script, clipsModule, dir], 100_000)));
      for (const r of runs) {
        assert.equal(r.code, 0, r.stderr);
      }
      const results = runs.map((r) => JSON.parse(r.stdout.toString('utf8')) as Record<string, string>);
      assert.deepEqual(results[0], results[1]);
      assert.deepEqual(readdirSync(dir).sort(), Object.values(results[0]).map((f) => f.slice(dir.length + 1)).sort());
      const probe = await probeFile(results[0].main);
      assert.equal(packetsOf(probe, 'video').length, clipSeconds(PROFILES.main) * PROFILES.main.fps);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
