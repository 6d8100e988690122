// "Learn an event" against the simulator: a button press at the camera appears on the page with the plugin's meaning,
// and the watch ends (and unsubscribes) on time or when asked.
import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { UiError } from '../../src/ui/bounded';
import { LearnEnd, LearnedTopic, Learner, mappingFor } from '../../src/ui/learn';
import { until } from '../e2e/rig/wait';

const PASSWORD = 'Ui-Learn-Secret-40';

describe('settings page: learn an event', function () {
  this.timeout(40_000);
  let sim: CameraSim;
  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: [
      { name: 'Entrance', vendor: 'hikvision', password: PASSWORD },
      { name: 'Reolink door', vendor: 'reolink', password: PASSWORD },
    ] });
  });
  after(() => sim?.stop());
  const camera = (i: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ name: sim.cameras[i].name, host: '127.0.0.1', port: sim.cameras[i].port, username: 'admin', password: PASSWORD, ...extra });

  it('shows the doorbell press as "input on" with its topic, and the mapping that would match it', async () => {
    const pushed: Array<{ event: string; data: unknown }> = [];
    const learner = new Learner((event, data) => pushed.push({ event, data }));
    const started = await learner.start({ camera: camera(0), seconds: 30 }, AbortSignal.timeout(20_000));
    assert.deepEqual(started, { seconds: 30, camera: 'Entrance' });
    sim.cameras[0].doorbell();
    const press = (): LearnedTopic | undefined => pushed.map((p) => p.data as LearnedTopic)
      .find((t) => t.topic === 'tns1:Device/Trigger/DigitalInput' && !t.initialOnly && t.meanings.includes('input on'));
    await until(() => press() !== undefined, 'the press');
    const topic = press()!;
    assert.deepEqual(topic.kinds, ['input']);
    assert.equal(topic.source, 'InputToken=AlarmIn_1');
    assert.deepEqual(topic.mapping, { topic: 'tns1:Device/Trigger/DigitalInput', item: 'LogicalState', value: 'true' });
    const end = await learner.stop('stopped');
    assert.equal(end.reason, 'stopped');
    assert.ok(end.topics.some((t) => t.key === topic.key));
    assert.deepEqual(pushed.filter((p) => p.event === 'learn-end').map((p) => (p.data as LearnEnd).reason), ['stopped']);
    assert.equal(sim.cameras[0].stats().subscriptions, 0, 'unsubscribed');
    assert.ok(!JSON.stringify(pushed).includes(PASSWORD));
  });

  it('ends by itself when the time is up', async () => {
    const pushed: string[] = [];
    const learner = new Learner((event) => pushed.push(event));
    const started = await learner.start({ camera: camera(1), seconds: 1 }, AbortSignal.timeout(20_000));
    assert.equal(started.seconds, 5, 'at least 5 s: a shorter watch cannot catch a press');
    await until(() => pushed.includes('learn-end'), 'the end', 10_000);
    assert.equal(sim.cameras[1].stats().subscriptions, 0);
  });

  it('a wrong password is one sentence, and nothing keeps watching', async () => {
    const learner = new Learner(() => undefined);
    const before = sim.cameras[0].stats();
    await assert.rejects(learner.start({ camera: camera(0, { password: 'wrong-one' }) }, AbortSignal.timeout(20_000)),
      (err: unknown) => err instanceof UiError && /refused the user "admin"/.test(err.message));
    const after = sim.cameras[0].stats();
    assert.equal(after.created, before.created, 'no subscription was asked for');
    assert.equal(after.subscriptions, 0);
  });

  it('maps the item that reads as "on", else the first one', () => {
    assert.deepEqual(mappingFor({ topic: 't', source: {}, data: { Count: '3', State: 'true' } }), { topic: 't', item: 'State', value: 'true' });
    assert.deepEqual(mappingFor({ topic: 't', source: {}, data: { Level: 'high' } }), { topic: 't', item: 'Level', value: 'high' });
    assert.deepEqual(mappingFor({ topic: 't', source: {}, data: {} }), { topic: 't' });
  });
});
