// The camera's login in the RTSP URL handed to ffmpeg (withCredentials, camera-media.ts): percent-encoded so that any
// character of a password reaches the camera as typed, never shifting the host, never turning into an ffmpeg option.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { withCredentials } from '../../src/media/camera-media';
import { redact } from '../../src/util/redact';

/** Every character that breaks a URL, a shell or an argument list, a leading '-', and non-ASCII. */
const PASSWORD = '-Zq9!@:/ %#-"\'$(id)`;&|<>\\?=+ü\u00e9';
// No ':' in the user name: Basic and Digest alike read the first ':' as the end of it (RFC 7617), ffmpeg too.
const USERNAME = 'on@vif user/ü';

interface Attempt {
  authorization?: string;
  uri: string;
}

/**
 * A camera's RTSP port, just enough to make ffmpeg authenticate: OPTIONS is answered, DESCRIBE without credentials gets
 * the challenge, DESCRIBE with them gets 404 (ffmpeg then exits). Records what ffmpeg sent.
 */
async function rtspCamera(challenge: string): Promise<{ port: number; attempts: Attempt[]; close: () => void }> {
  const attempts: Attempt[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const cseq = /^CSeq: *(\d+)/im.exec(head)?.[1] ?? '0';
        const authorization = /^Authorization: *(.*)$/im.exec(head)?.[1];
        if (head.startsWith('OPTIONS')) {
          s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n`);
          continue;
        }
        attempts.push({ authorization, uri: head.split(' ')[1] });
        s.write(authorization ? `RTSP/1.0 404 Not Found\r\nCSeq: ${cseq}\r\n\r\n`
          : `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: ${challenge}\r\n\r\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    attempts,
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
}

/** Runs ffmpeg as the media source does (URL right after -i), bounded; resolves with its stderr. */
function ffmpegReads(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ff = spawn('ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'info', '-rtsp_transport', 'tcp', '-timeout', '3000000', '-i', url,
      '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    ff.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => ff.kill('SIGKILL'), 10_000);
    ff.on('error', reject);
    ff.on('exit', () => {
      clearTimeout(timer);
      resolve(stderr);
    });
  });
}

describe('RTSP credentials (withCredentials)', function () {
  this.timeout(20_000);

  it('percent-encodes user and password: the host, port and path stay the camera\'s, and they decode back as typed', () => {
    const url = withCredentials('rtsp://192.168.1.20:554/Streaming/Channels/101?transportmode=unicast', USERNAME, PASSWORD);
    assert.ok(url.startsWith('rtsp://'), 'never an option-like argument, whatever the password starts with');
    const parsed = new URL(url);
    assert.equal(parsed.hostname, '192.168.1.20');
    assert.equal(parsed.port, '554');
    assert.equal(`${parsed.pathname}${parsed.search}`, '/Streaming/Channels/101?transportmode=unicast');
    assert.equal(parsed.hash, '');
    assert.equal(decodeURIComponent(parsed.username), USERNAME);
    assert.equal(decodeURIComponent(parsed.password), PASSWORD);
    assert.doesNotMatch(url, /\s/);
  });

  it('keeps credentials the camera already put in its URI, and adds none without a username', () => {
    assert.equal(withCredentials('rtsp://cam:Cam-Own-77@10.0.0.5/x', 'admin', 'pw'), 'rtsp://cam:Cam-Own-77@10.0.0.5/x');
    assert.equal(withCredentials('rtsp://10.0.0.5/x', '', 'pw'), 'rtsp://10.0.0.5/x');
  });

  it('registers the password so that the URL, and the password itself, are redacted wherever they are logged', () => {
    const url = withCredentials('rtsp://10.0.0.5/x', USERNAME, PASSWORD);
    const line = redact(`ffmpeg -i ${url}: 401 Unauthorized (password ${PASSWORD})`);
    assert.ok(!line.includes(PASSWORD), line);
    assert.ok(!line.includes(new URL(url).password), line);
  });

  it('reaches the camera as typed through ffmpeg\'s Basic authentication', async () => {
    const cam = await rtspCamera('Basic realm="IP Camera"');
    try {
      await ffmpegReads(withCredentials(`rtsp://127.0.0.1:${cam.port}/live`, USERNAME, PASSWORD));
      const sent = cam.attempts.find((a) => a.authorization)?.authorization ?? '';
      assert.match(sent, /^Basic /);
      assert.equal(Buffer.from(sent.slice(6), 'base64').toString('utf8'), `${USERNAME}:${PASSWORD}`);
      assert.ok(cam.attempts.every((a) => a.uri === `rtsp://127.0.0.1:${cam.port}/live`), 'no credentials in the request line');
    } finally {
      cam.close();
    }
  });

  it('reaches the camera as typed through ffmpeg\'s Digest authentication', async () => {
    const cam = await rtspCamera('Digest realm="IP Camera(12345)", nonce="0123456789abcdef"');
    try {
      await ffmpegReads(withCredentials(`rtsp://127.0.0.1:${cam.port}/live`, USERNAME, PASSWORD));
      const sent = cam.attempts.find((a) => a.authorization)?.authorization ?? '';
      const param = (name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(sent)?.[1];
      const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');
      const expected = md5(`${md5(`${USERNAME}:IP Camera(12345):${PASSWORD}`)}:0123456789abcdef:${md5(`DESCRIBE:${param('uri')}`)}`);
      assert.equal(param('response'), expected, sent);
    } finally {
      cam.close();
    }
  });
});
