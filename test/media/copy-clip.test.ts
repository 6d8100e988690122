// The in-plugin HKSV muxer against real encoders and a real demuxer: ffmpeg makes the camera's MPEG-TS (as the source
// sends it), CopyClip turns it into fragmented MP4, and ffprobe reads what a hub would get.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipAudio } from '../../src/media/clip-audio';
import { CopyClip, CopyClipOptions } from '../../src/media/copy-clip';
import { NAL, nalType, parseSps, splitAnnexB } from '../../src/media/h264';
import type { Mp4Packet } from '../../src/media/mp4';
import { AAC_FRAME_SAMPLES, AudioUnit, PictureSizeGuard, TsDemuxer, VideoUnit } from '../../src/media/ts-demux';
import { probe } from '../e2e/rig/media-probe';

const FPS = 15;
const GOP_S = 2;

let dir: string;

/** A camera-like MPEG-TS: testsrc H.264 (no B-frames) at 15 fps, a keyframe every 2 s, AAC mono at `rate`, muxed as the
 *  source muxes (PES lengths, no mux delay). */
function cameraTs(name: string, o: { seconds: number; size?: string; rate?: number; profile?: string; audio?: boolean; offsetS?: number }): string {
  const file = join(dir, name);
  const audio = o.audio ?? true;
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${o.size ?? '320x240'}:rate=${FPS}`,
    ...(audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${o.rate ?? 16000}`] : []),
    '-t', String(o.seconds), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'superfast', '-profile:v', o.profile ?? 'main',
    '-g', String(FPS * GOP_S), '-bf', '0', ...(audio ? ['-c:a', 'aac', '-b:a', '32k'] : []),
    ...(o.offsetS ? ['-output_ts_offset', String(o.offsetS)] : []),
    '-f', 'mpegts', '-omit_video_pes_length', '0', '-muxdelay', '0', '-max_interleave_delta', '1', file,
  ], { timeout: 30_000 });
  return file;
}

function collect(o: Omit<CopyClipOptions, 'onPacket'>): { clip: CopyClip; packets: Mp4Packet[] } {
  const packets: Mp4Packet[] = [];
  return { clip: new CopyClip({ ...o, onPacket: (p) => packets.push(p) }), packets };
}

function feed(clip: CopyClip, data: Buffer, chunk: number): void {
  for (let at = 0; at < data.length; at += chunk) {
    clip.push(data.subarray(at, at + chunk));
  }
}

async function probeMp4(packets: Mp4Packet[]): Promise<Awaited<ReturnType<typeof probe>>> {
  const file = join(dir, `clip-${Math.random().toString(36).slice(2)}.mp4`);
  writeFileSync(file, Buffer.concat(packets.map((p) => p.data)));
  return probe(file);
}

const seconds = (frames: { pts_time?: string }[]): number[] => frames.map((f) => Number(f.pts_time));

describe('CopyClip: the camera\'s H.264 and AAC into HKSV fragments without ffmpeg', function () {
  this.timeout(60_000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-copyclip-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('copies video and AAC: init first, 4 s fragments each starting on a keyframe, every frame decodable, whatever the chunking', async () => {
    const ts = readFileSync(cameraTs('a.ts', { seconds: 13, rate: 32000 }));
    for (const chunk of [188, 1000, 65536]) {
      const { clip, packets } = collect({ minFragmentMs: 3800, audio: 'copy' });
      feed(clip, ts, chunk);
      assert.deepEqual(packets.map((p) => p.kind), ['init', 'fragment', 'fragment', 'fragment'], `chunk ${chunk}`);
      const r = await probeMp4(packets);
      const video = r.frames.filter((f) => f.media_type === 'video');
      const audio = r.frames.filter((f) => f.media_type === 'audio');
      // 12 s are in closed fragments (the last GOP waits for the keyframe that would close it).
      assert.equal(video.length, 12 * FPS, `chunk ${chunk}`);
      assert.deepEqual(video.filter((f) => f.key_frame === 1).map((f) => Number(f.pts_time)), [0, 2, 4, 6, 8, 10]);
      const v = r.streams.find((s) => s.codec_type === 'video');
      assert.deepEqual([v?.codec_name, v?.profile, v?.width, v?.height], ['h264', 'Main', 320, 240]);
      const a = r.streams.find((s) => s.codec_type === 'audio');
      assert.deepEqual([a?.codec_name, a?.sample_rate, a?.channels], ['aac', '32000', 1]);
      // Audio starts with the video and covers it (within a frame or two of the cut).
      const at = seconds(audio);
      assert.ok(at[0] >= 0 && at[0] < 0.1, `audio starts at ${at[0]}`);
      assert.ok(Math.abs(at[at.length - 1] - 12) < 0.2, `audio ends at ${at[at.length - 1]}`);
    }
  });

  it('leaves audio out when asked, and reads High profile at 1080p (SPS cropping)', async () => {
    const ts = readFileSync(cameraTs('b.ts', { seconds: 2.5, size: '1920x1080', profile: 'high' }));
    const { clip, packets } = collect({ minFragmentMs: 1900, audio: 'none' });
    feed(clip, ts, 4096);
    const r = await probeMp4(packets);
    assert.deepEqual(r.streams.map((s) => [s.codec_type, s.profile, s.width, s.height]), [['video', 'High', 1920, 1080]]);
    assert.equal(r.frames.length, 2 * FPS);
  });

  it('a camera whose read restarted (timestamps jump back) continues the clip\'s timeline without a gap', async () => {
    const first = readFileSync(cameraTs('c1.ts', { seconds: 4.5, offsetS: 3000 }));
    const second = readFileSync(cameraTs('c2.ts', { seconds: 4.5, offsetS: 10 }));
    const { clip, packets } = collect({ minFragmentMs: 1900, audio: 'copy' });
    feed(clip, Buffer.concat([first, second]), 1316);
    const r = await probeMp4(packets);
    const video = seconds(r.frames.filter((f) => f.media_type === 'video'));
    const steps = video.slice(1).map((t, i) => Math.round((t - video[i]) * 1000));
    assert.ok(steps.every((ms) => ms > 0 && ms <= 70), `frames 1/15 s apart, none back or jumping: ${[...new Set(steps)].join(', ')}`);
    assert.ok(video.length >= 8 * FPS, `${video.length} frames`);
  });

  it('finish() (the camera\'s stream was cut) sends what arrived since the last keyframe as a last, shorter fragment', async () => {
    const ts = readFileSync(cameraTs('h.ts', { seconds: 5, rate: 32000 }));
    const { clip, packets } = collect({ minFragmentMs: 3800, audio: 'copy' });
    feed(clip, ts, 4096);
    assert.deepEqual(packets.map((p) => p.kind), ['init', 'fragment'], 'one whole fragment before the cut');
    const last = clip.finish();
    assert.ok(last && last.kind === 'fragment', 'the frames since the keyframe as the last fragment');
    assert.equal(clip.finish(), undefined, 'nothing left after that');
    const r = await probeMp4([...packets, last]);
    const video = r.frames.filter((f) => f.media_type === 'video');
    // 5 s of frames; the very last one is still incomplete in the demuxer (its PES ends with the next), so 74 or 75.
    assert.ok(video.length >= 5 * FPS - 1, `${video.length} frames`);
    assert.deepEqual(video.filter((f) => f.key_frame === 1).map((f) => Number(f.pts_time)), [0, 2, 4]);
  });

  it('converts 16 kHz camera audio to the hub\'s 32 kHz with an audio-only ffmpeg, the fragments still on time', async () => {
    const ts = readFileSync(cameraTs('d.ts', { seconds: 9, rate: 16000 }));
    const converter: { audio?: ClipAudio } = {};
    const { clip, packets } = collect({
      minFragmentMs: 3800, audio: 'convert', convertedTrack: { objectType: 2, sampleRate: 32000, rateIndex: 5, channels: 1 },
      convert: (u) => converter.audio?.push(u),
    });
    const audio = new ClipAudio({
      ffmpegPath: 'ffmpeg', log: { debug: () => undefined, error: (m) => assert.fail(m) }, label: 'test', sampleRate: 32000, channels: 1,
      kbps: 64, onFrames: (u) => clip.addConvertedAudio(u),
    });
    converter.audio = audio;
    try {
      // At four times real time, as a prebuffer burst and then the live stream would come.
      const piece = Math.ceil(ts.length / 36);
      for (let at = 0; at < ts.length; at += piece) {
        clip.push(ts.subarray(at, at + piece));
        await new Promise((r) => setTimeout(r, 9000 / 36 / 4));
      }
      for (let i = 0; i < 40 && packets.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clip.close();
      await audio.stop();
    }
    assert.deepEqual(packets.map((p) => p.kind), ['init', 'fragment', 'fragment']);
    const r = await probeMp4(packets);
    assert.deepEqual(r.streams.map((s) => [s.codec_type, s.codec_name, s.sample_rate]), [['video', 'h264', undefined], ['audio', 'aac', '32000']]);
    const at = seconds(r.frames.filter((f) => f.media_type === 'audio'));
    assert.ok(at[0] < 0.1 && at[at.length - 1] > 7, `converted audio spans the clip: ${at[0]}–${at[at.length - 1]} s`);
  });

  it('the prebuffer\'s fragments wait for a slow converter as long as it keeps giving audio, not a fixed 0.1 s', async () => {
    // A loaded machine: the converter works through the prebuffer's 8 s of audio at ~3× real time. Each prebuffered
    // fragment must still carry its 4 s of sound (it was sent with 2.3 s under load, the rest squeezed into the next).
    const ts = readFileSync(cameraTs('slow.ts', { seconds: 9, rate: 16000 }));
    const inbox: AudioUnit[] = [];
    const { clip, packets } = collect({
      minFragmentMs: 3800, audio: 'convert', convertedTrack: { objectType: 2, sampleRate: 16000, rateIndex: 8, channels: 1 },
      convert: (u) => inbox.push(u),
    });
    // The "converter" gives back what it got, 1 s of audio every 300 ms.
    const drip = setInterval(() => {
      const ready = inbox.splice(0, Math.round(16000 / AAC_FRAME_SAMPLES));
      if (ready.length) {
        clip.addConvertedAudio(ready);
      }
    }, 300);
    try {
      clip.push(ts); // the prebuffer: two whole fragments at once
      for (let i = 0; i < 80 && packets.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clearInterval(drip);
      clip.close();
    }
    assert.deepEqual(packets.map((p) => p.kind), ['init', 'fragment', 'fragment']);
    const r = await probeMp4(packets);
    const at = seconds(r.frames.filter((f) => f.media_type === 'audio'));
    assert.ok(at[at.length - 1] > 7.8, `the two prebuffered fragments carry audio up to 8 s: last at ${at[at.length - 1]} s`);
  });
});

describe('TsDemuxer and the H.264 bitstream', function () {
  this.timeout(30_000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-demux-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each access unit once with its timestamps, announcing keyframes as they start', () => {
    const ts = readFileSync(cameraTs('e.ts', { seconds: 4.2, size: '640x360' }));
    const demuxer = new TsDemuxer();
    const out = [];
    for (let at = 0; at < ts.length; at += 188 * 3) {
      out.push(...demuxer.push(ts.subarray(at, at + 188 * 3)));
    }
    out.push(...demuxer.flush());
    const video = out.filter((u): u is VideoUnit => u.track === 'video');
    const keys = out.filter((u) => u.track === 'keyframe');
    assert.equal(video.length, Math.round(4.2 * FPS));
    assert.equal(keys.length, 3);
    const steps = new Set(video.slice(1).map((u, i) => u.dts - video[i].dts));
    assert.deepEqual([...steps], [90000 / FPS]);
    // Each keyframe is announced before its access unit is complete.
    const firstKey = out.findIndex((u) => u.track === 'keyframe');
    assert.ok(out.findIndex((u) => u.track === 'video' && u.key) > firstKey);
    const sps = splitAnnexB(video[0].data).find((n) => nalType(n) === NAL.SPS);
    assert.ok(sps);
    assert.deepEqual([parseSps(sps).width, parseSps(sps).height, parseSps(sps).profileIdc], [640, 360, 77]);
    const audio = out.filter((u) => u.track === 'audio');
    assert.ok(audio.length > 60 && audio.every((a) => a.objectType === 2 && a.channels === 1));
  });

  it('refuses a PES growing past 8 MiB (a broken or hostile stream) instead of buffering it', () => {
    const ts = readFileSync(cameraTs('f.ts', { seconds: 0.5, audio: false }));
    const demuxer = new TsDemuxer();
    demuxer.push(ts.subarray(0, 188 * 3)); // SDT, PAT, PMT
    const videoPid = ((ts[188 * 3 + 1] & 0x1f) << 8) | ts[188 * 3 + 2];
    const packet = (start: boolean): Buffer => {
      const b = Buffer.alloc(188, 0xaa);
      b.writeUInt8(0x47, 0);
      b.writeUInt16BE((start ? 0x4000 : 0) | videoPid, 1);
      b.writeUInt8(0x10, 3); // payload only
      if (start) {
        // PES header: stream 0xE0, length 0 (unbounded, as for video over 64 KiB), PTS only.
        Buffer.from([0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1]).copy(b, 4);
      }
      return b;
    };
    demuxer.push(packet(true));
    const run = Buffer.concat(Array.from({ length: 1000 }, () => packet(false)));
    assert.throws(() => {
      for (let i = 0; i < 60; i++) {
        demuxer.push(run);
      }
    }, /over 8 MiB/);
  });

  it('unwraps the 33-bit PTS: a clip across the wrap keeps counting up', () => {
    const ts = readFileSync(cameraTs('g.ts', { seconds: 3, audio: false, offsetS: 2 ** 33 / 90000 - 1 }));
    const demuxer = new TsDemuxer();
    const video = demuxer.push(ts).filter((u): u is VideoUnit => u.track === 'video');
    assert.ok(video.length > 30);
    assert.ok(video.slice(1).every((u, i) => u.dts - video[i].dts === 90000 / FPS), 'steady steps across the wrap');
  });
});

describe('PictureSizeGuard: a clip copied through ffmpeg ends where the camera changes its picture size', function () {
  this.timeout(30_000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-sizeguard-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the stream (keyframes of the same size too) up to the first keyframe of another size, then nothing', async () => {
    // 4.5 s at 320x240 (keyframes at 0, 2 and 4 s), then the camera's new size from its own keyframe.
    const before = readFileSync(cameraTs('before.ts', { seconds: 4.5, size: '320x240', audio: false }));
    const after = readFileSync(cameraTs('after.ts', { seconds: 1, size: '640x360', audio: false, offsetS: 5 }));
    const stream = Buffer.concat([before, after]);
    const guard = new PictureSizeGuard();
    const passed: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 1000) {
      passed.push(guard.push(stream.subarray(at, at + 1000))); // chunks that cut packets, as a pipe does
    }
    assert.equal(guard.changed, 'the camera changed its picture size from 320x240 to 640x360');
    assert.equal(guard.push(before.subarray(0, 188 * 10)).length, 0, 'nothing passes after the change');
    const file = join(dir, 'passed.ts');
    writeFileSync(file, Buffer.concat(passed));
    const video = (await probe(file)).frames.filter((f) => f.media_type === 'video');
    assert.equal(video.length, Math.round(4.5 * FPS), 'every frame before the change, none after');
    assert.deepEqual([...new Set(video.map((f) => `${f.width}x${f.height}`))], ['320x240']);
    assert.equal(video.filter((f) => f.key_frame === 1).length, 3, 'the same size\'s keyframes passed');
  });
});
