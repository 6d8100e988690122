import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CameraSim } from '../../tools/camera-sim';
import { OnvifDevice } from '../../src/onvif/device';
import { SoapError } from '../../src/onvif/soap';
import { withCredentials } from '../../src/media/camera-media';
import { httpGet } from '../../src/util/http-get';
import { jpegSize } from '../../src/util/jpeg';

const device = (host: string, port = 80): OnvifDevice => new OnvifDevice({ host, port, username: 'admin', password: 'pw' });

/** A media service that answers every call with one MediaUri, as GetStreamUri and GetSnapshotUri do. */
async function mediaService(host: string, uri: () => string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/soap+xml');
      res.end('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
        'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>' +
        `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${uri()}</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>` +
        '</s:Body></s:Envelope>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/onvif/media_service`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('OnvifDevice addresses', () => {
  it('keeps the configured host and port for an XAddr that names another host (NAT, several interfaces)', () => {
    assert.equal(device('fd00::20').sameHost('http://192.168.0.9:8080/onvif/Media'), 'http://[fd00::20]:80/onvif/Media');
    assert.equal(device('10.0.0.5', 8000).sameHost('http://172.17.0.2/onvif/events?x=1'), 'http://10.0.0.5:8000/onvif/events?x=1');
  });

  it('believes the XAddr port when the XAddr names the configured host itself, in any spelling', () => {
    assert.equal(device('10.0.0.5').sameHost('http://10.0.0.5:8999/onvif/events'), 'http://10.0.0.5:8999/onvif/events');
    assert.equal(device('fd00::20').sameHost('http://[FD00:0::20]:8080/onvif/Media'), 'http://[fd00::20]:8080/onvif/Media');
    assert.equal(device('10.0.0.5').sameHost('http://[::ffff:10.0.0.5]:81/m'), 'http://10.0.0.5:81/m');
    assert.equal(device('cam1.local').sameHost('http://CAM1.local:8080/m http://10.0.0.9/m'), 'http://cam1.local:8080/m');
    // An https XAddr's port is no use to our http client: the configured port stays.
    assert.equal(device('10.0.0.5').sameHost('https://10.0.0.5:443/m'), 'http://10.0.0.5:80/m');
    // On loopback the configured port is a tunnel's or proxy's; the camera's idea of its own port is not ours to use.
    assert.equal(device('127.0.0.1', 18080).sameHost('http://127.0.0.1:80/m'), 'http://127.0.0.1:18080/m');
  });

  describe('media URIs', () => {
    let answer = '';
    let service: { url: string; close: () => Promise<void> };
    before(async () => {
      service = await mediaService('127.0.0.1', () => answer);
    });
    after(() => service.close());

    /** The stream URI the device makes of `uri`, for a camera configured as `host` (its media service is our stub). */
    const streamUri = async (host: string, uri: string): Promise<string> => {
      answer = uri;
      const d = device(host);
      d.urls.media = service.url;
      return d.getStreamUri('main');
    };

    it('moves "any address" and the camera\'s own loopback onto the configured host, keeping port and path', async () => {
      assert.equal(await streamUri('fd00::20', 'rtsp://0.0.0.0:554/Streaming/Channels/101?transportmode=unicast&amp;profile=1'),
        'rtsp://[fd00::20]:554/Streaming/Channels/101?transportmode=unicast&profile=1');
      assert.equal(await streamUri('192.168.1.20', 'rtsp://127.0.0.1/live/ch0'), 'rtsp://192.168.1.20/live/ch0');
      assert.equal(await streamUri('cam1.local', 'rtsp://[::]:8554/main'), 'rtsp://cam1.local:8554/main');
      assert.equal(await streamUri('fd00::20', 'rtsp://[::1]:554/x'), 'rtsp://[fd00::20]:554/x');
    });

    it('keeps a real address the camera names, and writes an IPv4-mapped one as IPv4', async () => {
      // ONVIF lets media come from another device (an NVR, a proxy): a routable address is the camera's word.
      assert.equal(await streamUri('192.168.1.20', 'rtsp://192.168.7.7:554/nvr/1'), 'rtsp://192.168.7.7:554/nvr/1');
      assert.equal(await streamUri('192.168.1.20', 'rtsp://[::ffff:192.168.1.20]:554/x'), 'rtsp://192.168.1.20:554/x');
      // A camera configured on loopback (a local proxy, the simulator) may name loopback: that is where it is.
      assert.equal(await streamUri('::1', 'rtsp://127.0.0.1:8554/x'), 'rtsp://127.0.0.1:8554/x');
      assert.equal(await streamUri('192.168.1.20', 'rtsp://[fd00::5]:554/x'), 'rtsp://[fd00::5]:554/x');
    });

    it('sends the login with the stream to another host the camera names, as ffmpeg would to the camera (see usable())', async () => {
      const uri = await streamUri('192.168.1.20', 'rtsp://192.168.7.7:554/nvr/1');
      assert.equal(withCredentials(uri, 'admin', 'pw'), 'rtsp://admin:pw@192.168.7.7:554/nvr/1');
    });

    it('refuses a stream URI that is not rtsp://, which ffmpeg would read on this machine instead of a stream', async () => {
      for (const hostile of ['file:///etc/passwd', 'concat:/etc/passwd|/etc/hosts', 'subfile,,start,0,end,0,,:/etc/passwd', '/etc/passwd',
        '-f lavfi -i testsrc', '-y', 'http://192.168.1.20/video.mjpg', 'rtp://192.168.1.20:5004', 'javascript:alert(1)', 'rtsp:/x']) {
        await assert.rejects(streamUri('192.168.1.20', hostile), (err: Error) => {
          assert.ok(err instanceof SoapError && err.kind === 'bad-reply', `${hostile}: ${err.message}`);
          assert.match(err.message, /GetStreamUri answered .*not an rtsp:\/\/ URL/);
          return true;
        }, hostile);
      }
      // Scheme in capitals, and RTSP over TLS, are still streams.
      assert.equal(await streamUri('192.168.1.20', 'RTSP://192.168.1.20/x'), 'RTSP://192.168.1.20/x');
      assert.equal(await streamUri('192.168.1.20', 'rtsps://192.168.1.20:322/x'), 'rtsps://192.168.1.20:322/x');
    });

    it('does not echo credentials a refused URI carries', async () => {
      await assert.rejects(streamUri('192.168.1.20', 'http://admin:Hunter2-Secret@192.168.1.20/x'), (err: Error) => {
        assert.doesNotMatch(err.message, /Hunter2-Secret/);
        return true;
      });
    });

    it('treats the snapshot URI the same way', async () => {
      answer = 'http://0.0.0.0/onvif/snapshot.jpg';
      const d = device('fd00::20');
      d.urls.media = service.url;
      assert.equal(await d.getSnapshotUri('main'), 'http://[fd00::20]/onvif/snapshot.jpg');
    });
  });

  describe('a camera configured as ::1 (the simulator listening on IPv6 loopback)', function () {
    this.timeout(30_000);
    let sim: CameraSim;
    before(async () => {
      sim = await CameraSim.start({
        media: false,
        host: '::1',
        cameras: [{ name: 'Hik6', vendor: 'hikvision' }, { name: 'Digest6', vendor: 'generic', soapAuth: 'digest', password: 'Digest-Pass-6' }],
      });
    });
    after(() => sim.stop());

    it('connects, reads device information and profiles, and gets its stream URI with credentials and its snapshot', async () => {
      for (const cam of sim.cameras) {
        assert.equal(cam.host, '::1');
        const d = new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
        await d.connect();
        assert.ok(d.urls.media?.startsWith(`http://[::1]:${cam.port}/`), d.urls.media);
        assert.equal((await d.getDeviceInformation()).serial, cam.info.serial);
        const profiles = await d.getProfiles();
        assert.ok(profiles.length > 0);
        const stream = await d.getStreamUri(profiles[0].token);
        assert.match(stream, /^rtsp:\/\/\[::1\]:\d+\//);
        const withAuth = new URL(withCredentials(stream, cam.username, cam.password));
        assert.deepEqual([withAuth.hostname, decodeURIComponent(withAuth.username), decodeURIComponent(withAuth.password)],
          ['[::1]', cam.username, cam.password]);
        const snapshot = await d.getSnapshotUri(profiles[0].token);
        assert.match(snapshot, /^http:\/\/\[::1\]:\d+\//);
        const jpeg = await httpGet(snapshot, { username: cam.username, password: cam.password, timeoutMs: 5_000, maxBytes: 4 << 20 });
        assert.ok(jpegSize(jpeg.body), 'a JPEG');
      }
    });
  });
});
