import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import sinon from 'sinon';
import { jpegSize } from '../../src/util/jpeg';
import { Snapshots, SnapshotOptions } from '../../src/media/snapshot';
import { OnvifDevice } from '../../src/onvif/device';
import { SNAPSHOT_ANSWER_MS, SNAPSHOT_CACHE_MS, SNAPSHOT_FAILURE_HOLD_MS } from '../../src/settings';
import { CameraSim } from '../../tools/camera-sim';
import { DigestAuthority, verifyBasic } from '../../tools/camera-sim/auth';
import { BUILTIN_JPEG } from '../../tools/camera-sim/snapshot';
import { descendantsOf } from '../e2e/rig/procfs';

const USER = 'viewer';
const PASS = 'Snap-Secret-73';

/** Real media made once by ffmpeg: the camera's 1280x720 JPEG, and a 960x540 H.264 GOP in MPEG-TS (the stream fallback). */
const ffmpeg = (args: string[]): Buffer => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { maxBuffer: 16 << 20 });
let CAMERA_JPEG: Buffer;
let KEYFRAME_TS: Buffer;

type Behaviour = 'ok' | 'hang' | '500' | 'html';

interface FakeCamera {
  url: string;
  /** Every HTTP request, challenges included. */
  requests: number;
  /** JPEGs actually sent. */
  images: number;
  behaviour: Behaviour;
  close(): Promise<void>;
}

/** A loopback "camera" serving CAMERA_JPEG behind Basic or Digest (the simulator's own verifier), or misbehaving. */
async function fakeCamera(auth: 'basic' | 'digest' | 'none'): Promise<FakeCamera> {
  const digest = new DigestAuthority('Test Camera', USER, PASS);
  const cam: FakeCamera = { url: '', requests: 0, images: 0, behaviour: 'ok', close: async () => undefined };
  const server = http.createServer((req, res) => {
    cam.requests++;
    const ok = auth === 'none' || (auth === 'basic' ? verifyBasic(req.headers.authorization, USER, PASS)
      : digest.verify('GET', req.url ?? '', req.headers.authorization) === 'ok');
    if (!ok) {
      res.writeHead(401, { 'WWW-Authenticate': auth === 'basic' ? 'Basic realm="Test Camera"' : digest.challenge() }).end();
    } else if (cam.behaviour === 'hang') {
      // never answers: the client's bounds must end it (closeAllConnections at the end of the test)
    } else if (cam.behaviour === '500') {
      res.writeHead(500).end('busy');
    } else if (cam.behaviour === 'html') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>login</html>');
    } else {
      cam.images++;
      res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(CAMERA_JPEG);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cam.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/onvif/snapshot?channel=1`;
  cam.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return cam;
}

interface Rig {
  snaps: Snapshots;
  warns: string[];
  debugs: string[];
  keyframeCalls: number;
}

function rig(uri: string | undefined, over: Partial<SnapshotOptions> = {}, onDebug?: (line: string) => void): Rig {
  const r: Rig = { snaps: undefined as unknown as Snapshots, warns: [], debugs: [], keyframeCalls: 0 };
  r.snaps = new Snapshots({
    log: {
      debug: (m) => {
        r.debugs.push(m);
        onDebug?.(m);
      },
      warn: (m) => r.warns.push(m),
    },
    ffmpegPath: 'ffmpeg',
    username: USER,
    password: PASS,
    snapshotUri: async () => uri,
    keyframe: async () => {
      r.keyframeCalls++;
      return KEYFRAME_TS;
    },
    ...over,
  });
  return r;
}

const sizeOf = (jpeg: Buffer): string => {
  const s = jpegSize(jpeg);
  return s ? `${s.width}x${s.height}` : 'not a JPEG';
};
const ffmpegChildren = (): string[] => descendantsOf(process.pid).filter((p) => /ffmpeg/.test(p.comm)).map((p) => p.cmdline);
/** ffmpeg processes this Snapshots started for `what` (FfmpegProcess logs each command line once, at spawn). */
const spawns = (r: Rig, what: string): number => r.debugs.filter((l) => l.startsWith(`snapshot ${what}: ffmpeg `)).length;

describe('Snapshots (real ffmpeg, real HTTP on 127.0.0.1)', function () {
  this.timeout(30_000);
  const cameras: FakeCamera[] = [];
  const rigs: Rig[] = [];
  let clock: sinon.SinonFakeTimers | undefined;

  before(() => {
    CAMERA_JPEG = ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=1280x720', '-frames:v', '1', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1']);
    KEYFRAME_TS = ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=960x540:rate=15', '-frames:v', '15', '-g', '15', '-c:v', 'libx264',
      '-pix_fmt', 'yuv420p', '-f', 'mpegts', 'pipe:1']);
    assert.equal(sizeOf(CAMERA_JPEG), '1280x720');
  });

  const camera = async (auth: 'basic' | 'digest' | 'none'): Promise<FakeCamera> => {
    const c = await fakeCamera(auth);
    cameras.push(c);
    return c;
  };
  const tracked = (r: Rig): Rig => {
    rigs.push(r);
    return r;
  };

  afterEach(async () => {
    clock?.restore();
    clock = undefined;
    await Promise.all(rigs.splice(0).map((r) => r.snaps.close()));
    await Promise.all(cameras.splice(0).map((c) => c.close()));
    // Every answer is given; no ffmpeg may be left running (bounded wait: SIGTERM takes milliseconds).
    for (let i = 0; i < 50 && ffmpegChildren().length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(ffmpegChildren(), []);
  });

  it('fetches through Digest and scales to exactly the requested width, aspect kept', async () => {
    const cam = await camera('digest');
    const r = tracked(rig(cam.url));
    assert.equal(sizeOf(await r.snaps.snapshot(640, 360)), '640x360');
    assert.equal(cam.images, 1);
    assert.equal(cam.requests, 2, 'one challenge, one answer');
    assert.equal(r.keyframeCalls, 0);
    assert.deepEqual(r.warns, []);
    assert.doesNotMatch(r.debugs.join('\n'), new RegExp(PASS));
  });

  it('fetches through Basic; sends the camera\'s own JPEG at its width and never upscales', async () => {
    const cam = await camera('basic');
    const r = tracked(rig(cam.url));
    assert.equal(sizeOf(await r.snaps.snapshot(320, 180)), '320x180');
    assert.ok((await r.snaps.snapshot(1280, 720)).equals(CAMERA_JPEG), 'same width: the camera\'s bytes, no re-encode');
    assert.ok((await r.snaps.snapshot(1920, 1080)).equals(CAMERA_JPEG), 'wider: the source as is');
    assert.equal(spawns(r, 'scale to 1280') + spawns(r, 'scale to 1920'), 0);
    assert.equal(cam.images, 1, 'all three from one fetch');
  });

  it('answers from the cache without asking the camera, and fetches again once it is old', async () => {
    clock = sinon.useFakeTimers({ toFake: ['performance'] });
    const cam = await camera('digest');
    const r = tracked(rig(cam.url));
    await r.snaps.snapshot(640, 360);
    const again = await r.snaps.snapshot(640, 360);
    assert.equal(sizeOf(again), '640x360');
    assert.equal(cam.images, 1);
    assert.equal(spawns(r, 'scale to 640'), 1, 'the scaled image is cached too');
    clock.tick(SNAPSHOT_CACHE_MS);
    await r.snaps.snapshot(640, 360);
    assert.equal(cam.images, 2);
  });

  it('serves 8 concurrent requests with one camera fetch and one ffmpeg per width', async () => {
    const cam = await camera('digest');
    const r = tracked(rig(cam.url));
    const widths = [640, 320, 640, 320, 640, 320, 640, 320];
    const answers = await Promise.all(widths.map((w) => r.snaps.snapshot(w, (w * 9) / 16)));
    assert.deepEqual(answers.map(sizeOf), widths.map((w) => `${w}x${(w * 9) / 16}`));
    assert.equal(cam.images, 1);
    assert.equal(cam.requests, 2);
    assert.deepEqual([spawns(r, 'scale to 640'), spawns(r, 'scale to 320')], [1, 1]);
  });

  it('falls back to a frame of the video stream when the snapshot URL fails, warning once in camera terms', async () => {
    const cam = await camera('digest');
    cam.behaviour = '500';
    const r = tracked(rig(cam.url));
    assert.equal(sizeOf(await r.snaps.snapshot(640, 360)), '640x360'); // 960x540 keyframe, scaled
    assert.equal(r.keyframeCalls, 1);
    assert.deepEqual(r.warns, ['snapshot: the snapshot URL answered HTTP 500; using a frame from the video stream instead']);

    const wrong = tracked(rig(cam.url, { password: 'not-the-password' }));
    cam.behaviour = 'ok';
    assert.equal(sizeOf(await wrong.snaps.snapshot(1920, 1080)), '960x540');
    assert.match(wrong.warns[0], /^snapshot: the camera refused the username\/password for the snapshot URL; check username and password; using a frame/);

    const html = tracked(rig(cam.url));
    cam.behaviour = 'html';
    await html.snaps.snapshot(640, 360);
    assert.match(html.warns[0], /the snapshot URL answered text\/html that is not a JPEG image; using a frame/);

    const none = tracked(rig(undefined));
    assert.equal(sizeOf(await none.snaps.snapshot(480, 270)), '480x270');
    assert.deepEqual(none.warns, [], 'a camera without a snapshot URL is normal, not a problem');
  });

  it('answers within the bound with the last image when the camera hangs, holds the failure briefly, then retries', async () => {
    clock = sinon.useFakeTimers({ toFake: ['performance'] });
    const cam = await camera('digest');
    let streamUp = true;
    // A stream that has no keyframe to give: waits until the caller gives up (honouring the signal).
    const keyframe = (signal: AbortSignal): Promise<Buffer | undefined> => streamUp ? Promise.resolve(KEYFRAME_TS)
      : new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('gone')), { once: true }));
    const r = tracked(rig(cam.url, { keyframe }));
    const first = await r.snaps.snapshot(640, 360);
    cam.behaviour = 'hang';
    streamUp = false;
    clock.tick(SNAPSHOT_CACHE_MS);

    const t0 = Date.now();
    const late = await r.snaps.snapshot(640, 360);
    const took = Date.now() - t0;
    assert.ok(took < SNAPSHOT_ANSWER_MS + 200, `answered in ${took} ms`);
    assert.ok(late.equals(first), 'the last good image, at the size already made');
    assert.equal(r.warns.length, 1);
    assert.match(r.warns[0], /^snapshot: the snapshot URL gave no answer within 2\.5 s, and the video stream gave no frame within [\d.]+ s; showing the last image$/);

    const requests = cam.requests;
    const t1 = Date.now();
    assert.equal(sizeOf(await r.snaps.snapshot(320, 180)), '320x180', 'the last image, scaled for this size');
    assert.ok(Date.now() - t1 < 2_000, 'a failure just seen is not waited out again (that takes 3.8 s)');
    assert.equal(cam.requests, requests);
    assert.equal(r.warns.length, 1, 'warned once');

    cam.behaviour = 'ok';
    clock.tick(SNAPSHOT_FAILURE_HOLD_MS);
    const images = cam.images;
    await r.snaps.snapshot(640, 360);
    assert.equal(cam.images, images + 1, 'a quick retry reaches the camera');
  });

  it('rejects with a clear error when there is no image at all', async () => {
    const cam = await camera('basic');
    cam.behaviour = '500';
    const r = tracked(rig(cam.url, { keyframe: async () => undefined }));
    await assert.rejects(r.snaps.snapshot(640, 360),
      /^Error: snapshot \(640x360\): no image: the snapshot URL answered HTTP 500, and the video stream gave no keyframe$/);
    assert.equal(r.warns.length, 1);
    assert.match(r.warns[0], /; no image to show$/);

    const noFfmpeg = tracked(rig(cam.url, { ffmpegPath: undefined, password: 'wrong' }));
    cam.behaviour = 'ok';
    await assert.rejects(noFfmpeg.snaps.snapshot(640, 360), /refused the username\/password .*, and there is no ffmpeg to take a frame/);
  });

  it('without ffmpeg, serves the camera\'s JPEG unscaled', async () => {
    const cam = await camera('digest');
    const r = tracked(rig(cam.url, { ffmpegPath: undefined }));
    assert.ok((await r.snaps.snapshot(640, 360)).equals(CAMERA_JPEG));
  });

  it('kills the ffmpeg of a request its caller abandons', async () => {
    const abort = new AbortController();
    let running: string[] = [];
    const r = tracked(rig(undefined, {}, (line) => {
      if (line.startsWith('snapshot keyframe: ffmpeg ')) {
        // The process is spawned right after this line: abort once it is really running.
        setTimeout(() => {
          running = ffmpegChildren();
          abort.abort();
        }, 30);
      }
    }));
    await assert.rejects(r.snaps.snapshot(640, 360, abort.signal), /^Error: snapshot: cancelled$/);
    assert.equal(running.length, 1, `ffmpeg was running at the abort: ${running.join(', ')}`);
    for (let i = 0; i < 50 && ffmpegChildren().length > 0; i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(ffmpegChildren(), [], 'killed, not left to finish');
    assert.deepEqual(r.warns, []);
  });

  describe('against the camera simulator', () => {
    let sim: CameraSim;
    before(async () => {
      sim = await CameraSim.start({ media: false, cameras: [{ vendor: 'hikvision' }, { vendor: 'axis', snapshotAuth: 'basic' }] });
    });
    after(() => sim.stop());

    for (const i of [0, 1]) {
      it(`gets the snapshot through the ONVIF snapshot URI (${i === 0 ? 'Digest' : 'Basic'})`, async () => {
        const c = sim.cameras[i];
        const device = new OnvifDevice({ host: c.host, port: c.port, username: c.username, password: c.password });
        await device.connect();
        const [profile] = await device.getProfiles();
        const r = tracked(rig(undefined, {
          username: c.username, password: c.password, keyframe: async () => undefined,
          snapshotUri: (signal) => device.getSnapshotUri(profile.token, signal),
        }));
        // The simulator without media serves a 64x36 JPEG: asked for 640, it comes back as is.
        assert.ok((await r.snaps.snapshot(640, 360)).equals(BUILTIN_JPEG));
        assert.deepEqual(r.warns, []);
        assert.match(r.debugs.join('\n'), new RegExp(`from the snapshot URL in \\d+ ms \\(${i === 0 ? 'digest' : 'basic'}\\)`));
      });
    }
  });
});
