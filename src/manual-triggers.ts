import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { TRIGGERS_MAX_BODY_BYTES, TRIGGERS_MAX_CONNECTIONS, TRIGGERS_REQUEST_TIMEOUT_MS } from './settings';
import { closeServer } from './util/close-server';

/** What the endpoint can do to a camera, found by its configured name. */
export interface TriggerTarget {
  readonly name: string;
  triggerMotion(active: boolean): boolean;
  ringDoorbell(): 'rang' | 'cooldown' | 'not a doorbell';
}

export interface TriggerLog {
  info(msg: string): void;
  warn(msg: string): void;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A local HTTP endpoint for cameras with poor ONVIF events (what homebridge-camera-ffmpeg users script against):
 * `POST /motion?camera=NAME&state=on|off` and `POST /doorbell?camera=NAME`, with `Authorization: Bearer TOKEN`
 * (or `token=` in the query for tools that cannot set headers). Off unless configured; bound to loopback by default.
 */
export class ManualTriggers {
  private server?: http.Server;
  private readonly sockets = new Set<Socket>();

  /** `requestTimeoutMs`: how long a request may take to arrive whole (tests shorten it). */
  constructor(private readonly cameras: () => TriggerTarget[], private readonly token: string, private readonly log: TriggerLog,
    private readonly requestTimeoutMs = TRIGGERS_REQUEST_TIMEOUT_MS) {}

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = http.createServer({
        requestTimeout: this.requestTimeoutMs,
        headersTimeout: this.requestTimeoutMs,
        // How often Node checks the two timeouts above (its default, 30 s, would let a stuck peer hold on that long).
        connectionsCheckingInterval: Math.min(this.requestTimeoutMs, 1_000),
      }, (req, res) => this.handle(req, res));
      server.maxConnections = TRIGGERS_MAX_CONNECTIONS;
      server.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      server.on('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.warn(`manual triggers: ${err.message}`));
        this.server = server;
        resolve((server.address() as { port: number }).port);
      });
    });
  }

  close(): Promise<void> {
    return this.server ? closeServer(this.server, this.sockets) : Promise.resolve();
  }

  /**
   * Everything is decided on the request line and headers (the endpoint takes no body): a stranger is refused before a
   * byte of body is read, and any body is only counted, never kept. A refusal closes the connection once it is answered.
   */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const reply = (status: number, body: Record<string, unknown>, close = false): void => {
      if (res.headersSent) {
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json', ...(close ? { Connection: 'close' } : {}) });
      res.end(JSON.stringify(body), close ? () => req.socket.destroy() : undefined);
    };
    req.on('error', () => req.socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // An absolute-form target such as "http://[" passes Node's parser and makes URL throw: never an exception here.
      reply(400, { error: 'unreadable request target' }, true);
      return;
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('token') ?? '';
    if (!sameSecret(bearer, this.token)) {
      reply(401, { error: 'missing or wrong token' }, true);
      return;
    }
    if (req.method !== 'POST' && req.method !== 'GET') {
      reply(405, { error: 'use POST' }, true);
      return;
    }
    if (Number(req.headers['content-length'] ?? '0') > TRIGGERS_MAX_BODY_BYTES) {
      reply(413, { error: 'request too large' }, true);
      return;
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > TRIGGERS_MAX_BODY_BYTES) {
        reply(413, { error: 'request too large' }, true);
      }
    });
    req.on('end', () => {
      if (!res.headersSent) {
        this.act(url, reply);
      }
    });
  }

  private act(url: URL, reply: (status: number, body: Record<string, unknown>) => void): void {
    const name = url.searchParams.get('camera') ?? '';
    const camera = this.cameras().find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!camera) {
      reply(404, { error: `no camera named "${name}"`, cameras: this.cameras().map((c) => c.name) });
      return;
    }
    if (url.pathname === '/motion') {
      const state = (url.searchParams.get('state') ?? 'on').toLowerCase();
      if (!['on', 'off', 'true', 'false', '1', '0'].includes(state)) {
        reply(400, { error: '"state" must be on or off' });
        return;
      }
      const published = camera.triggerMotion(['on', 'true', '1'].includes(state));
      reply(published ? 200 : 503, published ? { camera: camera.name, motion: state } : { error: `${camera.name} is not in Home yet` });
    } else if (url.pathname === '/doorbell') {
      const result = camera.ringDoorbell();
      reply(result === 'not a doorbell' ? 409 : 200, { camera: camera.name, doorbell: result });
    } else {
      reply(404, { error: 'paths: /motion, /doorbell' });
    }
  }
}
