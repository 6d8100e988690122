import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { textAt } from '../../../src/onvif/xml';
import { soap } from './soap-client';

const CLI = path.resolve(__dirname, '../../../tools/camera-sim/cli.js');

interface CameraLine { name: string; vendor: string; deviceUrl: string; username: string; password: string; serial: string }

/** Runs the CLI until it prints `ready`; the child is killed if anything goes wrong. */
function startCli(args: string[]): Promise<{ child: ChildProcess; cameras: CameraLine[] }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (e: Error): void => {
      child.kill('SIGKILL');
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`cli not ready: ${out} ${err}`)), 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cli exited early (${code}): ${err}`));
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      if (lines.includes('ready')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, cameras: lines.slice(0, lines.indexOf('ready')).map((l) => JSON.parse(l) as CameraLine) });
      }
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
    } else {
      child.once('exit', (code) => resolve(code));
    }
  });
}

describe('camera-sim: CLI', function () {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
    }
  });

  it('prints one JSON line per camera, serves them, and exits 0 on SIGTERM', async () => {
    const started = await startCli(['--cameras', '3', '--vendor', 'mixed', '--no-media', '--skew-ms', '0']);
    child = started.child;
    assert.deepEqual(started.cameras.map((c) => c.vendor), ['hikvision', 'dahua', 'axis']);
    const second = started.cameras[1];
    assert.match(second.deviceUrl, /^http:\/\/127\.0\.0\.1:\d+\/onvif\/device_service$/);
    const { securityHeader } = await import('../../../src/onvif/wsse');
    const res = await soap(second.deviceUrl, '', { rawEnvelope: '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
      'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Header>' + securityHeader(second.username, second.password, 0) +
      '</s:Header><s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>' });
    assert.equal(textAt(res.payload, 'SerialNumber'), second.serial);
    child.kill('SIGTERM');
    assert.equal(await exitOf(child), 0);
  });
});
