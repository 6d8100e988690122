// The camera password never reaches a log line (any level, debug included) or the CLI's output: not as typed, not
// percent-encoded, not inside a user:pass@ URL, not as a Basic header. The scenarios are the hostile and failing ones,
// where error text is most likely to carry a URL or a request. The settings page (homebridge-ui/) is not covered here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as hap from 'hap-nodejs';
import type { HAP, Logging, PlatformAccessory } from 'homebridge';
import { AccessoryHost, CourtyardCamera } from '../src/camera';
import { PASSWORD_ENV } from '../src/cli/args';
import { parseConfig } from '../src/config';
import { withCredentials } from '../src/media/camera-media';
import { FfmpegProcess } from '../src/media/ffmpeg';
import { Snapshots } from '../src/media/snapshot';
import { OnvifDevice } from '../src/onvif/device';
import { NotificationReceiver, PushEvents } from '../src/onvif/push';
import { CameraLog } from '../src/util/log';
import { CameraSim } from '../tools/camera-sim';
import { DiscoveryResponder, startDiscoveryResponder } from '../tools/camera-sim/discovery';
import { closedPort } from './cli/helpers';
import { nextEvent } from './onvif/wait-for';
import { until } from './e2e/rig/wait';

/** URL delimiters, shell metacharacters, a leading '-', non-ASCII; "Sekr3t" marks any fragment of it that slips through. */
const PASSWORD = '-Zq9!@:/ %#-Sekr3t"\'$(id)ü';
const USER = 'admin';
const BIN = path.resolve(__dirname, '../../dist/cli.js');

/** What must never be printed, each with a name for the failure message. */
const FORBIDDEN: [string, (text: string) => boolean][] = [
  ['the password as typed', (t) => t.includes(PASSWORD)],
  ['the password percent-encoded', (t) => t.includes(encodeURIComponent(PASSWORD))],
  ['a fragment of the password', (t) => /Sekr3t/.test(t)],
  ['a URL with a password in it', (t) => /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:(?!\*\*\*@)[^\s/@]+@/i.test(t)],
  ['a Basic authorization', (t) => t.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'))],
];

function assertClean(what: string, lines: string[]): void {
  assert.ok(lines.length > 0, `${what}: nothing was captured, so nothing was checked`);
  for (const line of lines) {
    for (const [name, found] of FORBIDDEN) {
      assert.ok(!found(line), `${what}: ${name} in: ${line}`);
    }
  }
}

/** A Homebridge logger that keeps every line of every level (debug included, as with -D). */
function homebridgeLog(lines: string[]): Logging {
  const keep = (level: string) => (msg: string, ...params: unknown[]): void => {
    lines.push(`${level} ${[msg, ...params.map(String)].join(' ')}`);
  };
  const log = keep('info') as unknown as Logging;
  return Object.assign(log, { info: keep('info'), success: keep('success'), warn: keep('warn'), error: keep('error'),
    debug: keep('debug'), log: (level: string, msg: string) => keep(level)(msg), prefix: 'Courtyard' });
}

/** Waits until a captured line matches, bounded. */
function lineMatching(lines: string[], what: RegExp): Promise<void> {
  return until(() => lines.some((l) => what.test(l)), () => `a line matching ${what} in:\n${lines.join('\n')}`, 15_000, 50);
}

describe('secrets: the camera password in no log line and no CLI output', function () {
  this.timeout(60_000);
  let sim: CameraSim;
  let responder: DiscoveryResponder;
  const lines: string[] = [];
  const log = homebridgeLog(lines);

  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        { name: 'Wsse', vendor: 'hikvision', username: USER, password: PASSWORD },
        { name: 'DigestOnly', vendor: 'generic', username: USER, password: PASSWORD, soapAuth: 'digest', snapshotAuth: 'basic' },
        { name: 'Dahua', vendor: 'dahua', username: USER, password: PASSWORD, clockSkewMs: 2 * 3600_000 },
      ],
    });
    responder = await startDiscoveryResponder(sim.cameras);
  });
  after(async () => {
    await responder?.stop();
    await sim?.stop();
  });

  const host = (): AccessoryHost => ({
    hap: hap as unknown as HAP, videoEncoder: 'libx264', history: () => undefined, notificationReceiver: () => undefined,
    cachedAccessory: () => undefined, rememberMedia: () => undefined,
    accessoryFor: (c, id) => new hap.Accessory(c.name, hap.uuid.generate(id)) as unknown as PlatformAccessory,
  });
  const configFor = (i: number, password = PASSWORD) => parseConfig({ cameras: [{ name: sim.cameras[i].name, host: sim.cameras[i].host,
    port: sim.cameras[i].port, username: USER, password, doorbell: true, sensors: ['person'] }] }).config.cameras[0];

  it('the plugin: camera life with events, faults, a reboot and a wrong password, every level logged', async () => {
    const config = parseConfig({ cameras: [{ name: 'Pasted', host: `${USER}:${PASSWORD}@10.0.0.9`, password: PASSWORD },
      { name: 'Url', host: `http://${USER}:${PASSWORD}@10.0.0.9/onvif`, password: PASSWORD }] });
    lines.push(...config.errors, ...config.warnings);
    const cameras: CourtyardCamera[] = [];
    try {
      for (const i of [0, 1, 2]) {
        const camera = new CourtyardCamera(host(), configFor(i), log, { path: 'ffmpeg', source: 'PATH', problems: [] });
        cameras.push(camera);
        camera.start();
        await lineMatching(lines, new RegExp(`^info ${sim.cameras[i].name}: connected .* and published in Home$`));
      }
      sim.cameras[0].motion(true);
      sim.cameras[0].setFaults(['PullMessages', 'Renew', 'GetEventProperties']);
      sim.cameras[1].setFaults(['PullMessages', 'CreatePullPointSubscription', 'SetSynchronizationPoint']);
      sim.cameras[1].motion(true); // ends the long-poll in progress: the next pull meets the fault
      await lineMatching(lines, /^debug Wsse: events: .*simulated fault in PullMessages/);
      await lineMatching(lines, /^debug DigestOnly: events: .*simulated fault in CreatePullPointSubscription/);
      sim.cameras.forEach((c) => c.setFaults([]));
      await sim.cameras[2].restart();
      const wrong = new CourtyardCamera(host(), { ...configFor(0, `${PASSWORD}x`), name: 'Wrong' }, log,
        { path: '/nonexistent/ffmpeg', source: 'videoProcessor', problems: ['"videoProcessor" /nonexistent/ffmpeg is not an executable file'] });
      cameras.push(wrong);
      wrong.start();
      await lineMatching(lines, /^error Wrong: .*(password|authentication)/i);
    } finally {
      sim.cameras.forEach((c) => c.setFaults([]));
      await Promise.all(cameras.map((c) => c.stop()));
    }
    assert.ok(lines.some((l) => l.startsWith('debug ')), 'debug lines were captured');
    assertClean('plugin log', lines);
  });

  it('snapshots: digest and basic logins, a wrong one, and a camera redirecting to a URL with the password in it', async () => {
    const snapLines: string[] = [];
    const camLog = new CameraLog(homebridgeLog(snapLines), 'Snap');
    const redirect = http.createServer((_req, res) => {
      res.writeHead(302, { Location: `http://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:1/snap.jpg?pwd=${encodeURIComponent(PASSWORD)}` });
      res.end();
    });
    await new Promise<void>((r) => redirect.listen(0, '127.0.0.1', r));
    try {
      for (const [i, password] of [[0, PASSWORD], [1, PASSWORD], [0, `${PASSWORD}-wrong`]] as const) {
        const device = new OnvifDevice({ host: sim.cameras[i].host, port: sim.cameras[i].port, username: USER, password: PASSWORD });
        await device.connect();
        const token = (await device.getProfiles())[0].token;
        const snapshots = new Snapshots({ log: camLog, ffmpegPath: 'ffmpeg', username: USER, password,
          snapshotUri: (s) => device.getSnapshotUri(token, s), keyframe: async () => undefined });
        await snapshots.snapshot(320, 180).catch((err: Error) => camLog.error(err.message));
        await snapshots.close();
      }
      const port = (redirect.address() as AddressInfo).port;
      const redirected = new Snapshots({ log: camLog, ffmpegPath: undefined, username: USER, password: PASSWORD,
        snapshotUri: async () => `http://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/snap.jpg`, keyframe: async () => undefined });
      await redirected.snapshot(320, 180).catch((err: Error) => camLog.error(err.message));
      await redirected.close();
    } finally {
      redirect.closeAllConnections();
      redirect.close();
    }
    assert.ok(snapLines.some((l) => /HTTP 302/.test(l)), snapLines.join('\n'));
    assertClean('snapshot log', snapLines);
  });

  it('ffmpeg: a credentialed RTSP URL that fails, in the command line and in ffmpeg\'s own error text', async () => {
    const ffLines: string[] = [];
    const camLog = new CameraLog(homebridgeLog(ffLines), 'Ffmpeg');
    const url = withCredentials(`rtsp://127.0.0.1:${await closedPort()}/Streaming/Channels/101`, USER, PASSWORD);
    await new FfmpegProcess('ffmpeg', ['-hide_banner', '-rtsp_transport', 'tcp', '-i', url, '-f', 'null', '-'], camLog, 'main source').wait();
    assert.ok(ffLines.some((l) => /^error Ffmpeg: main source: ffmpeg ended with code 1/.test(l)), ffLines.join('\n'));
    assert.ok(ffLines.some((l) => /rtsp:\/\/admin:\*\*\*@127\.0\.0\.1/.test(l)), 'the URL is shown, redacted');
    assertClean('ffmpeg log', ffLines);
  });

  it('push events: subscribe, Notify, renew and unsubscribe', async () => {
    const pushLines: string[] = [];
    const camLog = new CameraLog(homebridgeLog(pushLines), 'Push');
    const receiver = new NotificationReceiver(camLog);
    await receiver.listen(0, '127.0.0.1');
    const device = new OnvifDevice({ host: sim.cameras[0].host, port: sim.cameras[0].port, username: USER, password: PASSWORD });
    await device.connect();
    const push = new PushEvents(device, receiver, camLog, { random: () => 0.5, renewIntervalMs: 300 });
    try {
      const subscribed = nextEvent(push, 'subscribed');
      push.start();
      await subscribed;
      await nextEvent(push, 'renewed');
    } finally {
      await push.stop();
      await receiver.close();
    }
    assertClean('push log', pushLines);
  });

  describe('the CLI (dist/cli.js, as users run it)', () => {
    let storage: string;
    before(() => {
      assert.ok(existsSync(BIN), `${BIN} is missing: run npx tsc -p tsconfig.build.json`);
      storage = mkdtempSync(path.join(tmpdir(), 'courtyard-secrets-'));
    });
    after(() => rmSync(storage, { recursive: true, force: true }));

    /** One run of the bin, bounded; stdout and stderr as lines. */
    const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> => new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000, killSignal: 'SIGKILL' },
        (_err, stdout, stderr) => resolve([...stdout.split('\n'), ...stderr.split('\n')].filter(Boolean)));
    });

    it('probe (text and JSON, events, wrong password, unreachable), discover with a login, events', async () => {
      const out: string[] = [];
      const probe = (i: number, extra: string[] = [], password = PASSWORD): Promise<string[]> =>
        run(['probe', '--host', '127.0.0.1', '--port', String(sim.cameras[i].port), '--user', USER, '--password', password, '--no-video', ...extra]);
      setTimeout(() => sim.cameras[0].motion(true), 1_500);
      out.push(...await probe(0, ['--events', '3']));
      out.push(...await probe(1, ['--json', '--events', '0']));
      out.push(...await probe(2, ['--events', '0'], `${PASSWORD}-wrong`));
      out.push(...await run(['probe', '--host', '127.0.0.1', '--port', String(await closedPort()), '--user', USER, '--events', '0'],
        { [PASSWORD_ENV]: PASSWORD }));
      out.push(...await run(['probe', '--host', `${USER}:${PASSWORD}@127.0.0.1`, '--user', USER, '--password', PASSWORD]));
      out.push(...await run(['discover', '--timeout', '1', '--target', `127.0.0.1:${responder.port}`, '--user', USER, '--password', PASSWORD]));
      out.push(...await run(['discover', '--timeout', '1', '--target', `127.0.0.1:${responder.port}`, '--user', USER, '--password',
        `${PASSWORD}-wrong`, '--json']));
      out.push(...await run(['events', '--storage', storage]));
      assert.ok(out.some((l) => /Wsse|HIKVISION/i.test(l)), out.join('\n'));
      assertClean('CLI output', out);
    });
  });
});
