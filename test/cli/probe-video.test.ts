// probe reads the camera's streams as the plugin would and says whether live view and recording copy or transcode.
import assert from 'node:assert/strict';
import { CameraSim } from '../../tools/camera-sim';
import { runProbe, ProbeReport } from '../../src/cli/probe';
import { capture } from './helpers';

const PASSWORD = 'Probe-Video-55';

describe('cli probe: video', function () {
  this.timeout(60_000);
  let sim: CameraSim;
  before(async () => {
    sim = await CameraSim.start({ cameras: [{ name: 'Gate', vendor: 'hikvision', password: PASSWORD }] });
  });
  after(() => sim.stop());

  it('says the simulated camera\'s H.264 is copied for live view and recording, with the measured stream facts', async () => {
    const out = capture();
    const code = await runProbe({ command: 'probe', host: '127.0.0.1', port: sim.cameras[0].port, username: 'admin', password: PASSWORD,
      eventsS: 0, video: true, json: false }, out);
    const text = out.text();
    assert.equal(code, 0, text);
    assert.match(text, /Video {7}main: h264 1920x1080 15 fps, keyframe every 4\.0 s, \d+ kbps, audio aac 16000 Hz/);
    assert.match(text, /live view: copied as the camera sends it/);
    assert.match(text, /recording: copied as the camera sends it \(no transcoding\)/);
    assert.match(text, /Video {7}sub: h264 640x360/);
    assert.ok(!text.includes(PASSWORD));
  });

  it('reports the same in JSON', async () => {
    const out = capture();
    await runProbe({ command: 'probe', host: '127.0.0.1', port: sim.cameras[0].port, username: 'admin', password: PASSWORD,
      eventsS: 0, video: true, json: true }, out);
    const report = JSON.parse(out.text()) as ProbeReport;
    assert.deepEqual(report.video?.map((v) => [v.stream, v.live?.copy, v.recording?.copy]), [['main', true, true], ['sub', true, true]]);
  });
});
