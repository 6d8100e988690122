// Camera events end to end: events raised at the simulated cameras reach a paired HomeKit controller as HAP EVENT
// notifications through a real Homebridge — motion held and cleared, extra sensors, one ring per visitor within the
// cooldown, offline shown as a fault and recovered — and the event history survives a Homebridge restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  AccessoryList,
  CharacteristicRef,
  CharacteristicType,
  currentHbLine,
  HapClient,
  HapEvent,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  pollUntil,
  ServiceType,
  ServiceView,
  sleep,
  startHomebridge,
  startSim,
  stopAll,
} from './rig';
import { repoRoot } from './rig/paths';
import type { CameraSim, SimCamera } from '../../tools/camera-sim';

const line = currentHbLine();

// Reolink: person detection is its own topic (PeopleDetect), so the "person" sensor has something to show.
const DRIVE = 'Drive';
// Hikvision: the doorbell is a wired bell on the digital input ("input", which rings by default).
const PORCH = 'Porch';
const SHED = 'Shed';
const HOLD_S = 1;
const COOLDOWN_S = 3;
// The sim's doorbell input goes back to idle after 1 s (DOORBELL_PULSE_MS); the next press must be a new edge.
const AFTER_PULSE_MS = 1_500;

const PUBLISH_TIMEOUT_MS = 45_000;
const EVENT_TIMEOUT_MS = 10_000;
// Offline is noticed when the pending PullMessages is cut or the retry is refused; back online after the backoff (2 s,
// doubling) plus one pull. Bounds, not expectations.
const OFFLINE_TIMEOUT_MS = 30_000;
const RECOVER_TIMEOUT_MS = 40_000;
const CLI_TIMEOUT_MS = 15_000;

// Types not listed in the rig's tables.
const STATUS_FAULT = '77';
const STATELESS_SWITCH = '89';

/** The characteristics the tests watch, per camera. */
interface Watched {
  motion: CharacteristicRef;
  active: CharacteristicRef;
  fault: CharacteristicRef;
}

interface HistoryEvent {
  at: number;
  kind: string;
  active?: boolean;
}

function same(ref: CharacteristicRef): (e: HapEvent) => boolean {
  return (e) => e.aid === ref.aid && e.iid === ref.iid;
}

function is(ref: CharacteristicRef, value: unknown): (e: HapEvent) => boolean {
  // HAP carries booleans as true/false or 1/0 depending on the HAP-NodeJS version.
  const norm = (v: unknown): unknown => (typeof v === 'boolean' ? Number(v) : v);
  return (e) => same(ref)(e) && norm(e.value) === norm(value);
}

function truthy(value: unknown): boolean {
  return value === true || value === 1;
}

/** The MotionSensor service whose Name is `name`, or undefined. */
function sensorNamed(list: AccessoryList, camera: string, name: string): ServiceView | undefined {
  return list.byName(camera)?.servicesOfType(ServiceType.MotionSensor)
    .find((s) => s.value(CharacteristicType.Name) === name);
}

function watchedOf(service: ServiceView): Watched {
  return {
    motion: service.requireCharacteristic(CharacteristicType.MotionDetected),
    active: service.requireCharacteristic(CharacteristicType.StatusActive),
    fault: service.requireCharacteristic(STATUS_FAULT),
  };
}

/** A camera's persisted history, read the way a user would: `homebridge-courtyard events --json` (oldest first). */
function readHistory(storageDir: string, camera: string): HistoryEvent[] {
  const cli = join(repoRoot(), 'dist', 'cli.js');
  const r = spawnSync(process.execPath, [cli, 'events', '--storage', storageDir, '--camera', camera, '--limit', '1000', '--json'],
    { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  if (r.status !== 0) {
    throw new Error(`homebridge-courtyard events exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  }
  const doc = JSON.parse(r.stdout) as { cameras?: { name?: string; events?: HistoryEvent[] }[] };
  const events = doc.cameras?.find((c) => c.name === camera)?.events;
  if (!Array.isArray(events)) {
    throw new Error(`no events for "${camera}" in the JSON of homebridge-courtyard events: ${r.stdout.slice(0, 300)}`);
  }
  return events;
}

describe(`[HB ${line}] motion, doorbell, offline and event history`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  let drive: Watched;
  let person: Watched;
  let lineSensor: Watched;
  let porch: Watched;
  let shed: Watched;
  let bell: CharacteristicRef;
  let bellSwitch: CharacteristicRef;

  const cam = (name: string): SimCamera => sim.cameras.find((c) => c.name === name) as SimCamera;

  /** Resolves once the plugin holds a new event subscription on every camera (else early events would go unseen). */
  async function subscribedSince(created: number[]): Promise<void> {
    await pollUntil(async () => (sim.cameras.every((c, i) => c.stats().created > created[i] && c.stats().subscriptions > 0) ? true : undefined),
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: 'an event subscription on every simulated camera' });
  }

  async function watchAll(): Promise<void> {
    const refs = [drive, person, lineSensor, porch, shed].flatMap((w) => [w.motion, w.active, w.fault]);
    await hap.subscribe([...refs, bell, bellSwitch]);
  }

  before(async function () {
    this.timeout(90_000);
    sim = await startSim({
      cameras: [{ name: DRIVE, vendor: 'reolink' }, { name: PORCH, vendor: 'hikvision' }, { name: SHED, vendor: 'generic' }],
      media: false,
    });
    const before = sim.cameras.map((c) => c.stats().created);
    hb = await startHomebridge({
      platforms: [platformConfigFor(sim, {
        cameras: [
          { motionHoldSeconds: HOLD_S, sensors: ['person', 'line'] },
          { motionHoldSeconds: HOLD_S, doorbell: true, doorbellCooldownSeconds: COOLDOWN_S, doorbellSwitch: true },
          { motionHoldSeconds: HOLD_S },
        ],
      })],
    });
    hap = await pairWith(hb);
    const list = await hap.waitForAccessories((l) => sensorNamed(l, DRIVE, `${DRIVE} Line crossing`) !== undefined
      && sensorNamed(l, PORCH, `${PORCH} Motion`) !== undefined && sensorNamed(l, SHED, `${SHED} Motion`) !== undefined
      && l.byName(PORCH)?.service(ServiceType.Doorbell) !== undefined,
    { timeoutMs: PUBLISH_TIMEOUT_MS, what: 'the three cameras with their motion sensors and the doorbell' });
    const sensor = (camera: string, name: string): Watched => watchedOf(sensorNamed(list, camera, name) as ServiceView);
    drive = sensor(DRIVE, `${DRIVE} Motion`);
    person = sensor(DRIVE, `${DRIVE} Person`);
    lineSensor = sensor(DRIVE, `${DRIVE} Line crossing`);
    porch = sensor(PORCH, `${PORCH} Motion`);
    shed = sensor(SHED, `${SHED} Motion`);
    const porchAccessory = list.requireByName(PORCH);
    bell = porchAccessory.requireService(ServiceType.Doorbell).requireCharacteristic(CharacteristicType.ProgrammableSwitchEvent);
    bellSwitch = porchAccessory.requireService(STATELESS_SWITCH).requireCharacteristic(CharacteristicType.ProgrammableSwitchEvent);
    await watchAll();
    await subscribedSince(before);
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('publishes the configured sensors only: Person and Line crossing on Drive, none extra elsewhere', async function () {
    const list = await hap.accessories();
    const names = (camera: string): unknown[] => list.requireByName(camera).servicesOfType(ServiceType.MotionSensor)
      .map((s) => s.value(CharacteristicType.Name)).sort();
    assert.deepEqual(names(DRIVE), [`${DRIVE} Line crossing`, `${DRIVE} Motion`, `${DRIVE} Person`]);
    assert.deepEqual(names(PORCH), [`${PORCH} Motion`]);
    assert.deepEqual(names(SHED), [`${SHED} Motion`]);
    assert.equal(list.requireByName(SHED).service(ServiceType.Doorbell), undefined, 'no doorbell without "doorbell": true');
  });

  it('motion at the camera arrives as MotionDetected true, and an early "off" clears it only after the hold', async function () {
    this.timeout(30_000);
    const start = hap.lastEventSeq();
    cam(DRIVE).motion(true);
    await hap.waitForEvent(is(drive.motion, true), EVENT_TIMEOUT_MS, start);
    // "off" and "person" in one turn reach the plugin in one PullMessages reply: once the person event is here, the
    // off has been handled too. The hold (1 s) is far from over, so motion must still be detected.
    cam(DRIVE).motion(false);
    cam(DRIVE).person(true);
    await hap.waitForEvent(is(person.motion, true), EVENT_TIMEOUT_MS, start);
    assert.deepEqual(hap.events(drive.motion).filter((e) => e.seq > start).map((e) => truthy(e.value)), [true],
      'an "off" inside the hold did not clear motion');
    assert.equal(truthy(await hap.readValue(drive.motion)), true, 'MotionDetected read back during the hold');
    cam(DRIVE).person(false);
    await hap.waitForEvent(is(drive.motion, false), EVENT_TIMEOUT_MS, start);
    await hap.waitForEvent(is(person.motion, false), EVENT_TIMEOUT_MS, start);
    assert.deepEqual(hap.events(drive.motion).filter((e) => e.seq > start).map((e) => truthy(e.value)), [true, false],
      'exactly one detection and one clear');
    assert.equal(truthy(await hap.readValue(drive.motion)), false);
  });

  it('a line crossing (a momentary event) shows on the Line crossing sensor and clears after the hold', async function () {
    this.timeout(20_000);
    const start = hap.lastEventSeq();
    cam(DRIVE).lineCrossing();
    await hap.waitForEvent(is(lineSensor.motion, true), EVENT_TIMEOUT_MS, start);
    await hap.waitForEvent(is(lineSensor.motion, false), EVENT_TIMEOUT_MS, start);
    assert.equal(hap.events(person.motion).filter((e) => e.seq > start).length, 0, 'the person sensor stayed quiet');
  });

  it('rings once per visitor: a press within the cooldown is dropped, a press after it rings again', async function () {
    this.timeout(40_000);
    const start = hap.lastEventSeq();
    cam(PORCH).doorbell();
    const first = await hap.waitForEvent(same(bell), EVENT_TIMEOUT_MS, start);
    assert.equal(first.value, 0, 'ProgrammableSwitchEvent SINGLE_PRESS');
    // The ring also sets motion (so HomeKit Secure Video records the visitor).
    await hap.waitForEvent(is(porch.motion, true), EVENT_TIMEOUT_MS, start);

    await sleep(AFTER_PULSE_MS);
    cam(PORCH).doorbell(); // inside the cooldown of the first ring: dropped
    // Past the cooldown counted from either press: this one rings. Events arrive in order on one connection, so once
    // its ring is here, any ring the dropped press had caused would be here too.
    await sleep(COOLDOWN_S * 1000 + 500);
    const beforeThird = hap.lastEventSeq();
    cam(PORCH).doorbell();
    await hap.waitForEvent(same(bell), EVENT_TIMEOUT_MS, beforeThird);
    await hap.waitForEvent(same(bellSwitch), EVENT_TIMEOUT_MS, beforeThird);

    const rings = hap.events(bell).filter((e) => e.seq > start);
    assert.deepEqual(rings.map((e) => e.value), [0, 0], 'three presses, the middle one inside the cooldown: two rings');
    assert.ok(rings[0].seq < beforeThird && rings[1].seq > beforeThird, 'one ring before the third press, one after');
    assert.deepEqual(hap.events(bellSwitch).filter((e) => e.seq > start).map((e) => e.value), [0, 0],
      'the doorbell switch fires with each ring');
  });

  it('an offline camera shows StatusActive false and a fault, and recovers when it is back', async function () {
    this.timeout(OFFLINE_TIMEOUT_MS + RECOVER_TIMEOUT_MS + 10_000);
    assert.equal(truthy(await hap.readValue(shed.active)), true, 'active before');
    assert.equal(await hap.readValue(shed.fault), 0, 'no fault before');
    const start = hap.lastEventSeq();
    cam(SHED).setOffline(true);
    try {
      await hap.waitForEvent(is(shed.active, false), OFFLINE_TIMEOUT_MS, start);
      await hap.waitForEvent(is(shed.fault, 1), OFFLINE_TIMEOUT_MS, start);
      assert.equal(truthy(await hap.readValue(drive.active)), true, 'the other cameras stay active');
    } finally {
      cam(SHED).setOffline(false);
    }
    await cam(SHED).whenOnline();
    const back = hap.lastEventSeq();
    await hap.waitForEvent(is(shed.active, true), RECOVER_TIMEOUT_MS, back);
    await hap.waitForEvent(is(shed.fault, 0), RECOVER_TIMEOUT_MS, back);
    // And events flow again.
    const again = hap.lastEventSeq();
    cam(SHED).motion(true);
    await hap.waitForEvent(is(shed.motion, true), EVENT_TIMEOUT_MS, again);
    cam(SHED).motion(false);
  });

  it('keeps the event history across a Homebridge restart and adds to it afterwards', async function () {
    this.timeout(90_000);
    const created = sim.cameras.map((c) => c.stats().created);
    const report = await hb.restart();
    assert.equal(report.forced, false, 'homebridge stopped on SIGTERM');
    await hap.reconnect();
    await watchAll();
    await subscribedSince(created);
    const restartedAt = Date.now();
    const start = hap.lastEventSeq();
    cam(DRIVE).motion(true);
    await hap.waitForEvent(is(drive.motion, true), EVENT_TIMEOUT_MS, start);
    cam(DRIVE).motion(false);

    // Written within a second (gathered writes): poll, bounded, until both edges are on disk.
    const history = await pollUntil(async () => {
      const events = readHistory(hb.storageDir, DRIVE);
      return events.some((e) => e.kind === 'motion' && e.active === false && e.at >= restartedAt) ? events : undefined;
    }, { timeoutMs: 15_000, what: `the post-restart motion events in the history of "${DRIVE}"` });
    const later = history.filter((e) => e.at >= restartedAt);
    assert.ok(later.some((e) => e.kind === 'motion' && e.active === true), 'the "motion on" that Home showed right after the '
      + `restart is in the history too (history after the restart: ${JSON.stringify(later.map((e) => `${e.kind}:${e.active}`))})`);
    const earlier = history.filter((e) => e.at < restartedAt);
    // Events from before the restart are still there, so the restarted plugin loaded the history instead of starting over.
    for (const kind of ['motion', 'person', 'line']) {
      assert.ok(earlier.some((e) => e.kind === kind && e.active !== false), `a "${kind}" event from before the restart`);
    }
    assert.ok(history.every((e, i) => i === 0 || history[i - 1].at <= e.at), 'oldest first');
    assert.ok(history.length <= 100, 'bounded to the last 100 events');
    assert.deepEqual(hb.log.matchingLines(/uncaught|unhandled/i), [], 'no uncaught error in the log');
  });
});
