// Shared by the CLI tests: an Output that records what a command printed, and a free loopback port.
import net from 'node:net';
import type { Output } from '../../src/cli/output';

export interface Captured extends Output {
  lines: string[];
  errors: string[];
  /** Everything printed, stdout then stderr. */
  text(): string;
  /** Called with every stdout line as it is printed (to act on "subscribed" and on event lines). */
  onLine?: (text: string) => void;
}

export function capture(): Captured {
  const c: Captured = {
    lines: [],
    errors: [],
    line(text) {
      // A multi-line string (the JSON document) counts as its lines.
      for (const l of text.split('\n')) {
        c.lines.push(l);
        c.onLine?.(l);
      }
    },
    error(text) {
      c.errors.push(...text.split('\n'));
    },
    text: () => [...c.lines, ...c.errors].join('\n'),
  };
  return c;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
