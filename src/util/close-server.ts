import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Stops an HTTP server for good: destroys every socket it handed out (long-polls and idle keep-alives included, which
 * server.close() alone would wait for) and resolves once it is closed. Idempotent.
 */
export function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) {
    s.destroy();
  }
  sockets.clear();
  if (!server.listening) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
