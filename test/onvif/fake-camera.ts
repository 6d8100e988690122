// A one-route HTTP server on 127.0.0.1 whose reply each test sets: the misbehaving "camera" of the SOAP and hostile-input tests.
import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { SoapError } from '../../src/onvif/soap';

export interface FakeCamera {
  url: () => string;
  port: () => number;
  reply: (fn: http.RequestListener) => void;
  close: () => Promise<void>;
}

export function fakeCamera(): FakeCamera {
  let handler: http.RequestListener = (_req, res) => res.end();
  const server = http.createServer((req, res) => handler(req, res));
  server.listen(0, '127.0.0.1');
  const port = (): number => (server.address() as AddressInfo).port;
  return {
    url: () => `http://127.0.0.1:${port()}/onvif/device_service`,
    port,
    reply: (fn) => {
      handler = fn;
    },
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** A SOAP 1.2 envelope around `body`. */
export const SOAP = (body: string): string =>
  `<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>${body}</env:Body></env:Envelope>`;

/** The SoapError a request fails with (and fails the test when it succeeds, or fails with anything else). */
export async function failure(p: Promise<unknown>): Promise<SoapError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SoapError, `expected SoapError, got ${err}`);
    return err;
  }
  throw new Error('expected the request to fail');
}
