import assert from 'node:assert/strict';
import * as hapNodejs from 'hap-nodejs';
import type { HAP, PlatformAccessory } from 'homebridge';
import sinon from 'sinon';
import { Doorbell } from '../../src/homekit/doorbell';
import { MotionSensor } from '../../src/homekit/motion';

// A real HAP-NodeJS accessory: the services and characteristics under test are HAP's own, only time is faked.
const hap = hapNodejs as unknown as HAP;
const C = hap.Characteristic;

function accessory(): PlatformAccessory {
  return new hapNodejs.Accessory('Cam', hapNodejs.uuid.generate(`test-${Math.random()}`)) as unknown as PlatformAccessory;
}

describe('MotionSensor', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers({ now: 1_000_000 })));
  afterEach(() => clock.restore());

  const detected = (m: MotionSensor): unknown => m.service.getCharacteristic(C.MotionDetected).value;

  it('holds motion after an "on"-only camera stops sending', () => {
    const m = new MotionSensor(hap, accessory(), 'Cam Motion', 'motion', 10);
    m.update(true);
    assert.equal(detected(m), true);
    clock.tick(9_999);
    assert.equal(detected(m), true);
    clock.tick(1);
    assert.equal(detected(m), false);
  });

  it('an "off" clears only once the hold has passed, and flapping reads as one event', () => {
    const m = new MotionSensor(hap, accessory(), 'Cam Motion', 'motion', 10);
    const changes: unknown[] = [];
    m.service.getCharacteristic(C.MotionDetected).on('change', (c) => changes.push(c.newValue));
    m.update(true);
    clock.tick(2_000);
    m.update(false);
    clock.tick(1_000);
    m.update(true);
    m.update(false);
    clock.tick(9_999);
    assert.equal(detected(m), true);
    clock.tick(1);
    assert.equal(detected(m), false);
    assert.deepEqual(changes, [true, false]);
  });

  it('keeps motion on while a camera that reports "off" still reports motion, up to the cap', () => {
    const m = new MotionSensor(hap, accessory(), 'Cam Motion', 'motion', 10);
    m.update(true);
    m.update(false); // now known to send "off"
    clock.tick(10_000);
    assert.equal(detected(m), false);
    m.update(true);
    clock.tick(60_000);
    assert.equal(detected(m), true, 'a 60 s motion is 60 s in Home, not the 10 s hold');
    m.update(false);
    clock.tick(0);
    assert.equal(detected(m), false);
    m.update(true);
    clock.tick(5 * 60_000);
    assert.equal(detected(m), false, 'a lost "off" does not hold motion forever');
  });

  it('lets momentary events (a ring, a line crossing) clear after the hold', () => {
    const m = new MotionSensor(hap, accessory(), 'Cam Motion', 'motion', 10);
    m.update(false);
    m.update(true, true);
    clock.tick(10_000);
    assert.equal(detected(m), false);
  });

  it('shows a camera offline as inactive with a fault, and recovers', () => {
    const m = new MotionSensor(hap, accessory(), 'Cam Motion', 'motion', 10);
    m.setOnline(false);
    assert.equal(m.service.getCharacteristic(C.StatusActive).value, false);
    assert.equal(m.service.getCharacteristic(C.StatusFault).value, C.StatusFault.GENERAL_FAULT);
    m.setOnline(true);
    assert.equal(m.service.getCharacteristic(C.StatusActive).value, true);
    assert.equal(m.service.getCharacteristic(C.StatusFault).value, C.StatusFault.NO_FAULT);
  });

  it('reuses its service across restarts instead of adding another', () => {
    const acc = accessory();
    new MotionSensor(hap, acc, 'Cam Motion', 'motion', 10).dispose();
    new MotionSensor(hap, acc, 'Cam Motion', 'motion', 10).dispose();
    assert.equal(acc.services.filter((s) => s.UUID === hap.Service.MotionSensor.UUID).length, 1);
  });
});

describe('Doorbell', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers({ now: 1_000_000 })));
  afterEach(() => clock.restore());

  it('rings once per visitor: rings inside the cooldown are dropped', () => {
    const acc = accessory();
    const bell = new Doorbell(hap, acc, 'Entrance', 10_000, true);
    const presses: unknown[] = [];
    acc.getService(hap.Service.Doorbell)!.getCharacteristic(C.ProgrammableSwitchEvent).on('change', (c) => presses.push(c.newValue));
    assert.equal(bell.ring(), true);
    clock.tick(5_000);
    assert.equal(bell.ring(), false);
    clock.tick(5_000);
    assert.equal(bell.ring(), true);
    assert.deepEqual(presses, [C.ProgrammableSwitchEvent.SINGLE_PRESS, C.ProgrammableSwitchEvent.SINGLE_PRESS]);
  });

  it('adds the automation switch only when asked, and removes it when no longer asked', () => {
    const acc = accessory();
    new Doorbell(hap, acc, 'Entrance', 0, true);
    assert.ok(acc.getServiceById(hap.Service.StatelessProgrammableSwitch, 'doorbell'));
    new Doorbell(hap, acc, 'Entrance', 0, false);
    assert.equal(acc.getServiceById(hap.Service.StatelessProgrammableSwitch, 'doorbell'), undefined);
  });
});
