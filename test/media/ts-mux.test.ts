// The plugin's MPEG-TS muxer against what reads the source's TS today: TsReader (keyframes, PTS), TsDemuxer (frames
// back), ffprobe/ffmpeg (the per-viewer and transcoding consumers), and ffmpeg's own muxer for the table bytes. The
// input is a real x264 stream and real AAC frames, made once by ffmpeg.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAL, nalType, splitAnnexB } from '../../src/media/h264';
import { TS_PACKET_BYTES, TsReader } from '../../src/media/mpegts';
import { AudioUnit, Demuxed, TsDemuxer, VideoUnit } from '../../src/media/ts-demux';
import { crc32Mpeg2, H264AccessUnit, TS_AUDIO_PID, TS_PMT_PID, TS_VIDEO_PID, TsMuxer } from '../../src/media/ts-mux';
import { HEVC_NAL, hevcNalType } from '../../src/media/h265';
import { decodeErrors, encodeHevc, hevcAccessUnits, HevcUnit, probeVideo } from './hevc-sample';

const FPS = 15;
const FRAME_90K = 90000 / FPS;
const RATE = 44100;
const AAC_FRAME_90K = 1024 * 90000 / RATE;
const PTS_START = 126_000; // 1.4 s, where ffmpeg's muxer starts
const AUDIO = { sampleRate: RATE, channels: 1, objectType: 2 };

let dir: string;
let aus: H264AccessUnit[];
let aac: { data: Buffer; pts: number }[];
let reference: Buffer;
let muxed: Buffer;
/** Each muxer call's output, in the order made, with what went in. */
let pieces: { out: Buffer; video?: H264AccessUnit }[];

/** Access units of an Annex B stream (ITU-T H.264 §7.4.1.2.3): a new one starts at an AUD/SEI/SPS/PPS after a slice,
 *  or at a slice with first_mb_in_slice 0 (its ue(v) is the single bit 1) after a slice. */
function accessUnits(annexB: Buffer): H264AccessUnit[] {
  const out: H264AccessUnit[] = [];
  let current: Buffer[] = [];
  let hasSlice = false;
  const close = (): void => {
    if (current.length) {
      out.push({ nalus: current, pts: PTS_START + out.length * FRAME_90K, keyframe: current.some((n) => nalType(n) === NAL.IDR) });
    }
    current = [];
    hasSlice = false;
  };
  for (const nal of splitAnnexB(annexB)) {
    const type = nalType(nal);
    const slice = type === 1 || type === NAL.IDR;
    if (hasSlice && ((type >= 6 && type <= 9) || (slice && (nal[1] & 0x80) !== 0))) {
      close();
    }
    current.push(nal);
    hasSlice ||= slice;
  }
  close();
  return out;
}

/** Everything muxed in time order, video before audio of the same time. */
function muxAll(muxer: TsMuxer, video: H264AccessUnit[], audio: { data: Buffer; pts: number }[]): { out: Buffer; video?: H264AccessUnit }[] {
  const out: { out: Buffer; video?: H264AccessUnit }[] = [];
  let a = 0;
  for (const au of video) {
    while (a < audio.length && audio[a].pts < au.pts) {
      out.push({ out: muxer.audio(audio[a++]) });
    }
    out.push({ out: muxer.video(au), video: au });
  }
  while (a < audio.length) {
    out.push({ out: muxer.audio(audio[a++]) });
  }
  return out;
}

function packets(ts: Buffer): Buffer[] {
  assert.equal(ts.length % TS_PACKET_BYTES, 0, 'whole packets');
  const out: Buffer[] = [];
  for (let at = 0; at < ts.length; at += TS_PACKET_BYTES) {
    out.push(ts.subarray(at, at + TS_PACKET_BYTES));
  }
  return out;
}

const pidOf = (p: Buffer): number => ((p[1] & 0x1f) << 8) | p[2];

function demux(ts: Buffer): Demuxed[] {
  const d = new TsDemuxer();
  return [...d.push(ts), ...d.flush()];
}

/** The NAL units of a demuxed access unit, without the AUD the muxer added. */
const nalsOf = (u: VideoUnit): Buffer[] => splitAnnexB(u.data).filter((n) => nalType(n) !== NAL.AUD);

/** CRC-32/MPEG-2 one bit at a time, straight from the polynomial (13818-1 Annex A), to check the table-driven one. */
function bitwiseCrc(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = ((crc >>> 31) ^ (byte >> bit)) & 1;
      crc = ((crc << 1) ^ (top ? 0x04c11db7 : 0)) >>> 0;
    }
  }
  return crc;
}

describe('TsMuxer: H.264 access units and AAC frames into the TS the source gives its consumers', function () {
  this.timeout(30_000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-tsmux-'));
    // One ffmpeg run: the raw H.264 and ADTS AAC to mux, and ffmpeg's own TS of the same (x264 is deterministic).
    const x264 = ['-c:v', 'libx264', '-preset', 'superfast', '-pix_fmt', 'yuv420p', '-g', '15', '-bf', '0'];
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-t', '2', '-i', `testsrc=size=320x240:rate=${FPS}`, '-f', 'lavfi', '-t', '2', '-i', `sine=frequency=440:sample_rate=${RATE}`,
      '-map', '0:v', ...x264, '-f', 'h264', join(dir, 'v.h264'),
      '-map', '1:a', '-c:a', 'aac', '-f', 'adts', join(dir, 'a.aac'),
      '-map', '0:v', '-map', '1:a', ...x264, '-c:a', 'aac',
      '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', '-omit_video_pes_length', '0', join(dir, 'ref.ts'), // as source.ts reads
    ], { timeout: 30_000 });
    aus = accessUnits(readFileSync(join(dir, 'v.h264')));
    aac = TsDemuxer.adtsFrames(readFileSync(join(dir, 'a.aac'))).map((f, i) => ({ data: f.data, pts: PTS_START + Math.round(i * AAC_FRAME_90K) }));
    reference = readFileSync(join(dir, 'ref.ts'));
    pieces = muxAll(new TsMuxer({ audio: AUDIO }), aus, aac);
    muxed = Buffer.concat(pieces.map((p) => p.out));
    writeFileSync(join(dir, 'muxed.ts'), muxed);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has input worth testing: 30 access units with a keyframe every 15, SPS and PPS in them; AAC frames', () => {
    assert.equal(aus.length, 30);
    assert.deepEqual(aus.map((a, i) => [a.keyframe, i % 15 === 0]).filter(([k, e]) => k !== e), []);
    assert.ok(aus[0].nalus.some((n) => nalType(n) === NAL.SPS) && aus[0].nalus.some((n) => nalType(n) === NAL.PPS));
    assert.ok(aac.length >= 80, `${aac.length} AAC frames`);
  });

  it('TsReader finds the tables, flags exactly the keyframes and reads every frame\'s PTS', () => {
    const reader = new TsReader();
    const infos = reader.push(muxed);
    assert.equal(reader.video, TS_VIDEO_PID);
    assert.equal(reader.audio, TS_AUDIO_PID);
    assert.equal(reader.videoStreamType, 0x1b);
    assert.deepEqual(infos.filter((i) => i.isKeyframe).map((i) => i.pts), aus.filter((a) => a.keyframe).map((a) => a.pts));
    assert.deepEqual(infos.filter((i) => i.isVideoFrameStart).map((i) => i.pts), aus.map((a) => a.pts));
    // A consumer joining at any keyframe gets the tables right before it: PAT, PMT, keyframe.
    const keys = infos.flatMap((i, n) => (i.isKeyframe ? [n] : []));
    assert.equal(keys.length, 2);
    keys.forEach((at) => assert.deepEqual(infos.slice(at - 2, at).map((i) => i.pid), [0, TS_PMT_PID]));
  });

  it('TsDemuxer gives back the same NAL units and AAC frames with the same PTS, each frame as soon as its bytes are in', () => {
    const demuxer = new TsDemuxer();
    const video: VideoUnit[] = [];
    const audio: AudioUnit[] = [];
    for (const piece of pieces) {
      const units = demuxer.push(piece.out);
      if (piece.video) {
        // The PES length is written, so the frame comes out with its own last byte, not when the next one starts.
        assert.ok(units.some((u) => u.track === 'video' && u.pts === piece.video?.pts), `frame ${piece.video.pts} out at once`);
      }
      video.push(...units.filter((u): u is VideoUnit => u.track === 'video'));
      audio.push(...units.filter((u): u is AudioUnit => u.track === 'audio'));
    }
    assert.deepEqual(demuxer.flush(), []);
    assert.equal(video.length, aus.length);
    video.forEach((u, i) => {
      assert.equal(u.pts, aus[i].pts);
      assert.equal(u.dts, aus[i].pts);
      assert.equal(u.key, aus[i].keyframe);
      assert.ok(u.data.subarray(0, 6).equals(Buffer.from([0, 0, 0, 1, 9, 0xf0])), 'an AUD first, as ffmpeg writes it');
      const nals = nalsOf(u);
      assert.equal(nals.length, aus[i].nalus.length, `frame ${i}`);
      nals.forEach((n, k) => assert.ok(n.equals(aus[i].nalus[k]), `frame ${i} NAL ${k}`));
    });
    assert.equal(audio.length, aac.length);
    audio.forEach((u, i) => {
      assert.equal(u.pts, aac[i].pts);
      assert.ok(u.data.equals(aac[i].data), `AAC frame ${i}`);
      assert.deepEqual([u.objectType, u.rateIndex, u.channels], [2, 4, 1]);
    });
  });

  it('ffprobe reads it as h264 320x240 with every frame and AAC at 44.1 kHz; ffmpeg copies it into MP4 without a word', () => {
    const file = join(dir, 'muxed.ts');
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-count_frames', '-of', 'json', file], { encoding: 'utf8', timeout: 15_000 })) as
      { streams: { codec_name: string; codec_type: string; width?: number; height?: number; nb_read_frames: string; sample_rate?: string; channels?: number }[] };
    const v = probe.streams.find((s) => s.codec_type === 'video');
    const a = probe.streams.find((s) => s.codec_type === 'audio');
    assert.deepEqual([v?.codec_name, v?.width, v?.height, Number(v?.nb_read_frames)], ['h264', 320, 240, aus.length]);
    assert.deepEqual([a?.codec_name, a?.sample_rate, a?.channels, Number(a?.nb_read_frames)], ['aac', String(RATE), 1, aac.length]);
    const copy = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', '-i', file, '-c', 'copy', '-f', 'mp4', join(dir, 'out.mp4')], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(copy.status, 0, copy.stderr);
    assert.equal(copy.stderr, '');
  });

  it('writes PAT and PMT byte for byte as ffmpeg does, with a CRC that an independent computation agrees with', () => {
    const first = (ts: Buffer, pid: number): Buffer | undefined => packets(ts).find((p) => pidOf(p) === pid);
    const ours = packets(pieces[0].out); // the first output starts with the tables, continuity counter 0 as ffmpeg's
    assert.deepEqual(ours.slice(0, 2).map(pidOf), [0, TS_PMT_PID]);
    assert.deepEqual(ours[0], first(reference, 0));
    assert.deepEqual(ours[1], first(reference, TS_PMT_PID));
    // CRC-32/MPEG-2's catalogue check value, and each section's CRC (video-only PMT too) recomputed bit by bit.
    assert.equal(crc32Mpeg2(Buffer.from('123456789')), 0x0376e6e7);
    const videoOnly = packets(new TsMuxer().video(aus[0]));
    for (const table of [ours[0], ours[1], videoOnly[0], videoOnly[1]]) {
      const end = 5 + 3 + (((table[6] & 0x0f) << 8) | table[7]);
      assert.equal(table.readUInt32BE(end - 4), bitwiseCrc(table.subarray(5, end - 4)));
      assert.ok(table.subarray(end).every((b) => b === 0xff), 'stuffed with 0xFF after the section');
    }
    assert.equal(videoOnly[1][7], 0x12, 'a video-only PMT lists one stream');
  });

  it('writes each frame as ffmpeg\'s muxer does: the same packets but for keyframes\' start codes (all 4 bytes here)', () => {
    const theirPts = new TsReader().push(reference).filter((i) => i.isVideoFrameStart).map((i) => i.pts ?? -1);
    assert.equal(theirPts.length, aus.length);
    const muxer = new TsMuxer();
    const ours = aus.map((a, i) => packets(muxer.video({ ...a, pts: theirPts[i] })).filter((p) => pidOf(p) === TS_VIDEO_PID));
    // ffmpeg's video PES, packet by packet; continuity counters left out (a keyframe's size shifts them).
    const theirs: Buffer[][] = [];
    for (const p of packets(reference).filter((q) => pidOf(q) === TS_VIDEO_PID)) {
      if (p[1] & 0x40) {
        theirs.push([]);
      }
      theirs[theirs.length - 1].push(p);
    }
    const sansCc = (p: Buffer): string => Buffer.concat([p.subarray(0, 3), Buffer.from([p[3] & 0xf0]), p.subarray(4)]).toString('hex');
    let compared = 0;
    aus.forEach((a, i) => {
      if (!a.keyframe) {
        assert.deepEqual(ours[i].map(sansCc), theirs[i].map(sansCc), `frame ${i}`);
        compared++;
      } else {
        // x264 writes 3-byte start codes before its SEI and slices, ffmpeg's muxer keeps them; ffmpeg's RTSP reader
        // (what the source runs today) writes 4-byte ones, as this muxer does. The rest of the first packet is the same.
        assert.equal(sansCc(ours[i][0]).slice(0, 2 * 16), sansCc(theirs[i][0]).slice(0, 2 * 16));
        assert.equal(sansCc(ours[i][0]).slice(2 * 18, 2 * 60), sansCc(theirs[i][0]).slice(2 * 18, 2 * 60));
      }
    });
    assert.equal(compared, 28);
    // Audio: one ADTS frame per PES there too, the same header bytes.
    const audioPts = new TsDemuxer().push(reference).filter((u) => u.track === 'audio').map((u) => u.pts);
    assert.equal(audioPts.length, aac.length);
    const withAudio = new TsMuxer({ audio: AUDIO });
    withAudio.video(aus[0]);
    const ourAudio = aac.flatMap((f, i) => packets(withAudio.audio({ ...f, pts: audioPts[i] })));
    assert.deepEqual(ourAudio.map(sansCc), packets(reference).filter((p) => pidOf(p) === TS_AUDIO_PID).map(sansCc));
  });

  it('counts continuity per PID mod 16, and stuffs only with 0xFF in adaptation fields', () => {
    const last = new Map<number, number>();
    let wrapped = 0;
    for (const p of packets(muxed)) {
      assert.equal(p[0], 0x47);
      const pid = pidOf(p);
      const cc = p[3] & 0x0f;
      const before = last.get(pid);
      if (before !== undefined) {
        assert.equal(cc, (before + 1) % 16, `PID ${pid}`);
        wrapped += cc === 0 ? 1 : 0;
      }
      last.set(pid, cc);
      if (p[3] & 0x20 && p[4] > 0) {
        const flags = p[5];
        const stuffing = p.subarray(6 + (flags & 0x10 ? 6 : 0), 5 + p[4]);
        assert.ok(stuffing.every((b) => b === 0xff), `stuffing of PID ${pid}`);
      }
    }
    assert.deepEqual([...last.keys()].sort((x, y) => x - y), [0, TS_VIDEO_PID, TS_AUDIO_PID, TS_PMT_PID]);
    assert.ok(wrapped > 10, 'counters went round');
  });

  it('keeps timestamps monotonic across the 33-bit wrap (TsDemuxer unwraps them to what went in)', () => {
    const base = 2 ** 33 - 10 * FRAME_90K;
    const video = aus.map((a, i) => ({ ...a, pts: base + i * FRAME_90K }));
    const audio = aac.map((f, i) => ({ ...f, pts: base + Math.round(i * AAC_FRAME_90K) }));
    const units = demux(Buffer.concat(muxAll(new TsMuxer({ audio: AUDIO }), video, audio).map((p) => p.out)));
    assert.deepEqual(units.filter((u) => u.track === 'video').map((u) => u.pts), video.map((a) => a.pts));
    assert.deepEqual(units.filter((u) => u.track === 'audio').map((u) => u.pts), audio.map((a) => a.pts));
    // On the wire they are 33-bit: the keyframe after the wrap reads small.
    const muxer = new TsMuxer();
    const keys = new TsReader().push(Buffer.concat(video.slice(0, 16).map((a) => muxer.video(a)))).filter((i) => i.isKeyframe);
    assert.deepEqual(keys.map((i) => i.pts), [base, base + 15 * FRAME_90K - 2 ** 33]);
    // Bits 31 and 32 of a timestamp are past what JS shifts keep: each written right, in the PTS and the PCR.
    const around = [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 2 ** 31 + 1, 2 ** 33 - 1];
    const infos = new TsReader().push(Buffer.concat(around.map((pts) => muxer.video({ ...aus[0], pts }))));
    const starts = infos.filter((i) => i.isVideoFrameStart);
    assert.deepEqual(starts.map((i) => i.pts), around);
    const pcr = (p: Buffer): number => p.readUInt32BE(6) * 2 + (p[10] >> 7);
    assert.deepEqual(starts.map((i) => pcr(i.packet)), around, 'PCR base = PTS (ffmpeg\'s -muxdelay 0)');
  });

  it('round-trips a frame over 65535 bytes (PES length 0) and frames of every small size (one packet, stuffing)', () => {
    const muxer = new TsMuxer({ audio: AUDIO });
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) {
      big[i] = 1 + (i * 7919) % 255; // no zero bytes: no start code inside
    }
    big[0] = 0x65; // IDR slice
    const frames: H264AccessUnit[] = [{ nalus: [...aus[0].nalus.slice(0, 2), big], pts: 0, keyframe: true }];
    // PES sizes 24 + n: every way the last packet ends, a single packet with PCR, and one- and two-byte adaptation fields.
    for (let n = 1; n <= 400; n++) {
      frames.push({ nalus: [Buffer.alloc(n, 0x41)], pts: n * FRAME_90K, keyframe: false });
    }
    const bigTs = muxer.video(frames[0]);
    const first = packets(bigTs)[2];
    assert.equal(first.readUInt16BE(4 + 1 + first[4] + 4), 0, 'PES_packet_length 0 when over 16 bits');
    const out = [bigTs, ...frames.slice(1).map((f) => muxer.video(f))];
    const audio = [1, 2, 150, 161, 162, 163, 164, 400].map((n, i) => ({ data: Buffer.alloc(n, i + 1), pts: i }));
    out.push(...audio.map((f) => muxer.audio(f)));
    const units = demux(Buffer.concat(out));
    const video = units.filter((u): u is VideoUnit => u.track === 'video');
    assert.equal(video.length, frames.length);
    video.forEach((u, i) => {
      const nals = nalsOf(u);
      assert.equal(u.pts, frames[i].pts);
      assert.equal(nals.length, frames[i].nalus.length, `frame ${i}`);
      nals.forEach((nal, k) => assert.ok(nal.equals(frames[i].nalus[k]), `frame ${i} NAL ${k}`));
    });
    assert.deepEqual(units.filter((u): u is AudioUnit => u.track === 'audio').map((u) => [u.pts, u.data.toString('hex')]),
      audio.map((f) => [f.pts, f.data.toString('hex')]));
  });

  it('refuses audio ADTS cannot carry', () => {
    assert.throws(() => new TsMuxer({ audio: { ...AUDIO, sampleRate: 44000 } }), /44000 Hz cannot be carried/);
    assert.throws(() => new TsMuxer({ audio: { ...AUDIO, objectType: 5 } }), /object type 5/);
    assert.throws(() => new TsMuxer().audio({ data: Buffer.alloc(10), pts: 0 }), /without audio/);
    assert.throws(() => new TsMuxer({ audio: AUDIO }).audio({ data: Buffer.alloc(9000), pts: 0 }), /does not fit ADTS/);
  });
});

describe('TsMuxer in H.265 mode: libx265 access units into the TS ffmpeg would make of them', function () {
  this.timeout(30_000);
  let hevc: HevcUnit[];
  let frames: H264AccessUnit[];
  let ours: Buffer;
  let ffmpegTs: Buffer;

  before(() => {
    const raw = encodeHevc({ size: '320x240', frames: 20 });
    hevc = hevcAccessUnits(raw);
    frames = hevc.map((u, i) => ({ nalus: u.nalus, pts: PTS_START + i * FRAME_90K, keyframe: u.keyframe }));
    const muxer = new TsMuxer({ video: 'h265' });
    ours = Buffer.concat(frames.map((f) => muxer.video(f)));
    ffmpegTs = execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'hevc', '-r', String(FPS), '-i', '-', '-c', 'copy',
      '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', '-omit_video_pes_length', '0', 'pipe:1'], { input: raw, timeout: 15_000 });
  });

  it('ffprobe reads it as hevc 320x240 with every frame and its keyframes', () => {
    assert.deepEqual(hevc.flatMap((u, i) => (u.keyframe ? [i] : [])), [0, 10]);
    const probe = probeVideo(['-f', 'mpegts', '-i', '-'], ours);
    assert.deepEqual([probe.codec, probe.width, probe.height, probe.frames, probe.keyframes], ['hevc', 320, 240, 20, 2]);
    assert.equal(decodeErrors(['-f', 'mpegts', '-i', '-'], ours), '');
  });

  it('has ffmpeg\'s PMT (stream_type 0x24) byte for byte, and its HEVC access unit delimiter first in every frame', () => {
    const pmtOf = (ts: Buffer): Buffer | undefined => packets(ts).find((p) => pidOf(p) === TS_PMT_PID);
    assert.deepEqual(pmtOf(ours), pmtOf(ffmpegTs));
    const reader = new TsReader();
    const infos = reader.push(ours);
    assert.equal(reader.videoStreamType, 0x24);
    assert.deepEqual(infos.filter((i) => i.isKeyframe).map((i) => i.pts), [frames[0].pts, frames[10].pts]);
    const video = (ts: Buffer): VideoUnit[] => demux(ts).filter((u): u is VideoUnit => u.track === 'video');
    const aud = Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]);
    assert.ok(video(ffmpegTs)[0].data.subarray(0, 7).equals(aud), 'ffmpeg adds the same delimiter');
    const units = video(ours);
    assert.equal(units.length, 20);
    units.forEach((u, i) => {
      assert.ok(u.data.subarray(0, 7).equals(aud), `frame ${i}: the delimiter first`);
      const nals = splitAnnexB(u.data).slice(1);
      assert.equal(nals.length, frames[i].nalus.length, `frame ${i}`);
      nals.forEach((n, k) => assert.ok(n.equals(frames[i].nalus[k]), `frame ${i} NAL ${k}`));
      assert.equal(u.key, frames[i].keyframe);
    });
    // A frame that brings its own delimiter gets no second one.
    const own = new TsMuxer({ video: 'h265' }).video({ nalus: [aud.subarray(4), ...frames[0].nalus], pts: 0, keyframe: true });
    assert.equal(splitAnnexB(video(own)[0].data).filter((n) => hevcNalType(n) === HEVC_NAL.AUD).length, 1);
  });
});
