// The plugin in a child bridge (`_bridge` in its platform block, what the Homebridge UI's "Child Bridge" switch writes):
// Homebridge forks a process of its own for the plugin, with its own HAP port, username and setup code. A controller
// pairs with that bridge, finds the camera there (and not on the main bridge), gets a snapshot, sees motion and starts
// live view. Then Homebridge is stopped while the viewer watches, and everything the plugin ran ends with it: both
// ffmpeg processes (the camera read and the viewer's), the camera's RTSP session and its ONVIF event subscription.
import assert from 'node:assert/strict';
import {
  AudioCodec,
  CameraStreamClient,
  CharacteristicRef,
  CharacteristicType,
  currentHbLine,
  describeProcess,
  HapClient,
  HapEvent,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  pollUntil,
  ServiceType,
  startHomebridge,
  startSim,
  stopAll,
} from './rig';
import { ffmpegsOf } from './rig/ffmpeg-procs';
import { jpegFrameHeader } from './rig/media-probe';
import type { CameraSim, SimCamera } from '../../tools/camera-sim';

const line = currentHbLine();
const CAMERA = 'Side Gate';
const PUBLISH_TIMEOUT_MS = 30_000;
const EVENT_TIMEOUT_MS = 10_000;
const SNAPSHOT_TIMEOUT_MS = 10_000;
const KEYFRAME_TIMEOUT_MS = 10_000;

function truthy(value: unknown): boolean {
  return value === true || value === 1;
}

describe(`[HB ${line}] the plugin in a child bridge`, function () {
  let sim: CameraSim;
  let cam: SimCamera;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  let aid: number;
  let motion: CharacteristicRef;

  before(async function () {
    this.timeout(90_000);
    sim = await startSim({ cameras: [{ name: CAMERA, vendor: 'hikvision' }] });
    cam = sim.cameras[0];
    hb = await startHomebridge({ platforms: [platformConfigFor(sim, { cameras: [{ motionHoldSeconds: 1, maxStreams: 1 }] })], childBridge: true });
    hap = await pairWith(hb.childBridge!);
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('publishes the camera on the child bridge, with its own port, username and setup code, and not on the main bridge', async function () {
    this.timeout(PUBLISH_TIMEOUT_MS + 15_000);
    const child = hb.childBridge!;
    assert.notEqual(child.port, hb.port);
    assert.notEqual(child.username, hb.username);
    assert.notEqual(child.pin, hb.pin);
    const list = await hap.waitForAccessories((l) => l.byName(CAMERA)?.service(ServiceType.CameraRTPStreamManagement) !== undefined,
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: `${CAMERA} with live view on the child bridge` });
    const accessory = list.requireByName(CAMERA);
    aid = accessory.aid;
    assert.deepEqual(accessory.info(), { name: CAMERA, manufacturer: cam.info.manufacturer, model: cam.info.model, serialNumber: cam.info.serial,
      firmwareRevision: /\d+(?:\.\d+){0,2}/.exec(cam.info.firmware)![0] });
    const sensor = accessory.servicesOfType(ServiceType.MotionSensor)[0].requireCharacteristic(CharacteristicType.MotionDetected);
    motion = { aid: sensor.aid, iid: sensor.iid };

    const main = await pairWith(hb);
    try {
      assert.deepEqual((await main.accessories()).bridgedNames(), [], 'the main bridge carries no camera');
    } finally {
      await main.close();
    }
  });

  it('answers a snapshot and reports motion from the camera\'s events', async function () {
    this.timeout(SNAPSHOT_TIMEOUT_MS + 2 * EVENT_TIMEOUT_MS + 5_000);
    const jpeg = await hap.httpClient.getImage(640, 360, aid);
    assert.equal(jpegFrameHeader(jpeg)?.width, 640, `a JPEG 640 wide (got ${jpeg.length} bytes)`);

    await hap.subscribe([motion]);
    const is = (value: boolean) => (e: HapEvent): boolean => e.aid === motion.aid && e.iid === motion.iid && truthy(e.value) === value;
    const start = hap.lastEventSeq();
    cam.motion(true);
    await hap.waitForEvent(is(true), EVENT_TIMEOUT_MS, start);
    cam.motion(false);
    await hap.waitForEvent(is(false), EVENT_TIMEOUT_MS, start);
  });

  it('ends every ffmpeg, the RTSP session and the ONVIF subscription when Homebridge stops during live view', async function () {
    this.timeout(60_000);
    const client = await CameraStreamClient.open(hap, aid);
    const viewer = await client.setup();
    await viewer.start({ video: { width: 1280, height: 720, fps: 15 }, audio: { codec: AudioCodec.Opus, sampleRateKhz: 24 } });
    await viewer.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    // The camera is read in the plugin (no process); the viewer's sound still goes through an audio-only ffmpeg.
    const running = ffmpegsOf(hb);
    assert.ok(running.length >= 1, `the viewer's audio ffmpeg runs in the child bridge: ${running.map(describeProcess).join('; ')}`);
    const reading = Object.values((await cam.fullStats()).rtspSessions ?? {}).reduce((a, b) => a + b, 0);
    assert.equal(reading, 1, 'the child bridge reads the camera: one RTSP session');
    assert.equal(cam.stats().subscriptions, 1, 'one PullPoint subscription at the camera');

    await hap.close();
    const report = await hb.stop();
    assert.equal(report.forced, false, 'Homebridge and its child bridge exited on SIGTERM');
    assert.deepEqual(report.leftovers.map(describeProcess), [], 'processes that outlived Homebridge');
    assert.equal(cam.stats().subscriptions, 0, 'the camera\'s event subscription was released, not left to expire');
    const sessions = await pollUntil(async () => {
      const all = Object.values((await cam.fullStats()).rtspSessions ?? {}).reduce((a, b) => a + b, 0);
      return all === 0 ? all : undefined;
    }, { timeoutMs: 5_000, what: 'the camera\'s RTSP sessions closed' });
    assert.equal(sessions, 0);
    assert.deepEqual(hb.log.matchingLines(/uncaught|unhandled|unexpected error/i), [], 'nothing escaped the plugin');
  });
});
