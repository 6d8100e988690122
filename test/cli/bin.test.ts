// The package's bin as users run it: the compiled dist/cli.js in its own process (build with tsconfig.build.json first).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CameraSim } from '../../tools/camera-sim';
import { PASSWORD_ENV } from '../../src/cli/args';
import { closedPort } from './helpers';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'dist', 'cli.js');
const PASSWORD = 'Bin-Secret-42';
/** Bound on one run of the bin: it is killed after this, so a hang fails the test instead of holding the run. */
const RUN_BOUND_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv = { ...process.env, ...env };
    if (!(PASSWORD_ENV in env)) {
      delete childEnv[PASSWORD_ENV];
    }
    execFile(process.execPath, [BIN, ...args], { env: childEnv, timeout: RUN_BOUND_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cli bin (dist/cli.js)', function () {
  this.timeout(60_000);
  let sim: CameraSim;
  before(async function () {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npx tsc -p tsconfig.build.json`);
    sim = await CameraSim.start({ media: false, cameras: [{ name: 'Bin', vendor: 'generic', password: PASSWORD }] });
  });
  after(() => sim?.stop());

  it('is the package bin and starts with a node shebang', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin['homebridge-courtyard'], 'dist/cli.js');
    assert.match(readFileSync(BIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  it('probes a camera and exits 0, the password nowhere in the output', async () => {
    const cam = sim.cameras[0];
    const run = await runBin(['probe', '--host', '127.0.0.1', '--port', String(cam.port), '--user', 'admin', '--password', PASSWORD, '--events', '0', '--no-video']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Camera +Generic ONVIF Camera at 127\.0\.0\.1:\d+$/m);
    assert.match(run.stdout, /^ {2}profile_main "Main": H264 1920x1080/m);
    assert.match(run.stdout, /^Snapshot +\d+ bytes, JPEG 64x36, from profile_main \(Digest auth/m);
    assert.equal(run.stderr, '');
    assert.ok(!`${run.stdout}${run.stderr}`.includes(PASSWORD));
  });

  it('listens for events, then unsubscribes and exits by itself', async () => {
    const cam = sim.cameras[0];
    const run = await runBin(['probe', '--host', '127.0.0.1', '--port', String(cam.port), '--user', 'admin', '--password', PASSWORD, '--events', '1', '--no-video']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Events +subscribed; listening for 1 s/m);
    assert.match(run.stdout, /^\d\d:\d\d:\d\d motion off +tns1:VideoSource\/MotionAlarm \(Source=VideoSource_1\) \[state at subscription\]$/m);
    assert.equal(cam.stats().subscriptions, 0);
  });

  it('ends the listening on Ctrl-C (SIGINT), unsubscribes and exits 0', async () => {
    const cam = sim.cameras[0];
    const child = spawn(process.execPath, [BIN, 'probe', '--host', '127.0.0.1', '--port', String(cam.port), '--user', 'admin',
      '--password', PASSWORD, '--events', '600', '--no-video'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const bound = setTimeout(() => child.kill('SIGKILL'), RUN_BOUND_MS);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/^Events +subscribed/m.test(stdout) && !child.killed) {
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(bound);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^Events +\d+ notifications$/m);
    assert.equal(cam.stats().subscriptions, 0);
  });

  it('takes the password from the environment', async () => {
    const cam = sim.cameras[0];
    const run = await runBin(['probe', '--host', '127.0.0.1', '--port', String(cam.port), '--user', 'admin', '--events', '0', '--no-video', '--json'],
      { [PASSWORD_ENV]: PASSWORD });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { device: { serial: string } }).device.serial, cam.info.serial);
  });

  it('exits 2 with one line for a wrong password, 1 for an unreachable camera and for a usage error', async () => {
    const cam = sim.cameras[0];
    const auth = await runBin(['probe', '--host', '127.0.0.1', '--port', String(cam.port), '--user', 'admin', '--password', 'not-it']);
    assert.deepEqual([auth.code, auth.stdout, auth.stderr], [2, '', 'authentication failed: check the username and password\n']);

    const port = await closedPort();
    const down = await runBin(['probe', '--host', '127.0.0.1', '--port', String(port), '--user', 'admin', '--password', PASSWORD]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`^camera at 127\\.0\\.0\\.1:${port} unreachable: connection refused .*\n$`));

    const usage = await runBin(['probe', '--host', '127.0.0.1']);
    assert.equal(usage.code, 1);
    assert.equal(usage.stderr, 'probe needs --user (see homebridge-courtyard --help)\n');
  });

  it('prints the usage for --help and exits 0', async () => {
    const run = await runBin(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage:\n {2}homebridge-courtyard probe --host HOST/);
  });
});
