import assert from 'node:assert/strict';
import { redact, registerSecret } from '../../src/util/redact';

describe('redact', () => {
  it('removes the password from URLs with credentials', () => {
    assert.equal(redact('rtsp://admin:p%40ss@10.0.0.2:554/Streaming/Channels/101'), 'rtsp://admin:***@10.0.0.2:554/Streaming/Channels/101');
    assert.equal(redact('-i rtsp://u:x@h/a -i http://v:y@h/b'), '-i rtsp://u:***@h/a -i http://v:***@h/b');
  });

  it('removes the password from URLs whose host is an IPv6 literal', () => {
    assert.equal(redact('rtsp://user:pass@[fd00::5]:554/x'), 'rtsp://user:***@[fd00::5]:554/x');
    assert.equal(redact('ffmpeg -i rtsp://admin:s3cr%3At@[::1]:8554/main -f null'), 'ffmpeg -i rtsp://admin:***@[::1]:8554/main -f null');
    assert.equal(redact('rtsp://[fd00::5]:554/x?from=a@b'), 'rtsp://[fd00::5]:554/x?from=a@b');
  });

  it('removes registered secrets wherever they appear', () => {
    registerSecret('Courtyard-S3cret');
    assert.equal(redact('GET /snap.jpg?pwd=Courtyard-S3cret failed'), 'GET /snap.jpg?pwd=*** failed');
  });

  it('removes a registered password as typed and percent-encoded, whichever form was registered', () => {
    registerSecret('Zq9!@:/ %#-typed');
    registerSecret(encodeURIComponent('Zq9!@:/ %#-encoded'));
    for (const pw of ['Zq9!@:/ %#-typed', 'Zq9!@:/ %#-encoded']) {
      assert.equal(redact(`a ${pw} b ${encodeURIComponent(pw)} c`), 'a *** b *** c');
    }
  });

  it('removes the longer of two secrets where one holds the other, leaving no part of it', () => {
    registerSecret('Rk7-garden');
    registerSecret('my-Rk7-garden-gate-42');
    assert.equal(redact('login my-Rk7-garden-gate-42 failed'), 'login *** failed');
  });

  it('leaves ordinary text and URLs without credentials alone', () => {
    assert.equal(redact('http://10.0.0.2/onvif/device_service answered 500'), 'http://10.0.0.2/onvif/device_service answered 500');
  });
});
