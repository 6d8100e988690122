import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { DiscoveryResponder, startDiscoveryResponder } from '../../tools/camera-sim/discovery';
import { DiscoverArgs } from '../../src/cli/args';
import { runDiscover } from '../../src/cli/discover';
import { EXIT_AUTH, EXIT_FAILED, EXIT_OK } from '../../src/cli/output';
import { capture } from './helpers';

const PASSWORD = 'Discover-Secret-3';

describe('cli discover against the simulator', function () {
  this.timeout(60_000);
  let sim: CameraSim;
  let responder: DiscoveryResponder;
  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [{ name: 'Front Door', vendor: 'hikvision', password: PASSWORD }, { name: 'Garage', vendor: 'dahua', password: PASSWORD }],
    });
    responder = await startDiscoveryResponder(sim.cameras);
  });
  after(async () => {
    await responder?.stop();
    await sim?.stop();
  });

  const argsWith = (credentials?: DiscoverArgs['credentials']): DiscoverArgs => ({
    command: 'discover', timeoutS: 0.5, json: false, target: { address: '127.0.0.1', port: responder.port }, credentials,
  });

  it('lists every camera with a working login', async () => {
    const out = capture();
    assert.equal(await runDiscover(argsWith({ username: 'admin', password: PASSWORD }), out), EXIT_OK, out.text());
    const [hik, dahua] = sim.cameras;
    // Listed by address, then port.
    const expected = [
      { port: hik.port, line: `  Front Door  127.0.0.1:${hik.port}  DS-2CD2347G2-LU  login ok (HIKVISION DS-2CD2347G2-LU, serial ${hik.info.serial})` },
      { port: dahua.port, line: `  Garage  127.0.0.1:${dahua.port}  IPC-HDW2431T-AS-S2  login ok (Dahua IPC-HDW2431T-AS-S2, serial ${dahua.info.serial})` },
    ].sort((a, b) => a.port - b.port).map((e) => e.line);
    assert.deepEqual(out.lines, ['Found 2 cameras:', ...expected]);
    assert.deepEqual(out.errors, []);
    assert.ok(!out.text().includes(PASSWORD));
  });

  it('says which cameras refuse the login, with exit code 2', async () => {
    const out = capture();
    assert.equal(await runDiscover(argsWith({ username: 'admin', password: 'wrong-one' }), out), EXIT_AUTH);
    assert.equal(out.lines.length, 3);
    for (const line of out.lines.slice(1)) {
      assert.match(line, /login FAILED: authentication failed: check the username and password$/);
    }
  });

  it('lists without testing when no login is given', async () => {
    const out = capture();
    assert.equal(await runDiscover(argsWith(), out), EXIT_OK);
    assert.equal(out.lines.filter((l) => l.endsWith('login not tested (give --user and --password)')).length, 2, out.text());
  });

  it('prints JSON with --json', async () => {
    const out = capture();
    assert.equal(await runDiscover({ ...argsWith({ username: 'admin', password: PASSWORD }), json: true }, out), EXIT_OK);
    const doc = JSON.parse(out.lines.join('\n')) as { cameras: Array<{ name: string; auth: string; port: number }> };
    assert.deepEqual(doc.cameras.map((c) => [c.name, c.auth]).sort(), [['Front Door', 'ok'], ['Garage', 'ok']]);
    assert.ok(!out.text().includes(PASSWORD));
  });

  it('fails with exit code 1 and one line when nothing answers', async () => {
    const silent = await startDiscoveryResponder([]);
    try {
      const out = capture();
      const code = await runDiscover({ command: 'discover', timeoutS: 0.3, json: false, target: { address: '127.0.0.1', port: silent.port } }, out);
      assert.equal(code, EXIT_FAILED);
      assert.deepEqual(out.lines, []);
      assert.equal(out.errors.length, 1);
      assert.match(out.errors[0], /^no ONVIF camera answered within 0\.3 s/);
    } finally {
      await silent.stop();
    }
  });
});
