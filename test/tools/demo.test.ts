// `npm start` must leave nothing behind, however it is stopped: SIGTERM (what `timeout`, systemd or `kill` send),
// SIGHUP (a closed terminal) and SIGKILL (nothing can be cleaned up by the demo itself; its children must notice and
// end on their own). The real demo runs: simulated cameras with their RTSP server, and a real Homebridge (bound to
// loopback so nothing is announced on the network). Everything it starts inherits an environment tag, which finds
// its processes even after they were re-parented.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../e2e/rig/net';
import { makeTempDir, repoRoot } from '../e2e/rig/paths';
import { describeProcess, killLeftovers, processesWithEnv } from '../e2e/rig/procfs';
import { pollUntil } from '../e2e/rig/wait';

const TAG = 'COURTYARD_DEMO_SIGNAL_TEST';
const READY_TIMEOUT_MS = 90_000;
/** Homebridge stops in 5 s at most after SIGTERM (it force-exits itself); the guard notices an orphan within 0.5 s. */
const GONE_TIMEOUT_MS = 15_000;

interface Demo {
  child: ChildProcess;
  tag: string;
  /** Its Homebridge storage (config.json holds the simulated cameras' password): removed afterwards. */
  storage: string;
  output: () => string;
}

async function startDemo(): Promise<Demo> {
  const tag = randomBytes(4).toString('hex');
  const storage = makeTempDir('demo');
  const child = spawn(process.execPath, [join(repoRoot(), '.build', 'tools', 'demo.js')], {
    cwd: repoRoot(),
    env: {
      ...process.env, [TAG]: tag, COURTYARD_DEMO_BIND: 'lo', COURTYARD_DEMO_PORT: String(await freePort()),
      COURTYARD_DEMO_STORAGE: storage, FORCE_COLOR: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const demo = { child, tag, storage, output: () => out };
  try {
    // Three cameras published by the plugin inside Homebridge: the demo, the simulator and Homebridge all run.
    await pollUntil(async () => ((out.match(/published in Home/g)?.length ?? 0) >= 3 ? true : undefined),
      { timeoutMs: READY_TIMEOUT_MS, what: 'the demo\'s three cameras published in Home' });
  } catch (err) {
    stopAll(demo);
    throw new Error(`${(err as Error).message}\n--- demo output ---\n${out.slice(-3000)}`);
  }
  return demo;
}

function running(demo: Demo): string[] {
  return processesWithEnv(TAG, demo.tag).map(describeProcess);
}

function stopAll(demo: Demo): void {
  demo.child.kill('SIGKILL');
  killLeftovers(processesWithEnv(TAG, demo.tag));
  rmSync(demo.storage, { recursive: true, force: true });
}

describe('npm start (tools/demo.ts) leaves nothing running, however it is stopped', function () {
  this.timeout(READY_TIMEOUT_MS + GONE_TIMEOUT_MS + 10_000);
  const started: Demo[] = [];

  afterEach(() => {
    started.splice(0).forEach(stopAll);
  });

  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGKILL'] as const) {
    it(`${signal}: Homebridge, the simulator and its RTSP server are gone`, async () => {
      const demo = await startDemo();
      started.push(demo);
      const before = running(demo);
      assert.ok(before.some((p) => /homebridge/.test(p)), `Homebridge runs: ${before.join('; ')}`);
      assert.ok(before.some((p) => /rtsp_server\.py/.test(p)), `the RTSP server runs: ${before.join('; ')}`);
      demo.child.kill(signal);
      try {
        await pollUntil(async () => (running(demo).length === 0 ? true : undefined), { timeoutMs: GONE_TIMEOUT_MS, what: 'every process gone' });
      } catch {
        assert.fail(`still running ${GONE_TIMEOUT_MS} ms after ${signal}: ${running(demo).join('; ')}\n--- demo output ---\n${demo.output().slice(-2000)}`);
      }
      if (signal !== 'SIGKILL') {
        assert.match(demo.output(), /Stopping Homebridge and the simulated cameras/, 'the demo stopped in order');
      }
    });
  }
});
