// The camera's shared live audio encoder with a real ffmpeg: a camera's AAC in MPEG-TS (a sine, made once by ffmpeg)
// comes from a stand-in media source in real time; two viewers (loopback sockets, each with its own key, SSRC and
// payload type) listen to one ffmpeg; what arrives is opened by the e2e rig's independent SRTP receiver. Then the last
// viewer leaving stops it, another selection gets its own, and a killed ffmpeg is restarted while a viewer listens.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { AudioSelection, LiveAudio } from '../../src/media/live-audio';
import { ReturnPorts } from '../../src/media/return-ports';
import { parseRtp } from '../../src/media/rtp/loopback-rtp';
import { RelayViewer } from '../../src/media/rtp/relay-viewer';
import { RtpStream } from '../../src/media/rtp/rtp-stream';
import { SrtpSender } from '../../src/media/rtp/srtp';
import type { AttachOptions, Attachment, MediaSource } from '../../src/media/source';
import type { Log } from '../../src/util/log';
import { descendantsOf } from '../e2e/rig/procfs';
import { isRtcp, RtpHeader, SrtpReceiveContext } from '../e2e/rig/srtp';
import { pollFor } from './poll';

const OPUS: AudioSelection = { codec: 'opus', sample_rate: 24, bit_rate: 24, packet_time: 20 };
const TS_PACKET_BYTES = 188;
/** The stand-in camera's TS goes out in pieces this far apart (ms), as a camera's packets arrive. */
const FEED_EVERY_MS = 20;
const CLIP_SECONDS = 2;
/** What the stand-in source has cached and writes within attach: 1 s of the camera's stream. */
const CACHED_TICKS = 1000 / FEED_EVERY_MS;

/** A media source for one camera: its MPEG-TS (looped) in real time to each attachment; it counts attachments. */
class FakeSource {
  attachments = 0;
  attached = 0;

  constructor(private readonly ts: Buffer) {}

  attach(out: Writable, options: AttachOptions = {}): Attachment {
    void options;
    this.attachments++;
    this.attached++;
    const packets = this.ts.length / TS_PACKET_BYTES;
    const ticksPerLoop = (CLIP_SECONDS * 1000) / FEED_EVERY_MS;
    let ticks = 0;
    const tick = (): void => {
      const at = Math.floor(((ticks % ticksPerLoop) * packets) / ticksPerLoop);
      ticks++;
      const end = Math.floor((((ticks - 1) % ticksPerLoop + 1) * packets) / ticksPerLoop);
      out.write(this.ts.subarray(at * TS_PACKET_BYTES, end * TS_PACKET_BYTES));
    };
    // The source's cached group goes out at once, within attach (the encoder must not send it: the sound starts live).
    for (let i = 0; i < CACHED_TICKS; i++) {
      tick();
    }
    const timer = setInterval(tick, FEED_EVERY_MS);
    let detached = false;
    return {
      detach: () => {
        if (!detached) {
          detached = true;
          this.attached--;
          clearInterval(timer);
        }
      },
    };
  }
}

interface Viewer {
  key: Buffer;
  ssrc: number;
  pt: number;
  ports: ReturnPorts;
  receiver: Socket;
  relay: RelayViewer;
  datagrams: Buffer[];
}

async function viewer(seed: number, ssrc: number, pt: number): Promise<Viewer> {
  const key = Buffer.from(Array.from({ length: 30 }, (_, i) => (i * seed + 7) & 0xff));
  const ports = await ReturnPorts.open({ family: 4, bind: '127.0.0.1' });
  const receiver = createSocket('udp4');
  await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
  const datagrams: Buffer[] = [];
  receiver.on('message', (d: Buffer) => datagrams.push(d));
  const relay = new RelayViewer({
    socket: ports.audio, address: '127.0.0.1', port: receiver.address().port, srtp: new SrtpSender(key),
    rtp: new RtpStream(ssrc, pt, 48_000), rtcpIntervalMs: 500,
  });
  return { key, ssrc, pt, ports, receiver, relay, datagrams };
}

/** What a viewer received, opened with its own key only. */
function opened(v: Viewer): { rtp: RtpHeader[]; payloadBytes: number; reports: Buffer[]; failures: number } {
  const context = new SrtpReceiveContext({ key: v.key.subarray(0, 16), salt: v.key.subarray(16) });
  const out = { rtp: [] as RtpHeader[], payloadBytes: 0, reports: [] as Buffer[], failures: 0 };
  for (const d of v.datagrams) {
    if (isRtcp(d)) {
      const plain = context.unprotectRtcp(d);
      if (plain) {
        out.reports.push(plain);
      } else {
        out.failures++;
      }
      continue;
    }
    const rtp = context.unprotectRtp(d);
    if (rtp) {
      out.rtp.push(rtp.header);
      out.payloadBytes += rtp.payload.length;
    } else {
      out.failures++;
    }
  }
  return out;
}

function gapFree(headers: RtpHeader[]): boolean {
  return headers.every((h, i) => i === 0 || h.sequence === ((headers[i - 1].sequence + 1) & 0xffff));
}

function ffmpegs(): number[] {
  return descendantsOf(process.pid).filter((p) => p.comm === 'ffmpeg').map((p) => p.pid);
}

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`), debug: () => undefined };
}

describe('live audio: one ffmpeg per camera stream and selection, shared by its viewers', function () {
  this.timeout(20_000);
  let dir: string;
  let ts: Buffer;
  let viewers: Viewer[] = [];
  let audio: LiveAudio | undefined;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-live-audio-'));
    const file = join(dir, 'camera.ts');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000',
      '-t', String(CLIP_SECONDS), '-c:a', 'aac', '-b:a', '32k', '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0',
      '-pes_payload_size', '0', file]); // a frame per PES, as the plugin's own muxer (ts-mux.ts) writes a camera's AAC
    ts = readFileSync(file);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  afterEach(async () => {
    await audio?.stopAll();
    audio = undefined;
    await Promise.all(viewers.map((v) => v.relay.stop(false)));
    viewers.forEach((v) => {
      v.ports.close();
      v.receiver.close();
    });
    viewers = [];
  });

  it('two viewers hear one ffmpeg, each with its own key, SSRC, payload type and unbroken numbering; the last to leave stops it', async () => {
    const log = recordingLog();
    audio = new LiveAudio({ ffmpegPath: '/usr/bin/ffmpeg', log });
    const source = new FakeSource(ts);
    const [a, b] = viewers = [await viewer(13, 0x11111111, 110), await viewer(29, 0x22222222, 111)];
    const before = ffmpegs().length;
    const joinedAt = Date.now();
    const joinedA = audio.join(source as unknown as MediaSource, 'main', OPUS, a.relay);
    const joinedB = audio.join(source as unknown as MediaSource, 'main', OPUS, b.relay);
    await pollFor(() => opened(a).rtp.length >= 50 && opened(b).rtp.length >= 50 && opened(b).reports.length >= 2, 10_000,
      'a second of sound and sender reports at both viewers');
    assert.equal(ffmpegs().length - before, 1, 'one ffmpeg for both viewers');
    assert.equal(audio.size, 1);
    assert.equal(source.attachments, 1, 'one attachment to the camera\'s stream for both');
    for (const v of [a, b]) {
      const got = opened(v);
      assert.equal(got.failures, 0, 'everything opens with this viewer\'s key');
      assert.deepEqual([...new Set(got.rtp.map((h) => h.ssrc))], [v.ssrc], 'the viewer\'s SSRC');
      assert.deepEqual([...new Set(got.rtp.map((h) => h.payloadType))], [v.pt], 'the viewer\'s payload type');
      assert.ok(gapFree(got.rtp), 'sequence numbers without a gap');
      const steps = new Set(got.rtp.slice(1).map((h, i) => (h.timestamp - got.rtp[i].timestamp) >>> 0));
      assert.deepEqual([...steps], [960], '20 ms of 48 kHz Opus per packet');
      assert.ok(v.datagrams.every((d) => isRtcp(d) || d.length <= 188), 'datagrams of at most 188 bytes');
      assert.ok(got.reports.every((r) => r[1] === 200 && r.readUInt32BE(4) === v.ssrc), 'sender reports under the viewer\'s SSRC');
    }
    // The sound starts live: the source's cached second (50 packets of 20 ms at once) is not sent.
    const heard = opened(a).rtp.length;
    const liveAtMost = (Date.now() - joinedAt) / 20 + 10;
    assert.ok(heard <= liveAtMost, `${heard} packets ${Date.now() - joinedAt} ms after joining`);

    await joinedA.leave();
    assert.equal(ffmpegs().length - before, 1, 'the other viewer still listens');
    const heardB = opened(b).rtp.length;
    await pollFor(() => opened(b).rtp.length > heardB + 10, 5_000, 'more sound for the one left');
    await joinedB.leave();
    await b.relay.stop(true);
    assert.equal(ffmpegs().length, before, 'no ffmpeg once the last viewer left');
    assert.equal(audio.size, 0);
    assert.equal(source.attached, 0, 'detached from the camera');
    // RFC 3550 §6.6: the compound packet ends with an 8-byte BYE for the viewer's SSRC.
    const bye = (r: Buffer): boolean => r[r.length - 7] === 203 && r.readUInt32BE(r.length - 4) === b.ssrc;
    await pollFor(() => opened(b).reports.some(bye), 2_000, 'a BYE at the end');
    assert.deepEqual(log.lines.filter((l) => !l.startsWith('info')), [], 'nothing went wrong');
  });

  it('another audio selection gets its own ffmpeg', async () => {
    audio = new LiveAudio({ ffmpegPath: '/usr/bin/ffmpeg', log: recordingLog() });
    const source = new FakeSource(ts) as unknown as MediaSource;
    const [a, b] = viewers = [await viewer(13, 0x11111111, 110), await viewer(29, 0x22222222, 110)];
    const before = ffmpegs().length;
    audio.join(source, 'main', OPUS, a.relay);
    audio.join(source, 'main', { ...OPUS, sample_rate: 16 }, b.relay);
    await pollFor(() => opened(a).rtp.length >= 5 && opened(b).rtp.length >= 5, 10_000, 'sound at both viewers');
    assert.equal(ffmpegs().length - before, 2);
    assert.equal(audio.size, 2);
  });

  it('restarts a killed ffmpeg while a viewer listens: its sound comes back on the same numbering, and the log says so', async () => {
    const log = recordingLog();
    audio = new LiveAudio({ ffmpegPath: '/usr/bin/ffmpeg', log });
    const [a] = viewers = [await viewer(13, 0x11111111, 110)];
    const before = new Set(ffmpegs());
    audio.join(new FakeSource(ts) as unknown as MediaSource, 'main', OPUS, a.relay);
    await pollFor(() => opened(a).rtp.length >= 10, 10_000, 'sound');
    const [pid] = ffmpegs().filter((p) => !before.has(p));
    process.kill(pid, 'SIGKILL');
    await pollFor(() => log.lines.some((l) => /^warn .*the sound stopped for 1 viewer\(s\), the picture goes on/.test(l)), 5_000,
      'the line saying why the sound stopped');
    const atDeath = opened(a).rtp.length;
    await pollFor(() => log.lines.some((l) => /the sound is back/.test(l)) && opened(a).rtp.length > atDeath + 20, 10_000,
      'the sound back');
    const now = ffmpegs().filter((p) => !before.has(p));
    assert.equal(now.length, 1, 'one ffmpeg again');
    assert.notEqual(now[0], pid);
    const got = opened(a);
    assert.equal(got.failures, 0);
    assert.ok(gapFree(got.rtp), 'the viewer\'s sequence runs on across the restart');
    const jump = got.rtp.slice(1).map((h, i) => (h.timestamp - got.rtp[i].timestamp) >>> 0).find((s) => s !== 960) ?? 0;
    assert.ok(jump > 960 && jump < 48_000 * 10, `the timestamps go on with the time the sound was away (${jump})`);
  });

  it('reads RTP only: RTCP (RFC 5761) and runts are not relayed; CSRCs, extension and padding are not payload', () => {
    const rtcp = Buffer.from([0x80, 200, 0, 6, 1, 2, 3, 4, ...Array<number>(20).fill(0)]);
    assert.equal(parseRtp(rtcp), undefined);
    assert.equal(parseRtp(Buffer.alloc(8, 0x80)), undefined);
    const packet = Buffer.concat([
      Buffer.from([0xb1, 0x80 | 97, 0, 5, 0, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]), Buffer.alloc(4, 9), // CC=1, X, P, marker
      Buffer.from([0xbe, 0xde, 0, 1, 1, 2, 3, 4]), Buffer.from('opus'), Buffer.from([0, 0, 3]),
    ]);
    const parsed = parseRtp(packet);
    assert.deepEqual(parsed && { ...parsed, payload: parsed.payload.toString() },
      { ssrc: 0xaabbccdd, sequence: 5, timestamp: 256, marker: true, payloadType: 97, payload: 'opus' });
  });
});
