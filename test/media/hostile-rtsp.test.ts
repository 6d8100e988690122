// A real MediaSource and a real ffmpeg against a camera whose RTSP stream is hostile (issue 12 item 3): garbage where
// RTSP or RTP should be, NAL units of 20 MB, a picture size changed mid-stream, SPS/PPS only in the SDP, a redirect to
// another host. Whatever comes, the plugin does not crash, holds at most its cache's bound, says one line naming the
// camera and what is wrong, retries with a growing backoff, and ends a clip that cannot go on with what it recorded.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { RETRY_JITTER_FRACTION, SOURCE_CACHE_MAX_BYTES, SOURCE_RETRY_MIN_MS } from '../../src/settings';
import { CopyClip } from '../../src/media/copy-clip';
import type { Mp4Packet } from '../../src/media/mp4';
import { TsReader } from '../../src/media/mpegts';
import { explainExit, MediaSource, SourceLog } from '../../src/media/source';
import { HostileRtspOptions, HostileRtspServer } from '../../tools/camera-sim/hostile-rtsp';
import sinon from 'sinon';
import { pollFor } from './poll';

interface Logged {
  log: SourceLog;
  warnings: string[];
  infos: string[];
  debug: string[];
}

function logged(): Logged {
  const warnings: string[] = [];
  const infos: string[] = [];
  const debug: string[] = [];
  return {
    warnings, infos, debug,
    log: { debug: (m) => debug.push(m), info: (m) => infos.push(m), warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
  };
}

/** The video frames a consumer got: the first must be a keyframe. */
function collector(): { out: PassThrough; frames: { key: boolean }[] } {
  const out = new PassThrough();
  const reader = new TsReader();
  const frames: { key: boolean }[] = [];
  out.on('data', (chunk: Buffer) => reader.push(chunk).filter((p) => p.isVideoFrameStart).forEach((p) => frames.push({ key: p.isKeyframe })));
  return { out, frames };
}

/** A clip muxed in the plugin, fed as recording.ts feeds it: a failing push fails the write with the clip's error, and
 *  the source's onEnd (`end`) closes the clip with what was recorded, as recording.ts does. */
function clipConsumer(): { input: Writable; packets: Mp4Packet[]; ended: { reason?: string; final?: Mp4Packet }; end: (reason: string) => void } {
  const packets: Mp4Packet[] = [];
  const clip = new CopyClip({ minFragmentMs: 900, audio: 'none', onPacket: (p) => packets.push(p) });
  const ended: { reason?: string; final?: Mp4Packet } = {};
  const input = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      try {
        clip.push(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  const end = (reason: string): void => {
    ended.reason ??= reason;
    ended.final = clip.finish();
    clip.close();
  };
  return { input, packets, ended, end };
}

/** Width and height of the avc1 sample entry of an init segment (ISO/IEC 14496-12 §12.1.3: VisualSampleEntry). */
function initSize(init: Buffer): string {
  const at = init.indexOf('avc1');
  return `${init.readUInt16BE(at + 28)}x${init.readUInt16BE(at + 30)}`;
}

describe('media source against a hostile RTSP stream', function () {
  this.timeout(30_000);
  let server: HostileRtspServer | undefined;
  let source: MediaSource | undefined;

  const start = async (options: HostileRtspOptions, log: SourceLog, stallMs?: number, readInPlugin?: boolean): Promise<MediaSource> => {
    server = await HostileRtspServer.start(options);
    source = new MediaSource({ label: 'Gate main', url: server.url(), ffmpegPath: 'ffmpeg', log, audio: 'none', stallMs, readInPlugin });
    return source;
  };

  afterEach(async () => {
    await source?.stop();
    await server?.stop();
    source = undefined;
    server = undefined;
  });

  it('garbage for an RTSP answer: one line saying so, then retries that back off', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'garbage-rtsp' }, log);
    const release = s.hold(0);
    await pollFor(() => (server?.stats.connections ?? 0) >= 3, 10_000, 'three attempts');
    release();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^Gate main stream: the camera sends something that is not RTSP \(read in the plugin; if other apps such as VLC play this stream, "streamReader": "ffmpeg" reads it with ffmpeg\); reading it again in 1 s$/);
    // Each wait is at least its backoff step less the jitter: 1 s, then 2 s (±20 %).
    const at = server?.stats.connectedAt ?? [];
    const least = (step: number): number => SOURCE_RETRY_MIN_MS * 2 ** step * (1 - RETRY_JITTER_FRACTION);
    assert.ok(at[1] - at[0] >= least(0), `first retry after ${at[1] - at[0]} ms`);
    assert.ok(at[2] - at[1] >= least(1), `second retry after ${at[2] - at[1]} ms: the backoff grows`);
  });

  it('garbage instead of RTP after PLAY: the read is restarted, said once, and nothing is cached or sent', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'garbage' }, log, 3_000);
    const viewer = collector();
    s.attach(viewer.out);
    await pollFor(() => (server?.stats.connections ?? 0) >= 2, 10_000, 'read again');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^Gate main stream: the camera sends something that is not (RTSP|a video stream the plugin can read \(.+\)) \(read in the plugin; .*"streamReader": "ffmpeg".*\); reading it again in 1 s$/);
    assert.equal(viewer.frames.length, 0);
    assert.equal(s.stats().cachedBytes, 0);
  });

  it('a camera that gives a picture and then fails again at once keeps backing off, and is said once', async () => {
    const { log, warnings, debug } = logged();
    const s = await start({ mode: 'normal', cutAfterMs: 600 }, log);
    const release = s.hold(4_000);
    await pollFor(() => debug.some((m) => /reading it again in 2 s/.test(m)), 15_000, 'the second failure, backed off further');
    release();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^Gate main stream: .*; reading it again in 1 s$/);
    assert.equal(server?.stats.connections, 2);
  });

  it('a read that gave pictures for 10 s counts as recovered: cut then, it is read again after the shortest wait', async () => {
    // After a reboot's failed reads the backoff stood at 16 s; a read of 17 s killed then waited 27 s, and every clip the
    // hub asked for meanwhile was lost. Ten seconds of pictures bound the retries of a camera that keeps cutting to one
    // per 10 s: no storm.
    const { log, warnings } = logged();
    const clock = sinon.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      const s = await start({ mode: 'normal', cutAfterMs: 1_500 }, log);
      const release = s.hold(4_000);
      await pollFor(() => s.stats().cachedGops > 0, 10_000, 'a picture');
      clock.tick(10_500); // the read has now lasted 10 s
      await pollFor(() => warnings.length >= 1, 10_000, 'the cut');
      await pollFor(() => (server?.stats.connections ?? 0) >= 2 && s.stats().cachedGops > 0, 10_000, 'read again');
      clock.tick(10_500);
      await pollFor(() => warnings.length >= 2, 10_000, 'the second cut');
      release();
      assert.match(warnings[0], /; reading it again in 1 s$/);
      assert.match(warnings[1], /; reading it again in 1 s$/, 'the wait starts afresh after a read that lasted');
    } finally {
      clock.restore();
    }
  });

  it('20 MB NAL units, read in the plugin: each is dropped where it arrives, said once; the read and a copied clip go on', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'huge-nal', gop: 60, hugeEveryMs: 1_000 }, log);
    const clip = clipConsumer();
    s.attach(clip.input, { onEnd: clip.end });
    let peak = 0;
    const sample = setInterval(() => { peak = Math.max(peak, s.stats().cachedBytes); }, 20);
    try {
      await pollFor(() => (server?.stats.sentBytes ?? 0) > 80 << 20 && clip.packets.length >= 2, 15_000, 'four huge frames sent, a fragment recorded');
      const late = collector();
      s.attach(late.out);
      await pollFor(() => late.frames.length > 0, 10_000, 'a late viewer gets frames');
      assert.equal(late.frames[0].key, true, 'a late viewer starts on a keyframe');
    } finally {
      clearInterval(sample);
    }
    assert.ok(peak < 1 << 20, `nothing huge reached the cache: it peaked at ${(peak / 2 ** 20).toFixed(1)} MiB`);
    assert.deepEqual(warnings.map((w) => w.replace(/\(.*/, '')), ['Gate main stream: the camera sent a video frame over 8 MiB '], 'said once');
    assert.equal(clip.ended.reason, undefined, 'the clip goes on from the next keyframe');
    assert.equal(s.stats().starts, 1, 'the read itself goes on');
  });

  it('20 MB NAL units, read with ffmpeg: the cache stays within its bound, a late viewer starts on a keyframe, a copied clip ends with what it recorded', async () => {
    const { log, warnings } = logged();
    // A keyframe every 4 s and a 20 MB frame each second: one keyframe group is far over the cache's bound.
    const s = await start({ mode: 'huge-nal', gop: 60, hugeEveryMs: 1_000 }, log, undefined, false);
    const clip = clipConsumer();
    s.attach(clip.input, { onEnd: clip.end });
    const stuck = new PassThrough(); // a viewer whose ffmpeg takes nothing
    let stuckEnd = '';
    s.attach(stuck, { onEnd: (reason) => { stuckEnd = reason; } });
    let peak = 0;
    const sample = setInterval(() => { peak = Math.max(peak, s.stats().cachedBytes); }, 20);
    try {
      await pollFor(() => clip.ended.reason !== undefined && warnings.length > 0 && stuckEnd !== '', 15_000, 'the clip ended and the source said why');
      const late = collector();
      s.attach(late.out);
      await pollFor(() => late.frames.length > 0, 10_000, 'a late viewer gets frames');
      assert.equal(late.frames[0].key, true, 'a late viewer starts on a keyframe');
      await pollFor(() => (server?.stats.sentBytes ?? 0) > 80 << 20, 10_000, 'four huge frames sent');
    } finally {
      clearInterval(sample);
    }
    assert.ok(peak <= SOURCE_CACHE_MAX_BYTES, `cache peaked at ${(peak / 2 ** 20).toFixed(1)} MiB`);
    assert.match(warnings[0], /^Gate main stream: the camera sent more than 10 MiB between two keyframes/);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(clip.ended.reason ?? '', /^the camera sent a video frame over 8 MiB/);
    assert.equal(clip.packets[0]?.kind, 'init');
    assert.ok(clip.ended.final?.kind === 'fragment', 'the frames before the huge one close the clip');
    assert.match(stuckEnd, /fell more than 8 MiB behind the camera/);
    assert.equal(s.stats().starts, 1, 'the read itself goes on');
  });

  it('a stream the plugin does not read itself (G.711 sound to copy) is read with ffmpeg at once, said once, no backoff', async () => {
    const { log, warnings, infos } = logged();
    server = await HostileRtspServer.start({ mode: 'normal', audioRtpmap: 'PCMU/8000' });
    source = new MediaSource({ label: 'Gate main', url: server.url(), ffmpegPath: 'ffmpeg', log, audio: 'copy' });
    const asked = Date.now();
    const facts = await source.facts();
    assert.equal(facts.codec, 'h264');
    assert.ok(Date.now() - asked < 5_000, `a picture after ${Date.now() - asked} ms: no wait between the two reads`);
    assert.deepEqual(infos, ['Gate main stream: read with ffmpeg because the camera\'s audio is G.711 µ-law (PCMU), which the plugin reads only through ffmpeg']);
    assert.deepEqual(warnings, [], 'not a failure');
    assert.equal(server.stats.connections, 2, 'one look in the plugin, then ffmpeg');
  });

  it('a picture size changed mid-stream: the facts follow the new SPS, a copied clip ends before it with one size', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'resize', resizeAfterMs: 1_000 }, log);
    const clip = clipConsumer();
    s.attach(clip.input, { onEnd: clip.end });
    const before = await s.facts();
    assert.equal(`${before.width}x${before.height}`, '320x240');
    await pollFor(() => clip.ended.reason !== undefined, 10_000, 'the clip ends');
    assert.equal(clip.ended.reason, 'the camera changed its picture size from 320x240 to 640x480');
    const init = clip.packets[0];
    assert.equal(init?.kind, 'init');
    assert.equal(initSize(init.data), '320x240');
    assert.ok(clip.ended.final?.kind === 'fragment', 'what came before the new size closes the clip');
    const after = await s.facts();
    assert.equal(`${after.width}x${after.height}`, '640x480');
    assert.deepEqual(warnings, ['Gate main stream: the camera changed its picture size from 320x240 to 640x480']);
    // A clip started now is of the new size.
    const next = clipConsumer();
    s.attach(next.input);
    await pollFor(() => next.packets.length > 0, 5_000, 'a new clip');
    assert.equal(initSize(next.packets[0].data), '640x480');
  });

  it('SPS and PPS only in the SDP: the source reads the facts and a copied clip starts', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'sdp-only' }, log);
    const clip = clipConsumer();
    s.attach(clip.input);
    const facts = await s.facts();
    assert.equal(`${facts.width}x${facts.height}`, '320x240');
    assert.equal(facts.profileIdc, 77, 'Main, from the SPS ffmpeg put in the stream from the SDP');
    await pollFor(() => clip.packets.length >= 2, 5_000, 'init segment and a fragment');
    assert.equal(initSize(clip.packets[0].data), '320x240');
    assert.deepEqual(warnings, []);
  });

  it('a redirect to another host: followed, and a failure there names that host, not the camera', async () => {
    // A port with nothing behind it: bound, then closed.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { log, warnings } = logged();
    const s = await start({ mode: 'redirect', redirectTo: `rtsp://127.0.0.1:${deadPort}/elsewhere` }, log);
    const release = s.hold(0);
    await pollFor(() => warnings.length > 0, 10_000, 'a warning');
    release();
    assert.match(warnings[0], new RegExp(`^Gate main stream: the camera refused the RTSP connection at 127\\.0\\.0\\.1:${deadPort} `));
    // A redirect to a working stream is a stream. ffmpeg sends the camera's login along (Basic, unasked), as the plugin
    // does to another host an ONVIF stream URI names (OnvifDevice.usable(): such a device serves the camera's stream
    // under the camera's login); no option of ffmpeg's turns redirects off.
    const target = await HostileRtspServer.start({ mode: 'normal', challenge: true });
    try {
      const redirecting = await HostileRtspServer.start({ mode: 'redirect', redirectTo: target.url('/moved') });
      const url = redirecting.url().replace('rtsp://', 'rtsp://admin:Pass-7@');
      const other = new MediaSource({ label: 'Gate sub', url, ffmpegPath: 'ffmpeg', log, audio: 'none' });
      try {
        assert.ok(await other.keyframe(), 'a picture from where the camera sent us');
        assert.ok(target.stats.requests.some((r) => r.startsWith('PLAY rtsp://127.0.0.1:') && r.includes('/moved')), target.stats.requests.join('\n'));
        assert.ok(target.stats.requests.includes(`Authorization: Basic ${Buffer.from('admin:Pass-7').toString('base64')}`));
      } finally {
        await other.stop();
        await redirecting.stop();
      }
    } finally {
      await target.stop();
    }
  });

  it('a redirect to a file or another scheme is not followed: nothing on this machine is read as the stream', async () => {
    const { log, warnings } = logged();
    const s = await start({ mode: 'redirect', redirectTo: 'file:///etc/passwd' }, log);
    const release = s.hold(0);
    await pollFor(() => warnings.length > 0, 10_000, 'a warning');
    release();
    assert.match(warnings[0], /^Gate main stream: the camera redirected its stream to something that is not an RTSP address \(file\)/);
  });

  it('a stream on another host than the camera is said once, naming both and no password', async () => {
    const { log, infos } = logged();
    const other = new MediaSource({ label: 'Gate main', url: 'rtsp://admin:Pass-7@192.168.7.7/nvr/1', ffmpegPath: 'ffmpeg', log, audio: 'none',
      cameraHost: '192.168.1.20' });
    await other.stop();
    assert.deepEqual(infos, ['Gate main stream: read from 192.168.7.7:554, which is not the camera (192.168.1.20) but the address the camera ' +
      "gave for it (an NVR or a proxy?); the camera's login is sent there"]);
    for (const same of ['rtsp://admin:Pass-7@192.168.1.20:8554/x', 'rtsp://[::ffff:192.168.1.20]/x']) {
      const ok = new MediaSource({ label: 'Gate main', url: same, ffmpegPath: 'ffmpeg', log, audio: 'none', cameraHost: '192.168.1.20' });
      await ok.stop();
    }
    const v6 = new MediaSource({ label: 'Gate main', url: 'rtsp://[fd00::20]/x', ffmpegPath: 'ffmpeg', log, audio: 'none', cameraHost: 'fd00:0::20' });
    await v6.stop();
    assert.equal(infos.length, 1, infos.join('\n'));
  });

  it('names the host ffmpeg could not reach or resolve', () => {
    const exit = (line: string): string => explainExit({ code: 1, signal: null, stopped: false, tail: [line] }, 'rtsp://u:p@10.0.0.5/x');
    assert.equal(exit('[tcp @ 0x55] Connection to tcp://192.168.7.7:554?timeout=10000000 failed: Connection refused'),
      'the camera refused the RTSP connection at 192.168.7.7:554 (is RTSP turned on in the camera?)');
    assert.equal(exit('rtsp://u:p@10.0.0.5/x: Connection refused'), 'the camera refused the RTSP connection at 10.0.0.5:554 (is RTSP turned on in the camera?)');
    assert.equal(exit('[tcp @ 0x56] Connection to tcp://192.168.7.7:554?timeout=1 failed: No route to host'),
      'no route to the stream\'s address at 192.168.7.7:554 (the camera gave an address this machine cannot reach)');
    assert.equal(exit('[tcp @ 0x56] Failed to resolve hostname nvr.local: Name or service not known'),
      'the stream\'s host name nvr.local does not resolve (the camera gave a stream address this machine cannot look up)');
  });
});
