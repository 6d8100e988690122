// The network between Homebridge and one simulated camera, with a switch: up, refusing (the camera's ports closed, open
// connections cut) or black-holed (connections accepted, nothing ever answered, open ones stalled). Homebridge is given
// the link's ONVIF port; every camera URL in the camera's answers (service addresses, PullPoint references, snapshot
// and RTSP URIs) is rewritten to point through the link, so ONVIF, snapshots and the RTSP stream all go through it.
// Loopback only.
import { createServer as createHttpServer, IncomingMessage, request, Server as HttpServer, ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';

export type LinkMode = 'up' | 'refuse' | 'blackhole';

const HOST = '127.0.0.1';
const MAX_BODY = 4 * 1024 * 1024;

function listen(server: HttpServer | TcpServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

function close(server: HttpServer | TcpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

export class CameraLink {
  private readonly http: HttpServer;
  private readonly rtsp: TcpServer;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted while black-holed, or stalled by it: cut when the link changes mode again. */
  private readonly held = new Set<Socket>();
  /** The RTSP connections (Homebridge's side) open now. */
  private readonly rtspSockets = new Set<Socket>();
  private mode_: LinkMode = 'up';
  private mediaPort = 0;
  onvifPort = 0;
  rtspPort = 0;
  /** RTSP connections made through the link (each is one RTSP session of the plugin's camera read). */
  rtspConnections = 0;

  constructor(private readonly simPort: number) {
    this.http = createHttpServer((req, res) => this.onRequest(req, res));
    this.rtsp = createTcpServer((client) => this.onRtsp(client));
    for (const server of [this.http, this.rtsp]) {
      server.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.on('close', () => {
          this.sockets.delete(socket);
          this.held.delete(socket);
        });
        socket.on('error', () => undefined);
        if (this.mode_ === 'blackhole') {
          this.held.add(socket);
        }
      });
    }
    this.rtsp.on('connection', (socket: Socket) => {
      this.rtspSockets.add(socket);
      socket.on('close', () => this.rtspSockets.delete(socket));
    });
    this.http.keepAliveTimeout = 10_000;
  }

  async start(): Promise<void> {
    this.onvifPort = await listen(this.http, 0);
    this.rtspPort = await listen(this.rtsp, 0);
  }

  get mode(): LinkMode {
    return this.mode_;
  }

  async setMode(mode: LinkMode): Promise<void> {
    const before = this.mode_;
    this.mode_ = mode;
    if (mode === 'refuse') {
      this.cutAll();
      await Promise.all([close(this.http), close(this.rtsp)]);
    } else if (mode === 'blackhole') {
      if (before === 'refuse') {
        await this.relisten();
      }
      for (const socket of this.sockets) {
        // Stalled: nothing more is read from or written to it, as when packets stop getting through.
        this.held.add(socket);
        socket.unpipe();
        socket.pause();
      }
    } else {
      for (const socket of this.held) {
        socket.destroy();
      }
      this.held.clear();
      await this.relisten();
    }
  }

  /** The camera drops its stream readers: every RTSP connection through the link is closed (ONVIF untouched). */
  cutRtsp(): number {
    let cut = 0;
    for (const socket of this.rtspSockets) {
      socket.destroy();
      cut++;
    }
    return cut;
  }

  /** A reboot's effect on the stream: every RTSP session ends. */
  cutAll(): void {
    for (const socket of this.sockets) {
      socket.destroy();
    }
  }

  async stop(): Promise<void> {
    this.cutAll();
    await Promise.all([close(this.http), close(this.rtsp)]);
  }

  private async relisten(): Promise<void> {
    if (!this.http.listening) {
      await listen(this.http, this.onvifPort);
    }
    if (!this.rtsp.listening) {
      await listen(this.rtsp, this.rtspPort);
    }
  }

  private rewrite(text: string): string {
    return text
      .replace(new RegExp(`(//(?:127\\.0\\.0\\.1|localhost)):${this.simPort}\\b`, 'g'), `$1:${this.onvifPort}`)
      .replace(/rtsp:\/\/127\.0\.0\.1:(\d+)\//g, (_all, port: string) => {
        this.mediaPort = Number(port);
        return `rtsp://${HOST}:${this.rtspPort}/`;
      });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.mode_ !== 'up') {
      return; // black-holed: never answered
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      const headers = { ...req.headers, host: `${HOST}:${this.simPort}` };
      const upstream = request({ host: HOST, port: this.simPort, method: req.method, path: req.url, headers, agent: false }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => body.push(chunk));
        answer.on('error', () => req.socket.destroy());
        answer.on('end', () => {
          if (this.mode_ !== 'up' || res.destroyed) {
            return; // stalled or cut meanwhile
          }
          const raw = Buffer.concat(body);
          const type = String(answer.headers['content-type'] ?? '');
          const out = /xml|soap|text|json/i.test(type) ? Buffer.from(this.rewrite(raw.toString('utf8')), 'utf8') : raw;
          const h = { ...answer.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          delete h.connection;
          delete h['keep-alive'];
          res.writeHead(answer.statusCode ?? 502, { ...h, 'content-length': String(out.length) });
          res.end(out);
        });
      });
      upstream.on('error', () => req.socket.destroy()); // the camera is gone: so is this connection
      res.on('close', () => upstream.destroy()); // the plugin gave up (e.g. a long-poll it aborted)
      upstream.end(Buffer.concat(chunks));
    });
  }

  private onRtsp(client: Socket): void {
    if (this.mode_ !== 'up' || this.mediaPort === 0) {
      if (this.mode_ === 'up') {
        client.destroy(); // no stream URI handed out yet: nothing to connect to
      } else {
        client.pause();
      }
      return;
    }
    this.rtspConnections++;
    const upstream = connect(this.mediaPort, HOST);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      this.held.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
