import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AAC_FRAME_SAMPLES, AUDIO, DEBIAN_PACKAGES, MediaServer, MediaStats, PROFILES, SimStreamProfile, checkSystemDeps, clipSeconds,
} from '../../../../tools/camera-sim/media';
import { Probe, keyframeIntervals, packetsOf, probeFile, probeRtsp, ptsSteps, watchRtsp } from './probe';
import { sleep } from '../../../e2e/rig/wait';

const POLL_MS = 200;
const MAX_POLLS = 75; // 15 s: a bound, not an expectation
// ffmpeg re-maps RTP time at each RTCP sender report; on a loaded 2-core CI machine that moved a step by 5 ticks
// (55 µs). A loop fault moves it by at least a whole frame, so a tenth of a frame tells the two apart.
const REMAP_FRACTION_OF_FRAME = 0.1;

/** Polls stats until `done` holds (bounded); returns the last stats either way. */
async function pollStats(server: MediaServer, done: (s: MediaStats) => boolean): Promise<MediaStats> {
  let stats = await server.stats();
  for (let i = 0; i < MAX_POLLS && !done(stats); i++) {
    await sleep(POLL_MS);
    stats = await server.stats();
  }
  return stats;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every pts step is one frame: no jump back or ahead where the clip loops. ffmpeg re-maps RTP time
 * through each RTCP sender report, which moves steps by microseconds; a loop fault moves them by a frame or more.
 */
function assertSteady(steps: number[], frameTicks: number, what: string): void {
  const remapTicks = frameTicks * REMAP_FRACTION_OF_FRAME;
  const odd = steps.filter((step) => Math.abs(step - frameTicks) > remapTicks);
  assert.deepEqual(odd, [], `${what} pts steps of ${frameTicks}`);
  const total = steps.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - steps.length * frameTicks) <= remapTicks, `${what} pts drift: ${total} vs ${steps.length * frameTicks}`);
}

/** What every RTSP read must show: the profile's video, audio only where configured, a live looping timeline. */
function assertLiveLoop(probe: Probe, profile: SimStreamProfile, audio: boolean, readSeconds: number): void {
  const video = probe.streams.find((s) => s.codec_type === 'video');
  assert.ok(video, 'video stream');
  assert.equal(video.codec_name, 'h264');
  assert.equal(video.profile, profile.h264Profile);
  assert.deepEqual([video.width, video.height], [profile.width, profile.height]);
  assert.equal(probe.streams.some((s) => s.codec_type === 'audio'), audio, `audio stream present: ${audio}`);

  const frames = packetsOf(probe, 'video');
  const intervals = keyframeIntervals(frames);
  assert.ok(intervals.length >= 1, 'saw at least two keyframes');
  assert.deepEqual(new Set(intervals), new Set([profile.gopFrames]), 'keyframe interval = gopFrames');

  // RTP video clock is 90 kHz: one frame is 90000/fps ticks, every time, also where the clip loops.
  assert.equal(video.time_base, '1/90000');
  const steps = ptsSteps(frames);
  assertSteady(steps, 90000 / profile.fps, 'video');
  const spanSeconds = steps.length / profile.fps;
  assert.ok(spanSeconds > clipSeconds(profile), `read ${spanSeconds} s > clip ${clipSeconds(profile)} s: crossed a loop`);
  assert.ok(spanSeconds <= readSeconds + 1);

  if (audio) {
    const audioStream = probe.streams.find((s) => s.codec_type === 'audio');
    assert.equal(audioStream?.codec_name, 'aac');
    assert.equal(Number(audioStream?.sample_rate), AUDIO.sampleRate);
    assert.equal(audioStream?.channels, 1);
    const audioSteps = ptsSteps(packetsOf(probe, 'audio'));
    assert.ok(audioSteps.length * AAC_FRAME_SAMPLES / AUDIO.sampleRate > clipSeconds(profile));
    const frameTicks = AAC_FRAME_SAMPLES * (Number(audioStream?.time_base.split('/')[1]) / AUDIO.sampleRate);
    assertSteady(audioSteps, frameTicks, 'audio');
  }
}

describe('camera-sim media server', function () {
  this.timeout(120_000);
  let server: MediaServer | undefined;
  const paths = [
    { path: '/cam1/main', profile: 'main', audio: true },
    { path: '/cam1/sub', profile: 'sub', audio: false },
    { path: '/cam2/main', profile: 'main', audio: false },
  ] as const;

  before(async () => {
    server = await MediaServer.start({ paths: paths.map((p) => ({ ...p })) });
  });

  after(async () => {
    await server?.stop();
  });

  it('listens on loopback and registers every path idle', async () => {
    assert.ok(server);
    assert.ok(server.port > 0);
    assert.equal(server.url('/cam1/main'), `rtsp://127.0.0.1:${server.port}/cam1/main`);
    const stats = await server.stats();
    assert.deepEqual(stats.sessions, { '/cam1/main': 0, '/cam1/sub': 0, '/cam2/main': 0 });
    assert.deepEqual(stats.media, { '/cam1/main': 0, '/cam1/sub': 0, '/cam2/main': 0 }, 'lazy: no pipeline without a client');
  });

  it('streams over TCP and UDP, looping with continuous timestamps; counts sessions; shares one pipeline per path', async () => {
    assert.ok(server);
    const s = server;
    const readSeconds = clipSeconds(PROFILES.main) + 3;
    const tcpMain = probeRtsp(s.url('/cam1/main'), 'tcp', readSeconds);
    const udpSub = probeRtsp(s.url('/cam1/sub'), 'udp', readSeconds);
    // Catch rejections now; they are asserted below after the session checks.
    const reads = Promise.allSettled([tcpMain, udpSub]);

    const open = await pollStats(s, (st) => st.sessions['/cam1/main'] === 1 && st.sessions['/cam1/sub'] === 1);
    assert.deepEqual(open.sessions, { '/cam1/main': 1, '/cam1/sub': 1, '/cam2/main': 0 });
    assert.deepEqual(open.media, { '/cam1/main': 1, '/cam1/sub': 1, '/cam2/main': 0 });

    // A second client of the same path is a second session on the same pipeline.
    const second = watchRtsp(s.url('/cam1/main'), 'udp', 3);
    const shared = await pollStats(s, (st) => st.sessions['/cam1/main'] === 2);
    assert.equal(shared.sessions['/cam1/main'], 2);
    assert.equal(shared.media['/cam1/main'], 1);
    await second;

    const [mainResult, subResult] = await reads;
    if (mainResult.status === 'rejected' || subResult.status === 'rejected') {
      throw mainResult.status === 'rejected' ? mainResult.reason : (subResult as PromiseRejectedResult).reason;
    }
    assertLiveLoop(mainResult.value, PROFILES.main, true, readSeconds);
    assertLiveLoop(subResult.value, PROFILES.sub, false, readSeconds);

    const closed = await pollStats(s, (st) => Object.values(st.sessions).every((n) => n === 0)
      && Object.values(st.media).every((n) => n === 0));
    assert.deepEqual(closed.sessions, { '/cam1/main': 0, '/cam1/sub': 0, '/cam2/main': 0 });
    assert.deepEqual(closed.media, { '/cam1/main': 0, '/cam1/sub': 0, '/cam2/main': 0 }, 'pipelines stop after the last client');
  });

  it('serves a path without audio as video only, over TCP', async () => {
    assert.ok(server);
    const probe = await probeRtsp(server.url('/cam2/main'), 'tcp', 1);
    assert.deepEqual(probe.streams.map((st) => st.codec_type), ['video']);
  });

  it('gives a real JPEG snapshot of each profile size', async () => {
    assert.ok(server);
    const dir = mkdtempSync(join(tmpdir(), 'camera-sim-snap-'));
    try {
      for (const name of ['main', 'sub'] as const) {
        const jpeg = server.snapshot(name);
        assert.deepEqual([jpeg[0], jpeg[1]], [0xff, 0xd8], 'JPEG SOI');
        assert.deepEqual([jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]], [0xff, 0xd9], 'JPEG EOI');
        const file = join(dir, `${name}.jpg`);
        writeFileSync(file, jpeg);
        const probe = await probeFile(file);
        assert.equal(probe.streams[0]?.codec_name, 'mjpeg');
        assert.deepEqual([probe.streams[0].width, probe.streams[0].height], [PROFILES[name].width, PROFILES[name].height]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() ends the server child, is idempotent, and later queries fail', async () => {
    const own = await MediaServer.start({ paths: [{ path: '/x/main', profile: 'main', audio: false }] });
    const pid = own.pid;
    assert.ok(pid !== undefined && isAlive(pid));
    await own.stop();
    assert.equal(isAlive(pid), false, 'child gone');
    await own.stop();
    await assert.rejects(own.sessions(), /not running/);
  });

  it('rejects bad options before starting anything', async () => {
    await assert.rejects(MediaServer.start({ host: '0.0.0.0', paths: [] }), /loopback/);
    await assert.rejects(MediaServer.start({ paths: [{ path: '/a', profile: 'main', audio: false }, { path: '/a', profile: 'sub', audio: false }] }),
      /given twice/);
    await assert.rejects(MediaServer.start({ paths: [{ path: 'no-slash', profile: 'main', audio: false }] }), /bad RTSP path/);
  });

  it('names the exact apt-get command when GStreamer\'s RTSP server cannot be loaded', async () => {
    const err = await checkSystemDeps('/nonexistent/python3').then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof Error);
    assert.ok(err.message.endsWith(`run: apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`), err.message);
    assert.ok(DEBIAN_PACKAGES.includes('gir1.2-gst-rtsp-server-1.0'));
  });
});
