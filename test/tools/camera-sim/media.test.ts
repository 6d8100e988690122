import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { textAt } from '../../../src/onvif/xml';
import { CameraSim } from '../../../tools/camera-sim';
import { credsOf } from './helpers';
import { digestAuthorization, httpRequest, soap } from './soap-client';

/** Sends RTSP OPTIONS and returns the status line (or the connection error code). */
function rtspOptions(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(u.port), u.hostname);
    let data = '';
    const done = (result: string): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(10_000, () => done('timeout'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('connect', () => socket.write(`OPTIONS ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`));
    socket.on('data', (d: Buffer) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        done(data.split('\r\n')[0]);
      }
    });
  });
}

describe('camera-sim: with the media side', function () {
  this.timeout(120_000);
  let sim: CameraSim | undefined;

  after(() => sim?.stop());

  it('advertises the media server\'s RTSP URLs, serves its JPEGs, reports its sessions and stops it', async () => {
    sim = await CameraSim.start({ cameras: 2 });
    const cam = sim.cameras[1];
    const uri = await soap(cam.deviceUrl, '<trt:GetStreamUri><trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetStreamUri>',
      { auth: credsOf(cam) });
    const rtsp = textAt(uri.payload, 'MediaUri', 'Uri') ?? '';
    assert.match(rtsp, /^rtsp:\/\/127\.0\.0\.1:\d+\/cam2\/main$/);
    assert.match(await rtspOptions(rtsp), /^RTSP\/1\.0 200/);

    const snap = await soap(cam.deviceUrl, '<trt:GetSnapshotUri><trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetSnapshotUri>',
      { auth: credsOf(cam) });
    const snapUrl = textAt(snap.payload, 'MediaUri', 'Uri') ?? '';
    const challenge = await httpRequest(snapUrl);
    const u = new URL(snapUrl);
    const jpeg = await httpRequest(snapUrl, { headers: { Authorization: digestAuthorization(
      String(challenge.headers['www-authenticate']), 'GET', u.pathname + u.search, credsOf(cam)) } });
    assert.equal(jpeg.status, 200);
    assert.deepEqual([...jpeg.body.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...jpeg.body.subarray(-2)], [0xff, 0xd9]);

    const stats = await cam.fullStats();
    assert.deepEqual(Object.keys(stats.rtspSessions ?? {}).sort(), ['/cam2/main', '/cam2/sub']);

    await sim.stop();
    assert.doesNotMatch(await rtspOptions(rtsp), /^RTSP/);
  });
});
