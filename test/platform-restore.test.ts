// A Homebridge restart, as the platform lives through it: Homebridge hands back the cached camera accessories, emits
// didFinishLaunching and publishes the bridge in the same turn, without waiting for anything asynchronous. A camera
// Home already has must have its camera controller by then: the soak (bench/soak.ts) found that a hub reconnecting
// right after a restart got no answer to its data stream setup ("SetupDataStreamTransport gave no write response")
// because the controller was added only after ffmpeg's encoder list and the event history had been read.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hap from 'hap-nodejs';
import type { API, Logging, PlatformAccessory, PlatformConfig } from 'homebridge';
import sinon from 'sinon';
import type { KnownStream } from '../src/media/camera-media';
import { CourtyardPlatform } from '../src/platform';

const PASSWORD = 'Restore-Pass-5519';

function knownStreams(port: number): KnownStream[] {
  const profile = (token: string, width: number, height: number) => ({
    token, name: token, encoding: 'H264', width, height, fps: 15, bitrateKbps: 2000, govLength: 60, h264Profile: 'Main',
    audio: { encoding: 'AAC', sampleRateHz: 16000 }, isH265: false,
  });
  return [
    { name: 'main', profile: profile('main', 1920, 1080), uri: `rtsp://127.0.0.1:${port}/main` },
    { name: 'sub', profile: profile('sub', 640, 360), uri: `rtsp://127.0.0.1:${port}/sub` },
  ];
}

describe('CourtyardPlatform after a restart', function () {
  this.timeout(20_000);
  let dir: string;
  let closed: Server;
  let port: number;
  let api: EventEmitter | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'courtyard-restore-'));
    // A camera that is still booting: its port refuses, so nothing but the restore can add the controller.
    closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    api?.emit('shutdown');
    sinon.restore();
    await new Promise((resolve) => setTimeout(resolve, 200));
  });

  it('puts a camera Home already has back with its camera controller before Homebridge publishes the bridge', () => {
    api = Object.assign(new EventEmitter(), {
      hap,
      user: { storagePath: () => dir },
      platformAccessory: hap.Accessory,
      registerPlatformAccessories: () => undefined,
      updatePlatformAccessories: () => undefined,
      unregisterPlatformAccessories: () => undefined,
    });
    const lines: string[] = [];
    const log = Object.assign((m: string) => lines.push(m), {
      info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`),
      error: (m: string) => lines.push(`error ${m}`), debug: (m: string) => lines.push(`debug ${m}`), log: () => undefined,
    }) as unknown as Logging;
    const config = { platform: 'Courtyard', name: 'Courtyard', videoProcessor: 'ffmpeg',
      cameras: [{ name: 'Gate', host: '127.0.0.1', port, username: 'admin', password: PASSWORD }] } as unknown as PlatformConfig;
    const platform = new CourtyardPlatform(log, config, api as unknown as API);

    // What Homebridge's cache gives back: the accessory with the context the plugin stored in the last run.
    const accessory = new hap.Accessory('Gate', hap.uuid.generate('homebridge-courtyard:GATE-SERIAL'));
    (accessory as unknown as { context: unknown }).context = { id: 'GATE-SERIAL', name: 'Gate', address: `127.0.0.1:${port}`, media: knownStreams(8554) };
    const configureController = sinon.spy(accessory, 'configureController');
    platform.configureAccessory(accessory as unknown as PlatformAccessory);

    api.emit('didFinishLaunching');
    // Homebridge publishes the bridge now, in this same turn: the camera must be whole already.
    assert.equal(configureController.callCount, 1, `the camera controller is configured before the bridge is published; log:\n${lines.join('\n')}`);
    assert.ok(accessory.getService(hap.Service.CameraRecordingManagement), 'HKSV is there');
    assert.ok(accessory.getService(hap.Service.CameraRTPStreamManagement), 'live view is there');
    assert.ok(accessory.getService(hap.Service.MotionSensor), 'the motion sensor is there');
  });
});
