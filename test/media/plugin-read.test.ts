// PluginRead against the simulator's GStreamer RTSP server (H.264 + AAC): what it tells the source with each chunk of
// TS. The source keeps a chunk marked plain without parsing it (source.ts onData), so the mark must say exactly what a
// TsReader would find in it: whole packets, no PAT/PMT, no keyframe start, and the PTS of the video frame it starts.
import assert from 'node:assert/strict';
import sinon from 'sinon';
import { TS_PACKET_BYTES, TsReader } from '../../src/media/mpegts';
import { PlainTs, PluginRead, PluginReadExit } from '../../src/media/plugin-read';
import { RtspReader } from '../../src/media/rtsp/reader';
import { MediaServer } from '../../tools/camera-sim/media/server';
import { pollFor } from './poll';

const PATH = '/cam/sub';
const READ_MS = 1_500;

describe('PluginRead: the TS chunks it gives the source, and what it says about them', function () {
  this.timeout(30_000);
  let server: MediaServer | undefined;

  before(async () => {
    server = await MediaServer.start({ paths: [{ path: PATH, profile: 'sub', audio: true, gop: 1 }] });
  });

  after(async () => {
    await server?.stop();
  });

  it('marks plain exactly the chunks without tables or a keyframe, with the PTS their video frame starts with', async () => {
    assert.ok(server);
    const chunks: { data: Buffer; plain?: PlainTs }[] = [];
    const read = new PluginRead({ url: server.url(PATH), label: 'Sim sub', audio: true, debug: () => undefined });
    let exit: PluginReadExit | undefined;
    read.on('data', (data: Buffer, plain?: PlainTs) => chunks.push({ data, plain }));
    read.on('exit', (e: PluginReadExit) => { exit = e; });
    try {
      await pollFor(() => chunks.length > 0, 10_000, 'the first TS from the camera');
      await new Promise((resolve) => setTimeout(resolve, READ_MS));
    } finally {
      await read.stop();
    }
    assert.equal(exit?.stopped, true);

    const reader = new TsReader();
    const counts = { plainVideo: 0, plainAudio: 0, marked: 0, keyframes: 0 };
    chunks.forEach(({ data, plain }, i) => {
      assert.equal(data.length % TS_PACKET_BYTES, 0, `chunk ${i}: whole packets`);
      const packets = reader.push(data);
      const starts = packets.filter((p) => p.isVideoFrameStart);
      const special = packets.some((p) => p.isTable || p.isKeyframe);
      counts.keyframes += packets.filter((p) => p.isKeyframe).length;
      if (!plain) {
        assert.ok(special, `chunk ${i}: not marked plain, so it must hold a table or a keyframe`);
        counts.marked += special ? 1 : 0;
        return;
      }
      assert.ok(!special, `chunk ${i}: marked plain but holds a table or a keyframe`);
      if (plain.videoPts === undefined) {
        assert.equal(starts.length, 0, `chunk ${i}: marked as audio but starts a video frame`);
        assert.ok(packets.every((p) => p.pid === reader.audio), `chunk ${i}: audio only`);
        counts.plainAudio++;
      } else {
        assert.equal(starts.length, 1, `chunk ${i}: one video frame`);
        assert.equal(starts[0].pts, plain.videoPts, `chunk ${i}: the PTS its PES header carries`);
        counts.plainVideo++;
      }
    });
    // The sub profile at 15 fps with a keyframe every second (so the read meets keyframes after its first) and AAC: most
    // chunks are plain, of both kinds.
    assert.ok(counts.keyframes >= 2, `keyframes after the first: ${counts.keyframes}`);
    assert.ok(counts.plainVideo >= 10, `plain video chunks: ${counts.plainVideo}`);
    assert.ok(counts.plainAudio >= 10, `plain audio chunks: ${counts.plainAudio}`);
  });

  it('passes transport \'udp\' to the reader: the camera sends RTP over UDP, and TS with a keyframe comes out', async () => {
    assert.ok(server);
    const debug: string[] = [];
    let bytes = 0;
    const tables = new TsReader();
    let keyframe = false;
    const read = new PluginRead({ url: server.url(PATH), label: 'Sim sub', audio: true, transport: 'udp', debug: (l) => debug.push(l) });
    read.on('data', (data: Buffer) => {
      bytes += data.length;
      keyframe ||= tables.push(data).some((p) => p.isKeyframe);
    });
    try {
      await pollFor(() => keyframe, 5_000, 'a keyframe in the TS');
    } finally {
      await read.stop();
    }
    assert.ok(bytes > 0);
    assert.equal(debug.filter((l) => /^Sim sub stream: RTSP over UDP: RTP to port \d+ from 127\.0\.0\.1:\d+$/.test(l)).length, 2,
      `video and audio over UDP:\n${debug.join('\n')}`);
  });

  it('paced from the start (as the prebuffer asks), reads as the bytes come until the sound\'s first frame is placed', async () => {
    // The sound's first frame is placed by its arrival against the picture's first: frames a pause apart that arrive in
    // one read would put the sound off by up to the pause (a CI clip's sound was 256 ms short of its picture).
    assert.ok(server);
    const spy = sinon.spy(RtspReader.prototype, 'paceReads');
    const paces = (): number[] => spy.getCalls().map((c) => c.args[0] as number);
    // What the reader had been told when the last chunk before the sound came, and when the sound's first chunk came.
    let beforeSound: number[] | undefined;
    let atSound: number[] | undefined;
    const read = new PluginRead({ url: server.url(PATH), label: 'Sim sub', audio: true, debug: () => undefined });
    read.on('data', (_data: Buffer, plain?: PlainTs) => {
      if (atSound) {
        return;
      }
      if (plain && plain.videoPts === undefined) {
        atSound = paces();
      } else {
        beforeSound = paces();
      }
    });
    read.paceReads(400);
    try {
      await pollFor(() => atSound !== undefined, 10_000, 'the sound\'s first frame');
    } finally {
      await read.stop();
      spy.restore();
    }
    // Held back until the sound's clock is placed: the reader heard no pace while the picture came before the sound,
    // and the 400 ms once its first frame was placed.
    assert.deepEqual(beforeSound, [], 'picture before sound, read as the bytes came');
    assert.deepEqual(atSound, [400]);
  });
});
