// The per-camera media source against the simulator's real RTSP server: one upstream session whatever the number of
// consumers, every consumer starts on a keyframe, the prebuffer reaches back, idle stops the read, a dropped camera is read again.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { explainExit, MediaSource, SourceLog } from '../../src/media/source';
import { TsReader } from '../../src/media/mpegts';
import { MediaServer } from '../../tools/camera-sim/media';
import { PROFILES } from '../../tools/camera-sim/media/profiles';
import { pollFor } from './poll';

/** UDP sockets (IPv4 and IPv6) process `pid` holds. */
function udpSockets(pid: number): number {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) {
        inodes.add(inode);
      }
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      n += m && inodes.has(m[1]) ? 1 : 0;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** This process's children running `comm`. */
function childPids(comm: string): number[] {
  const pids = readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/))
    .filter(Boolean).map(Number);
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

const silent: SourceLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Reads what a consumer got: its first video frame must be a keyframe and timestamps must be readable. */
function collector(): { out: PassThrough; frames: { key: boolean; pts?: number }[]; bytes: () => number } {
  const out = new PassThrough();
  const reader = new TsReader();
  const frames: { key: boolean; pts?: number }[] = [];
  let bytes = 0;
  out.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (const p of reader.push(chunk)) {
      if (p.isVideoFrameStart) {
        frames.push({ key: p.isKeyframe, pts: p.pts });
      }
    }
  });
  return { out, frames, bytes: () => bytes };
}

describe('media source', function () {
  this.timeout(60_000);
  let server: MediaServer;
  let source: MediaSource | undefined;

  before(async () => {
    server = await MediaServer.start({ paths: [{ path: '/cam1/main', profile: 'main', audio: true }, { path: '/cam1/sub', profile: 'sub', audio: false }] });
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });
  after(async () => {
    await server?.stop();
  });

  const sessions = async (path: string): Promise<number> => (await server.stats()).sessions[path] ?? 0;

  it('fans one RTSP session out to three consumers, each starting on a keyframe, and reads the stream facts', async () => {
    source = new MediaSource({ label: 'Test main', url: server.url('/cam1/main'), ffmpegPath: 'ffmpeg', log: silent, audio: 'copy' });
    const consumers = [collector(), collector(), collector()];
    source.attach(consumers[0].out);
    const facts = await source.facts();
    assert.equal(facts.codec, 'h264');
    assert.equal(facts.width, PROFILES.main.width);
    assert.equal(facts.height, PROFILES.main.height);
    assert.equal(facts.profileIdc, 77, 'Main profile from the SPS');
    assert.equal(facts.levelIdc, 40);
    assert.equal(facts.audio, 'aac');
    source.attach(consumers[1].out);
    source.attach(consumers[2].out);
    await pollFor(() => consumers.every((c) => c.frames.length >= 20), 15_000, 'every consumer gets frames');
    for (const c of consumers) {
      assert.equal(c.frames[0].key, true, 'first frame a keyframe');
    }
    assert.equal(await sessions('/cam1/main'), 1, 'one upstream session for three consumers');
    assert.equal(source.stats().starts, 1);
  });

  it('a late joiner starts on the cached keyframe at once; backMs reaches back to an older keyframe', async () => {
    source = new MediaSource({ label: 'Test main', url: server.url('/cam1/main'), ffmpegPath: 'ffmpeg', log: silent, audio: 'none' });
    const release = source.hold(5_000);
    // Two keyframes (GOP 4 s) arrive after about 4–5 s.
    await pollFor(() => (source?.stats().cachedGops ?? 0) >= 2, 20_000, 'two GOPs cached');
    const facts = await source.facts();
    assert.ok(facts.keyframeIntervalMs && Math.abs(facts.keyframeIntervalMs - 4000) < 100, `GOP ${facts.keyframeIntervalMs} ms`);
    const live = collector();
    const prebuffered = collector();
    source.attach(live.out);
    source.attach(prebuffered.out, { backMs: 4_000 });
    await pollFor(() => live.frames.length > 0 && prebuffered.frames.length > 0, 2_000, 'frames at once');
    assert.equal(live.frames[0].key, true);
    assert.equal(prebuffered.frames[0].key, true);
    const livePts = live.frames[0].pts ?? 0;
    const backPts = prebuffered.frames[0].pts ?? 0;
    assert.ok(livePts - backPts >= 3_900 * 90, `prebuffer starts ${(livePts - backPts) / 90} ms before the live keyframe`);
    release();
  });

  it('reads the camera a few times a second while only the prebuffer holds it, and as the bytes come for anyone else', async () => {
    source = new MediaSource({ label: 'Test main', url: server.url('/cam1/main'), ffmpegPath: 'ffmpeg', log: silent, audio: 'copy' });
    const s = source;
    // How many times in `ms` the read delivered something: each socket read hands over all it took at once.
    const reads = async (ms: number): Promise<number> => {
      let last = s.stats().bytesIn;
      let changes = 0;
      const timer = setInterval(() => {
        const now = s.stats().bytesIn;
        changes += now !== last ? 1 : 0;
        last = now;
      }, 10);
      await new Promise((resolve) => setTimeout(resolve, ms));
      clearInterval(timer);
      return changes;
    };
    const release = s.hold(4_000);
    await pollFor(() => s.stats().cachedGops >= 1, 15_000, 'prebuffer running');
    const prebufferOnly = await reads(2_000);
    // 15 fps video and AAC: 30 and more bursts a second, read as they come; paced, about 4 reads a second.
    assert.ok(prebufferOnly > 0 && prebufferOnly <= 12, `prebuffer alone: ${prebufferOnly} reads in 2 s`);
    const viewer = collector();
    const attachment = s.attach(viewer.out);
    const watched = await reads(2_000);
    assert.ok(watched >= 20, `with a viewer: ${watched} reads in 2 s`);
    attachment.detach();
    const snapshotWaiting = s.hold(0);
    assert.ok(await reads(1_000) >= 10, 'a hold(0) (snapshot, stream check) is not paced');
    snapshotWaiting();
    assert.ok(await reads(2_000) <= 12, 'paced again once only the prebuffer holds it');
    release();
  });

  it('reads the camera over UDP when the config asks ("rtspTransport": "udp"), in the plugin and with ffmpeg', async () => {
    for (const readInPlugin of [true, false]) {
      source = new MediaSource({ label: 'Test sub', url: server.url('/cam1/sub'), ffmpegPath: 'ffmpeg', log: silent, audio: 'none', rtspTransport: 'udp', readInPlugin });
      const c = collector();
      source.attach(c.out);
      await pollFor(() => c.frames.length >= 10, 15_000, `frames over UDP (${readInPlugin ? 'plugin' : 'ffmpeg'})`);
      assert.equal(c.frames[0].key, true);
      // The reader's RTP and RTCP sockets: this process's when read in the plugin, its ffmpeg child's otherwise.
      const reader = readInPlugin ? [process.pid] : childPids('ffmpeg');
      assert.equal(reader.length, 1, 'one reader');
      assert.ok(udpSockets(reader[0]) >= 2, `the camera's RTP comes over UDP (${readInPlugin ? 'plugin' : 'ffmpeg'})`);
      await source.stop();
      source = undefined;
    }
  });

  it('stops reading after the idle time when nobody needs it, and reads again on demand', async () => {
    source = new MediaSource({ label: 'Test sub', url: server.url('/cam1/sub'), ffmpegPath: 'ffmpeg', log: silent, audio: 'none', idleStopMs: 1_500 });
    const frame = await source.keyframe();
    assert.ok(frame && frame.length > 188);
    assert.equal(await sessions('/cam1/sub'), 1);
    await pollFor(async () => (await sessions('/cam1/sub')) === 0, 20_000, 'idle source lets the session go');
    assert.equal(source.stats().running, false);
    const again = collector();
    source.attach(again.out);
    await pollFor(() => again.frames.length > 0, 10_000, 'frames after restart');
    assert.equal(source.stats().starts, 2);
  });

  it('reads again with backoff when the camera drops the stream, and explains a wrong address', async () => {
    const warnings: string[] = [];
    const log = { ...silent, warn: (m: string) => warnings.push(m) };
    source = new MediaSource({ label: 'Test bad', url: server.url('/nope'), ffmpegPath: 'ffmpeg', log, audio: 'none' });
    const c = collector();
    source.attach(c.out);
    await pollFor(() => warnings.length > 0, 15_000, 'a warning');
    assert.match(warnings[0], /Test bad stream: the camera has no stream at that address \(404 Not Found to DESCRIBE\); reading it again in/);
    await pollFor(() => (source?.stats().starts ?? 0) >= 2, 10_000, 'retried');
    assert.equal(warnings.length, 1, 'the same failure is said once');
    // While the read waits out its backoff, whoever needs a picture (a hub's clip, a viewer) hears why at once, not
    // after 10 s of nothing.
    await pollFor(() => (source?.stats().running ?? true) === false, 10_000, 'waiting to read again');
    const asked = Date.now();
    await assert.rejects(source.facts(), /the camera's stream is down \(the camera has no stream at that address \(404 Not Found to DESCRIBE\)\); it is read again in/);
    assert.ok(Date.now() - asked < 1_000, `answered in ${Date.now() - asked} ms`);
    // The camera's events say it is back: the read goes now, not when its backoff ends.
    const starts = source.stats().starts;
    source.retryNow();
    assert.equal(source.stats().starts, starts + 1, 'read again at once');
  });

  it('says a read killed from outside was killed, not what ffmpeg last wrote', () => {
    const killed = explainExit({ code: null, signal: 'SIGKILL', stopped: false, tail: ['[mpegts @ 0x1] Timestamps are unset in a packet for stream 0'] });
    assert.match(killed, /the process reading the camera was killed from outside \(SIGKILL/);
    assert.doesNotMatch(killed, /Timestamps/);
    assert.match(explainExit({ code: null, signal: 'SIGKILL', stopped: true, tail: [] }), /the camera stopped sending video/, 'our own stop (a stall) is not a kill');
  });

  it('reads RTSP status codes as words, not inside the pointers ffmpeg prints', () => {
    const exit = (line: string): string => explainExit({ code: 1, signal: null, stopped: false, tail: [line] });
    assert.match(exit('[rtsp @ 0x55d4401a2b00] method DESCRIBE failed: 404 Not Found'), /no stream at the address ONVIF gave \(404\)/);
    assert.match(exit('[rtsp @ 0x55d4404a2b00] method DESCRIBE failed: 401 Unauthorized'), /refused the user name or password/);
    assert.match(exit('[rtsp @ 0x7f4530401453] Connection refused'), /refused the RTSP connection/);
  });
});
