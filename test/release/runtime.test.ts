// The verified-plugin points that need the plugin running, checked on the real platform class under a stand-in
// Homebridge API (real HAP-NodeJS accessories, a simulated ONVIF camera, the manual trigger endpoint on): every file it
// writes is under api.user.storagePath(), no promise rejection or exception escapes it, and on Homebridge's 'shutdown'
// it releases the camera's event subscription and closes its listening port. The same with real Homebridge processes,
// ffmpeg included, is in the e2e suite (accessories, child-bridge).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import * as hap from 'hap-nodejs';
import type { API, Logging, PlatformConfig } from 'homebridge';
import { CourtyardPlatform } from '../../src/platform';
import { triggerToken } from '../../src/store/trigger-token';
import { CameraSim } from '../../tools/camera-sim';
import { freePort, tryConnect } from '../e2e/rig/net';

const PASSWORD = 'Release-Check-61';
const WAIT_MS = 10_000;

/** fs functions that create, change or remove files, wrapped to record the paths they touch (node-persist calls fs.*). */
const WRITERS = ['writeFile', 'writeFileSync', 'appendFile', 'appendFileSync', 'createWriteStream', 'mkdir', 'mkdirSync', 'rename',
  'renameSync', 'copyFile', 'copyFileSync', 'unlink', 'unlinkSync', 'rm', 'rmSync', 'rmdir', 'rmdirSync', 'symlink', 'symlinkSync',
  'truncate', 'truncateSync', 'open', 'openSync'] as const;
const PROMISE_WRITERS = ['writeFile', 'appendFile', 'mkdir', 'rename', 'copyFile', 'unlink', 'rm', 'rmdir', 'symlink', 'truncate', 'open'] as const;
/** open() only writes with a flag other than r (fs.open's default). */
const TWO_PATHS = new Set(['rename', 'renameSync', 'copyFile', 'copyFileSync', 'symlink', 'symlinkSync']);

function recordWrites(into: string[]): () => void {
  const restore: (() => void)[] = [];
  const wrap = (target: Record<string, unknown>, name: string, where: string): void => {
    const original = target[name] as (...args: unknown[]) => unknown;
    target[name] = function (this: unknown, ...args: unknown[]): unknown {
      const isOpen = name === 'open' || name === 'openSync';
      const flags = isOpen ? String(typeof args[1] === 'string' || typeof args[1] === 'number' ? args[1] : 'r') : 'w';
      if (!isOpen || flags !== 'r') {
        for (const p of TWO_PATHS.has(name) ? args.slice(0, 2) : args.slice(0, 1)) {
          if (typeof p === 'string' || p instanceof URL || Buffer.isBuffer(p)) {
            into.push(resolve(p instanceof URL ? p.pathname : p.toString()));
          } else {
            into.push(`${where}.${name}(<${typeof p}>)`); // a file descriptor or a handle: not a path we can judge
          }
        }
      }
      return original.apply(this, args);
    };
    restore.push(() => (target[name] = original));
  };
  WRITERS.forEach((name) => wrap(fs as unknown as Record<string, unknown>, name, 'fs'));
  PROMISE_WRITERS.forEach((name) => wrap(fs.promises as unknown as Record<string, unknown>, name, 'fs.promises'));
  return () => restore.reverse().forEach((r) => r());
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`not within ${WAIT_MS} ms: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('A running platform (verified-plugin checklist)', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  let storage: string;
  let workDir: string;
  let homeDir: string;
  const previousCwd = process.cwd();
  const previousHome = process.env.HOME;

  before(async () => {
    sim = await CameraSim.start({ cameras: [{ name: 'Gate', vendor: 'hikvision', password: PASSWORD }], media: false });
    storage = mkdtempSync(join(tmpdir(), 'courtyard-release-storage-'));
    workDir = mkdtempSync(join(tmpdir(), 'courtyard-release-cwd-'));
    homeDir = mkdtempSync(join(tmpdir(), 'courtyard-release-home-'));
  });
  after(async () => {
    process.chdir(previousCwd);
    process.env.HOME = previousHome;
    await sim?.stop();
    for (const dir of [storage, workDir, homeDir]) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes only under the storage path, lets nothing escape, and ends the subscription and its port on shut-down', async () => {
    const cam = sim.cameras[0];
    const triggersPort = await freePort();
    const config = {
      platform: 'Courtyard', name: 'Courtyard', triggers: { port: triggersPort, bind: '127.0.0.1' },
      cameras: [{ name: 'Gate', host: cam.host, port: cam.port, username: 'admin', password: PASSWORD, doorbell: true, motionHoldSeconds: 1 }],
    } as unknown as PlatformConfig;

    const lines: string[] = [];
    const say = (level: string) => (msg: string): number => lines.push(`${level} ${msg}`);
    const log = Object.assign(say('info'), { info: say('info'), success: say('info'), warn: say('warn'), error: say('error'),
      debug: say('debug'), log: (level: string, msg: string) => say(level)(msg), prefix: 'Courtyard' }) as unknown as Logging;
    const registered: hap.Accessory[] = [];
    class PlatformAccessory extends hap.Accessory {
      context: Record<string, unknown> = {};
      constructor(name: string, uuid: string, category?: hap.Categories) {
        super(name, uuid);
        this.category = category ?? hap.Categories.OTHER;
      }
    }
    const api = Object.assign(new EventEmitter(), {
      hap, version: 2.7, serverVersion: '2.4.0', platformAccessory: PlatformAccessory,
      user: { storagePath: () => storage, configPath: () => join(storage, 'config.json'), persistPath: () => join(storage, 'persist'),
        cachedAccessoryPath: () => join(storage, 'accessories') },
      registerPlatformAccessories: (_plugin: string, _platform: string, list: hap.Accessory[]) => registered.push(...list),
      updatePlatformAccessories: () => undefined,
      unregisterPlatformAccessories: () => undefined,
      versionGreaterOrEqual: () => true,
    }) as unknown as API & EventEmitter;

    const escaped: string[] = [];
    const onRejection = (reason: unknown): number => escaped.push(`unhandledRejection: ${(reason as Error)?.stack ?? reason}`);
    const onException = (err: Error): number => escaped.push(`uncaughtException: ${err.stack}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    const writes: string[] = [];
    // Relative paths and ~ would land here: both are empty folders the plugin has no business writing to.
    process.chdir(workDir);
    process.env.HOME = homeDir;
    const stopRecording = recordWrites(writes);
    try {
      new CourtyardPlatform(log, config, api);
      api.emit('didFinishLaunching');
      await until('the camera published', () => registered.length === 1 && lines.some((l) => /^info Gate: connected .* published in Home$/.test(l)));
      await until('the camera\'s PullPoint subscription', () => cam.stats().subscriptions === 1);
      await until('the trigger endpoint', () => tryConnect(triggersPort, 1_000));

      // Events go to the history (written to disk a second later) and a script rings the doorbell.
      cam.motion(true);
      const token = await triggerToken(join(storage, 'courtyard'));
      const res = await fetch(`http://127.0.0.1:${triggersPort}/doorbell?camera=Gate`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, await res.text());
      await until('the history on disk', () => readdirSync(join(storage, 'courtyard')).length >= 2);
      cam.motion(false);

      const unsubscribes = cam.stats().unsubscribes;
      api.emit('shutdown');
      await until('the subscription released at the camera', () => cam.stats().subscriptions === 0 && cam.stats().unsubscribes > unsubscribes);
      await until('the trigger port closed', async () => !(await tryConnect(triggersPort, 500)));
    } finally {
      stopRecording();
      process.chdir(previousCwd);
      process.env.HOME = previousHome;
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    }
    assert.ok(writes.length > 0, 'the history and the token were written (the recorder works)');
    const outside = writes.filter((p) => !p.startsWith(storage + sep));
    assert.deepEqual(outside, [], `writes outside the storage path ${storage}`);
    assert.deepEqual(readdirSync(workDir), [], 'nothing in the working directory');
    assert.deepEqual(readdirSync(homeDir), [], 'nothing in the home directory');
    assert.deepEqual(escaped, [], 'nothing escaped the plugin');
    assert.deepEqual(lines.filter((l) => /unexpected error/.test(l)), [], 'no unexpected error logged');
  });
});
