// A real Homebridge UI (homebridge-config-ui-x 5.10.0, started by its own hb-service, which also runs Homebridge 2.x)
// with this plugin installed as a copied folder under its plugin path, for the settings page's browser test. Registered
// in the cleanup registry; its whole process group (UI, Homebridge, the plugin's UI server) is killed at the end.
import { ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { track } from './cleanup';
import { homebridgeLaunchFor } from './hb-line';
import { RIG_INSTANCE_ENV } from './homebridge';
import { freePort } from './net';
import { makeTempDir, repoRoot } from './paths';
import { pollUntil, sleep } from './wait';

export interface HomebridgeUi {
  url: string;
  storage: string;
  /** An admin's bearer token for the UI's API (the browser gets it in localStorage, as after a login). */
  token: string;
  configPath: string;
  /** The plugin's platform block as saved in config.json, if any. */
  savedPlatform(): Record<string, unknown> | undefined;
  /** What the UI's "Restart Homebridge" does. */
  restartHomebridge(): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

const ADMIN = { name: 'Committee', username: 'committee', password: 'Committee-Ui-Login-8' };
/** Outgoing HTTP from the UI (npm update checks) goes to a closed loopback port: the test never leaves this machine. */
const NOWHERE = 'http://127.0.0.1:9';

function copyPlugin(pluginsDir: string): void {
  const root = repoRoot();
  const target = join(pluginsDir, 'homebridge-courtyard');
  mkdirSync(target, { recursive: true });
  // A real folder, as npm installs it (the UI does not follow a symlinked plugin folder); its dependencies are the repo's.
  for (const part of ['package.json', 'config.schema.json', 'dist', 'homebridge-ui']) {
    cpSync(join(root, part), join(target, part), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(target, 'node_modules'));
}

export async function startHomebridgeUi(env: Record<string, string>): Promise<HomebridgeUi> {
  const storage = makeTempDir('settings-ui');
  const pluginsDir = join(storage, 'plugins');
  copyPlugin(pluginsDir);
  const [uiPort, hapPort] = [await freePort(), await freePort()];
  const configPath = join(storage, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    bridge: { name: 'Courtyard UI Test', username: '0E:C0:11:22:33:44', port: hapPort, pin: '031-45-154', bind: ['lo'] },
    platforms: [{ platform: 'config', name: 'Config', port: uiPort }],
  }, null, 2), { mode: 0o600 });
  const launch = homebridgeLaunchFor(2); // Homebridge 2 and this UI both run on the bundled Node 22
  const hbService = join(repoRoot(), 'node_modules/homebridge-config-ui-x/dist/bin/hb-service.js');
  const logFile = join(storage, 'homebridge.log');
  const child: ChildProcess = spawn(launch.node, [hbService, 'run', '--allow-root', '-U', storage, '-P', pluginsDir], {
    cwd: storage,
    detached: true, // own process group: stop() reaches the UI, Homebridge and the plugin's UI server at once
    stdio: 'ignore',
    env: { ...process.env, ...env, [RIG_INSTANCE_ENV]: `settings-ui-${process.pid}`, HTTP_PROXY: NOWHERE, HTTPS_PROXY: NOWHERE,
      http_proxy: NOWHERE, https_proxy: NOWHERE, NO_PROXY: '127.0.0.1,localhost,::1', no_proxy: '127.0.0.1,localhost,::1' },
  });
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    kill('SIGTERM');
    await Promise.race([exited, sleep(8_000)]);
    kill('SIGKILL');
    if (process.env.COURTYARD_KEEP_TMP !== '1') {
      rmSync(storage, { recursive: true, force: true });
    }
  };
  track({ label: `homebridge-config-ui-x pid ${child.pid}`, stop, killNow: () => kill('SIGKILL'),
    onTestFailure: () => process.stderr.write(`Homebridge UI log (${logFile}):\n${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-6000) : ''}\n`) });
  const url = `http://127.0.0.1:${uiPort}`;
  const api = async (method: string, path: string, body?: unknown, token?: string): Promise<Response> => fetch(`${url}/api${path}`, {
    method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000),
  });
  await pollUntil(async () => ((await api('GET', '/auth/settings')).ok ? true : undefined), { timeoutMs: 30_000, what: 'the Homebridge UI to answer' });
  const created = await api('POST', '/setup-wizard/create-first-user', { ...ADMIN, admin: true });
  if (!created.ok) {
    throw new Error(`creating the first user failed: HTTP ${created.status} ${await created.text()}`);
  }
  const login = await api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password });
  const token = ((await login.json()) as { access_token?: string }).access_token;
  if (!token) {
    throw new Error(`login to the Homebridge UI failed: HTTP ${login.status}`);
  }
  return {
    url, storage, token, configPath,
    savedPlatform: () => (JSON.parse(readFileSync(configPath, 'utf8')) as { platforms: Array<Record<string, unknown>> }).platforms
      .find((p) => p.platform === 'Courtyard'),
    restartHomebridge: async () => {
      const r = await api('PUT', '/server/restart', {}, token);
      if (!r.ok) {
        throw new Error(`restart failed: HTTP ${r.status}`);
      }
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop,
  };
}
