// The SDP lines an RTSP read needs, and control URLs resolved the way cameras mean them (RFC 2326 C.1.1).
import assert from 'node:assert/strict';
import { parseFmtp, parseSdp, resolveControl } from '../../../src/media/rtsp/sdp';

/** What the simulator's GStreamer RTSP server answers to DESCRIBE (sub profile with audio). */
const GSTREAMER_SDP = [
  'v=0', 'o=- 14442564846953509073 1 IN IP4 127.0.0.1', 's=Session streamed with GStreamer', 'i=rtsp-server', 't=0 0',
  'a=tool:GStreamer', 'a=type:broadcast', 'a=control:*', 'a=range:npt=now-',
  'm=video 0 RTP/AVP 96', 'c=IN IP4 0.0.0.0', 'a=rtpmap:96 H264/90000', 'a=framerate:15',
  'a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z01AHtoCgL/lwEQAAAMABAAAAwB4PFi6gA==,aO88gA==;profile-level-id=4d401e;level-asymmetry-allowed=1',
  'a=control:stream=0', 'a=ts-refclk:local',
  'm=audio 0 RTP/AVP 97', 'c=IN IP4 0.0.0.0', 'a=rtpmap:97 MPEG4-GENERIC/16000/1',
  'a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=140856e500;sizelength=13;indexlength=3;indexdeltalength=3',
  'a=control:stream=1', '',
].join('\r\n');

describe('SDP', () => {
  it('reads media, rtpmap, fmtp and controls of a real camera server\'s SDP', () => {
    const sdp = parseSdp(GSTREAMER_SDP);
    assert.equal(sdp.control, '*');
    assert.deepEqual(sdp.media.map((m) => [m.type, m.formats, m.control]), [['video', [96], 'stream=0'], ['audio', [97], 'stream=1']]);
    assert.deepEqual(sdp.media[0].rtpmap.get(96), { encoding: 'H264', clockRate: 90000, channels: undefined });
    assert.deepEqual(sdp.media[1].rtpmap.get(97), { encoding: 'MPEG4-GENERIC', clockRate: 16000, channels: 1 });
    assert.equal(sdp.media[0].fmtp.get(96)?.['sprop-parameter-sets'], 'Z01AHtoCgL/lwEQAAAMABAAAAwB4PFi6gA==,aO88gA==', 'base64 "=" kept');
    assert.equal(sdp.media[1].fmtp.get(97)?.config, '140856e500');
    assert.equal(sdp.media[1].fmtp.get(97)?.sizelength, '13');
  });

  it('reads bare-LF SDPs, upper-case fmtp names and a session without control', () => {
    const sdp = parseSdp('v=0\nm=video 0 RTP/AVP 35 96\na=rtpmap:35 H265/90000\na=fmtp:35 Profile-Space=0; SPROP-VPS=QAE=\n');
    assert.equal(sdp.control, undefined);
    assert.deepEqual(sdp.media[0].formats, [35, 96]);
    assert.deepEqual(sdp.media[0].fmtp.get(35), { 'profile-space': '0', 'sprop-vps': 'QAE=' });
    assert.deepEqual(parseFmtp('a=1;;flag; b = x=y '), { a: '1', flag: '', b: 'x=y' });
  });

  it('resolves control URLs as cameras mean them', () => {
    assert.equal(resolveControl('rtsp://cam/live/', 'trackID=1'), 'rtsp://cam/live/trackID=1');
    assert.equal(resolveControl('rtsp://cam/live', 'trackID=1'), 'rtsp://cam/live/trackID=1', 'a base without its slash');
    assert.equal(resolveControl('rtsp://cam/cam/realmonitor?channel=1&subtype=0', 'trackID=0'),
      'rtsp://cam/cam/realmonitor?channel=1&subtype=0/trackID=0', 'a query base, as ffmpeg sends it');
    assert.equal(resolveControl('rtsp://cam/live/', 'rtsp://other:8554/x/track1'), 'rtsp://other:8554/x/track1', 'absolute');
    assert.equal(resolveControl('rtsp://cam/live/', '*'), 'rtsp://cam/live/');
    assert.equal(resolveControl('rtsp://cam/live/', undefined), 'rtsp://cam/live/');
    assert.equal(resolveControl('rtsp://[::1]:8554/live/', '/media/video1'), 'rtsp://[::1]:8554/media/video1', 'a path on the base\'s host');
  });
});
