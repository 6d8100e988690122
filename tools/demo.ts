// `npm start`: simulated cameras plus a real Homebridge running this plugin, in .demo/ (git-ignored).
// Pair it from the Home app on an iPhone in the same network with the code Homebridge prints; Ctrl-C stops everything.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim } from './camera-sim';

const ROOT = join(__dirname, '..', '..');
/** Homebridge's storage (config, pairing, accessory cache); tests use their own so a user's paired demo is untouched. */
const STORAGE = process.env.COURTYARD_DEMO_STORAGE ?? join(ROOT, '.demo');
const PIN = '031-45-154';
const HAP_PORT = Number(process.env.COURTYARD_DEMO_PORT ?? 51826);
/**
 * Homebridge's `bridge.bind`, comma-separated; unset (the default, as most homes run it) announces the bridge on every
 * interface. Tests set "lo" so nothing is announced beyond loopback.
 */
const BIND = process.env.COURTYARD_DEMO_BIND?.split(',').map((s) => s.trim()).filter(Boolean);

/** Homebridge 2 needs Node 22: use it from the node22 package when this node is older, else Homebridge 1 on this node. */
function homebridgeCommand(): { node: string; script: string; label: string } {
  const node22 = join(ROOT, 'node_modules', 'node22', 'bin', 'node');
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) {
    return { node: process.execPath, script: join(ROOT, 'node_modules', 'homebridge', 'bin', 'homebridge.js'), label: 'Homebridge 2' };
  }
  if (existsSync(node22)) {
    return { node: node22, script: join(ROOT, 'node_modules', 'homebridge', 'bin', 'homebridge.js'), label: 'Homebridge 2 on Node 22' };
  }
  return { node: process.execPath, script: join(ROOT, 'node_modules', 'homebridge1', 'bin', 'homebridge'), label: 'Homebridge 1' };
}

async function main(): Promise<void> {
  // Ctrl-C, `kill`/`timeout`/a service manager, a closed terminal: one orderly stop, whatever has started so far. Before
  // the simulator is up, exiting is enough (its RTSP server ends when our pipe to it closes).
  let stop = (code: number): Promise<void> => process.exit(code);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void stop(0));
  }
  console.log('Starting simulated cameras (the first start encodes the test clips: a few seconds)…');
  const sim = await CameraSim.start({
    cameras: [
      { name: 'Entrance A', vendor: 'hikvision' },
      { name: 'Entrance B', vendor: 'dahua' },
      { name: 'Courtyard', vendor: 'axis' },
    ],
  });
  stop = async (code) => {
    await sim.stop();
    process.exit(code);
  };
  mkdirSync(STORAGE, { recursive: true });
  const config = {
    bridge: { name: 'Courtyard Demo', username: '0E:C0:77:AD:0D:01', port: HAP_PORT, pin: PIN, ...(BIND ? { bind: BIND } : {}) },
    platforms: [{
      platform: 'Courtyard',
      name: 'Courtyard',
      cameras: sim.cameras.map((c, i) => ({
        name: c.name, host: c.host, port: c.port, username: c.username, password: c.password, doorbell: i < 2,
      })),
    }],
  };
  writeFileSync(join(STORAGE, 'config.json'), JSON.stringify(config, null, 2));
  for (const c of sim.cameras) {
    console.log(`  ${c.name} (${c.vendor}): ONVIF ${c.deviceUrl}; motion: curl -X POST 'http://127.0.0.1:${c.port}/sim/motion?on=1'`);
  }

  const hb = homebridgeCommand();
  console.log(`Starting ${hb.label} with storage ${STORAGE}; pairing code ${PIN}`);
  // The guard ends Homebridge (gracefully) should this process be killed without the chance to stop it.
  const child: ChildProcess = spawn(hb.node, ['-r', join(ROOT, 'tools', 'parent-guard.js'), hb.script, '-U', STORAGE, '-P', ROOT,
    '--strict-plugin-resolution'], { stdio: 'inherit' });

  let stopping = false;
  stop = async (code: number): Promise<void> => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log('Stopping Homebridge and the simulated cameras…');
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(killTimer);
    }
    await sim.stop();
    process.exit(code);
  };
  child.on('error', (err) => {
    console.error(`could not start Homebridge: ${err.message}`);
    void stop(1);
  });
  child.on('exit', (code) => void stop(code ?? 0));
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
