// "History and health": what the plugin's event store holds, newest first, whether the camera was last seen online, and
// whether it answers right now.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CameraSim } from '../../tools/camera-sim';
import { EventHistory } from '../../src/store/history';
import { cameraHealth, healthOf } from '../../src/ui/history';
import { closedPort } from '../cli/helpers';

describe('settings page: history and health', function () {
  this.timeout(20_000);
  let sim: CameraSim;
  let storage: string;
  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: [{ name: 'Entrance' }] });
    storage = mkdtempSync(join(tmpdir(), 'courtyard-ui-history-'));
  });
  after(async () => {
    await sim?.stop();
    rmSync(storage, { recursive: true, force: true });
  });

  it('reads what the plugin recorded: newest first, last event time, online, and answering now', async () => {
    const history = await EventHistory.open(join(storage, 'courtyard'));
    history.record('SERIAL1', 'Entrance', { at: 1_000, kind: 'offline', active: true, source: 'connection refused' });
    history.record('SERIAL1', 'Entrance', { at: 2_000, kind: 'online', active: false });
    history.record('SERIAL1', 'Entrance', { at: 3_000, kind: 'input', active: true, topic: 'tns1:Device/Trigger/DigitalInput', source: 'InputToken=1' });
    history.record('SERIAL1', 'Entrance', { at: 3_001, kind: 'ring', active: true, topic: 'tns1:Device/Trigger/DigitalInput', source: 'InputToken=1' });
    history.record('SERIAL2', 'Garage', { at: 5_000, kind: 'offline', active: true, source: 'no answer' });
    await history.flush();
    const port = await closedPort();
    const { cameras } = await cameraHealth(storage, { cameras: [
      { name: 'entrance', host: '127.0.0.1', port: sim.cameras[0].port },
      { name: 'Garage', host: '127.0.0.1', port },
      { name: 'New camera', host: '127.0.0.1', port: sim.cameras[0].port },
    ] }, AbortSignal.timeout(10_000));
    assert.deepEqual(cameras.map((c) => [c.name, c.status, c.lastEventAt, c.answers]), [
      ['entrance', 'online', 3_001, true], ['Garage', 'offline', undefined, false], ['New camera', 'unknown', undefined, true],
    ]);
    assert.deepEqual(cameras[0].events.map((e) => e.text), ['doorbell rang', 'input on', 'back online', 'went offline: connection refused']);
    assert.equal(cameras[1].since, 5_000);
    assert.match(cameras[1].answerError ?? '', /connection refused/);
  });

  it('says "unknown" without creating a store when the plugin never ran here', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'courtyard-ui-empty-'));
    try {
      const { cameras } = await cameraHealth(empty, { cameras: [{ name: 'Entrance' }] }, AbortSignal.timeout(5_000));
      assert.deepEqual(cameras.map((c) => [c.status, c.events.length, c.answers]), [['unknown', 0, undefined]]);
      assert.ok(!existsSync(join(empty, 'courtyard')));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('keeps the last lines only', () => {
    const events = Array.from({ length: 50 }, (_, i) => ({ at: i, kind: 'motion', active: i % 2 === 0 }));
    const h = healthOf('A', { id: 'x', name: 'A', events }, 20);
    assert.equal(h.events.length, 20);
    assert.equal(h.events[0].at, 49);
  });
});
