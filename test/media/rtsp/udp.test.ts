// The RTSP reader over UDP (and TCP for comparison) against the project's hostile RTSP server: packets swapped every few
// give every frame whole and in order; losses cost frames only until the next keyframe and what goes out decodes in real
// ffmpeg; a camera that refuses UDP is read over TCP, said once; forged packets from other addresses are ignored; the
// sockets are gone after every end. The UDP track alone: its receiver reports (RFC 3550 §6.4.2) and its address filter.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H264AccessUnit, toAnnexB } from '../../../src/media/rtsp/h264-depay';
import { RtspReader, RtspReaderOptions } from '../../../src/media/rtsp/reader';
import { UdpTrack } from '../../../src/media/rtsp/udp';
import { HostileRtspOptions, HostileRtspServer } from '../../../tools/camera-sim/hostile-rtsp';
import { pollFor } from '../poll';

/** 640x480 at 30 fps, a keyframe every 10 frames: P-frames take 2-3 packets, keyframes about 10. */
const SHAPE = { fps: 30, gop: 10, sizes: ['640x480', '320x240'] as [string, string] };
/** Frames read per case: 1 s of stream. */
const FRAMES = 30;

interface Run {
  reader: RtspReader;
  video: H264AccessUnit[];
  events: string[];
  debug: string[];
  closed?: string;
}

/** Sockets this process holds (pipes, timers and the like of other test files sharing a mocha worker left out). */
const openFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
  } catch {
    return false; // closed meanwhile
  }
}).length;

function ffprobe(file: string): Promise<{ frames: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'json',
      '-f', 'h264', file], (err, stdout, stderr) => {
      if (err) {
        reject(err);
        return;
      }
      resolve({ frames: Number((JSON.parse(stdout) as { streams: { nb_read_frames: string }[] }).streams[0].nb_read_frames), stderr });
    });
  });
}

describe('RTSP reader over UDP against the hostile RTSP server', function () {
  this.timeout(20_000);
  const servers: HostileRtspServer[] = [];
  const runs: Run[] = [];
  let plain: HostileRtspServer;
  /** Where each access unit of the stream starts, counted in RTP packets (FU-A pieces of 1400 bytes). */
  let starts: number[];
  let index: Map<string, number>;
  let dir: string | undefined;

  const server = async (options: Partial<HostileRtspOptions> = {}): Promise<HostileRtspServer> => {
    const s = await HostileRtspServer.start({ ...SHAPE, mode: 'normal', ...options });
    servers.push(s);
    return s;
  };

  const read = async (url: string, extra: Partial<RtspReaderOptions> = {}): Promise<Run> => {
    const debug: string[] = [];
    const reader = new RtspReader({ url, label: 'Gate main', tracks: 'video', transport: 'udp', debug: (l) => debug.push(l), ...extra });
    const run: Run = { reader, video: [], events: [], debug };
    reader.on('video', (au) => {
      run.video.push(au);
      run.events.push(au.keyframe ? 'video K' : 'video');
    });
    reader.on('drop', (reason) => run.events.push(`drop: ${reason}`));
    reader.on('close', (reason) => { run.closed = reason; });
    runs.push(run);
    await reader.open();
    await reader.play();
    return run;
  };

  /** Which of the stream's access units each frame read is (-1: none of them, a broken frame). */
  const frames = (run: Run): number[] => run.video.map((au) => index.get(Buffer.concat(au.nalus).toString('hex')) ?? -1);

  before(async () => {
    plain = await server();
    const units = plain.units();
    index = new Map(units.map((u, i) => [Buffer.concat(u.nals as Buffer[]).toString('hex'), i]));
    starts = [];
    let count = 0;
    for (const u of units) {
      starts.push(count);
      count += u.nals.reduce((n, nal) => n + (nal.length <= 1400 ? 1 : Math.ceil((nal.length - 1) / 1400)), 0);
    }
  });

  afterEach(async () => {
    await Promise.all(runs.splice(0).map((r) => r.reader.close()));
    await Promise.all(servers.splice(1).map((s) => s.stop()));
  });

  after(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('packets swapped every 7, over UDP and over TCP: every frame whole and in order, nothing dropped', async () => {
    const swapPackets = Array.from({ length: 60 }, (_, k) => 3 + 7 * k);
    const s = await server({ swapPackets });
    const [udp, tcp] = await Promise.all([read(s.url()), read(s.url(), { transport: 'tcp' })]);
    for (const run of [udp, tcp]) {
      const how = run.reader.stats().transport;
      await pollFor(() => run.video.length >= FRAMES, 5_000, `${how}: ${FRAMES} frames`);
      assert.deepEqual(frames(run).slice(0, FRAMES), Array.from({ length: FRAMES }, (_, i) => i), `${how}: frames 0..${FRAMES - 1} in order`);
      assert.deepEqual(run.events.filter((e) => e.startsWith('drop')), [], how);
      const stats = run.reader.stats();
      assert.ok(stats.reordered >= 10, `${how}: ${stats.reordered} swaps put back`);
      assert.equal(stats.late, 0);
    }
    assert.deepEqual([udp.reader.stats().transport, tcp.reader.stats().transport], ['udp', 'tcp']);
    assert.equal(s.stats.udpSetups, 1);
    assert.ok(s.stats.reportsWithoutBlock >= 1, 'a receiver report right after PLAY');
  });

  it('packets lost over UDP: frames lost only until the next keyframe, never a broken one; what goes out decodes in ffmpeg', async () => {
    // A P-frame's second packet, a keyframe's fifth, and a P-frame's first: each costs the rest of its group.
    const dropPackets = [starts[2] + 1, starts[10] + 4, starts[25]];
    const s = await server({ dropPackets });
    const run = await read(s.url());
    const expected = [0, 1, /* 2-9 lost */ /* 10-19: the IDR lost */ 20, 21, 22, 23, 24, /* 25-29 lost */ 30, 31, 32, 33, 34, 35];
    await pollFor(() => run.video.length >= expected.length, 5_000, 'frames past the last loss');
    assert.deepEqual(frames(run).slice(0, expected.length), expected);
    const drops = run.events.filter((e) => e.startsWith('drop'));
    assert.equal(drops.length, 2, drops.join('\n'));
    assert.ok(drops.every((d) => d.endsWith('the frame is dropped, and the video resumes at the next keyframe')), drops.join('\n'));
    dir = mkdtempSync(join(tmpdir(), 'rtsp-udp-'));
    const file = join(dir, 'video.h264');
    const written = run.video.slice();
    writeFileSync(file, Buffer.concat(written.map((au) => toAnnexB(au.nalus))));
    const probe = await ffprobe(file);
    assert.equal(probe.stderr, '', 'ffmpeg found no error');
    assert.equal(probe.frames, written.length, 'every frame passed on decodes');
  });

  it('a camera that refuses UDP (461, or an answer without ports) is read over TCP, said once in the debug log', async () => {
    const refusing = await server({ noUdp: true });
    const portless = await server({ udpNoPorts: true });
    const [a, b] = await Promise.all([read(refusing.url()), read(portless.url())]);
    for (const [run, s] of [[a, refusing], [b, portless]] as const) {
      await pollFor(() => run.video.length >= 3, 3_000, 'frames over TCP');
      assert.equal(run.reader.stats().transport, 'tcp');
      const setups = s.stats.requests.filter((r) => r.startsWith('SETUP'));
      assert.equal(setups.length, 2, 'one SETUP asking UDP, one TCP');
      assert.equal(run.debug.filter((l) => l.includes('RTSP over UDP')).length, 1, run.debug.join('\n'));
    }
    assert.deepEqual(a.debug.filter((l) => l.includes('RTSP over UDP')), ['Gate main stream: RTSP over UDP: the camera does not send RTP over ' +
      'UDP (461 Unsupported Transport); reading the stream over the RTSP connection (TCP) instead']);
    assert.match(b.debug.find((l) => l.includes('RTSP over UDP')) ?? '', /names no UDP port/);
    // TCP asked for is never turned into UDP.
    const tcp = await read(plain.url(), { transport: 'tcp' });
    await pollFor(() => tcp.video.length >= 1, 3_000, 'a frame');
    assert.equal(tcp.reader.stats().transport, 'tcp');
    assert.ok(!plain.stats.requests.some((r) => r.includes('client_port')));
  });

  it('forged RTP from another address or port is ignored and counted: every frame stays the camera\'s', async () => {
    const s = await server({ forgedEvery: 4 });
    const run = await read(s.url());
    await pollFor(() => run.video.length >= FRAMES, 5_000, `${FRAMES} frames`);
    assert.deepEqual(frames(run).slice(0, FRAMES), Array.from({ length: FRAMES }, (_, i) => i));
    assert.deepEqual(run.events.filter((e) => e.startsWith('drop')), []);
    assert.ok(s.stats.forged >= 25, `${s.stats.forged} forged`);
    assert.ok(run.reader.stats().foreign >= s.stats.forged * 0.9, `${run.reader.stats().foreign} of ${s.stats.forged} counted`);
  });

  it('the media bound counts UDP packets: a read going on past it lasts, one that stops sending ends with a TEARDOWN', async () => {
    const s = await server({ stallAfterMs: 650 });
    const run = await read(s.url(), { mediaTimeoutMs: 250 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(run.closed, undefined, 'UDP packets keep the read alive past the bound');
    await pollFor(() => run.closed !== undefined, 2_000, 'the read ends');
    assert.equal(run.closed, 'the camera stopped sending video (nothing for 0.3 s after PLAY)');
    await pollFor(() => s.stats.requests.some((r) => r.startsWith('TEARDOWN')), 2_000, 'a TEARDOWN');
    assert.ok(run.debug.some((l) => /^Gate main stream: RTSP over UDP: RTP to port \d*[02468] from 127\.0\.0\.1:\d+$/.test(l)), run.debug.join('\n'));
  });

  it('no socket left after close(), an abort or a camera that hangs up (IPv4 and IPv6)', async () => {
    const v6 = await server({ host: '::1' });
    const cutting = await server({ cutAfterMs: 300 });
    const before = openFds();
    const a = await read(plain.url());
    const b = await read(v6.url());
    const abort = new AbortController();
    const c = await read(plain.url(), { signal: abort.signal });
    const d = await read(cutting.url());
    await pollFor(() => [a, b, c].every((r) => r.video.length > 0), 3_000, 'frames on each');
    assert.equal(b.reader.stats().transport, 'udp');
    assert.ok(openFds() >= before + 4 * 3, 'an RTSP connection and two UDP sockets each');
    await a.reader.close();
    await b.reader.close();
    abort.abort();
    await pollFor(() => c.closed !== undefined && d.closed !== undefined, 3_000, 'the abort and the hang-up end their reads');
    assert.equal(d.closed, 'the camera closed the RTSP connection while sending video');
    // The test's servers close their side of each session when they see it end: a loaded machine takes a moment.
    await pollFor(() => openFds() <= before, 5_000, `sockets back to ${before} (now ${openFds()})`);
  });
});

describe('RTP UDP track', () => {
  const sockets: dgram.Socket[] = [];
  const tracks: UdpTrack[] = [];

  afterEach(() => {
    sockets.splice(0).forEach((s) => s.close());
    tracks.splice(0).forEach((t) => t.close());
  });

  const camera = (address = '127.0.0.1'): Promise<dgram.Socket> => new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(0, address, () => resolve(s));
  });

  const rtp = (seq: number, ssrc = 0xcafe): Buffer => {
    const b = Buffer.alloc(20);
    b[0] = 0x80;
    b[1] = 96;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE(ssrc, 8);
    return b;
  };

  it('binds an even RTP and the next odd RTCP port, takes only the camera\'s datagrams, reports what it got', async () => {
    const cam = await camera();
    const camRtcp = await camera();
    const stranger = await camera('127.0.0.2');
    const got: number[] = [];
    const track = await UdpTrack.open({ local: '127.0.0.1', family: 4, onRtp: (d) => got.push(d.readUInt16BE(2)), reportEveryMs: 100 });
    tracks.push(track);
    assert.equal(track.rtpPort % 2, 0);
    assert.equal(track.rtcpPort, track.rtpPort + 1);
    track.connect('127.0.0.1', cam.address().port, camRtcp.address().port);
    const reports: Buffer[] = [];
    camRtcp.on('message', (m) => reports.push(m));
    // 65534 .. 3 with 0 and 2 lost: 4 received of 6 expected, across the wrap; the stranger's and a wrong port's ignored.
    for (const seq of [65534, 65535, 1, 3]) {
      cam.send(rtp(seq), track.rtpPort, '127.0.0.1');
    }
    stranger.send(rtp(4), track.rtpPort, '127.0.0.1');
    camRtcp.send(rtp(5), track.rtpPort, '127.0.0.1');
    await pollFor(() => got.length === 4 && track.foreign === 2, 2_000, 'the camera\'s four packets and the two others counted');
    assert.deepEqual(got, [65534, 65535, 1, 3]);
    track.startReports();
    await pollFor(() => reports.length >= 2, 2_000, 'two receiver reports');
    const rr = reports[0];
    assert.deepEqual([rr[0], rr[1], rr.readUInt16BE(2)], [0x81, 201, 7], 'RR with one report block (RFC 3550 §6.4.2)');
    assert.equal(rr.readUInt32BE(8), 0xcafe, 'about the camera\'s SSRC');
    assert.equal(rr[12], Math.floor((2 << 8) / 6), 'fraction lost: 2 of 6');
    assert.equal(rr.readUInt32BE(12) & 0xffffff, 2, 'cumulative lost');
    assert.equal(rr.readUInt32BE(16), 0x10000 + 3, 'extended highest sequence number, one wrap');
    assert.deepEqual([rr[32] & 0x1f, rr[33]], [1, 202], 'then an SDES');
    assert.equal(rr.subarray(42, 42 + rr[41]).toString(), 'homebridge-courtyard');
    assert.equal(reports[1][12], 0, 'nothing lost since the last report');
    track.close();
    const sent = track.reports;
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(reports.length, sent, 'no report after close()');
  });
});
