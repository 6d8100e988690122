// One camera's life with a camera whose media service fails at first: events still come up, the failure is said once
// with the retry, and live view is added to the accessory when the camera answers.
import assert from 'node:assert/strict';
import * as hap from 'hap-nodejs';
import type { HAP, Logging, PlatformAccessory } from 'homebridge';
import sinon from 'sinon';
import { AccessoryHost, CourtyardCamera } from '../src/camera';
import { parseConfig } from '../src/config';
import { CameraMedia } from '../src/media/camera-media';
import type { SourceOptions } from '../src/media/source';
import { CameraLog } from '../src/util/log';
import { OnvifDevice } from '../src/onvif/device';
import { CameraSim } from '../tools/camera-sim';
import { until } from './e2e/rig/wait';

const PASSWORD = 'Camera-Life-93';

describe('CourtyardCamera', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  let camera: CourtyardCamera | undefined;
  before(async () => {
    sim = await CameraSim.start({ cameras: [{ name: 'Gate', vendor: 'generic', password: PASSWORD }] });
  });
  afterEach(async () => {
    sinon.restore();
    await camera?.stop();
  });
  after(() => sim.stop());

  it('retries a media service that failed at start-up and adds live view to the published accessory', async () => {
    const profiles = sinon.stub(OnvifDevice.prototype, 'getProfiles');
    profiles.onFirstCall().rejects(new Error('the camera is still starting its media service'));
    profiles.callThrough();
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`),
      error: (m: string) => lines.push(`error ${m}`), debug: (m: string) => lines.push(`debug ${m}`) } as unknown as Logging;
    const h = hap as unknown as HAP;
    let accessory: hap.Accessory | undefined;
    const host: AccessoryHost = {
      hap: h, videoEncoder: 'libx264', history: () => undefined, notificationReceiver: () => undefined,
      cachedAccessory: () => undefined,
      rememberMedia: () => undefined,
      accessoryFor: (_c, id) => (accessory = new hap.Accessory('Gate', hap.uuid.generate(id))) as unknown as PlatformAccessory,
    };
    const cam = sim.cameras[0];
    const config = parseConfig({ cameras: [{ name: 'Gate', host: cam.host, port: cam.port, username: 'admin', password: PASSWORD }] }).config.cameras[0];
    camera = new CourtyardCamera(host, config, log, { path: 'ffmpeg', source: 'PATH', problems: [] });
    camera.start();

    // Real time: the retry waits CONNECT_RETRY_MIN_MS (5 s ± 20 %) while real requests go to the simulator.
    const line = (what: RegExp): Promise<void> =>
      until(() => lines.some((l) => what.test(l)), () => `${what} in ${lines.join('\n')}`, 15_000, 100);
    await line(/^info Gate: connected .* and published in Home$/);
    assert.ok(lines.some((l) => /^error Gate: no live view yet: the camera is still starting its media service; motion and doorbell events work; trying again in \d+ s$/.test(l)));
    assert.equal(accessory?.getService(hap.Service.CameraRTPStreamManagement), undefined, 'no camera before media');
    assert.ok(accessory?.getService(hap.Service.MotionSensor), 'the motion sensor is there at once');
    await line(/^info Gate: live view ready$/);
    assert.ok(accessory?.getService(hap.Service.CameraRTPStreamManagement), 'live view added');
    assert.ok(accessory?.getService(hap.Service.CameraRecordingManagement), 'HKSV added');
    assert.equal(lines.filter((l) => /no live view yet/.test(l) && l.startsWith('error')).length, 1, 'said once');
  });

  it('a camera that faults GetDeviceInformation is still set up, identified by its MAC address, and says so', async () => {
    const cam = sim.cameras[0];
    cam.setFaults(['GetDeviceInformation']);
    try {
      const lines: string[] = [];
      const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`),
        error: (m: string) => lines.push(`error ${m}`), debug: (m: string) => lines.push(`debug ${m}`) } as unknown as Logging;
      let published: { id: string; manufacturer: string } | undefined;
      const host: AccessoryHost = {
        hap: hap as unknown as HAP, videoEncoder: 'libx264', history: () => undefined, notificationReceiver: () => undefined,
        cachedAccessory: () => undefined, rememberMedia: () => undefined,
        accessoryFor: (_c, id, info) => {
          published = { id, manufacturer: info.manufacturer };
          return new hap.Accessory('Gate', hap.uuid.generate(id)) as unknown as PlatformAccessory;
        },
      };
      const config = parseConfig({ cameras: [{ name: 'Gate', host: cam.host, port: cam.port, username: 'admin', password: PASSWORD }] }).config.cameras[0];
      camera = new CourtyardCamera(host, config, log, { path: undefined, source: 'PATH', problems: [] });
      camera.start();
      await until(() => lines.some((l) => /^info Gate: connected .* and published in Home$/.test(l)), () => lines.join('\n'), 15_000, 100);
      const mac = await new OnvifDevice({ host: cam.host, port: cam.port, username: 'admin', password: PASSWORD }).getMacAddress();
      assert.ok(mac, 'the simulator reports a MAC address');
      assert.deepEqual(published, { id: mac, manufacturer: '' }, 'identified by its MAC address');
      assert.ok(lines.some((l) => /^warn Gate: the camera refused GetDeviceInformation \(.+\); using its MAC address as its identity/.test(l)), lines.join('\n'));
    } finally {
      cam.setFaults([]);
    }
  });
});

describe('CameraMedia streamReader', () => {
  it('has every stream of a camera set to "ffmpeg" read with ffmpeg, and in the plugin otherwise', async () => {
    const profile = { token: 'p0', name: 'main', encoding: 'H264', width: 1920, height: 1080, isH265: false };
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logging;
    const readInPlugin = async (streamReader?: string): Promise<(boolean | undefined)[]> => {
      const config = parseConfig({ cameras: [{ name: 'Gate', host: '127.0.0.1', streamReader }] }).config.cameras[0];
      const media = CameraMedia.create(hap as unknown as HAP, {} as OnvifDevice, config, new CameraLog(quiet, 'Gate'), 'ffmpeg', 'libx264',
        [{ name: 'main', profile, uri: 'rtsp://127.0.0.1:9/main' }, { name: 'sub', profile: { ...profile, token: 'p1', width: 640, height: 360 },
          uri: 'rtsp://127.0.0.1:9/sub' }], new Set());
      try {
        return media.streams.map((s) => (s.source as unknown as { options: SourceOptions }).options.readInPlugin);
      } finally {
        await media.stop();
      }
    };
    assert.deepEqual(await readInPlugin('ffmpeg'), [false, false]);
    assert.deepEqual(await readInPlugin(undefined), [true, true]);
    assert.deepEqual(await readInPlugin('plugin'), [true, true]);
  });
});
