// The plugin's RTSP reader against the simulator's real RTSP server (GStreamer's gst-rtsp-server, H.264 + AAC over
// interleaved RTP): what it describes, keyframes whose SPS gives the profile's size, AAC frames, growing timestamps,
// Annex B that ffprobe decodes frame for frame, and a close that leaves no session at the server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSps } from '../../../src/media/h264';
import { AacFrame } from '../../../src/media/rtsp/aac-depay';
import { H264AccessUnit, toAnnexB } from '../../../src/media/rtsp/h264-depay';
import { RtspReader } from '../../../src/media/rtsp/reader';
import { MediaServer } from '../../../tools/camera-sim/media/server';
import { AUDIO, PROFILES } from '../../../tools/camera-sim/media/profiles';
import { pollFor } from '../poll';

const PATH = '/cam/sub';
const READ_MS = 2_000;

function ffprobeFrames(file: string): Promise<{ frames: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height',
      '-of', 'json', '-f', 'h264', file], (err, stdout, stderr) => {
      if (err) {
        reject(err);
        return;
      }
      const stream = (JSON.parse(stdout) as { streams: { nb_read_frames: string }[] }).streams[0];
      resolve({ frames: Number(stream.nb_read_frames), stderr });
    });
  });
}

describe('RTSP reader against the simulator\'s GStreamer RTSP server', function () {
  this.timeout(30_000);
  let server: MediaServer | undefined;
  let dir: string | undefined;

  before(async () => {
    server = await MediaServer.start({ paths: [{ path: PATH, profile: 'sub', audio: true }] });
  });

  after(async () => {
    await server?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describes H.264 + AAC, reads keyframes of the profile\'s size and AAC frames, and closes its session', async () => {
    assert.ok(server);
    const reader = new RtspReader({ url: server.url(PATH), label: 'Sim sub', tracks: 'video+audio' });
    const video: { au: H264AccessUnit; at: number }[] = [];
    const audio: AacFrame[] = [];
    const drops: string[] = [];
    let closed: string | undefined;
    reader.on('video', (au) => video.push({ au, at: Date.now() }));
    reader.on('audio', (f) => audio.push(f));
    reader.on('drop', (r) => drops.push(r));
    reader.on('close', (reason) => { closed = reason; });
    try {
      const info = await reader.open();
      assert.equal(info.readable, true, info.unreadable);
      assert.equal(info.video?.codec, 'h264');
      assert.equal(info.audio?.codec, 'aac');
      assert.deepEqual([info.audio?.sampleRate, info.audio?.channels, info.audio?.aac?.objectType], [AUDIO.sampleRate, AUDIO.channels, 2]);
      assert.equal(info.video?.clockRate, 90_000);
      assert.ok(info.video?.sps, 'the SDP\'s SPS');
      assert.equal(`${parseSps(info.video.sps).width}x${parseSps(info.video.sps).height}`, `${PROFILES.sub.width}x${PROFILES.sub.height}`);
      assert.deepEqual([info.host, info.redirected], ['127.0.0.1', false]);
      const started = Date.now();
      await reader.play();
      await pollFor(() => video.some((v) => v.au.keyframe), 3_000, 'a keyframe within 3 s');
      await new Promise((r) => setTimeout(r, Math.max(0, started + READ_MS - Date.now())));
      const key = video.find((v) => v.au.keyframe);
      const sps = key?.au.nalus.find((n) => (n[0] & 0x1f) === 7);
      assert.ok(sps, 'the keyframe carries an SPS');
      assert.equal(`${parseSps(sps).width}x${parseSps(sps).height}`, `${PROFILES.sub.width}x${PROFILES.sub.height}`);
      assert.equal(video[0].au.keyframe, true, 'the first frame passed on is a keyframe');
      assert.deepEqual(drops, []);
      // Video: about the profile's frame rate, timestamps growing at 90 kHz with the wall clock.
      const fps = PROFILES.sub.fps;
      assert.ok(video.length >= fps * (READ_MS / 1000) * 0.6, `${video.length} frames in ${READ_MS} ms`);
      for (let i = 1; i < video.length; i++) {
        assert.ok(video[i].au.timestamp > video[i - 1].au.timestamp, `timestamps grow at ${i}`);
      }
      const span = (video.at(-1)!.au.timestamp - video[0].au.timestamp) / 90;
      const wall = video.at(-1)!.at - video[0].at;
      assert.ok(Math.abs(span - wall) < 500, `RTP span ${span} ms against ${wall} ms of arrival`);
      // Audio: 1024 samples per frame, at the configured rate.
      assert.ok(audio.length >= (AUDIO.sampleRate / 1024) * (READ_MS / 1000) * 0.6, `${audio.length} AAC frames`);
      assert.ok(audio.every((f, i) => i === 0 || f.timestamp - audio[i - 1].timestamp === 1024), 'AAC frames 1024 samples apart');
      // The access units as Annex B decode, frame for frame.
      dir = mkdtempSync(join(tmpdir(), 'rtsp-reader-'));
      const file = join(dir, 'video.h264');
      const written = video.slice(); // frames go on arriving while ffprobe runs
      writeFileSync(file, Buffer.concat(written.map((v) => toAnnexB(v.au.nalus))));
      const probe = await ffprobeFrames(file);
      assert.equal(probe.stderr, '', 'ffprobe found no error');
      assert.equal(probe.frames, written.length, 'every access unit decodes as one frame');
    } finally {
      await reader.close();
    }
    assert.equal(closed, 'the read was closed');
    await pollFor(async () => (await server!.stats()).sessions[PATH] === 0, 3_000, 'no session left at the server');
  });

  it('reads H.264 + AAC over UDP too (RTP to our port pair, receiver reports back), and closes its session', async () => {
    assert.ok(server);
    const reader = new RtspReader({ url: server.url(PATH), label: 'Sim sub', tracks: 'video+audio', transport: 'udp' });
    const video: H264AccessUnit[] = [];
    const audio: AacFrame[] = [];
    const drops: string[] = [];
    reader.on('video', (au) => video.push(au));
    reader.on('audio', (f) => audio.push(f));
    reader.on('drop', (r) => drops.push(r));
    try {
      await reader.open();
      await reader.play();
      await pollFor(() => video.length >= PROFILES.sub.fps && audio.length >= 10, 4_000, 'a second of video and audio');
      const stats = reader.stats();
      assert.equal(stats.transport, 'udp');
      assert.equal(stats.foreign, 0);
      assert.equal(video[0].keyframe, true);
      assert.deepEqual(drops, []);
      assert.ok(video.every((v, i) => i === 0 || v.timestamp > video[i - 1].timestamp), 'timestamps grow');
      assert.ok(audio.every((f, i) => i === 0 || f.timestamp - audio[i - 1].timestamp === 1024), 'AAC frames 1024 samples apart');
      assert.ok(reader.receiverReports >= 2, 'a receiver report on each track after PLAY');
    } finally {
      await reader.close();
    }
    await pollFor(async () => (await server!.stats()).sessions[PATH] === 0, 3_000, 'no session left at the server');
  });
});
