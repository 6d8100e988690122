// The settings page's "Check a camera" against the simulator: verdicts from the plugin's own probe, and one sentence per
// failure that names what to fix.
import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { UiError } from '../../src/ui/bounded';
import { CheckAnswer, checkCamera, fatalSentence, snapshotOf, streamVerdicts } from '../../src/ui/check';
import { closedPort } from '../cli/helpers';

const PASSWORD = 'Ui-Check-Secret-93';
const TWO_HOURS_MS = 2 * 3600_000;
const signal = (): AbortSignal => AbortSignal.timeout(50_000);

/** The check's answer or error, as the page would receive it, never holds the password. */
function assertNoPassword(value: unknown): void {
  const text = value instanceof Error ? value.message : JSON.stringify(value);
  assert.ok(!text.includes(PASSWORD), `password in ${text}`);
}

async function rejection(p: Promise<unknown>): Promise<UiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof UiError, `not a UiError: ${String(err)}`);
    assertNoPassword(err);
    return err;
  }
  throw new Error('expected a rejection');
}

describe('settings page: check a camera', function () {
  this.timeout(90_000);

  describe('with video (simulated RTSP)', () => {
    let sim: CameraSim;
    before(async () => {
      sim = await CameraSim.start({ cameras: [{ name: 'Gate', vendor: 'hikvision', password: PASSWORD }] });
    });
    after(() => sim?.stop());

    it('reports device, clock, profiles, copy verdicts for live view and recording, event kinds and the snapshot', async () => {
      const cam = sim.cameras[0];
      const answer: CheckAnswer = await checkCamera({ name: 'Gate', host: '127.0.0.1', port: cam.port, username: 'admin', password: PASSWORD },
        { video: true }, signal());
      assertNoPassword(answer);
      assert.equal(answer.verdict, 'ok', JSON.stringify(answer.findings));
      assert.deepEqual(answer.device, { manufacturer: 'HIKVISION', model: 'DS-2CD2347G2-LU', firmware: 'V5.7.3 build 220112', serial: cam.info.serial });
      assert.equal(answer.camera.address, `127.0.0.1:${cam.port}`);
      assert.ok(answer.clock.known && Math.abs(answer.clock.offsetMs) < 2000 && !answer.clock.fix, JSON.stringify(answer.clock));
      assert.deepEqual(answer.profiles.map((p) => [p.token, p.transcode]), [['Profile_1', false], ['Profile_2', false]]);
      assert.match(answer.profiles[0].summary, /^H264 1920x1080 @ 15 fps/);
      assert.deepEqual(answer.streams.map((s) => [s.stream, s.live?.copy, s.recording?.copy]), [['main', true, true], ['sub', true, true]]);
      assert.equal(answer.streams[0].live?.text, 'copied as the camera sends it');
      assert.match(answer.streams[0].summary ?? '', /^h264 1920x1080 15 fps, keyframe every 4\.0 s/);
      assert.ok(answer.events.service);
      for (const kind of ['motion', 'input']) {
        assert.ok(answer.events.kinds.includes(kind as never), `${kind} not offered: ${answer.events.kinds.join(', ')}`);
      }
      assert.deepEqual(answer.snapshot && { ok: answer.snapshot.ok, auth: answer.snapshot.auth }, { ok: true, auth: 'digest' });
    });

    it('fetches a live snapshot as an image the page can show', async () => {
      const cam = sim.cameras[0];
      const snap = await snapshotOf({ name: 'Gate', host: '127.0.0.1', port: cam.port, username: 'admin', password: PASSWORD }, signal());
      assert.match(snap.dataUrl, /^data:image\/jpeg;base64,\/9j\//);
      assert.ok((snap.width ?? 0) > 0 && (snap.height ?? 0) > 0);
    });
  });

  describe('failures, each one sentence saying what to fix', () => {
    let sim: CameraSim;
    before(async () => {
      sim = await CameraSim.start({ media: false, cameras: [
        { name: 'Skewed', vendor: 'dahua', password: PASSWORD, clockSkewMs: TWO_HOURS_MS },
      ] });
    });
    after(() => sim?.stop());
    const entry = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ name: 'Skewed', host: '127.0.0.1', port: sim.cameras[0].port, username: 'admin', password: PASSWORD, ...extra });

    it('a wrong password says which user was refused, and that the clock is off too', async () => {
      const err = await rejection(checkCamera(entry({ password: 'not-the-password' }), { video: false }, signal()));
      assert.equal(err.detail.kind, 'auth');
      assert.match(err.message, /^The camera at 127\.0\.0\.1:\d+ refused the user "admin" and its password: check the username and password/);
      assert.match(err.message, /clock is also 2 h 0 min off.*turn on NTP/);
    });

    it('a port nothing listens on names the ONVIF port and ONVIF being on', async () => {
      const port = await closedPort();
      const err = await rejection(checkCamera(entry({ port }), { video: false }, signal()));
      assert.equal(err.message, `Nothing accepts connections on port ${port} of 127.0.0.1: check the ONVIF port (80 on most cameras, ` +
        '8000 on many Reolink, 2020 on TP-Link Tapo), and that ONVIF is turned on in the camera.');
    });

    it('a URL typed as the address is refused with the config\'s own message', async () => {
      const err = await rejection(checkCamera(entry({ host: 'http://127.0.0.1/onvif' }), { video: false }, signal()));
      assert.equal(err.detail.field, true);
      assert.match(err.message, /^Camera "Skewed": "host" must be only the camera's address/);
    });

    it('a clock two hours off still checks, with the fix as a warning', async () => {
      const answer = await checkCamera(entry(), { video: false }, signal());
      assertNoPassword(answer);
      assert.equal(answer.verdict, 'warning');
      assert.equal(answer.clock.text, '2 h 0 min ahead of the Homebridge server');
      assert.match(answer.clock.fix ?? '', /Turn on NTP/);
      assert.ok(answer.findings.some((f) => f.level === 'warning' && /clock is 2 h 0 min off/.test(f.text)), JSON.stringify(answer.findings));
      assert.deepEqual(answer.streams, [], 'no video check asked for');
    });
  });

  describe('wording', () => {
    it('a stream that must be transcoded names the camera setting to change', () => {
      const [v] = streamVerdicts([{ stream: 'main', live: { copy: true }, recording: { copy: false,
        reason: 'the camera\'s keyframe interval is 2.0 s, the hub needs 4 s; set the camera\'s I-frame interval (GOP) to 60 frames' } }]);
      assert.equal(v.recording?.text, 'transcoded: the camera\'s keyframe interval is 2.0 s, the hub needs 4 s; set the camera\'s ' +
        'I-frame interval (GOP) to 60 frames');
      assert.equal(v.live?.text, 'copied as the camera sends it');
    });

    it('an HTTP server that is not ONVIF, and a camera that times out, get their own sentences', () => {
      const cam = { host: '192.168.1.20', port: 80, username: 'onvif' };
      assert.match(fatalSentence({ error: { kind: 'http', message: 'GetCapabilities failed: answered HTTP 404' } }, cam),
        /^Something answers at 192\.168\.1\.20:80, but not as an ONVIF camera: check the ONVIF port .* turn on ONVIF/);
      assert.match(fatalSentence({ error: { kind: 'timeout', message: 'did not answer' } }, cam),
        /^The camera at 192\.168\.1\.20:80 did not answer in time: check its address and the ONVIF port/);
    });
  });
});
