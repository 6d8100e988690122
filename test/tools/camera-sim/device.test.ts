import { strict as assert } from 'node:assert';
import { Agent } from 'node:http';
import { child, children, find, textAt } from '../../../src/onvif/xml';
import { CameraSim, MAX_BODY_BYTES, SimCamera, VENDORS } from '../../../tools/camera-sim';
import { PROFILES } from '../../../tools/camera-sim/stream-profiles';
import { securityHeader } from '../../../src/onvif/wsse';
import { clockOffset, credsOf } from './helpers';
import { digestAuthorization, envelope, faultCode, faultSubcodes, httpRequest, soap } from './soap-client';

describe('camera-sim: device and media services', function () {
  let sim: CameraSim;
  let cams: SimCamera[];

  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        ...VENDORS.map((vendor) => ({ vendor })),
        { vendor: 'hikvision', clockSkewMs: 3_600_000, name: 'Skewed' },
        { vendor: 'dahua', soapAuth: 'digest', snapshotAuth: 'basic' },
        { vendor: 'generic', soapAuth: 'any', snapshotAuth: 'none', audio: false },
      ],
    });
    cams = sim.cameras;
  });

  after(() => sim.stop());

  it('answers GetDeviceInformation with each vendor\'s identity, distinct serials', async () => {
    const serials = new Set<string>();
    for (const cam of cams.slice(0, VENDORS.length)) {
      const res = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam) });
      assert.equal(res.status, 200);
      assert.equal(res.payload.name, 'GetDeviceInformationResponse');
      assert.equal(textAt(res.payload, 'Manufacturer'), cam.info.manufacturer);
      assert.equal(textAt(res.payload, 'SerialNumber'), cam.info.serial);
      serials.add(cam.info.serial);
    }
    assert.deepEqual(cams.slice(0, VENDORS.length).map((c) => c.info.manufacturer),
      ['HIKVISION', 'Dahua', 'AXIS', 'Reolink', 'Generic']);
    assert.equal(serials.size, VENDORS.length);
  });

  it('serves the PRE_AUTH operations without credentials', async () => {
    const cam = cams[0];
    const time = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>');
    assert.equal(time.status, 200);
    assert.equal(textAt(time.payload, 'SystemDateAndTime', 'DateTimeType'), 'NTP');
    const caps = await soap(cam.deviceUrl, '<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>');
    assert.equal(caps.status, 200);
    assert.equal(textAt(caps.payload, 'Capabilities', 'Events', 'WSPullPointSupport'), 'true');
    assert.equal(textAt(caps.payload, 'Capabilities', 'Media', 'XAddr'), `http://127.0.0.1:${cam.port}/onvif/Media`);
    const services = await soap(cam.deviceUrl, '<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>');
    assert.equal(services.status, 200);
    const events = children(services.payload, 'Service').find((s) => textAt(s, 'Namespace') === 'http://www.onvif.org/ver10/events/wsdl');
    assert.equal(find(events, 'Capabilities')?.children[0]?.attrs.MaxPullPoints, '10');
    const bare = await soap(cam.deviceUrl, '<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>');
    assert.equal(find(bare.payload, 'Capabilities'), undefined);
  });

  it('lets Axis claim WSPullPointSupport=false, as real firmwares do', async () => {
    const axis = cams[2];
    const caps = await soap(axis.deviceUrl, '<tds:GetCapabilities><tds:Category>Events</tds:Category></tds:GetCapabilities>');
    assert.equal(textAt(caps.payload, 'Capabilities', 'Events', 'WSPullPointSupport'), 'false');
    assert.equal(find(caps.payload, 'Media'), undefined);
  });

  it('refuses protected operations without credentials or with a wrong password (ter:NotAuthorized, HTTP 400)', async () => {
    const cam = cams[0];
    const before = cam.stats().authFailures;
    const none = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>');
    const wrong = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: { username: cam.username, password: 'nope' } });
    for (const res of [none, wrong]) {
      assert.equal(res.status, 400);
      assert.equal(res.payload.name, 'Fault');
      assert.match(faultCode(res.payload), /:Sender$/);
      assert.deepEqual(faultSubcodes(res.payload), ['ter:NotAuthorized']);
      assert.equal(textAt(res.payload, 'Reason', 'Text'), 'Sender not Authorized');
    }
    assert.equal(cam.stats().authFailures, before + 2);
  });

  it('checks wsu:Created against a skewed camera clock: our clock fails, the measured offset succeeds', async () => {
    const cam = cams[VENDORS.length];
    const naive = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam, 0) });
    assert.deepEqual(faultSubcodes(naive.payload), ['ter:NotAuthorized']);
    const offset = await clockOffset(cam);
    assert.ok(Math.abs(offset - 3_600_000) < 5_000, `offset ${offset}`);
    const time = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>');
    assert.equal(textAt(time.payload, 'SystemDateAndTime', 'DateTimeType'), 'Manual');
    const fixed = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam, offset) });
    assert.equal(fixed.status, 200);
    cam.setClockSkew(0);
    const afterReset = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam, offset) });
    assert.deepEqual(faultSubcodes(afterReset.payload), ['ter:NotAuthorized']);
    cam.setClockSkew(3_600_000);
  });

  it('rejects a replayed WS-Security token', async () => {
    const cam = cams[0];
    const signed = envelope('<tds:GetScopes/>', securityHeader(cam.username, cam.password, 0));
    const first = await soap(cam.deviceUrl, '', { rawEnvelope: signed });
    const replay = await soap(cam.deviceUrl, '', { rawEnvelope: signed });
    assert.equal(first.status, 200);
    assert.equal(first.payload.name, 'GetScopesResponse');
    assert.deepEqual(faultSubcodes(replay.payload), ['ter:NotAuthorized']);
  });

  it('uses HTTP Digest on the SOAP endpoint for digest-only cameras', async () => {
    const cam = cams[VENDORS.length + 1];
    const url = cam.deviceUrl;
    const challenge = await soap(url, '<tds:GetDeviceInformation/>', { auth: credsOf(cam) });
    assert.equal(challenge.status, 401);
    const www = String(challenge.headers['www-authenticate']);
    assert.match(www, /^Digest realm="Login to .+", qop="auth", nonce="[0-9a-f]+"/);
    const path = new URL(url).pathname;
    const ok = await soap(url, '<tds:GetDeviceInformation/>',
      { httpHeaders: { Authorization: digestAuthorization(www, 'POST', path, credsOf(cam)) } });
    assert.equal(ok.status, 200);
    const failures = cam.stats().authFailures;
    const bad = await soap(url, '<tds:GetDeviceInformation/>',
      { httpHeaders: { Authorization: digestAuthorization(www, 'POST', path, { username: cam.username, password: 'x' }, 2) } });
    assert.equal(bad.status, 401);
    assert.equal(cam.stats().authFailures, failures + 1);
  });

  it('accepts either WS-Security or Digest when soapAuth is "any"', async () => {
    const cam = cams[VENDORS.length + 2];
    const wsse = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { auth: credsOf(cam) });
    assert.equal(wsse.status, 200);
    const challenge = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>');
    assert.equal(challenge.status, 401);
    const digest = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { httpHeaders: {
      Authorization: digestAuthorization(String(challenge.headers['www-authenticate']), 'POST', '/onvif/device_service', credsOf(cam)) } });
    assert.equal(digest.status, 200);
  });

  it('answers unknown actions, malformed XML, DTDs and oversized bodies with the right faults', async () => {
    const cam = cams[0];
    const unknown = await soap(cam.deviceUrl, '<tds:GetHostname/>', { auth: credsOf(cam) });
    assert.equal(unknown.status, 500);
    assert.deepEqual(faultSubcodes(unknown.payload), ['ter:ActionNotSupported']);
    const malformed = await soap(cam.deviceUrl, '', { rawEnvelope: '<s:Envelope><s:Body><oops></s:Body>' });
    assert.equal(malformed.status, 400);
    assert.deepEqual(faultSubcodes(malformed.payload), ['ter:WellFormed']);
    const dtd = await soap(cam.deviceUrl, '', { rawEnvelope: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>' });
    assert.deepEqual(faultSubcodes(dtd.payload), ['ter:WellFormed']);
    const soap11 = await soap(cam.deviceUrl, '', { rawEnvelope: '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">' +
      '<e:Body><tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>' });
    assert.equal(soap11.status, 500);
    assert.match(faultCode(soap11.payload), /:VersionMismatch$/);
    const huge = await httpRequest(cam.deviceUrl, { method: 'POST', body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20),
      headers: { 'Content-Type': 'application/soap+xml' } });
    assert.equal(huge.status, 413);
    const stillFine = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>');
    assert.equal(stillFine.status, 200);
  });

  it('keeps connections alive across requests', async () => {
    const cam = cams[1];
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>', { agent });
      const b = await soap(cam.deviceUrl, '<tds:GetDeviceInformation/>', { agent, auth: credsOf(cam) });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(b.reusedSocket, true);
    } finally {
      agent.destroy();
    }
  });

  it('lists two H.264 profiles whose numbers match the media side, per vendor token style', async () => {
    const expected: Record<string, [string, string]> = {
      hikvision: ['Profile_1', 'Profile_2'], dahua: ['MediaProfile000', 'MediaProfile001'],
      axis: ['profile_1_h264', 'profile_2_h264'], reolink: ['000', '001'], generic: ['profile_main', 'profile_sub'],
    };
    for (const cam of cams.slice(0, VENDORS.length)) {
      const res = await soap(`http://127.0.0.1:${cam.port}/onvif/media_service`, '<trt:GetProfiles/>', { auth: credsOf(cam) });
      assert.equal(res.status, 200);
      const profiles = children(res.payload, 'Profiles');
      assert.deepEqual(profiles.map((p) => p.attrs.token), expected[cam.vendor]);
      for (const [i, which] of (['main', 'sub'] as const).entries()) {
        const vec = child(profiles[i], 'VideoEncoderConfiguration');
        const want = PROFILES[which];
        assert.equal(textAt(vec, 'Encoding'), 'H264');
        assert.equal(Number(textAt(vec, 'Resolution', 'Width')), want.width);
        assert.equal(Number(textAt(vec, 'Resolution', 'Height')), want.height);
        assert.equal(Number(textAt(vec, 'RateControl', 'FrameRateLimit')), want.fps);
        assert.equal(Number(textAt(vec, 'RateControl', 'BitrateLimit')), want.bitrateKbps);
        assert.equal(Number(textAt(vec, 'H264', 'GovLength')), want.gopFrames);
        assert.equal(textAt(vec, 'H264', 'H264Profile'), want.h264Profile);
        assert.equal(textAt(profiles[i], 'AudioEncoderConfiguration', 'Encoding'), 'AAC');
      }
    }
    const mute = cams[VENDORS.length + 2];
    const res = await soap(mute.deviceUrl, '<trt:GetProfiles/>', { auth: credsOf(mute) });
    assert.equal(find(res.payload, 'AudioEncoderConfiguration'), undefined);
  });

  it('answers GetStreamUri and rejects unknown profile tokens', async () => {
    const cam = cams[0];
    const uri = await soap(cam.deviceUrl, '<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>' +
      '<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>Profile_2</trt:ProfileToken></trt:GetStreamUri>',
    { auth: credsOf(cam) });
    assert.match(textAt(uri.payload, 'MediaUri', 'Uri') ?? '', /^rtsp:\/\/127\.0\.0\.1:\d+\/cam1\/sub$/);
    const bad = await soap(cam.deviceUrl, '<trt:GetStreamUri><trt:ProfileToken>nope</trt:ProfileToken></trt:GetStreamUri>', { auth: credsOf(cam) });
    assert.deepEqual(faultSubcodes(bad.payload), ['ter:InvalidArgVal', 'ter:NoProfile']);
  });

  it('serves snapshots behind digest, basic or no authentication', async () => {
    const isJpeg = (b: Buffer): boolean => b[0] === 0xff && b[1] === 0xd8 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9;
    const snapshotUri = async (cam: SimCamera, token: string): Promise<string> => {
      const res = await soap(cam.deviceUrl, `<trt:GetSnapshotUri><trt:ProfileToken>${token}</trt:ProfileToken></trt:GetSnapshotUri>`,
        { auth: credsOf(cam) });
      return textAt(res.payload, 'MediaUri', 'Uri') ?? '';
    };
    const hik = cams[0];
    const url = await snapshotUri(hik, 'Profile_1');
    assert.equal(url, `http://127.0.0.1:${hik.port}/onvif-http/snapshot?Profile_1`);
    const challenge = await httpRequest(url);
    assert.equal(challenge.status, 401);
    const u = new URL(url);
    const ok = await httpRequest(url, { headers: { Authorization: digestAuthorization(
      String(challenge.headers['www-authenticate']), 'GET', u.pathname + u.search, credsOf(hik)) } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'image/jpeg');
    assert.ok(isJpeg(ok.body));

    const basicCam = cams[VENDORS.length + 1];
    const basicUrl = await snapshotUriViaDigest(basicCam);
    assert.equal((await httpRequest(basicUrl)).status, 401);
    const basic = await httpRequest(basicUrl, { headers: {
      Authorization: `Basic ${Buffer.from(`${basicCam.username}:${basicCam.password}`).toString('base64')}` } });
    assert.equal(basic.status, 200);
    assert.ok(isJpeg(basic.body));

    const open = cams[VENDORS.length + 2];
    const openRes = await httpRequest(await snapshotUri(open, 'profile_sub'));
    assert.equal(openRes.status, 200);
    assert.ok(isJpeg(openRes.body));
  });
});

/** GetSnapshotUri on the digest-only camera needs a digest handshake first. */
async function snapshotUriViaDigest(cam: SimCamera): Promise<string> {
  const body = '<trt:GetSnapshotUri><trt:ProfileToken>MediaProfile000</trt:ProfileToken></trt:GetSnapshotUri>';
  const challenge = await soap(cam.deviceUrl, body);
  const res = await soap(cam.deviceUrl, body, { httpHeaders: { Authorization: digestAuthorization(
    String(challenge.headers['www-authenticate']), 'POST', '/onvif/device_service', credsOf(cam)) } });
  return textAt(res.payload, 'MediaUri', 'Uri') ?? '';
}
