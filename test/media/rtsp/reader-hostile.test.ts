// The plugin's RTSP reader against the project's hostile RTSP server: logins (Basic, Digest with and without qop), a
// wrong password, redirects (to IPv6, to a file, in a loop), garbage for an answer, SPS/PPS only in the SDP, lost and
// reordered RTP, a camera that never answers, one that stops sending, keep-alives, refusals. Every way it ends is one
// sentence with no password in it, and nothing is left running.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseSps } from '../../../src/media/h264';
import { RtspError } from '../../../src/media/rtsp/client';
import { H264AccessUnit } from '../../../src/media/rtsp/h264-depay';
import { RtspReader, RtspReaderOptions } from '../../../src/media/rtsp/reader';
import { HostileRtspOptions, HostileRtspServer } from '../../../tools/camera-sim/hostile-rtsp';
import { pollFor } from '../poll';

const USER = 'admin';
const PASSWORD = 'p@ss:w/rd%7';
const ENCODED = encodeURIComponent(PASSWORD);
/** Every server's stream: 640x480 at 30 fps, a keyframe every 10 frames (encoded once for the file): keyframes come
 *  often, P-frames take 3 RTP packets, losses in four keyframe groups fit in 1.7 s. */
const SHAPE = { fps: 30, gop: 10, sizes: ['640x480', '320x240'] as [string, string] };

interface Run {
  reader: RtspReader;
  video: H264AccessUnit[];
  /** 'video K', 'video', 'drop: ...' in order. */
  events: string[];
  closed: { reason?: string; error?: RtspError };
  debug: string[];
}

describe('RTSP reader against a hostile RTSP server', function () {
  this.timeout(20_000);
  const servers: HostileRtspServer[] = [];
  const runs: Run[] = [];

  const server = async (options: HostileRtspOptions): Promise<HostileRtspServer> => {
    const s = await HostileRtspServer.start({ ...SHAPE, ...options });
    servers.push(s);
    return s;
  };

  const reader = (url: string, extra: Partial<RtspReaderOptions> = {}): Run => {
    const debug: string[] = [];
    const r = new RtspReader({ url, label: 'Gate main', tracks: 'video', debug: (l) => debug.push(l), ...extra });
    const run: Run = { reader: r, video: [], events: [], closed: {}, debug };
    r.on('video', (au) => {
      run.video.push(au);
      run.events.push(au.keyframe ? 'video K' : 'video');
    });
    r.on('drop', (reason) => run.events.push(`drop: ${reason}`));
    r.on('close', (reason, error) => {
      run.closed.reason = reason;
      run.closed.error = error;
    });
    runs.push(run);
    return run;
  };

  const withLogin = (url: string, password = ENCODED): string => url.replace('rtsp://', `rtsp://${USER}:${password}@`);

  /** No text the reader produced holds the password, typed or encoded. */
  const noPassword = (run: Run, ...more: string[]): void => {
    for (const text of [...run.debug, run.closed.reason ?? '', ...run.events, ...more]) {
      assert.ok(!text.includes(PASSWORD) && !text.includes(ENCODED), `a password in: ${text}`);
    }
  };

  afterEach(async () => {
    await Promise.all(runs.splice(0).map((r) => r.reader.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('logs in with Digest (qop auth and RFC 2069) and Basic, on every request, percent-encoded password decoded', async () => {
    for (const challenge of ['digest', 'digest-2069', 'basic'] as const) {
      const s = await server({ mode: 'normal', challenge: challenge === 'basic' ? 'basic' : 'digest', digestQop: challenge !== 'digest-2069',
        credentials: { user: USER, password: PASSWORD } });
      const run = reader(withLogin(s.url()));
      const info = await run.reader.open();
      assert.equal(info.video?.codec, 'h264');
      await run.reader.play();
      await pollFor(() => run.video.length > 0, 3_000, `${challenge}: a picture`);
      assert.equal(run.video[0].keyframe, true);
      const methods = s.stats.requests.filter((r) => !r.startsWith('Authorization')).map((r) => r.split(' ')[0]);
      assert.deepEqual(methods, ['DESCRIBE', 'DESCRIBE', 'SETUP', 'PLAY'], `${challenge}: one 401, then logged in`);
      const auth = s.stats.requests.filter((r) => r.startsWith('Authorization'));
      assert.equal(auth.length, 3, `${challenge}: DESCRIBE, SETUP and PLAY carry the login`);
      assert.ok(auth.every((a) => a.startsWith(challenge === 'basic' ? 'Authorization: Basic ' : 'Authorization: Digest ')));
      noPassword(run);
    }
  });

  it('a wrong password: one retry, then a sentence that names no password', async () => {
    const s = await server({ mode: 'normal', challenge: 'digest', credentials: { user: USER, password: 'right-one' } });
    const run = reader(withLogin(s.url()));
    const err = await run.reader.open().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RtspError, String(err));
    assert.equal(err.kind, 'auth');
    assert.equal(err.message, 'the camera refused the user name or password for its RTSP stream');
    assert.equal(s.stats.requests.filter((r) => r.startsWith('DESCRIBE')).length, 2);
    assert.equal(run.closed.reason, err.message);
    noPassword(run, err.message, String(err.stack));
    // No login given at all.
    const bare = reader(s.url());
    await assert.rejects(bare.reader.open(), /^RtspError: the camera asks for a user name and password for its RTSP stream, and none was given$/);
  });

  it('follows a redirect to another host (IPv6) with the login, and reports where the stream is read from', async () => {
    const target = await server({ mode: 'normal', host: '::1', challenge: 'basic', credentials: { user: USER, password: PASSWORD } });
    const redirecting = await server({ mode: 'redirect', redirectTo: target.url('/moved') });
    const run = reader(withLogin(redirecting.url()));
    const info = await run.reader.open();
    assert.deepEqual([info.host, info.port, info.redirected], ['::1', Number(new URL(target.url()).port), true]);
    await run.reader.play();
    await pollFor(() => run.video.length > 0, 3_000, 'a picture from where the camera sent us');
    assert.ok(target.stats.requests.some((r) => /^PLAY rtsp:\/\/\[::1\]:\d+\/moved\/? RTSP\/1\.0$/.test(r)), target.stats.requests.join('\n'));
    assert.ok(run.debug.some((l) => /^Gate main stream: RTSP redirect from 127\.0\.0\.1:\d+ to \[::1\]:\d+$/.test(l)), run.debug.join('\n'));
    noPassword(run);
    // Nothing but rtsp://, and not for ever.
    const toFile = await server({ mode: 'redirect', redirectTo: 'file:///etc/passwd' });
    await assert.rejects(reader(toFile.url()).reader.open(),
      /^RtspError: the camera redirected its stream to something that is not an RTSP address \(file\)$/);
    const loop = await server({ mode: 'redirect', redirectTo: '/again' });
    await assert.rejects(reader(loop.url()).reader.open(), /redirected its stream more than 3 times/);
    assert.equal(loop.stats.requests.filter((r) => r.startsWith('DESCRIBE')).length, 4);
  });

  it('garbage for an answer, a refusal, a missing stream and a full camera: one sentence each', async () => {
    const garbage = await server({ mode: 'garbage-rtsp' });
    await assert.rejects(reader(garbage.url()).reader.open(), (e: unknown) => e instanceof RtspError && e.kind === 'not-rtsp' &&
      e.message === 'the camera sends something that is not RTSP');
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(reader(`rtsp://${USER}:${ENCODED}@127.0.0.1:${deadPort}/x`).reader.open(),
      new RegExp(`^RtspError: the camera refused the RTSP connection at 127\\.0\\.0\\.1:${deadPort} \\(is RTSP turned on in the camera\\?\\)$`));
    const missing = await server({ mode: 'normal', describeStatus: '404 Not Found' });
    await assert.rejects(reader(missing.url()).reader.open(), /^RtspError: the camera has no stream at that address \(404 Not Found to DESCRIBE\)$/);
    const full = await server({ mode: 'normal', describeStatus: '453 Not Enough Bandwidth' });
    await assert.rejects(reader(full.url()).reader.open(),
      /^RtspError: the camera allows no more RTSP sessions \(453 Not Enough Bandwidth: close other apps or NVRs reading it\)$/);
  });

  it('SPS and PPS only in the SDP: every IDR goes out with them', async () => {
    const s = await server({ ...SHAPE, mode: 'sdp-only' });
    const run = reader(s.url());
    const info = await run.reader.open();
    assert.ok(info.video?.sps && info.video.pps);
    await run.reader.play();
    await pollFor(() => run.video.filter((a) => a.keyframe).length >= 2, 5_000, 'two keyframes');
    for (const au of run.video.filter((a) => a.keyframe)) {
      const types = au.nalus.map((n) => n[0] & 0x1f);
      assert.deepEqual(types.slice(0, 2), [7, 8], `SPS, PPS first: ${types.join(',')}`);
      assert.equal(`${parseSps(au.nalus[0]).width}x${parseSps(au.nalus[0]).height}`, '640x480');
    }
  });

  it('lost and reordered RTP, over TCP and UDP: a swap costs nothing, every frame passed on is whole, after a loss the next is an IDR', async () => {
    const options: HostileRtspOptions = { ...SHAPE, mode: 'normal' };
    const layout = await server(options);
    const units = layout.units();
    // Where each access unit starts in the packet count: a NAL unit over 1400 bytes goes as FU-A pieces of 1400.
    const starts: number[] = [];
    let count = 0;
    for (const u of units) {
      starts.push(count);
      count += u.nals.reduce((n, nal) => n + (nal.length <= 1400 ? 1 : Math.ceil((nal.length - 1) / 1400)), 0);
    }
    const dropPackets = [starts[3] + 1, starts[10] + 3, starts[40] - 1]; // a P-frame's, an IDR's fragment; the frame before an IDR
    const swapPackets = [starts[24], starts[31] - 1]; // a P-frame's first two packets; the last of one frame with the first of the next
    assert.ok(starts[4] - starts[3] >= 2 && starts[25] - starts[24] >= 2, 'the P-frames used span two packets');
    const s = await server({ ...options, dropPackets, swapPackets });
    const expected = [0, 1, 2, /* 3-9 lost */ /* 10-19: the IDR lost */ 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
      37, 38, /* 39 lost, its IDR whole */ 40, 41, 42, 43, 44, 45, 46, 47, 48, 49];
    const index = new Map(units.map((u, i) => [Buffer.concat(u.nals as Buffer[]).toString('hex'), i]));
    await Promise.all((['tcp', 'udp'] as const).map(async (transport) => {
      const run = reader(s.url(), { transport });
      await run.reader.open();
      await run.reader.play();
      assert.equal(run.reader.stats().transport, transport);
      await pollFor(() => run.video.length >= expected.length, 5_000, `${transport}: frames past the last loss`);
      const got = run.video.map((au) => index.get(Buffer.concat(au.nalus).toString('hex')) ?? -1);
      assert.deepEqual(got.slice(0, expected.length), expected, transport);
      // After each drop said, the next frame is a keyframe.
      run.events.forEach((e, i) => {
        if (e.startsWith('drop') && i + 1 < run.events.length) {
          assert.equal(run.events[i + 1], 'video K', `${transport}: ${run.events.slice(i, i + 2).join(' | ')}`);
        }
      });
      // Said once per incident: the IDR lost while the video already waited for it is not said again.
      const drops = run.events.filter((e) => e.startsWith('drop'));
      assert.equal(drops.length, 2, `${transport}: ${drops.join('\n')}`);
      assert.ok(drops.every((d) => /^drop: 1 RTP packet of the video lost: the frame is dropped/.test(d)), drops.join('\n'));
      assert.equal(run.reader.stats().reordered, 2, `${transport}: the two swapped packets held and put back`);
    }));
  });

  it('describes before anything plays: a codec it does not read (MPEG-4 part 2, G.711) is said, so the caller can use ffmpeg instead', async () => {
    const mp4v = await server({ mode: 'normal', videoEncoding: 'MP4V-ES' });
    const run = reader(mp4v.url());
    const info = await run.reader.open();
    assert.deepEqual([info.video?.codec, info.readable, info.unreadable],
      ['mp4v-es', false, 'the camera\'s video is MP4V-ES, which the plugin reads only through ffmpeg']);
    assert.deepEqual(mp4v.stats.requests.map((r) => r.split(' ')[0]), ['DESCRIBE'], 'nothing set up or played');
    await assert.rejects(run.reader.play(), /^RtspError: the camera's video is MP4V-ES, which the plugin reads only through ffmpeg$/);
    // H.265 is read here (h265-depay.ts): described as readable, not sent to ffmpeg.
    const h265 = await reader((await server({ mode: 'normal', videoEncoding: 'H265' })).url()).reader.open();
    assert.deepEqual([h265.video?.codec, h265.readable], ['h265', true]);
    const pcmu = await server({ mode: 'normal', audioRtpmap: 'PCMU/8000' });
    const withAudio = await reader(pcmu.url(), { tracks: 'video+audio' }).reader.open();
    assert.deepEqual([withAudio.audio?.codec, withAudio.audio?.sampleRate, withAudio.readable, withAudio.unreadable],
      ['pcmu', 8000, false, 'the camera\'s audio is G.711 µ-law (PCMU), which the plugin reads only through ffmpeg']);
    const videoOnly = await reader(pcmu.url(), { tracks: 'video' }).reader.open();
    assert.equal(videoOnly.readable, true, 'the video alone is read here');
  });

  it('a camera that never answers: the request bound ends the read', async () => {
    const s = await server({ mode: 'silent' });
    const run = reader(s.url(), { requestTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(run.reader.open(), /^RtspError: the camera did not answer DESCRIBE within 0\.3 s$/);
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 1_000, `${took} ms`);
    assert.equal(run.closed.reason, 'the camera did not answer DESCRIBE within 0.3 s');
  });

  it('a camera that stops sending: the media bound ends the read, with a TEARDOWN', async () => {
    const s = await server({ mode: 'normal', stallAfterMs: 300 });
    const run = reader(s.url(), { mediaTimeoutMs: 400 });
    await run.reader.open();
    await run.reader.play();
    await pollFor(() => run.closed.reason !== undefined, 3_000, 'the read ends');
    assert.equal(run.closed.reason, 'the camera stopped sending video (nothing for 0.4 s after PLAY)');
    assert.equal(run.closed.error?.kind, 'no-media');
    assert.ok(run.video.length > 0);
    await pollFor(() => s.stats.requests.some((r) => r.startsWith('TEARDOWN')), 2_000, 'a TEARDOWN');
  });

  it('keeps the session alive within its timeout: GET_PARAMETER, or OPTIONS where that is not implemented', async () => {
    const s = await server({ mode: 'normal', sessionTimeoutS: 1 });
    const refusing = await server({ mode: 'normal', sessionTimeoutS: 1, noGetParameter: true });
    const a = reader(s.url());
    const b = reader(refusing.url());
    await Promise.all([a, b].map(async (r) => {
      await r.reader.open();
      await r.reader.play();
    }));
    await new Promise((r) => setTimeout(r, 1_300));
    const methods = (h: HostileRtspServer): string[] => h.stats.requests.map((r) => r.split(' ').slice(0, 2).join(' '));
    assert.ok(methods(s).filter((m) => m.startsWith('GET_PARAMETER rtsp://')).length >= 2, methods(s).join('\n'));
    const fallback = methods(refusing).slice(3);
    const session = `rtsp://127.0.0.1:${new URL(refusing.url()).port}/stream/`;
    assert.deepEqual(fallback.slice(0, 3), [`GET_PARAMETER ${session}`, `OPTIONS ${session}`, `OPTIONS ${session}`]);
    assert.ok(b.debug.some((l) => l === 'Gate main stream: RTSP keep-alive: the camera does not implement GET_PARAMETER (501), using OPTIONS'));
    assert.ok(a.closed.reason === undefined && b.closed.reason === undefined, 'both still reading');
  });

  it('paced reads: bursts a pace apart, no frame lost, requests answered at once, pace 0 reads again at once', async () => {
    const s = await server({ mode: 'normal', sessionTimeoutS: 1 });
    const run = reader(s.url());
    const arrivals: number[] = [];
    run.reader.on('video', () => arrivals.push(Date.now()));
    await run.reader.open();
    await run.reader.play();
    await pollFor(() => run.video.length > 0, 3_000, 'a picture');
    const paceMs = 300;
    run.reader.paceReads(paceMs);
    await new Promise((r) => setTimeout(r, 50)); // the read under way when pacing began
    const from = arrivals.length;
    await new Promise((r) => setTimeout(r, 1_500));
    // 30 fps for 1.5 s: the frames arrive together, a pace apart, not one every 33 ms; none missing or dropped.
    const paced = arrivals.slice(from);
    const bursts = paced.filter((t, i) => i === 0 || t - paced[i - 1] > 100).length;
    assert.ok(paced.length >= 35, `frames while paced: ${paced.length}`);
    assert.ok(bursts >= 3 && bursts <= 7, `bursts in 1.5 s at a ${paceMs} ms pace: ${bursts}`);
    assert.ok(!run.events.some((e) => e.startsWith('drop')), run.events.join('\n'));
    // The 1 s session's keep-alives were answered while paced (the read would have ended otherwise).
    assert.ok(s.stats.requests.filter((r) => r.startsWith('GET_PARAMETER')).length >= 2);
    assert.equal(run.closed.reason, undefined);
    run.reader.paceReads(0);
    const resumed = arrivals.length;
    const at = Date.now();
    await pollFor(() => arrivals.length > resumed + 3, 2_000, 'frames after pace 0');
    assert.ok(Date.now() - at < paceMs, 'frames as they come again');
    // A long pace: TEARDOWN's answer is read at once all the same (else close() waits out its 1 s bound).
    run.reader.paceReads(5_000);
    await new Promise((r) => setTimeout(r, 100));
    const closing = Date.now();
    await run.reader.close();
    assert.ok(Date.now() - closing < 500, `TEARDOWN answered at once while paced: ${Date.now() - closing} ms`);
  });

  it('an abort ends the read with a TEARDOWN, and leaves no timer or socket behind', async () => {
    const s = await server({ mode: 'normal', sessionTimeoutS: 2 });
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
    const abort = new AbortController();
    const run = reader(s.url(), { signal: abort.signal });
    await run.reader.open();
    await run.reader.play();
    await pollFor(() => run.video.length > 0, 3_000, 'a picture');
    abort.abort();
    await pollFor(() => run.closed.reason !== undefined, 2_000, 'closed');
    assert.equal(run.closed.reason, 'the read was stopped');
    assert.ok(s.stats.requests.some((r) => r.startsWith('TEARDOWN')));
    await pollFor(() => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length <= before,
      2_000, 'timers and sockets released');
  });
});
