import assert from 'node:assert/strict';
import http from 'node:http';
import { CameraSim, SimCamera } from '../../tools/camera-sim';
import { OnvifDevice } from '../../src/onvif/device';
import { parseNotifications, RawNotification } from '../../src/onvif/notifications';
import { localAddressToward, NOTIFY_PATH, NotificationReceiver, PushEvents, PushEventsOptions } from '../../src/onvif/push';
import { interpret } from '../../src/onvif/topics';
import { XmlElement } from '../../src/onvif/xml';
import { BOUND_MS, nextEvent, nextNotification, quiet } from './wait-for';
import { exchange, silentConnections } from '../hostile-peer';
import { until } from '../e2e/rig/wait';

const motionOn = (n: RawNotification): boolean =>
  n.operation !== 'Initialized' && interpret(n).some((e) => e.kind === 'motion' && e.active);

/** One raw HTTP request to loopback, bounded; resolves with the status (0 when the server cut the connection first). */
function rawRequest(port: number, path: string, method: string, body?: Buffer, headers: http.OutgoingHttpHeaders = {},
  host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(BOUND_MS, () => req.destroy(new Error('request timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(0) : reject(err)));
    req.end(body);
  });
}

const NOTIFY_ENVELOPE = '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:ns9="http://www.onvif.org/ver10/topics"><s:Body><wsnt:Notify><wsnt:NotificationMessage>' +
  '<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">ns9:VideoSource/MotionAlarm</wsnt:Topic>' +
  '<wsnt:Message><tt:Message UtcTime="2024-01-01T00:00:00Z" PropertyOperation="Changed"><tt:Source>' +
  '<tt:SimpleItem Name="Source" Value="VideoSource_1"/></tt:Source><tt:Data><tt:SimpleItem Name="State" Value="true"/>' +
  '</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></wsnt:Notify></s:Body></s:Envelope>';

describe('push events (WS-BaseNotification) against the simulator', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  let receiver: NotificationReceiver;
  const started: PushEvents[] = [];

  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        { name: 'Hik', vendor: 'hikvision' },
        { name: 'Axis', vendor: 'axis' },
        { name: 'Generic', vendor: 'generic' },
        { name: 'Dahua silent', vendor: 'dahua' },
        { name: 'Reolink', vendor: 'reolink' },
        { name: 'Dahua', vendor: 'dahua' },
      ],
    });
    receiver = new NotificationReceiver(quiet);
    await receiver.listen(0, '127.0.0.1');
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((e) => e.stop()));
    // Cameras report changes only: leave every one idle for the next test.
    sim.cameras.forEach((c) => c.motion(false));
  });
  after(async () => {
    await receiver.close();
    await sim.stop();
  });

  async function pushFor(cam: SimCamera, opts: PushEventsOptions = {}): Promise<PushEvents> {
    const device = new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
    await device.connect();
    const events = new PushEvents(device, receiver, quiet, { random: () => 0.5, ...opts });
    started.push(events);
    return events;
  }

  it('receives the Initialized states, then injected motion, through Notify', async () => {
    const cam = sim.cameras[0];
    const events = await pushFor(cam);
    const subscribed = nextEvent(events, 'subscribed');
    const initialized = nextNotification(events, (n) => n.operation === 'Initialized');
    events.start();
    await subscribed;
    await initialized;
    const arrived = nextNotification(events, motionOn);
    cam.motion(true);
    const n = await arrived;
    assert.ok(['tns1:RuleEngine/CellMotionDetector/Motion', 'tns1:VideoSource/MotionAlarm'].includes(n.topic), n.topic);
    cam.motion(false);
    assert.equal(cam.pushStats().subscriptions, 1);
    // The sim counts a POST once our 202 is back, which may be just after the notification was emitted.
    await until(() => cam.pushStats().notifies >= 2, 'two Notify POSTs answered', BOUND_MS);
    assert.equal(cam.stats().created, 0, 'no pull point was involved');
  });

  it('normalises Axis topics declared with inline namespaces', async () => {
    const cam = sim.cameras[1];
    const events = await pushFor(cam);
    const subscribed = nextEvent(events, 'subscribed');
    events.start();
    await subscribed;
    const arrived = nextNotification(events, (n) => n.topic === 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY'
      && n.operation === 'Changed');
    cam.motion(true);
    await arrived;
  });

  it('renews the subscription on schedule and keeps delivering', async () => {
    const cam = sim.cameras[5];
    const events = await pushFor(cam, { renewIntervalMs: 150 });
    const subscribed = nextEvent(events, 'subscribed');
    events.start();
    await subscribed;
    await nextEvent(events, 'renewed');
    await nextEvent(events, 'renewed');
    assert.ok(cam.pushStats().renews >= 2, `renews ${cam.pushStats().renews}`);
    assert.equal(cam.pushStats().subscribed, 1, 'renewed, not subscribed again');
    const arrived = nextNotification(events, motionOn);
    cam.motion(true);
    await arrived;
  });

  it('stop() unsubscribes, so the camera has nothing left to call', async () => {
    const cam = sim.cameras[4];
    const events = await pushFor(cam);
    const initialized = nextNotification(events, (n) => n.operation === 'Initialized');
    events.start();
    await initialized;
    const before = cam.pushStats();
    await events.stop();
    const after = cam.pushStats();
    assert.equal(after.unsubscribes, before.unsubscribes + 1);
    assert.equal(after.subscriptions, 0);
  });

  it("falls back when the camera refuses Subscribe (the 'generic' personality)", async () => {
    const cam = sim.cameras[2];
    const events = await pushFor(cam);
    let subscribed = false;
    events.on('subscribed', () => (subscribed = true));
    const fallback = nextEvent<string>(events, 'fallback');
    events.start();
    assert.match(await fallback, /refused Subscribe.*ActionNotSupported/);
    assert.equal(subscribed, false);
    assert.equal(cam.pushStats().refused, 1);
    assert.equal(cam.pushStats().subscriptions, 0);
  });

  it('falls back when Subscribe is accepted but no Notify ever arrives, and releases the subscription', async () => {
    const cam = sim.cameras[3];
    cam.setPushSupport('silent');
    const events = await pushFor(cam, { verifyMs: 300 });
    let subscribed = false;
    events.on('subscribed', () => (subscribed = true));
    const fallback = nextEvent<string>(events, 'fallback');
    events.start();
    assert.match(await fallback, /no Notify arrived/);
    assert.equal(subscribed, false, "'subscribed' means events flow, so it never came");
    assert.equal(cam.pushStats().subscribed, 1);
    assert.equal(cam.pushStats().unsubscribes, 1, 'the unverified subscription is cancelled');
    assert.equal(cam.pushStats().subscriptions, 0);
    cam.setPushSupport('deliver');
  });

  it('falls back when the camera refuses our consumer address (the simulator only calls 127.0.0.1)', async () => {
    const cam = sim.cameras[4];
    // TEST-NET-1: never reached; the simulated camera refuses to call it, which is the point.
    const elsewhere = new NotificationReceiver(quiet, { advertiseHost: '192.0.2.1' });
    await elsewhere.listen(0, '127.0.0.1');
    try {
      const device = new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
      await device.connect();
      const events = new PushEvents(device, elsewhere, quiet);
      started.push(events);
      const fallback = nextEvent<string>(events, 'fallback');
      const refused = cam.pushStats().refused;
      events.start();
      assert.match(await fallback, /SubscribeCreationFailedFault/);
      assert.equal(cam.pushStats().refused, refused + 1);
    } finally {
      await elsewhere.close();
    }
  });

  it('finds our address on the route to a camera without sending anything', async () => {
    assert.equal(await localAddressToward('127.0.0.1'), '127.0.0.1');
  });

  it('says at once that an IPv6 camera cannot push to a receiver listening on IPv4 only, and brackets IPv6 consumers', async () => {
    const v4 = new NotificationReceiver(quiet);
    const advertised = new NotificationReceiver(quiet, { advertiseHost: 'fd00::9' });
    try {
      await v4.listen(0, '0.0.0.0');
      // Nothing is sent: urlFor only asks the kernel for a route (loopback here).
      await assert.rejects(v4.urlFor('abc', '[::1]'), /reached over IPv6 \(::1\) and the push receiver listens on IPv4 only/);
      assert.match(await v4.urlFor('abc', '127.0.0.1'), /^http:\/\/127\.0\.0\.1:\d+\/onvif\/notify\/abc$/);
      await advertised.listen(0, '127.0.0.1');
      assert.equal(await advertised.urlFor('abc', '[::1]'), `http://[fd00::9]:${advertised.port}${NOTIFY_PATH}abc`);
    } finally {
      await v4.close();
      await advertised.close();
    }
  });

  it('listens dual-stack, so IPv6 cameras get an IPv6 consumer address and their Notify arrives, as do IPv4 ones', async () => {
    const everywhere = new NotificationReceiver(quiet);
    try {
      const port = await everywhere.listenEverywhere(0);
      const got: string[] = [];
      const id = everywhere.register(() => got.push('notify'));
      const v6 = await everywhere.urlFor(id, '::1');
      assert.equal(v6, `http://[::1]:${port}${NOTIFY_PATH}${id}`);
      assert.equal(await everywhere.urlFor(id, '127.0.0.1'), `http://127.0.0.1:${port}${NOTIFY_PATH}${id}`);
      const headers = { 'content-type': 'application/soap+xml' };
      for (const host of ['::1', '127.0.0.1']) {
        assert.equal(await rawRequest(port, `${NOTIFY_PATH}${id}`, 'POST', Buffer.from(NOTIFY_ENVELOPE), headers, host), 202, `Notify over ${host}`);
      }
      await until(() => got.length === 2, 'both Notify delivered', BOUND_MS);
    } finally {
      await everywhere.close();
    }
  });

  it('reports offline when renewals go unanswered, and keeps the subscription that survived the outage', async () => {
    const cam = sim.cameras[0];
    const events = await pushFor(cam, { renewIntervalMs: 100, retryMinMs: 50, retryMaxMs: 100 });
    const subscribed = nextEvent(events, 'subscribed');
    events.start();
    await subscribed;
    const created = cam.pushStats().subscribed;
    const offline = nextEvent(events, 'offline');
    cam.setOffline(true);
    await offline;
    const online = nextEvent(events, 'online');
    cam.setOffline(false);
    await cam.whenOnline();
    await online;
    assert.equal(cam.pushStats().subscribed, created, 'renewed the surviving subscription instead of taking a second slot');
    const arrived = nextNotification(events, motionOn);
    cam.motion(true);
    await arrived;
  });

  it('subscribes again when the camera forgot the subscription (reboot), with a new consumer address', async () => {
    const cam = sim.cameras[5];
    const events = await pushFor(cam, { renewIntervalMs: 100, retryMinMs: 50, retryMaxMs: 100 });
    const first = nextEvent(events, 'subscribed');
    events.start();
    await first;
    const second = nextEvent(events, 'subscribed');
    const created = cam.pushStats().subscribed;
    cam.dropSubscriptions();
    await second;
    await until(() => cam.pushStats().subscriptions === 1 && cam.pushStats().subscribed === created + 1, 'the new subscription', BOUND_MS);
    const arrived = nextNotification(events, motionOn);
    cam.motion(true);
    await arrived;
  });

  it('refuses bad, foreign and oversized POSTs without falling over, and still takes a good Notify', async () => {
    const got: XmlElement[] = [];
    const id = receiver.register((notify) => got.push(notify));
    try {
      const port = receiver.port;
      const path = `${NOTIFY_PATH}${id}`;
      const refusedBefore = receiver.counters.refused;
      assert.equal(await rawRequest(port, path, 'POST', Buffer.from('<not xml')), 400);
      assert.equal(await rawRequest(port, path, 'POST', Buffer.from('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')), 400);
      assert.equal(await rawRequest(port, path, 'POST', Buffer.from('<s:Envelope xmlns:s="x"><s:Body><Other/></s:Body></s:Envelope>')), 400);
      assert.equal(await rawRequest(port, `${NOTIFY_PATH}0123456789abcdef01234567`, 'POST', Buffer.from(NOTIFY_ENVELOPE)), 404);
      assert.equal(await rawRequest(port, '/', 'POST', Buffer.from(NOTIFY_ENVELOPE)), 404);
      assert.equal(await rawRequest(port, path, 'GET'), 405);
      const huge = Buffer.alloc(300 * 1024, 'a');
      assert.ok([413, 0].includes(await rawRequest(port, path, 'POST', huge)), 'declared too large');
      // Chunked, so no Content-Length to judge by: the cap applies while reading.
      assert.ok([413, 0].includes(await rawRequest(port, path, 'POST', huge, { 'Transfer-Encoding': 'chunked' })), 'read too large');
      assert.equal(got.length, 0, 'nothing reached the handler');
      assert.ok(receiver.counters.refused >= refusedBefore + 7);

      assert.equal(await rawRequest(port, path, 'POST', Buffer.from(NOTIFY_ENVELOPE)), 202);
      assert.equal(got.length, 1);
      // The topic prefix is declared on the envelope: the handler sees that declaration on the Notify element.
      assert.equal(parseNotifications(got[0])[0]?.topic, 'tns1:VideoSource/MotionAlarm');
    } finally {
      receiver.unregister(id);
    }
    // A registration that is gone is a 404: a stale subscription cannot deliver duplicates.
    assert.equal(await rawRequest(receiver.port, `${NOTIFY_PATH}${id}`, 'POST', Buffer.from(NOTIFY_ENVELOPE)), 404);
  });

});

describe('NotificationReceiver hit by a stranger', () => {
  const receiver = new NotificationReceiver(quiet, { requestTimeoutMs: 400 });
  const got: XmlElement[] = [];
  let id = '';
  before(async () => {
    await receiver.listen(0, '127.0.0.1');
    id = receiver.register((notify) => got.push(notify));
  });
  after(() => receiver.close());

  const delivers = async (): Promise<void> => {
    const before = got.length;
    assert.equal(await rawRequest(receiver.port, `${NOTIFY_PATH}${id}`, 'POST', Buffer.from(NOTIFY_ENVELOPE)), 202);
    assert.equal(got.length, before + 1);
  };

  it('answers request targets no client sends with 404, and guessed ids too', async () => {
    for (const target of ['http://[', '//[x', '*', `${NOTIFY_PATH}../${id}`, `${NOTIFY_PATH}${id.toUpperCase()}`, `${NOTIFY_PATH}${id}/x`]) {
      const r = await exchange(receiver.port, `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(r.status, 404, `${target}: ${r.text}`);
    }
    assert.equal(got.length, 0);
    await delivers();
  });

  it('cuts off slowloris peers (silent, half a header, a trickled body) within the request bound', async () => {
    const silent = await silentConnections(receiver.port, 3);
    const halfHeader = await silentConnections(receiver.port, 3, `POST ${NOTIFY_PATH}${id} HTTP/1.1\r\nHost: x\r\n`);
    const halfBody = await silentConnections(receiver.port, 3,
      `POST ${NOTIFY_PATH}${id} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<s:Envelope`);
    try {
      for (const peers of [silent, halfHeader, halfBody]) {
        await peers.allClosed(3_000);
      }
    } finally {
      [silent, halfHeader, halfBody].forEach((p) => p.destroy());
    }
    await delivers();
  });

  it('holds at most its connection limit, and takes Notify again once a flood of idle connections is cut', async () => {
    const many = await silentConnections(receiver.port, 100);
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(many.open() <= 64, `${many.open()} connections held`);
      await many.allClosed(3_000);
    } finally {
      many.destroy();
    }
    await delivers();
  });
});
