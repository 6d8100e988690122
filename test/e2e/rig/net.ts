// Loopback-only network helpers for the rig: a free TCP port, and waiting until a port accepts connections.
import { createConnection, createServer } from 'node:net';
import { sleep } from './wait';

/**
 * A TCP port free on every address right now: HAP-NodeJS listens on 0.0.0.0 or `::` (dual-stack, IPv4 included) even
 * when the bridge's `bind` narrows mDNS to loopback, so probe the widest of them.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '::', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not allocate a port'))));
    });
  });
}

/** Whether host:port accepts a TCP connection within timeoutMs (127.0.0.1 unless said). */
export function tryConnect(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after timeoutMs. */
export async function waitForTcp(port: number, timeoutMs: number, isAborted: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const aborted = isAborted();
    if (aborted) {
      throw new Error(aborted);
    }
    if (await tryConnect(port, Math.min(1000, Math.max(1, deadline - Date.now())))) {
      return;
    }
    await sleep(100);
  }
  throw new Error(`127.0.0.1:${port} did not accept connections within ${timeoutMs} ms`);
}
