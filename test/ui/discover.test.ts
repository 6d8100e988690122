// The settings page's "Discover" against the simulator's WS-Discovery responder, over loopback only (unicast target):
// never a multicast probe onto a real network from a test.
import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { DiscoveryResponder, startDiscoveryResponder } from '../../tools/camera-sim/discovery';
import { UiError } from '../../src/ui/bounded';
import { discoverCameras, discoveryTarget } from '../../src/ui/discover';

const PASSWORD = 'Ui-Discover-Secret-17';

describe('settings page: discover cameras', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  let responder: DiscoveryResponder;
  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: [
      { name: 'Entrance A', vendor: 'hikvision', password: PASSWORD },
      { name: 'Courtyard', vendor: 'dahua', password: PASSWORD },
      { name: 'Bins', vendor: 'axis', password: 'another-password' },
    ] });
    responder = await startDiscoveryResponder(sim.cameras);
  });
  after(async () => {
    await responder?.stop();
    await sim?.stop();
  });
  const target = (): { address: string; port: number } => ({ address: '127.0.0.1', port: responder.port });

  it('lists every camera with its name and model, marks the configured one, and tries the typed login on each', async () => {
    const [a, b, c] = sim.cameras;
    const answer = await discoverCameras({
      username: 'admin', password: PASSWORD,
      configured: [{ name: 'Front door', host: '127.0.0.1', port: String(b.port) }, { name: 'Elsewhere', host: '10.0.0.9' }],
    }, target(), AbortSignal.timeout(25_000));
    assert.ok(!JSON.stringify(answer).includes(PASSWORD), 'password in the answer');
    assert.equal(answer.hint, undefined);
    const byPort = new Map(answer.cameras.map((x) => [x.port, x]));
    assert.equal(answer.cameras.length, 3);
    assert.deepEqual([a, b, c].map((s) => [byPort.get(s.port)?.name, byPort.get(s.port)?.login, byPort.get(s.port)?.configured]), [
      ['Entrance A', 'ok', undefined], ['Courtyard', 'ok', 'Front door'], ['Bins', 'refused', undefined],
    ]);
    assert.equal(byPort.get(a.port)?.hardware, 'DS-2CD2347G2-LU');
    assert.equal(byPort.get(a.port)?.loginText, `accepts this user and password (HIKVISION DS-2CD2347G2-LU, serial ${a.info.serial})`);
    assert.match(byPort.get(c.port)?.loginText ?? '', /^refuses this user and password/);
  });

  it('without a user, lists the cameras and says the login was not tried', async () => {
    const answer = await discoverCameras({}, target(), AbortSignal.timeout(25_000));
    assert.equal(answer.cameras.length, 3);
    assert.ok(answer.cameras.every((x) => x.login === 'not tried'));
  });

  it('explains an empty result', async () => {
    // A loopback port with no responder: the probe goes nowhere, nothing answers.
    const answer = await discoverCameras({}, { address: '127.0.0.1', port: 9 }, AbortSignal.timeout(25_000));
    assert.deepEqual(answer.cameras, []);
    assert.match(answer.hint ?? '', /^No ONVIF camera answered within 3 s\. .* added by its address\.$/);
  });

  it('reads the unicast target from its setting and refuses a bad one', () => {
    assert.deepEqual(discoveryTarget('127.0.0.1:3702'), { address: '127.0.0.1', port: 3702 });
    assert.equal(discoveryTarget(''), undefined);
    assert.throws(() => discoveryTarget('somewhere'), UiError);
  });
});
