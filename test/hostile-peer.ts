// A stranger on the network, below HTTP: raw requests that clients would never send, connections that send nothing or
// trickle. Shared by the tests of the plugin's two servers (manual triggers, push receiver). Loopback only, all bounded.
import net from 'node:net';

export interface Exchange {
  /** The HTTP status the server answered, 0 when it answered nothing. */
  status: number;
  text: string;
  /** From the first write to the server closing the connection. */
  closedAfterMs: number;
}

/** Writes `request` on a fresh connection and reads until the server closes it (or the bound, then it is cut). */
export function exchange(port: number, request: string | Buffer, boundMs = 5_000, host = '127.0.0.1'): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const socket = net.connect(port, host, () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open beyond ${boundMs} ms`));
    }, boundMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset is one way of closing: 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, closedAfterMs: performance.now() - started });
    });
  });
}

/** `count` connections that each send `opening` (nothing by default) and then nothing more; reports when each is closed. */
export async function silentConnections(port: number, count: number, opening = '', host = '127.0.0.1'): Promise<{
  open: () => number;
  allClosed: (boundMs: number) => Promise<number>;
  destroy: () => void;
}> {
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<net.Socket>((resolve) => {
    const s = net.connect(port, host, () => {
      if (opening) {
        s.write(opening);
      }
      resolve(s);
    });
    s.on('error', () => undefined);
    s.resume(); // read what the server says (a 408), so its close reaches us
    s.on('close', () => resolve(s)); // refused outright: counted as closed below
  })));
  const open = (): number => sockets.filter((s) => !s.destroyed && !s.closed).length;
  return {
    open,
    /** Resolves with the ms it took for every connection to be closed by the server, or rejects after `boundMs`. */
    allClosed: async (boundMs) => {
      const started = performance.now();
      while (open() > 0) {
        if (performance.now() - started > boundMs) {
          throw new Error(`${open()} of ${count} connections still open after ${boundMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return performance.now() - started;
    },
    destroy: () => sockets.forEach((s) => s.destroy()),
  };
}
