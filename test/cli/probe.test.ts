import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { BUILTIN_JPEG } from '../../tools/camera-sim/snapshot';
import { ProbeArgs } from '../../src/cli/args';
import { EXIT_AUTH, EXIT_FAILED, EXIT_OK } from '../../src/cli/output';
import { ProbeReport, runProbe } from '../../src/cli/probe';
import { capture, closedPort } from './helpers';

const PASSWORD = 'Probe-Secret-71';
const TWO_HOURS_MS = 2 * 3600_000;

describe('cli probe against the simulator', function () {
  this.timeout(60_000);
  let sim: CameraSim;
  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        { name: 'Hik', vendor: 'hikvision', password: PASSWORD },
        { name: 'Dahua', vendor: 'dahua', password: PASSWORD, clockSkewMs: TWO_HOURS_MS },
        { name: 'Axis', vendor: 'axis', password: PASSWORD, snapshotAuth: 'basic' },
      ],
    });
  });
  after(() => sim.stop());

  const argsFor = (i: number, extra: Partial<ProbeArgs> = {}): ProbeArgs => ({
    command: 'probe', host: '127.0.0.1', port: sim.cameras[i].port, username: 'admin', password: PASSWORD,
    eventsS: 0, video: false, json: false, ...extra,
  });

  /** Nothing printed needed redacting: the password was never even handed to the output. */
  const assertNoPassword = (text: string): void => {
    assert.ok(!text.includes(PASSWORD), 'password printed');
    assert.ok(!text.includes('***'), 'something had to be redacted');
  };

  it('prints device, profiles, URIs and a snapshot fetched through HTTP Digest', async () => {
    const cam = sim.cameras[0];
    const failuresBefore = cam.stats().authFailures;
    const out = capture();
    const code = await runProbe(argsFor(0), out);
    assert.equal(code, EXIT_OK, out.text());
    assert.deepEqual(out.errors, []);
    const has = (re: RegExp): void => assert.ok(out.lines.some((l) => re.test(l)), `no line matches ${re}\n${out.text()}`);
    has(new RegExp(`^Camera +HIKVISION DS-2CD2347G2-LU at 127\\.0\\.0\\.1:${cam.port}$`));
    has(/^Firmware +V5\.7\.3 build 220112$/);
    has(new RegExp(`^Serial +${cam.info.serial}, hardware 88$`));
    has(/^Clock +camera \d\.\d s (ahead of|behind) this computer$/);
    has(/^Profiles +2$/);
    has(/^ {2}Profile_1 "mainStream": H264 1920x1080 @ 15 fps, 2000 kbps, keyframe every 60 frames \(4\.0 s\), H\.264 Main, audio AAC 16 kHz 32 kbps$/);
    has(/^ {2}Profile_2 "subStream": H264 640x360 @ 15 fps, 400 kbps, keyframe every 60 frames/);
    has(/^ {4}stream +rtsp:\/\/127\.0\.0\.1:8554\/cam1\/main$/);
    has(/^ {4}stream +rtsp:\/\/127\.0\.0\.1:8554\/cam1\/sub$/);
    has(new RegExp(`^ {4}snapshot +http://127\\.0\\.0\\.1:${cam.port}/onvif-http/snapshot\\?Profile_1$`));
    has(new RegExp(`^ {4}snapshot +http://127\\.0\\.0\\.1:${cam.port}/onvif-http/snapshot\\?Profile_2$`));
    has(new RegExp(`^Snapshot +${BUILTIN_JPEG.length} bytes, JPEG 64x36, from Profile_1 \\(Digest auth, \\d+ ms\\)$`));
    assert.ok(!out.lines.some((l) => /WARNING|transcoded/.test(l)), out.text());
    // The first GET went without credentials and was challenged; the answer to the challenge was accepted.
    assert.equal(cam.stats().authFailures, failuresBefore);
    assertNoPassword(out.text());
  });

  it('answers a Basic challenge too', async () => {
    const out = capture();
    assert.equal(await runProbe(argsFor(2), out), EXIT_OK, out.text());
    assert.ok(out.lines.some((l) => /^Snapshot +\d+ bytes, JPEG 64x36, from profile_1_h264 \(Basic auth/.test(l)), out.text());
    assertNoPassword(out.text());
  });

  it('prints injected motion events with their meaning, then stops and unsubscribes', async () => {
    const cam = sim.cameras[0];
    const out = capture();
    const stop = new AbortController();
    const seen = { on: 0, off: 0 };
    out.onLine = (l) => {
      if (/^Events +subscribed/.test(l)) {
        cam.motion(true);
      } else if (/^\d\d:\d\d:\d\d motion on +tns1:RuleEngine\/CellMotionDetector\/Motion \(.*Rule=MyMotionDetectorRule\)$/.test(l)) {
        seen.on++;
        cam.motion(false);
      } else if (/^\d\d:\d\d:\d\d motion off +tns1:RuleEngine\/CellMotionDetector\/Motion \(.*\)$/.test(l)) {
        seen.off++;
        stop.abort(); // like Ctrl-C: end the listening early
      }
    };
    const code = await runProbe(argsFor(0, { eventsS: 60 }), out, stop.signal);
    assert.equal(code, EXIT_OK, out.text());
    assert.deepEqual(seen, { on: 1, off: 1 }, out.text());
    const motionLines = out.lines.filter((l) => /^\d\d:\d\d:\d\d motion (on|off)/.test(l) && !l.endsWith('[state at subscription]'));
    // Both topics of the Hikvision motion action, on then off, with the video source named.
    assert.deepEqual(motionLines.map((l) => l.replace(/^\S+ /, '').replace(/ \(.*$/, '')), [
      'motion on  tns1:RuleEngine/CellMotionDetector/Motion', 'motion on  tns1:VideoSource/MotionAlarm',
      'motion off tns1:RuleEngine/CellMotionDetector/Motion', 'motion off tns1:VideoSource/MotionAlarm',
    ]);
    assert.ok(motionLines[0].includes('(VideoSourceConfigurationToken=VideoSourceToken, '), motionLines[0]);
    // States reported at subscription are marked as such.
    assert.ok(out.lines.some((l) => /^\d\d:\d\d:\d\d input off +tns1:Device\/Trigger\/DigitalInput \(InputToken=AlarmIn_1\) \[state at subscription\]$/.test(l)));
    assert.ok(out.lines.some((l) => /^Events +\d+ notifications$/.test(l)));
    assert.equal(cam.stats().subscriptions, 0, 'unsubscribed on the way out');
    assertNoPassword(out.text());
  });

  it('warns about a camera clock two hours off and still authenticates', async () => {
    const out = capture();
    assert.equal(await runProbe(argsFor(1), out), EXIT_OK, out.text());
    assert.ok(out.lines.includes('Clock       camera 2 h 0 min ahead of this computer'), out.text());
    assert.ok(out.lines.some((l) => /^ +WARNING: camera clock is 2 h 0 min ahead of this computer: .*NTP/.test(l)), out.text());
  });

  it('fails a wrong password with exit code 2 and one line naming the clock offset', async () => {
    const out = capture();
    const code = await runProbe(argsFor(1, { password: 'wrong-password' }), out);
    assert.equal(code, EXIT_AUTH);
    assert.deepEqual(out.lines, []);
    assert.deepEqual(out.errors, ['authentication failed: check the username and password (camera clock 2 h 0 min off)']);
  });

  it('fails a wrong password without the clock note when the clock is right', async () => {
    const out = capture();
    assert.equal(await runProbe(argsFor(0, { password: 'wrong-password' }), out), EXIT_AUTH);
    assert.deepEqual(out.errors, ['authentication failed: check the username and password']);
  });

  it('fails an unreachable port with exit code 1 and one line, without retrying', async () => {
    const port = await closedPort();
    const out = capture();
    const code = await runProbe({ ...argsFor(0), port }, out);
    assert.equal(code, EXIT_FAILED);
    assert.deepEqual(out.lines, []);
    assert.equal(out.errors.length, 1);
    assert.match(out.errors[0], new RegExp(`^camera at 127\\.0\\.0\\.1:${port} unreachable: connection refused`));
  });

  it('prints one JSON document with --json, errors included', async () => {
    const out = capture();
    assert.equal(await runProbe(argsFor(0, { json: true }), out), EXIT_OK);
    const report = JSON.parse(out.lines.join('\n')) as ProbeReport;
    assert.equal(report.device?.serial, sim.cameras[0].info.serial);
    assert.deepEqual(report.profiles?.map((p) => [p.token, p.encoding, p.width, p.height, p.transcode]),
      [['Profile_1', 'H264', 1920, 1080, false], ['Profile_2', 'H264', 640, 360, false]]);
    assert.equal(report.profiles?.[0].streamUri, 'rtsp://127.0.0.1:8554/cam1/main');
    assert.deepEqual([report.snapshot?.bytes, report.snapshot?.width, report.snapshot?.height, report.snapshot?.auth],
      [BUILTIN_JPEG.length, 64, 36, 'digest']);
    assertNoPassword(out.text());

    const bad = capture();
    assert.equal(await runProbe(argsFor(0, { json: true, password: 'wrong-password' }), bad), EXIT_AUTH);
    const failed = JSON.parse(bad.lines.join('\n')) as ProbeReport;
    assert.deepEqual(failed.error, { kind: 'auth', message: 'authentication failed: check the username and password' });
  });
});
