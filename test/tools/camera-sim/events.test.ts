import { strict as assert } from 'node:assert';
import { child, find, textAt } from '../../../src/onvif/xml';
import { CameraSim, MAX_SUBSCRIPTIONS, QUEUE_LIMIT, SimCamera, SimEvent, VENDORS } from '../../../tools/camera-sim';
import { PullPoint, credsOf, pull, subscribe, until } from './helpers';
import { faultSubcodes, notifications, ops, soap } from './soap-client';

describe('camera-sim: events service', function () {
  let sim: CameraSim;
  const cam: Record<string, SimCamera> = {};

  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: VENDORS.map((vendor) => ({ vendor })) });
    for (const c of sim.cameras) {
      cam[c.vendor] = c;
    }
  });

  afterEach(() => {
    for (const c of sim.cameras) {
      c.dropSubscriptions();
      c.motion(false);
      c.person(false);
    }
  });

  after(() => sim.stop());

  async function drain(c: SimCamera, pp: PullPoint): Promise<void> {
    const res = await pull(c, pp, 'PT0S', 1000);
    assert.equal(res.status, 200, res.text);
  }

  it('describes the vendor topics in GetEventProperties', async () => {
    const hik = await soap(cam.hikvision.deviceUrl, '<tev:GetEventProperties/>', { auth: credsOf(cam.hikvision) });
    const motion = find(find(find(hik.payload, 'TopicSet'), 'CellMotionDetector'), 'Motion');
    assert.equal(motion?.attrs['wstop:topic'], 'true');
    assert.equal(find(motion, 'MessageDescription')?.attrs.IsProperty, 'true');
    assert.equal(find(child(find(motion, 'MessageDescription'), 'Data'), 'SimpleItemDescription')?.attrs.Name, 'IsMotion');
    const axis = await soap(cam.axis.deviceUrl, '<tev:GetEventProperties/>', { auth: credsOf(cam.axis) });
    const device = find(axis.payload, 'TopicSet')?.children.find((c) => c.name === 'Device');
    assert.equal(device?.prefix, 'tns1');
    assert.equal(child(device, 'IO')?.prefix, 'tnsaxis');
  });

  it('starts a subscription with the current property states as "Initialized"', async () => {
    const c = cam.hikvision;
    c.motion(true);
    const pp = await subscribe(c);
    assert.match(pp.address, new RegExp(`^http://127\\.0\\.0\\.1:${c.port}/onvif/Events/PullSubManager_`));
    const res = await pull(c, pp, 'PT0S', 100);
    assert.equal(res.payload.name, 'PullMessagesResponse');
    assert.ok(textAt(res.payload, 'CurrentTime'));
    assert.ok(textAt(res.payload, 'TerminationTime'));
    const list = notifications(res.payload);
    assert.equal(list.length, 6); // every property topic; LineDetector/Crossed is stateless
    assert.ok(list.every((n) => n.operation === 'Initialized'));
    const cell = list.find((n) => n.topic === 'tns1:RuleEngine/CellMotionDetector/Motion');
    assert.deepEqual(cell?.data, { IsMotion: 'true' });
    assert.deepEqual(cell?.source, { VideoSourceConfigurationToken: 'VideoSourceToken',
      VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyMotionDetectorRule' });
  });

  it('long-polls: waits while idle, returns as soon as an event arrives', async () => {
    const c = cam.hikvision;
    const pp = await subscribe(c);
    await drain(c, pp);
    const idle = await pull(c, pp, 'PT1S', 10);
    assert.equal(idle.status, 200);
    assert.equal(notifications(idle.payload).length, 0);

    const pullsBefore = c.stats().pulls;
    let settled = false;
    const pending = pull(c, pp, 'PT30S', 10).then((r) => {
      settled = true;
      return r;
    });
    await until(() => c.stats().pulls === pullsBefore + 1, 'the pull to reach the camera');
    await new Promise((r) => setTimeout(r, 100)); // room for a wrongly immediate answer to arrive
    assert.equal(settled, false, 'an idle pull must wait');
    const event = c.motion(true);
    assert.equal(event.topic, 'tns1:RuleEngine/CellMotionDetector/Motion');
    assert.equal(event.messages, 2);
    const res = await pending;
    const list = notifications(res.payload);
    assert.deepEqual(list.map((n) => [n.topic, n.operation, Object.values(n.data)[0]]), [
      ['tns1:RuleEngine/CellMotionDetector/Motion', 'Changed', 'true'],
      ['tns1:VideoSource/MotionAlarm', 'Changed', 'true'],
    ]);
  });

  it('honours MessageLimit and keeps the rest queued in order', async () => {
    const c = cam.generic;
    const pp = await subscribe(c);
    await drain(c, pp);
    c.motion(true);
    c.motion(false);
    c.motion(true);
    const first = notifications((await pull(c, pp, 'PT5S', 2)).payload);
    const second = notifications((await pull(c, pp, 'PT0S', 10)).payload);
    assert.deepEqual(first.map((n) => n.data.State), ['true', 'false']);
    assert.deepEqual(second.map((n) => n.data.State), ['true']);
  });

  it('bounds each queue, dropping the oldest messages', async () => {
    const c = cam.generic;
    const pp = await subscribe(c);
    await drain(c, pp);
    for (let i = 0; i < QUEUE_LIMIT + 50; i++) {
      c.lineCrossing();
    }
    const list = notifications((await pull(c, pp, 'PT0S', 1000)).payload);
    assert.equal(list.length, QUEUE_LIMIT);
    const ids = list.map((n) => Number(n.data.ObjectId));
    c.lineCrossing();
    const next = Number(notifications((await pull(c, pp, 'PT0S', 10)).payload)[0].data.ObjectId);
    // The newest 100 survive, in order: the 50 oldest of the burst were dropped.
    assert.deepEqual(ids, Array.from({ length: QUEUE_LIMIT }, (_, i) => next - QUEUE_LIMIT + i));
  });

  it('forgets a subscription that is not renewed by its TerminationTime', async () => {
    const c = cam.generic;
    const expired = c.stats().expired;
    const pp = await subscribe(c, 'PT1S');
    await until(() => c.stats().subscriptions === 0, 'the subscription to expire');
    assert.equal(c.stats().expired, expired + 1);
    const res = await pull(c, pp, 'PT0S', 10);
    assert.equal(res.status, 400);
    assert.deepEqual(faultSubcodes(res.payload), ['ter:ResourceUnknownFault']);
  });

  it('extends a subscription on Renew', async () => {
    const c = cam.dahua;
    const pp = await subscribe(c, 'PT1S');
    assert.match(pp.address, /\/onvif\/Subscription\?Idx=\d+$/);
    const renewed = await soap(pp.address, ops.renew('PT60S'), { auth: credsOf(c) });
    assert.equal(renewed.payload.name, 'RenewResponse');
    const termination = Date.parse(textAt(renewed.payload, 'TerminationTime') ?? '');
    const current = Date.parse(textAt(renewed.payload, 'CurrentTime') ?? '');
    assert.ok(termination - current >= 59_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(c.stats().subscriptions, 1);
    assert.equal(c.stats().renews, 1);
  });

  it('answers pulls and renews after dropSubscriptions with the camera\'s fault, pending pulls included', async () => {
    const c = cam.hikvision;
    const pp = await subscribe(c);
    await drain(c, pp);
    const pullsBefore = c.stats().pulls;
    const pending = pull(c, pp, 'PT30S', 10);
    await until(() => c.stats().pulls === pullsBefore + 1, 'the pull to reach the camera');
    c.dropSubscriptions();
    const cut = await pending;
    assert.equal(cut.status, 400);
    assert.deepEqual(faultSubcodes(cut.payload), ['wsrf-r:ResourceUnknownFault']);
    const renew = await soap(pp.address, ops.renew(), { auth: credsOf(c) });
    assert.deepEqual(faultSubcodes(renew.payload), ['wsrf-r:ResourceUnknownFault']);
  });

  it('unsubscribes', async () => {
    const c = cam.reolink;
    const pp = await subscribe(c);
    const res = await soap(pp.address, ops.unsubscribe, { auth: credsOf(c) });
    assert.equal(res.payload.name, 'UnsubscribeResponse');
    assert.equal(c.stats().subscriptions, 0);
    assert.equal(c.stats().unsubscribes, 1);
    assert.equal((await pull(c, pp, 'PT0S', 1)).status, 400);
  });

  it('re-queues the current states on SetSynchronizationPoint', async () => {
    const c = cam.generic;
    const pp = await subscribe(c);
    await drain(c, pp);
    c.person(true);
    await drain(c, pp);
    const sync = await soap(pp.address, ops.sync, { auth: credsOf(c) });
    assert.equal(sync.payload.name, 'SetSynchronizationPointResponse');
    const list = notifications((await pull(c, pp, 'PT0S', 100)).payload);
    assert.ok(list.length > 0 && list.every((n) => n.operation === 'Initialized'));
    assert.deepEqual(list.find((n) => n.topic === 'tns1:RuleEngine/FieldDetector/ObjectsInside')?.data, { IsInside: 'true' });
  });

  it('applies a topic filter', async () => {
    const c = cam.generic;
    const pp = await subscribe(c, 'PT60S', 'tns1:RuleEngine/LineDetector//.');
    c.motion(true);
    c.lineCrossing();
    const list = notifications((await pull(c, pp, 'PT5S', 100)).payload);
    assert.deepEqual(list.map((n) => n.topic), ['tns1:RuleEngine/LineDetector/Crossed']);
    assert.equal(list[0].operation, undefined); // stateless: no PropertyOperation
    assert.deepEqual(list[0].source, { VideoSourceConfigurationToken: 'VideoSourceConfig_1',
      VideoAnalyticsConfigurationToken: 'VideoAnalyticsConfig_1', Rule: 'LineDetector1' });
  });

  it('caps concurrent subscriptions and reports it in stats', async () => {
    const c = cam.generic;
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) {
      await subscribe(c);
    }
    const refused = await soap(`http://127.0.0.1:${c.port}/onvif/events_service`, ops.createPullPoint(), { auth: credsOf(c) });
    assert.equal(refused.status, 500);
    assert.deepEqual(faultSubcodes(refused.payload), ['wsntw:UnableToCreatePullPointFault']);
    const stats = c.stats();
    assert.equal(stats.subscriptions, MAX_SUBSCRIPTIONS);
    assert.equal(stats.maxSubscriptions, MAX_SUBSCRIPTIONS);
    assert.equal(stats.refused, 1);
  });

  it('speaks Axis: reference-parameter pull points, 0/1 values, inline namespaces, IO port doorbell', async () => {
    const c = cam.axis;
    const pp = await subscribe(c);
    assert.equal(new URL(pp.address).pathname, '/onvif/services');
    assert.notEqual(pp.header, '');
    const missing = await soap(pp.address, ops.pull('PT0S', 10), { auth: credsOf(c) });
    assert.deepEqual(faultSubcodes(missing.payload), ['ter:InvalidArgs']);
    const init = await pull(c, pp, 'PT0S', 100);
    const first = init.payload.children.find((n) => n.name === 'NotificationMessage');
    assert.equal(first?.attrs['xmlns:tnsaxis'], 'http://www.axis.com/2009/event/topics');
    assert.equal(child(first, 'Topic')?.attrs.Dialect, 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple');
    assert.match(find(first, 'Message')?.children[0]?.attrs.UtcTime ?? '', /\.\d{6}Z$/);
    assert.ok(notifications(init.payload).every((n) => Object.values(n.data)[0] === '0'));

    const events: SimEvent[] = [];
    c.on('event', (e: SimEvent) => events.push(e));
    c.doorbell();
    await until(() => events.length === 2, 'the doorbell pulse to end');
    c.removeAllListeners('event');
    const list = notifications((await pull(c, pp, 'PT0S', 10)).payload);
    assert.deepEqual(list.map((n) => [n.topic, n.source.port, n.data.state]), [
      ['tns1:Device/tnsaxis:IO/Port', '1', '1'],
      ['tns1:Device/tnsaxis:IO/Port', '1', '0'],
    ]);
    c.tamper(true);
    const tamper = notifications((await pull(c, pp, 'PT0S', 10)).payload);
    assert.deepEqual(tamper.map((n) => [n.topic, n.data.tampering]), [['tns1:VideoSource/tnsaxis:Tampering', '1']]);
    assert.equal(c.tamper(false).messages, 0); // stateless on Axis: nothing to report
  });

  it('speaks Reolink: PeopleDetect for people, Visitor for the doorbell', async () => {
    const c = cam.reolink;
    const pp = await subscribe(c);
    await drain(c, pp);
    const person = c.person(true);
    assert.equal(person.topic, 'tns1:RuleEngine/MyRuleDetector/PeopleDetect');
    const bell = c.doorbell();
    assert.equal(bell.topic, 'tns1:RuleEngine/MyRuleDetector/Visitor');
    const list = notifications((await pull(c, pp, 'PT0S', 10)).payload);
    assert.deepEqual(list.map((n) => [n.topic, n.source.Source, n.data.State]), [
      ['tns1:RuleEngine/MyRuleDetector/PeopleDetect', '000', 'true'],
      ['tns1:RuleEngine/MyRuleDetector/Visitor', '000', 'true'],
    ]);
    assert.equal(c.tamper(true).messages, 0);
  });

  it('pulses the Hikvision digital input for the doorbell', async () => {
    const c = cam.hikvision;
    const pp = await subscribe(c);
    await drain(c, pp);
    c.doorbell();
    const first = notifications((await pull(c, pp, 'PT5S', 10)).payload);
    const second = notifications((await pull(c, pp, 'PT5S', 10)).payload);
    assert.deepEqual([...first, ...second].map((n) => [n.topic, n.source.InputToken, n.data.LogicalState]), [
      ['tns1:Device/Trigger/DigitalInput', 'AlarmIn_1', 'true'],
      ['tns1:Device/Trigger/DigitalInput', 'AlarmIn_1', 'false'],
    ]);
  });
});
