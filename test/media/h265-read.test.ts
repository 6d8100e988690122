// An H.265 camera read in the plugin, end to end: a GStreamer RTSP server (rtph265pay: FUs and single packets, VPS/SPS/PPS only in
// the SDP's sprop-vps/sps/pps since the clip is MP4) serving libx265 video and AAC, read by the media source with its
// default options. No ffmpeg runs for it (the prebuffer's case: HomeKit's own views transcode anyway), the facts say
// hevc and the size from the SPS's conformance window, and the snapshot fallback's buffer decodes to a picture.
import assert from 'node:assert/strict';
import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hevcNalType } from '../../src/media/h265';
import { splitAnnexB } from '../../src/media/h264';
import { PluginRead } from '../../src/media/plugin-read';
import { MediaSource, SourceLog, StreamFacts } from '../../src/media/source';
import { TsDemuxer, VideoUnit } from '../../src/media/ts-demux';
import { decodeErrors, probeVideo } from './hevc-sample';
import { pollFor } from './poll';

/** Debian's python, which has GStreamer's RTSP server (python3-gi). */
const PYTHON = '/usr/bin/python3';
/** One mount, a new pipeline per client (not shared): each read starts at the clip's first keyframe. */
const SERVER = `
import sys, gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service('0')
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch('( filesrc location="%s" ! qtdemux name=d d.video_0 ! queue ! h265parse ! rtph265pay name=pay0 pt=96 '
                   'd.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )' % sys.argv[1])
server.get_mount_points().add_factory('/h265', factory)
server.attach(None)
print('READY %d' % server.get_bound_port(), flush=True)
loop = GLib.MainLoop()
GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, lambda *a: loop.quit())
loop.run()
`;
const WIDTH = 320;
/** Not a multiple of 8: coded as 184 lines with a conformance window. */
const HEIGHT = 180;
const FPS = 15;

const silent: SourceLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** This process's children running `comm` (as source.test.ts counts them). */
function childPids(comm: string): number[] {
  const pids = readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/))
    .filter(Boolean).map(Number);
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

describe('an H.265 camera read in the plugin', function () {
  this.timeout(30_000);
  let dir: string;
  let server: ChildProcessWithoutNullStreams | undefined;
  let url = '';
  let source: MediaSource | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-h265-'));
    const clip = join(dir, 'clip.mp4');
    execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=s=${WIDTH}x${HEIGHT}:r=${FPS}`,
      '-f', 'lavfi', '-i', 'sine=f=440:r=16000', '-t', '6', '-c:v', 'libx265', '-preset', 'ultrafast',
      '-x265-params', `log-level=error:keyint=${FPS}:min-keyint=${FPS}:bframes=0:scenecut=0`, '-tag:v', 'hvc1',
      '-c:a', 'aac', '-ac', '1', '-b:a', '32k', clip], { timeout: 20_000 });
    const s = spawn(PYTHON, ['-c', SERVER, clip]);
    server = s;
    let err = '';
    s.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the H.265 RTSP server did not start: ${err}`)), 10_000);
      s.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      s.once('exit', (code) => reject(new Error(`the H.265 RTSP server exited (${code}): ${err}`)));
    });
    url = `rtsp://127.0.0.1:${port}/h265`;
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });

  after(async () => {
    const s = server;
    if (s && s.exitCode === null) {
      const gone = new Promise((resolve) => s.once('exit', resolve));
      s.stdin.end(); // the server quits at the end of its stdin
      const timer = setTimeout(() => s.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the media source reads it with no ffmpeg: facts hevc at the SPS\'s size, a snapshot buffer ffmpeg decodes', async () => {
    source = new MediaSource({ label: 'H265 main', url, ffmpegPath: 'ffmpeg', log: silent, audio: 'copy' });
    const facts: StreamFacts = await source.facts();
    assert.deepEqual([facts.codec, facts.width, facts.height, facts.audio], ['hevc', WIDTH, HEIGHT, 'aac']);
    const snapshot = await source.keyframe();
    assert.deepEqual(childPids('ffmpeg'), [], 'no ffmpeg child reads the camera');
    assert.ok(source.stats().running);
    assert.ok(snapshot, 'a keyframe for the snapshot fallback');
    const probe = probeVideo(['-f', 'mpegts', '-i', '-'], snapshot);
    assert.deepEqual([probe.codec, probe.width, probe.height], ['hevc', WIDTH, HEIGHT]);
    assert.ok(probe.frames >= 1 && probe.keyframes >= 1, `${probe.frames} frames, ${probe.keyframes} keyframes`);
    assert.equal(decodeErrors(['-f', 'mpegts', '-i', '-', '-frames:v', '1'], snapshot), '');
  });

  it('PluginRead puts VPS, SPS, PPS first in each keyframe and says the frame rate', async () => {
    const read = new PluginRead({ url, label: 'H265 main', audio: false, debug: () => undefined });
    const facts: Partial<StreamFacts> = {};
    const demuxer = new TsDemuxer();
    const video: VideoUnit[] = [];
    read.on('facts', (f: Partial<StreamFacts>) => Object.assign(facts, f));
    read.on('data', (ts: Buffer) => video.push(...demuxer.push(ts).filter((u): u is VideoUnit => u.track === 'video')));
    try {
      await pollFor(() => facts.fps !== undefined && video.filter((v) => v.key).length >= 1, 10_000, 'a keyframe and the frame rate');
    } finally {
      await read.stop();
    }
    assert.deepEqual([facts.codec, facts.width, facts.height, facts.fps], ['hevc', WIDTH, HEIGHT, FPS]);
    const key = video.find((v) => v.key)!;
    assert.deepEqual(splitAnnexB(key.data).slice(0, 4).map(hevcNalType), [35, 32, 33, 34], 'AUD, VPS, SPS, PPS');
    assert.equal(video[0].key, true, 'the read starts at a keyframe');
  });
});
