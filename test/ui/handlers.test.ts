// The UI server as the Homebridge UI runs it: homebridge-ui/server.js forked with an IPC channel, importing the ESM
// @homebridge/plugin-ui-utils 2.x from CommonJS, answering requests and pushing events; and the bounds on every request.
import assert from 'node:assert/strict';
import { ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CameraSim } from '../../tools/camera-sim';
import { DiscoveryResponder, startDiscoveryResponder } from '../../tools/camera-sim/discovery';
import { bounded, UiError } from '../../src/ui/bounded';
import { CourtyardUiHandlers, ROUTE_BOUNDS_MS } from '../../src/ui/handlers';

const PASSWORD = 'Ui-Server-Secret-66';
const ROOT = join(__dirname, '..', '..', '..');

interface Reply { success: boolean; data: Record<string, unknown> }

/** The Homebridge UI's side of the IPC protocol (plugins-settings-ui.service.js): request → response, stream events. */
class UiServerChild {
  private next = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly pushed: Array<{ event: string; data: unknown }> = [];
  readonly ready: Promise<void>;
  output = '';

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server.js not ready in 10 s:\n${this.output}`)), 10_000);
      child.on('message', (m: { action: string; payload: Record<string, unknown> }) => {
        if (m.action === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (m.action === 'response') {
          this.waiting.get(m.payload.requestId as number)?.({ success: m.payload.success as boolean, data: m.payload.data as Record<string, unknown> });
        } else if (m.action === 'stream') {
          this.pushed.push(m.payload as { event: string; data: unknown });
        }
      });
    });
  }

  request(path: string, body: unknown, timeoutMs = 30_000): Promise<Reply> {
    const requestId = ++this.next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${path}: no answer in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(requestId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.send({ action: 'request', requestId, path, body });
    });
  }
}

describe('settings page: the UI server', function () {
  this.timeout(40_000);
  let sim: CameraSim;
  let responder: DiscoveryResponder;
  let storage: string;
  let server: UiServerChild;
  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: [{ name: 'Entrance', password: PASSWORD }] });
    responder = await startDiscoveryResponder(sim.cameras);
    storage = mkdtempSync(join(tmpdir(), 'courtyard-ui-server-'));
    server = new UiServerChild(fork(join(ROOT, 'homebridge-ui', 'server.js'), [], {
      silent: true,
      env: { ...process.env, HOMEBRIDGE_STORAGE_PATH: storage, HOMEBRIDGE_CONFIG_PATH: join(storage, 'config.json'),
        COURTYARD_DISCOVERY_TARGET: `127.0.0.1:${responder.port}` },
    }));
    await server.ready;
  });
  after(async () => {
    if (server?.child.exitCode === null) {
      const gone = new Promise((r) => server.child.once('exit', r));
      server.child.disconnect(); // what the Homebridge UI does when the page closes
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
      server.child.kill('SIGKILL');
    }
    await responder?.stop();
    await sim?.stop();
    rmSync(storage, { recursive: true, force: true });
  });
  const camera = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ name: 'Entrance', host: '127.0.0.1', port: sim.cameras[0].port, username: 'admin', password: PASSWORD, ...extra });

  it('runs as the Homebridge UI forks it, and answers discovery over the configured unicast target', async () => {
    const reply = await server.request('/discover', { username: 'admin', password: PASSWORD });
    assert.equal(reply.success, true, JSON.stringify(reply));
    const cams = reply.data.cameras as Array<{ name: string; login: string }>;
    assert.deepEqual(cams.map((c) => [c.name, c.login]), [['Entrance', 'ok']]);
  });

  it('answers a failure with one sentence and no password', async () => {
    const reply = await server.request('/check', { camera: camera({ password: 'wrong-pass' }), video: false });
    assert.equal(reply.success, false);
    assert.match(String(reply.data.message), /^The camera at 127\.0\.0\.1:\d+ refused the user "admin"/);
    assert.ok(!JSON.stringify(reply).includes('wrong-pass') && !server.output.includes('wrong-pass'));
  });

  it('pushes learned events to the page', async () => {
    const started = await server.request('/learn/start', { camera: camera(), seconds: 20 });
    assert.equal(started.success, true, JSON.stringify(started));
    sim.cameras[0].doorbell();
    const end = Date.now() + 10_000;
    while (!server.pushed.some((p) => p.event === 'learn-topic' && (p.data as { meanings: string[] }).meanings.includes('input on'))) {
      assert.ok(Date.now() < end, 'no input event pushed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stopped = await server.request('/learn/stop', {});
    assert.equal(stopped.success, true);
    assert.ok(server.pushed.some((p) => p.event === 'learn-end'));
    assert.ok(!JSON.stringify(server.pushed).includes(PASSWORD) && !server.output.includes(PASSWORD));
  });

  it('makes the trigger token once and gives the same one again', async () => {
    const a = await server.request('/triggers-token', {});
    const b = await server.request('/triggers-token', {});
    assert.match(String(a.data.token), /^[\w-]{32,}$/);
    assert.equal(a.data.token, b.data.token);
  });
});

describe('settings page: bounded requests', () => {
  it('a request that outlives its bound is answered with a sentence, and its work is told to stop', async () => {
    let aborted = false;
    const started = Date.now();
    await assert.rejects(bounded(100, 'The camera check', 'check the camera', (signal) => new Promise(() => {
      signal.addEventListener('abort', () => (aborted = true));
    })), (err: unknown) => err instanceof UiError && err.message === 'The camera check took longer than 100 ms and was stopped; check the camera');
    assert.ok(aborted);
    assert.ok(Date.now() - started < 1_000);
  });

  it('a path it does not serve is answered with what to do', async () => {
    const handlers = new CourtyardUiHandlers({ storagePath: tmpdir(), push: () => undefined });
    await assert.rejects(handlers.handle('/nothing', {}), (err: unknown) => err instanceof UiError && /no "\/nothing"; reload the page/.test(err.message));
  });

  it('every route has a bound below the page\'s own', () => {
    const handlers = new CourtyardUiHandlers({ storagePath: tmpdir(), push: () => undefined });
    for (const path of handlers.paths()) {
      assert.ok(ROUTE_BOUNDS_MS[path] > 0 && ROUTE_BOUNDS_MS[path] <= 60_000, path);
    }
  });
});
