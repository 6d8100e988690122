// The HTTP listener of one simulated camera: capped request bodies, tracked sockets, and an on/off switch that
// behaves like a camera losing power (listener closed, every open connection destroyed).
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { closeServer } from '../../src/util/close-server';
import type { SimHost } from './types';

export const MAX_BODY_BYTES = 64 * 1024;

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer, signal: AbortSignal) => Promise<void>;

export class CameraHttpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  constructor(private readonly handler: RequestHandler, private readonly maxBodyBytes = MAX_BODY_BYTES) {
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    // Keep-alive as cameras do; long-polls are responses, so they are not cut by requestTimeout.
    this.server.keepAliveTimeout = 10_000;
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Listens on loopback (port 0 = ephemeral; later calls reuse the first bound port). */
  listen(port: number, host: SimHost = '127.0.0.1'): Promise<number> {
    if (this.server.listening) {
      return Promise.resolve(this.boundPort);
    }
    const wanted = this.boundPort || port;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(wanted, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : wanted;
        resolve(this.boundPort);
      });
    });
  }

  /** Stops accepting and destroys every open connection (pending long-polls included). */
  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        controller.abort();
      }
    });
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.maxBodyBytes) {
      this.tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let rejected = false;
    req.on('data', (chunk: Buffer) => {
      if (rejected) {
        return;
      }
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        rejected = true;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => controller.abort());
    req.on('end', () => {
      if (rejected) {
        return;
      }
      this.handler(req, res, Buffer.concat(chunks), controller.signal).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
        }
        res.end(`internal error: ${(err as Error).message}`);
      });
    });
  }

  // The rest of an oversized body is never read: answer 413 and close the connection.
  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('request body too large', () => req.socket.destroy());
  }
}
