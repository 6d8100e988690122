// The plugin's live sender end to end on loopback: a real x264 stream in MPEG-TS (made once by ffmpeg, as the media
// source carries it) goes in; what arrives on a UDP socket is opened by the e2e rig's independent SRTP receiver and
// H.264 reassembler, and must be the same access units (AUDs aside), with marker bits, the MTU, PTS-derived
// timestamps, paced catch-up, sender reports and BYE (no audio: the camera's shared encoder sends it, live-audio.ts);
// then the ways a viewer's stream ends by itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sinon from 'sinon';
import { NAL, nalType, splitAnnexB } from '../../../src/media/h264';
import { LiveSender, LiveSenderOptions } from '../../../src/media/rtp/live-sender';
import { RtpStream } from '../../../src/media/rtp/rtp-stream';
import { SrtpSender } from '../../../src/media/rtp/srtp';
import { TsDemuxer, VideoUnit } from '../../../src/media/ts-demux';
import { ReturnPorts } from '../../../src/media/return-ports';
import { H264Assembler } from '../../e2e/rig/h264-assembler';
import { isRtcp, RtpHeader, SrtpReceiveContext } from '../../e2e/rig/srtp';

const MASTER = Buffer.from(Array.from({ length: 30 }, (_, i) => (i * 13 + 5) & 0xff));
const SSRC = 0x11223344;
const MTU = 1378;
const FPS = 15;
const SECONDS = 3;

interface Arrival {
  at: number;
  data: Buffer;
}

/** A UDP socket on 127.0.0.1 keeping what arrives. */
async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.setRecvBufferSize(4 * 1024 * 1024); // a catch-up burst must not overflow the test's receiver (capped by the OS)
  return socket;
}

function record(socket: Socket): Arrival[] {
  const got: Arrival[] = [];
  socket.on('message', (data: Buffer) => got.push({ at: performance.now(), data }));
  return got;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`no ${what} within ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The AUs as a receiver must get them: every NAL but AUDs, each after a 4-byte start code (the rig's form). */
function expectedAnnexB(unit: VideoUnit): Buffer {
  return Buffer.concat(splitAnnexB(unit.data).filter((n) => nalType(n) !== NAL.AUD).flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));
}

interface Opened {
  units: { header: RtpHeader; annexB: Buffer; at: number }[];
  packets: { header: RtpHeader; bytes: number }[];
  rtcp: Buffer[];
  authFailures: number;
}

/** Decrypts with the rig's SRTP context and reassembles with its H.264 assembler, cutting access units at marker bits. */
function open(arrivals: Arrival[]): Opened {
  const context = new SrtpReceiveContext({ key: MASTER.subarray(0, 16), salt: MASTER.subarray(16) });
  const assembler = new H264Assembler(64 * 1024 * 1024, () => undefined);
  const out: Opened = { units: [], packets: [], rtcp: [], authFailures: 0 };
  let cut = 0;
  for (const a of arrivals) {
    if (isRtcp(a.data)) {
      const plain = context.unprotectRtcp(a.data);
      if (plain) {
        out.rtcp.push(plain);
      } else {
        out.authFailures++;
      }
      continue;
    }
    const rtp = context.unprotectRtp(a.data);
    if (!rtp) {
      out.authFailures++;
      continue;
    }
    out.packets.push({ header: rtp.header, bytes: a.data.length });
    assembler.push(rtp.header, rtp.payload, a.at);
    if (rtp.header.marker) {
      const es = assembler.elementaryStream();
      out.units.push({ header: rtp.header, annexB: es.subarray(cut), at: a.at });
      cut = es.length;
    }
  }
  return out;
}

describe('live sender: copied H.264 to a viewer over SRTP, without ffmpeg', function () {
  let dir: string;
  let ts: Buffer;
  let units: VideoUnit[];
  /** The plugin's own sockets for a viewer: the video one sends (as in a session). */
  let ports: ReturnPorts;
  let from: Socket;
  let to: Socket;
  let arrivals: Arrival[];
  let senders: LiveSender[] = [];

  before(function () {
    this.timeout(30_000);
    dir = mkdtempSync(join(tmpdir(), 'courtyard-live-sender-'));
    const file = join(dir, 'camera.ts');
    // As the media source carries a camera: x264 Main with a keyframe a second, AAC, MPEG-TS with PES lengths.
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${FPS}`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000', '-t', String(SECONDS),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-g', String(FPS), '-bf', '0',
      '-c:a', 'aac', '-b:a', '32k', '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', '-omit_video_pes_length', '0', file]);
    ts = readFileSync(file);
    units = new TsDemuxer().push(ts).filter((u): u is VideoUnit => u.track === 'video');
    assert.ok(units.length >= FPS * SECONDS - 2 && units[0].key, `the test stream has ${units.length} frames, a keyframe first`);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    ports = await ReturnPorts.open({ family: 4, bind: '127.0.0.1' });
    [from, to] = [ports.video, await bound()];
    arrivals = record(to);
    senders = [];
  });

  afterEach(async () => {
    await Promise.all(senders.map((s) => s.stop(false)));
    ports.close();
    to.close();
  });

  function sender(options: Partial<LiveSenderOptions> = {}, rtp = new RtpStream(SSRC, 99, 90_000), srtp = new SrtpSender(MASTER)): LiveSender {
    const s = new LiveSender({
      socket: from, address: '127.0.0.1', port: to.address().port, srtp, rtp, mtu: MTU, rtcpIntervalMs: 100, catchUpRate: 8,
      onEnd: (reason) => assert.fail(`the stream ended: ${reason}`), ...options,
    });
    senders.push(s);
    return s;
  }

  /** One demuxer per sender, as the fan-out keeps one per camera stream. */
  const demuxers = new WeakMap<LiveSender, TsDemuxer>();
  /** A chunk of whole TS packets as the source sends it, demuxed, its access units given to the sender. */
  function write(s: LiveSender, chunk: Buffer): void {
    const demuxer = demuxers.get(s) ?? new TsDemuxer();
    demuxers.set(s, demuxer);
    for (const unit of demuxer.push(chunk)) {
      if (unit.track !== 'keyframe') {
        s.unit(unit);
      }
    }
  }

  /** Writes the stream in chunks of whole TS packets, as the source does. */
  function feed(s: LiveSender, data: Buffer): void {
    for (let at = 0; at < data.length; at += 188 * 40) {
      write(s, data.subarray(at, at + 188 * 40));
    }
  }

  it('every access unit arrives identical (AUDs aside), marker on its last packet, no datagram over the MTU', async function () {
    this.timeout(10_000);
    const s = sender();
    feed(s, ts);
    await until(() => open(arrivals).units.length >= units.length, 5_000, `${units.length} access units`);
    const got = open(arrivals);
    assert.equal(got.authFailures, 0);
    assert.equal(got.units.length, units.length, 'one marker per access unit');
    got.units.forEach((u, i) => assert.ok(u.annexB.equals(expectedAnnexB(units[i])), `access unit ${i} differs`));
    assert.ok(got.packets.every((p) => p.bytes <= MTU), `largest datagram ${Math.max(...got.packets.map((p) => p.bytes))} B`);
    assert.ok(got.packets.some((p) => p.bytes > MTU - 40), 'keyframes fill packets up to the MTU (FU-A)');
    const sequences = got.packets.map((p) => p.header.sequence);
    assert.ok(sequences.every((q, i) => i === 0 || q === ((sequences[i - 1] + 1) & 0xffff)), 'sequence numbers without a gap');
    assert.ok(got.packets.every((p) => p.header.ssrc === SSRC && p.header.payloadType === 99));
    const base = got.units[0].header.timestamp;
    got.units.forEach((u, i) => assert.equal((u.header.timestamp - base) >>> 0, units[i].pts - units[0].pts, `timestamp of unit ${i} follows its PTS`));
    assert.equal(s.stats.accessUnits, units.length);
  });

  it('sends sender reports (SRTCP) with its SSRC, packet count and a timestamp on the stream clock, and BYE at the end', async function () {
    this.timeout(10_000);
    const s = sender({ rtcpIntervalMs: 100 });
    feed(s, ts);
    await until(() => open(arrivals).rtcp.length >= 3, 3_000, 'three sender reports');
    await s.stop(true);
    const reports = open(arrivals).rtcp.length;
    await until(() => open(arrivals).rtcp.length > reports, 1_000, 'the last report');
    const got = open(arrivals);
    const first = got.rtcp[0];
    assert.deepEqual([first[1], first.readUInt32BE(4)], [200, SSRC], 'an SR of our SSRC comes first');
    assert.equal(first[first.readUInt16BE(2) * 4 + 4 + 1], 202, 'then SDES (CNAME)');
    const ntpSeconds = first.readUInt32BE(8) - 2_208_988_800;
    assert.ok(Math.abs(ntpSeconds - Date.now() / 1000) < 5, 'NTP time is now');
    const last = got.rtcp.at(-1) as Buffer;
    assert.ok(last.readUInt32BE(20) > 0 && last.readUInt32BE(20) <= got.packets.length, 'packet count');
    let offset = 0;
    const types: number[] = [];
    while (offset + 4 <= last.length) {
      types.push(last[offset + 1]);
      offset += (last.readUInt16BE(offset + 2) + 1) * 4;
    }
    assert.deepEqual(types, [200, 202, 203], 'the last report carries BYE');
  });

  it('paces the cached group: the keyframe at once, the rest at the catch-up rate, live frames the moment they come', async function () {
    this.timeout(10_000);
    const rate = 4;
    const s = sender({ catchUpRate: rate });
    const cutAt = Math.floor(ts.length * 2 / 3 / 188) * 188;
    const written = performance.now();
    feed(s, ts.subarray(0, cutAt)); // the cache: about 2 s of video, due over about 0.5 s
    await until(() => open(arrivals).units.length >= 1, 1_000, 'the keyframe');
    const keyframeAfter = open(arrivals).units[0].at - written;
    assert.ok(keyframeAfter < 50, `the cached keyframe went out ${keyframeAfter.toFixed(0)} ms after the write`);
    const cached = new TsDemuxer().push(ts.subarray(0, cutAt)).filter((u): u is VideoUnit => u.track === 'video');
    const spanMs = (cached.at(-1) as VideoUnit).dts / 90 - cached[0].dts / 90;
    await until(() => open(arrivals).units.length >= cached.length, 3_000, 'the cached frames');
    const tookMs = (open(arrivals).units.at(-1)?.at ?? 0) - written;
    assert.ok(tookMs > spanMs / rate * 0.85 && tookMs < spanMs / rate + 150,
      `${cached.length} cached frames (${spanMs.toFixed(0)} ms) took ${tookMs.toFixed(0)} ms at ${rate}×`);
    // Live: the rest comes as a camera sends it, a chunk at a time; each frame leaves as soon as its last byte is in.
    const before = open(arrivals).units.length;
    const writes: number[] = [];
    const chunkMs = 188 * 40 / (ts.length / SECONDS / 1000); // a chunk's share of real time
    for (let at = cutAt; at < ts.length; at += 188 * 40) {
      await new Promise((r) => setTimeout(r, chunkMs));
      writes.push(performance.now());
      write(s, ts.subarray(at, at + 188 * 40));
    }
    await new Promise((r) => setTimeout(r, 200)); // no polling meanwhile: decrypting all so far would hold the event loop
    assert.equal(open(arrivals).units.length, units.length, 'every live frame arrived');
    const waits = open(arrivals).units.slice(before).map((u) => u.at - Math.max(...writes.filter((w) => w <= u.at)));
    const sorted = [...waits].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)];
    // Paced as cache, they would wait a frame's share of the catch-up (17 ms at 4×) or far more; a busy test machine
    // delays a few by its event loop.
    assert.ok(median < 5 && sorted[sorted.length - 1] < 40,
      `live frames waited ${median.toFixed(1)} ms (median), up to ${sorted[sorted.length - 1].toFixed(1)} ms after their last byte`);
  });

  it('a replacing sender (reconfigure) goes on with the sequence, SRTP index and timestamps of the session', async function () {
    this.timeout(10_000);
    const rtp = new RtpStream(SSRC, 99, 90_000);
    const srtp = new SrtpSender(MASTER);
    const a = sender({}, rtp, srtp);
    const firstGroup = Math.floor(ts.length / 3 / 188) * 188;
    feed(a, ts.subarray(0, firstGroup));
    await until(() => open(arrivals).units.length > 5, 2_000, 'the first sender\'s frames');
    await a.stop(false);
    await new Promise((r) => setTimeout(r, 100)); // what A sent is all in
    const sentByA = open(arrivals).units.length;
    // Packets, not frames: a stop can come in the middle of a frame's packets (a loaded machine), which no frame counts.
    const packetsByA = open(arrivals).packets.length;
    feed(sender({}, rtp, srtp), ts);
    await until(() => open(arrivals).units.length >= sentByA + units.length, 5_000, 'the second sender\'s frames');
    const got = open(arrivals);
    assert.equal(got.authFailures, 0, 'the receiver follows across the replacement');
    const sequences = got.packets.map((p) => p.header.sequence);
    assert.ok(sequences.every((q, i) => i === 0 || q === ((sequences[i - 1] + 1) & 0xffff)), 'one sequence');
    const step = (got.packets[packetsByA].header.timestamp - got.packets[packetsByA - 1].header.timestamp) >>> 0;
    assert.equal(step, 3000, 'the new timeline starts one frame (30 fps) after the last timestamp');
  });

  it('ends with a reason when sending fails or the OS holds too much for the viewer', async () => {
    let reason = '';
    const stuck = sinon.stub(from, 'getSendQueueSize').returns(3 * 1024 * 1024);
    try {
      feed(sender({ onEnd: (r) => { reason ||= r; } }), ts);
    } finally {
      stuck.restore();
    }
    assert.match(reason, /viewer's network takes the video slower than the camera sends it/);
    reason = '';
    const gone = await bound();
    gone.close();
    feed(sender({ socket: gone, onEnd: (r) => { reason ||= r; } }), ts);
    assert.match(reason, /sending the video to the viewer failed \(/);
  });
});
