import { strict as assert } from 'node:assert';
import { CameraSim, SimCamera } from '../../../tools/camera-sim';
import { credsOf, pull, subscribe, until } from './helpers';
import { faultSubcodes, httpRequest, notifications, soap } from './soap-client';

async function refused(url: string): Promise<string> {
  try {
    await httpRequest(url, { timeoutMs: 5000 });
    return 'answered';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

describe('camera-sim: offline, restart, control API, stop', function () {
  let sim: CameraSim;
  let cam: SimCamera;

  beforeEach(async () => {
    sim = await CameraSim.start({ media: false, cameras: 1 });
    cam = sim.cameras[0];
  });

  afterEach(() => sim.stop());

  it('refuses connections while offline and cuts open long-polls, then comes back', async () => {
    const pp = await subscribe(cam);
    await pull(cam, pp, 'PT0S', 100);
    const pulls = cam.stats().pulls;
    const pending = pull(cam, pp, 'PT30S', 10).then(() => 'answered', (err: NodeJS.ErrnoException) => err.code ?? err.message);
    await until(() => cam.stats().pulls === pulls + 1, 'the pull to reach the camera');
    cam.setOffline(true);
    assert.equal(await pending, 'ECONNRESET');
    assert.equal(await refused(cam.deviceUrl), 'ECONNREFUSED');
    cam.setOffline(false);
    await cam.whenOnline();
    const back = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>');
    assert.equal(back.status, 200);
    // A network outage is not a reboot: the subscription is still there.
    assert.equal((await pull(cam, pp, 'PT0S', 10)).status, 200);
  });

  it('forgets every subscription on restart, on the same port', async () => {
    const port = cam.port;
    const pp = await subscribe(cam);
    cam.motion(true);
    await cam.restart();
    assert.equal(cam.port, port);
    assert.equal(cam.stats().subscriptions, 0);
    const res = await pull(cam, pp, 'PT0S', 10);
    assert.deepEqual(faultSubcodes(res.payload), ['wsrf-r:ResourceUnknownFault']);
    const fresh = await subscribe(cam);
    const states = notifications((await pull(cam, fresh, 'PT0S', 100)).payload);
    assert.equal(states.find((n) => n.topic === 'tns1:RuleEngine/CellMotionDetector/Motion')?.data.IsMotion, 'false');
  });

  it('drives events and reads stats through the /sim control API', async () => {
    const base = `http://127.0.0.1:${cam.port}/sim`;
    const pp = await subscribe(cam);
    await pull(cam, pp, 'PT0S', 100);
    const motion = await httpRequest(`${base}/motion?on=1`, { method: 'POST' });
    assert.equal(motion.status, 200);
    const event = JSON.parse(motion.body.toString()) as { topic: string; seq: number; at: number; messages: number };
    assert.equal(event.topic, 'tns1:RuleEngine/CellMotionDetector/Motion');
    assert.equal(event.messages, 2);
    const list = notifications((await pull(cam, pp, 'PT5S', 10)).payload);
    assert.equal(list[0].data.IsMotion, 'true');
    for (const route of ['doorbell', 'line', 'person?on=1', 'tamper?on=1']) {
      const res = await httpRequest(`${base}/${route}`, { method: 'POST' });
      assert.equal(res.status, 200, route);
      assert.ok((JSON.parse(res.body.toString()) as { seq: number }).seq > event.seq);
    }
    assert.equal((await httpRequest(`${base}/motion`, { method: 'POST' })).status, 400);
    assert.equal((await httpRequest(`${base}/offline?on=1`, { method: 'POST' })).status, 400);
    const stats = JSON.parse((await httpRequest(`${base}/stats`)).body.toString()) as { subscriptions: number; pulls: number };
    assert.equal(stats.subscriptions, 1);
    assert.equal(stats.pulls, 2);
    const dropped = await httpRequest(`${base}/drop-subscriptions`, { method: 'POST' });
    assert.equal(dropped.status, 200);
    assert.equal(cam.stats().subscriptions, 0);
  });

  it('goes offline over HTTP for a while and comes back by itself', async () => {
    const res = await httpRequest(`http://127.0.0.1:${cam.port}/sim/offline?on=1&for=500`, { method: 'POST' });
    assert.equal(res.status, 200);
    let state = '';
    for (let i = 0; i < 100 && state !== 'ECONNREFUSED'; i++) {
      state = await refused(cam.deviceUrl); // the port closes right after the answer went out
    }
    assert.equal(state, 'ECONNREFUSED');
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>').then((r) => r.status, () => 0);
    }
    assert.equal(status, 200);
  });

  it('restarts over HTTP', async () => {
    await subscribe(cam);
    const res = await httpRequest(`http://127.0.0.1:${cam.port}/sim/restart`, { method: 'POST' });
    assert.equal(res.status, 200);
    await until(() => cam.stats().subscriptions === 0, 'the reboot');
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam) }).then((r) => r.status, () => 0);
    }
    assert.equal(status, 200);
  });

  it('stops idempotently, ending pending long-polls and closing the port', async () => {
    const pp = await subscribe(cam);
    await pull(cam, pp, 'PT0S', 100);
    const pulls = cam.stats().pulls;
    const pending = pull(cam, pp, 'PT30S', 10).then(() => 'answered', () => 'cut');
    await until(() => cam.stats().pulls === pulls + 1, 'the pull to reach the camera');
    await Promise.all([sim.stop(), sim.stop()]);
    await sim.stop();
    assert.equal(await pending, 'cut');
    assert.equal(await refused(cam.deviceUrl), 'ECONNREFUSED');
    cam.setOffline(false); // no effect once stopped
    assert.equal(await refused(cam.deviceUrl), 'ECONNREFUSED');
  });
});
