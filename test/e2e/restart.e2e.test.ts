// A power cut, as a hub lives through it: Homebridge restarts while a camera is still booting (offline). HomeKit Secure
// Video must not silently stop (homebridge-unifi-protect #1263/#1267, Scrypted #1821): the camera stays in Home with
// its camera services, shows "not responding" on its sensors, keeps what the hub configured (recording on, the
// selected configuration) through restarts, answers the hub's data stream setup, and records again as soon as the
// camera answers, without the hub writing anything again.
import assert from 'node:assert/strict';
import {
  CharacteristicRef,
  CharacteristicType,
  currentHbLine,
  HapClient,
  HapEvent,
  HdsClient,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  readSelectedConfiguration,
  RecordingCharacteristics,
  recordingCharacteristicsOf,
  RecordingHub,
  SelectedRecordingConfiguration,
  ServiceType,
  setupDataStream,
  startHomebridge,
  startRecordingHub,
  startSim,
  stopAll,
} from './rig';
import type { CameraSim, SimCamera } from '../../tools/camera-sim';

const line = currentHbLine();
const CAMERA_NAME = 'Gatehouse';
const PUBLISH_TIMEOUT_MS = 45_000;
const EVENT_TIMEOUT_MS = 10_000;
const FRAGMENTS_TIMEOUT_MS = 20_000;

/** HAP sends booleans as true/false or 1/0. */
function truthy(value: unknown): boolean {
  return value === true || value === 1;
}

describe(`[HB ${line}] a restart while a camera is offline keeps it in Home and keeps HomeKit Secure Video on`, function () {
  let sim: CameraSim;
  let cam: SimCamera;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  let aid: number;
  let refs: RecordingCharacteristics;
  let motion: CharacteristicRef;
  let statusActive: CharacteristicRef;
  let selected: SelectedRecordingConfiguration;
  let hub: RecordingHub;

  /** What Home reads now (no cache): the accessory with its services, by name. */
  async function readAccessory(): Promise<{ recording: RecordingCharacteristics; motion: CharacteristicRef; statusActive: CharacteristicRef }> {
    const list = await hap.accessories();
    const accessory = list.requireByName(CAMERA_NAME);
    const sensor = accessory.servicesOfType(ServiceType.MotionSensor).find((s) => s.value(CharacteristicType.Name) === `${CAMERA_NAME} Motion`);
    assert.ok(sensor, 'the motion sensor');
    const ref = (type: string): CharacteristicRef => ({ aid: accessory.aid, iid: sensor.requireCharacteristic(type).iid });
    return { recording: recordingCharacteristicsOf(accessory), motion: ref(CharacteristicType.MotionDetected), statusActive: ref(CharacteristicType.StatusActive) };
  }

  before(async function () {
    this.timeout(120_000);
    sim = await startSim({ cameras: [{ name: CAMERA_NAME, vendor: 'hikvision' }] });
    cam = sim.cameras[0];
    hb = await startHomebridge({ platforms: [platformConfigFor(sim, { cameras: [{ motionHoldSeconds: 1 }] })] });
    hap = await pairWith(hb);
    const list = await hap.waitForAccessories((l) => l.byName(CAMERA_NAME)?.service(ServiceType.CameraRecordingManagement) !== undefined,
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: `${CAMERA_NAME} with recording` });
    aid = list.requireByName(CAMERA_NAME).aid;
    // The hub adopts the camera: recording configured and on.
    hub = await startRecordingHub(hap, aid);
    assert.ok(hub.selected);
    selected = hub.selected;
    await hub.close();
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('restarted with the camera offline: still in Home with its camera services, sensors "not responding"', async function () {
    this.timeout(90_000);
    // Offline only once Homebridge is down: what it kept in its cache is a responding sensor.
    await hb.stop();
    cam.setOffline(true);
    await hb.restart();
    // The plugin has restored the camera by the time it says it is waiting for it (ffmpeg's encoders are read first).
    await hb.waitForLog(new RegExp(`${CAMERA_NAME}: cannot connect .*shown in Home as not responding until it answers`), 30_000);
    await hap.reconnect();
    const read = await readAccessory();
    ({ recording: refs, motion, statusActive } = read);
    assert.equal((await hap.accessories()).requireByName(CAMERA_NAME).aid, aid, 'the same accessory');
    assert.equal(truthy(await hap.readValue(statusActive)), false, 'the motion sensor says the camera is not responding');
  });

  it('keeps what the hub configured, and answers the hub\'s data stream setup, while the camera is offline', async function () {
    this.timeout(30_000);
    assert.deepEqual(await readSelectedConfiguration(hap, refs), selected, 'the selected recording configuration');
    assert.equal(await hap.readValue(refs.recordingActive), 1, 'recording is still on');
    const session = await setupDataStream(hap.fork(), refs);
    const hds = await HdsClient.connect(session);
    await hds.hello();
    await hds.end();
  });

  it('a second restart with the camera still offline keeps the configuration too (HAP purges unclaimed controller data on the next load)', async function () {
    this.timeout(90_000);
    await hb.restart();
    await hb.waitForLog(new RegExp(`${CAMERA_NAME}: cannot connect .*shown in Home as not responding until it answers`), 30_000);
    await hap.reconnect();
    assert.deepEqual(await readSelectedConfiguration(hap, refs), selected);
    assert.equal(await hap.readValue(refs.recordingActive), 1);
  });

  it('the camera comes back: sensors respond, and a motion clip records without the hub writing anything again', async function () {
    this.timeout(120_000);
    cam.setOffline(false);
    await cam.whenOnline();
    await hb.waitForLog(new RegExp(`${CAMERA_NAME}: connected`), PUBLISH_TIMEOUT_MS);
    // What the hub configured before both restarts is what the camera now works with.
    assert.deepEqual(await readSelectedConfiguration(hap, refs), selected, 'the selected configuration survived');
    assert.equal(await hap.readValue(refs.recordingActive), 1, 'recording is on');
    const events = hap.fork();
    try {
      await events.subscribe([motion]);
      // Events start last after connecting: the sensor answers once the camera's subscription is up.
      const until = Date.now() + 20_000;
      while (!truthy(await events.readValue(statusActive))) {
        assert.ok(Date.now() < until, 'the motion sensor responds again within 20 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      const session = await setupDataStream(hap.fork(), refs);
      const hds = await HdsClient.connect(session);
      await hds.hello();
      const seq = events.lastEventSeq();
      cam.motion(true);
      await events.waitForEvent((e: HapEvent) => e.aid === motion.aid && e.iid === motion.iid && truthy(e.value), EVENT_TIMEOUT_MS, seq);
      const stream = await hds.openRecording();
      await stream.waitForFragments(1, FRAGMENTS_TIMEOUT_MS);
      assert.equal(stream.packets()[0]?.kind, 'init', 'an init segment, then fragments');
      stream.close();
      cam.motion(false);
      await hds.end();
    } finally {
      await events.close();
    }
  });
});
