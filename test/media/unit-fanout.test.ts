// The unit fan-out on a real camera stream (the simulator's GStreamer RTSP server): one demux for every consumer, a
// joiner starts on the newest keyframe at once and then gets exactly what the others get, the last one leaving
// releases the source, and an end reaches everyone once.
import assert from 'node:assert/strict';
import { MediaSource, SourceLog } from '../../src/media/source';
import { MediaUnit, UnitConsumer } from '../../src/media/unit-fanout';
import { MediaServer } from '../../tools/camera-sim/media';
import { pollFor } from './poll';

const silent: SourceLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function consumer(): UnitConsumer & { units: MediaUnit[]; ends: string[] } {
  const units: MediaUnit[] = [];
  const ends: string[] = [];
  return { units, ends, unit: (u) => units.push(u), end: (reason) => ends.push(reason) };
}

describe('UnitFanout', function () {
  this.timeout(30_000);
  let server: MediaServer;
  let source: MediaSource | undefined;

  before(async () => {
    server = await MediaServer.start({ paths: [{ path: '/fan/sub', profile: 'sub', audio: true, gop: 1 }] });
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });
  after(async () => {
    await server?.stop();
  });

  it('demuxes once for all: a joiner starts on the newest keyframe at once, then gets what the others get', async () => {
    source = new MediaSource({ label: 'Fan sub', url: server.url('/fan/sub'), ffmpegPath: 'ffmpeg', log: silent, audio: 'copy' });
    const s = source;
    const first = consumer();
    const a = s.units().attach(first);
    const keyframes = (c: { units: MediaUnit[] }): MediaUnit[] => c.units.filter((u) => u.track === 'video' && u.key);
    await pollFor(() => keyframes(first).length >= 2 && first.units.at(-1)?.track === 'video' && !(first.units.at(-1) as { key: boolean }).key,
      15_000, 'two keyframes and a frame after');
    assert.equal(first.units[0].track, 'video');
    assert.equal((first.units[0] as { key: boolean }).key, true, 'the first unit is a keyframe');
    assert.ok(first.units.some((u) => u.track === 'audio'), 'AAC frames too');
    const newestKey = keyframes(first).at(-1) as MediaUnit;
    const seen = first.units.length;
    const joiner = consumer();
    const b = s.units().attach(joiner);
    assert.ok(joiner.units.length > 1, 'the cached group at once, within attach()');
    assert.equal(joiner.units[0], newestKey, 'starting on the newest keyframe');
    assert.deepEqual(joiner.units, first.units.slice(first.units.indexOf(newestKey), seen), 'the whole group since, in order');
    assert.equal(s.stats().consumers, 1, 'one consumer of the source for two viewers');
    await pollFor(() => first.units.length >= seen + 20, 10_000, 'more frames');
    const last = first.units.slice(-20);
    assert.ok(joiner.units.slice(-20).every((u, i) => u === last[i]), 'the very same units: demuxed once, not again per consumer');
    a.detach();
    assert.equal(s.stats().consumers, 1, 'still read for the joiner');
    b.detach();
    assert.equal(s.stats().consumers, 0, 'the last one leaving releases the source');
    assert.equal(s.units().consumers, 0);
    const again = consumer();
    s.units().attach(again);
    assert.ok(again.units.length > 0 && (again.units[0] as { key: boolean }).key, 'a new tap starts on the source\'s cached keyframe');
  });

  it('an end of the stream reaches every consumer once, with the reason', async () => {
    source = new MediaSource({ label: 'Fan sub', url: server.url('/fan/sub'), ffmpegPath: 'ffmpeg', log: silent, audio: 'none' });
    const s = source;
    const c = [consumer(), consumer()];
    c.forEach((x) => s.units().attach(x));
    await pollFor(() => c.every((x) => x.units.length > 0), 15_000, 'units');
    await s.stop();
    assert.deepEqual(c.map((x) => x.ends), [['the camera stopped'], ['the camera stopped']]);
    assert.equal(s.units().consumers, 0);
  });
});
