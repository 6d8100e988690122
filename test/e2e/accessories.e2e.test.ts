// A real Homebridge with the plugin, two simulated ONVIF cameras of different vendors and one config entry without a
// host: the good cameras become HomeKit accessories carrying their ONVIF device information, the broken entry costs
// one clear log line and nothing else.
import assert from 'node:assert/strict';
import {
  AccessoryList,
  currentHbLine,
  describeProcess,
  HapClient,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  pollUntil,
  startHomebridge,
  startSim,
  stopAll,
} from './rig';
import type { CameraSim } from '../../tools/camera-sim';

const line = currentHbLine();
const BROKEN_CAMERA = 'Garage Without Host';
const PUBLISH_TIMEOUT_MS = 45_000;

/** HAP only accepts FirmwareRevision as x[.y[.z]], so a vendor string like 'V5.5.82 build 190220' can only show as its numeric part. */
function expectedFirmwareRevision(firmware: string): string {
  if (/^\d+(?:\.\d+){0,2}$/.test(firmware)) {
    return firmware;
  }
  return /\d+(?:\.\d+){0,2}/.exec(firmware)?.[0] ?? firmware;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe(`[HB ${line}] accessories`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  let published: Promise<AccessoryList> | undefined;

  /** The accessory list once every simulated camera is published (polled once, shared by the tests below). */
  function publishedAccessories(): Promise<AccessoryList> {
    const expected = sim.cameras.map((cam) => cam.name);
    // Cameras are published once their ONVIF device answered, so poll (bounded) instead of trusting a log line.
    published ??= hap.waitForAccessories((list) => expected.every((name) => list.byName(name) !== undefined), {
      timeoutMs: PUBLISH_TIMEOUT_MS,
      what: `accessories ${JSON.stringify(expected)}`,
    });
    return published;
  }

  before(async function () {
    this.timeout(90_000);
    // Hikvision reports firmware as 'V5.7.3 build 220112', Axis as '10.12.114': one needs normalising, one does not.
    sim = await startSim({ cameras: [{ name: 'Front Door', vendor: 'hikvision' }, { name: 'Back Yard', vendor: 'axis' }], media: false });
    const good = sim.cameras[0];
    const platform = platformConfigFor(sim, {
      extraCameras: [{ name: BROKEN_CAMERA, port: good.port, username: good.username, password: good.password }],
    });
    hb = await startHomebridge({ platforms: [platform] });
    hap = await pairWith(hb);
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('publishes exactly one accessory per reachable camera', async function () {
    this.timeout(PUBLISH_TIMEOUT_MS + 10_000);
    const accessories = await publishedAccessories();
    // Exactly these: nothing for the entry without a host, no duplicates.
    assert.deepEqual(accessories.bridgedNames(), sim.cameras.map((cam) => cam.name).sort());
    assert.ok(accessories.bridge, 'the bridge itself is aid 1');
  });

  it('fills AccessoryInformation from ONVIF GetDeviceInformation', async function () {
    this.timeout(PUBLISH_TIMEOUT_MS + 10_000);
    const accessories = await publishedAccessories();
    for (const cam of sim.cameras) {
      const info = accessories.requireByName(cam.name).info();
      assert.deepEqual(info, {
        name: cam.name,
        manufacturer: cam.info.manufacturer,
        model: cam.info.model,
        serialNumber: cam.info.serial,
        firmwareRevision: expectedFirmwareRevision(cam.info.firmware),
      }, `AccessoryInformation of "${cam.name}" (${cam.vendor})`);
    }
  });

  it('logs one error line for the camera without "host"', async function () {
    this.timeout(20_000);
    const about = new RegExp(`${escapeRegExp(BROKEN_CAMERA)}.*\\bhost\\b|\\bhost\\b.*${escapeRegExp(BROKEN_CAMERA)}`, 'i');
    const found = await hb.waitForLog(about, 10_000);
    assert.match(found.input, /missing/i, 'the line says what is wrong');
  });

  it('keeps Homebridge running', function () {
    assert.ok(hb.alive, `homebridge exited: ${JSON.stringify(hb.exited)}`);
    assert.deepEqual(hb.log.matchingLines(/uncaught/i), [], 'no uncaught exception in the log');
  });

  it('stops cleanly, leaving no homebridge or ffmpeg process behind and no event subscription at the cameras', async function () {
    this.timeout(30_000);
    await pollUntil(async () => (sim.cameras.every((c) => c.stats().subscriptions > 0) ? true : undefined),
      { timeoutMs: 10_000, what: 'a PullPoint subscription at every camera' });
    await hap.close();
    const report = await hb.stop();
    assert.equal(hb.alive, false);
    assert.equal(report.forced, false, 'homebridge exited on SIGTERM without needing SIGKILL');
    assert.deepEqual(report.leftovers.map(describeProcess), [], 'processes that outlived homebridge');
    // Released on Homebridge's shutdown, not left for the camera to expire: cameras hold only a few subscriptions.
    assert.deepEqual(sim.cameras.map((c) => c.stats().subscriptions), sim.cameras.map(() => 0), 'subscriptions left at the cameras');
  });
});
