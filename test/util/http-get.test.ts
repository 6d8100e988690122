import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { HttpGetError, httpGet } from '../../src/util/http-get';

const USER = 'viewer';
const PASS = 'Get-Secret-9';
const REALM = 'Test Camera';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

/** A loopback server whose handler sees each request with its number (0-based); records the Authorization headers. */
async function serve(handler: Handler): Promise<{ url: string; auths: Array<string | undefined>; close: () => Promise<void> }> {
  const auths: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    auths.push(req.headers.authorization);
    handler(req, res, auths.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/snap.jpg?ch=1`,
    auths,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const params = (header: string): Record<string, string> =>
  Object.fromEntries([...header.matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)].map((m) => [m[1], m[2] ?? m[3]]));

/** Checks a Digest answer the way a camera does (RFC 7616, qop=auth). */
function digestOk(header: string | undefined, algorithm: 'MD5' | 'SHA-256', nonce: string): boolean {
  if (!header?.startsWith('Digest ')) {
    return false;
  }
  const p = params(header);
  const h = (s: string): string => createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');
  const expected = h(`${h(`${USER}:${REALM}:${PASS}`)}:${nonce}:${p.nc}:${p.cnonce}:${p.qop}:${h(`GET:${p.uri}`)}`);
  return p.username === USER && p.uri === '/snap.jpg?ch=1' && p.nonce === nonce && p.response === expected;
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
const options = { username: USER, password: PASS, timeoutMs: 5_000, maxBytes: 1024 };

describe('httpGet (snapshot fetch)', function () {
  this.timeout(20_000);
  const servers: Array<{ close: () => Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('answers a SHA-256 Digest challenge, sending no credentials before it', async () => {
    const s = await serve((req, res) => {
      if (digestOk(req.headers.authorization, 'SHA-256', 'n1')) {
        res.end(JPEG);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Digest realm="${REALM}", qop="auth,auth-int", nonce="n1", algorithm=SHA-256` }).end();
    });
    servers.push(s);
    const reply = await httpGet(s.url, options);
    assert.deepEqual([reply.status, reply.auth, reply.body], [200, 'digest', JPEG]);
    assert.equal(s.auths[0], undefined);
    assert.equal(s.auths.length, 2);
  });

  it('retries once with a fresh nonce when the camera calls ours stale', async () => {
    const s = await serve((req, res, n) => {
      // The second request answers the old nonce: the camera calls it stale and hands out a new one.
      const nonce = n === 0 ? 'old' : 'new';
      if (n >= 2 && digestOk(req.headers.authorization, 'MD5', 'new')) {
        res.end(JPEG);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}"${n === 1 ? ', stale=TRUE' : ''}` }).end();
    });
    servers.push(s);
    const reply = await httpGet(s.url, options);
    assert.equal(reply.auth, 'digest');
    assert.equal(s.auths.length, 3);
  });

  it('uses user:password@ from the URL as credentials for Basic, never sending them unasked', async () => {
    const s = await serve((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`) {
        res.end(JPEG);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Basic realm="${REALM}"` }).end();
    });
    servers.push(s);
    const url = s.url.replace('http://', `http://${USER}:${encodeURIComponent(PASS)}@`);
    const reply = await httpGet(url, { timeoutMs: 5_000, maxBytes: 1024 });
    assert.equal(reply.auth, 'basic');
    assert.equal(s.auths[0], undefined);
  });

  const rejects = async (url: string, opts: typeof options, kind: HttpGetError['kind'], message: RegExp): Promise<void> => {
    await assert.rejects(httpGet(url, opts), (err: unknown) => err instanceof HttpGetError && err.kind === kind && message.test(err.message));
  };

  it('reports a refused login, an HTTP error, an oversized reply and a hung server, each in words', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/big') {
        res.end(Buffer.alloc(4096));
      } else if (req.url === '/missing') {
        res.writeHead(404).end();
      } else if (req.url === '/hang') {
        // never answers: the deadline must end it
      } else {
        res.writeHead(401, { 'WWW-Authenticate': `Digest realm="${REALM}", qop="auth", nonce="n"` }).end();
      }
    });
    servers.push(s);
    const base = new URL(s.url).origin;
    await rejects(s.url, options, 'auth', /^authentication failed: check the username and password$/);
    assert.equal(s.auths.length, 2, 'one answer to the challenge, not a retry loop');
    await rejects(`${base}/missing`, options, 'http', /^answered HTTP 404$/);
    await rejects(`${base}/big`, options, 'too-large', /more than 1 KiB/);
    await rejects(`${base}/hang`, { ...options, timeoutMs: 300 }, 'timeout', /^no answer within 300 ms$/);
  });

  it('stops at once when the caller cancels, and says so rather than calling it a timeout', async () => {
    const s = await serve(() => undefined);
    servers.push(s);
    const abort = new AbortController();
    const pending = httpGet(s.url, { ...options, signal: abort.signal });
    setImmediate(() => abort.abort());
    await assert.rejects(pending, (err: unknown) => err instanceof HttpGetError && err.kind === 'cancelled' && err.message === 'cancelled');
  });
});

describe('httpGet: a snapshot URL that never ends or sends 500 MB', function () {
  this.timeout(20_000);
  let server: http.Server;
  let base = '';
  /** Bytes the server managed to send per request path, and whether the client hung up on it. */
  const sent = new Map<string, { bytes: number; closed: boolean }>();
  before(async () => {
    const chunk = Buffer.alloc(64 * 1024, 0xab); // one buffer, written again and again: the test allocates nothing big
    server = http.createServer((req, res) => {
      const record = { bytes: 0, closed: false };
      sent.set(req.url ?? '', record);
      res.on('close', () => (record.closed = true));
      if (req.url === '/trickle') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg' });
        const timer = setInterval(() => res.write(Buffer.from([0xff])), 10);
        res.on('close', () => clearInterval(timer));
        return;
      }
      // 500 MB declared, or a chunked body without end: generated as fast as the client reads it.
      res.writeHead(200, req.url === '/declared' ? { 'Content-Type': 'image/jpeg', 'Content-Length': String(500 * 1024 * 1024) }
        : { 'Content-Type': 'image/jpeg' });
      const pump = (): void => {
        while (!res.destroyed && record.bytes < 500 * 1024 * 1024 && res.write(chunk)) {
          record.bytes += chunk.length;
        }
        if (!res.destroyed) {
          res.once('drain', pump);
        }
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));

  /** Peak of JS heap plus Buffer memory while `work` runs, over what it was before. */
  async function peakGrowth(work: () => Promise<unknown>): Promise<number> {
    const used = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const start = used();
    let peak = start;
    const sampler = setInterval(() => (peak = Math.max(peak, used())), 5);
    try {
      await work();
    } finally {
      clearInterval(sampler);
    }
    return Math.max(peak, used()) - start;
  }

  // The snapshot fetch's own bounds (settings.ts SNAPSHOT_MAX_BYTES and SNAPSHOT_URI_TIMEOUT_MS).
  const bounds = { timeoutMs: 2_500, maxBytes: 16 * 1024 * 1024 };

  for (const path of ['/declared', '/endless']) {
    it(`${path === '/declared' ? 'a declared 500 MB' : 'an endless chunked'} body: refused at the size cap, the connection cut, memory bounded`,
      async () => {
        const started = performance.now();
        let error: unknown;
        const growth = await peakGrowth(() => httpGet(`${base}${path}`, bounds).catch((err: unknown) => (error = err)));
        assert.ok(error instanceof HttpGetError && error.kind === 'too-large', String(error));
        assert.ok(performance.now() - started < 2_500, `took ${performance.now() - started} ms`);
        assert.ok(growth < 64 * 1024 * 1024, `memory grew by ${Math.round(growth / 1024 / 1024)} MB`);
        const record = sent.get(path)!;
        for (let i = 0; i < 100 && !record.closed; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.ok(record.closed, 'the client hung up');
        // What was in flight in socket buffers beyond the cap, not the 500 MB.
        assert.ok(record.bytes < 40 * 1024 * 1024, `the server sent ${Math.round(record.bytes / 1024 / 1024)} MB`);
      });
  }

  it('a body trickling in byte by byte: ends at the time bound, whatever the pace', async () => {
    const started = performance.now();
    await assert.rejects(httpGet(`${base}/trickle`, { ...bounds, timeoutMs: 400 }),
      (err: unknown) => err instanceof HttpGetError && err.kind === 'timeout');
    assert.ok(performance.now() - started < 1_500);
  });
});
