// The parts of an rtsp:// URL the client connects with: credentials percent-decoded and kept out of the request URL,
// IPv6 literals, the default port, and a refusal that quotes no password.
import assert from 'node:assert/strict';
import { parseRtspUrl, RtspError } from '../../../src/media/rtsp/client';

describe('RTSP URL', () => {
  it('gives host, port, decoded credentials and the URL without them', () => {
    assert.deepEqual(parseRtspUrl('rtsp://ad%40min:p%3Ass%2Fw@192.168.1.20/Streaming/Channels/101?transportmode=unicast'), {
      host: '192.168.1.20', port: 554, username: 'ad@min', password: 'p:ss/w',
      url: 'rtsp://192.168.1.20/Streaming/Channels/101?transportmode=unicast',
    });
    assert.deepEqual(parseRtspUrl('rtsp://[fd00::20]:8554/live'), { host: 'fd00::20', port: 8554, username: undefined, password: undefined,
      url: 'rtsp://[fd00::20]:8554/live' });
    assert.equal(parseRtspUrl('rtsp://user@cam/x').password, undefined);
  });

  it('refuses what is not an rtsp:// URL, without quoting it', () => {
    assert.throws(() => parseRtspUrl('http://admin:secret@cam/x'), (e: unknown) => e instanceof RtspError && e.kind === 'address' &&
      e.message === 'the stream address is not an rtsp:// URL (http)');
    assert.throws(() => parseRtspUrl('rtsp://admin:secret@[bad/x'), (e: unknown) => e instanceof RtspError && !e.message.includes('secret'));
  });
});
