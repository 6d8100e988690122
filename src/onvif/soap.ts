import http from 'node:http';
import { SOAP_MAX_RESPONSE_BYTES, SOAP_TIMEOUT_MS } from '../settings';
import { child, parseXml, path, textAt, XmlElement, XmlError } from './xml';
import { securityHeader } from './wsse';
import { DigestChallenge, digestAuthorization, parseDigestChallenge } from '../util/http-digest';
import { RequestError } from '../util/request-error';

/** A SOAP call that failed (its kinds: RequestErrorKind); a class of its own so callers can tell it from a snapshot GET's. */
export class SoapError extends RequestError {}

export interface SoapCredentials {
  username: string;
  password: string;
  /** Camera clock minus ours, so WS-Security `Created` reads as "now" on the camera. */
  clockOffsetMs: number;
}

export interface SoapRequestOptions {
  /** Sign the request with WS-Security; false for the ONVIF pre-auth calls (GetSystemDateAndTime, GetCapabilities). */
  auth?: SoapCredentials;
  timeoutMs?: number;
  maxBytes?: number;
  signal?: AbortSignal;
  /** More SOAP header XML, e.g. WS-Addressing To/Action and a subscription's reference parameters. */
  header?: string;
}

const NAMESPACES =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ' +
  'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" ' +
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ' +
  'xmlns:wsa="http://www.w3.org/2005/08/addressing" ' +
  'xmlns:tt="http://www.onvif.org/ver10/schema"';

/** Cameras answer faster on a kept-alive socket, and PullMessages long-polls reuse one. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 4, keepAliveMsecs: 10_000 });

export function envelope(body: string, header = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NAMESPACES}><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

/** The SOAP 1.2 (or 1.1) fault inside an envelope, as code + reason, or undefined. */
function readFault(env: XmlElement): { code: string; reason: string } | undefined {
  const fault = path(env, 'Body', 'Fault');
  if (!fault) {
    return undefined;
  }
  const code = path(fault, 'Code');
  const sub = textAt(code, 'Subcode', 'Value') ?? textAt(code, 'Value') ?? textAt(fault, 'faultcode') ?? '';
  const reason = textAt(fault, 'Reason', 'Text') ?? textAt(fault, 'faultstring') ?? '';
  return { code: sub.replace(/^.*:/, ''), reason: reason.trim() };
}

function isAuthFault(code: string, reason: string): boolean {
  return /NotAuthorized|FailedAuthentication|InvalidSecurity|Unauthorized/i.test(code) || /not authori[sz]ed/i.test(reason);
}

interface HttpReply {
  status: number;
  challenge?: string | string[];
  text: string;
}

/** One POST, bounded in time and size; resolves with the raw reply or rejects with a SoapError. */
function post(url: string, payload: Buffer, authorization: string | undefined, timeoutMs: number, maxBytes: number,
  signal: AbortSignal | undefined): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const finish = (err: SoapError | undefined, reply?: HttpReply): void => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(reply!);
      }
    };
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/soap+xml; charset=utf-8', 'Content-Length': payload.length };
    if (authorization) {
      headers.Authorization = authorization;
    }
    const req = http.request(url, { method: 'POST', agent, headers });
    const timer = setTimeout(() => finish(new SoapError('timeout', `no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const onAbort = (): void => finish(new SoapError('cancelled', 'request cancelled'));
    // The error listener comes first: destroying a request (timeout, abort) emits 'error', and an unheard one crashes the process.
    req.on('error', (err: NodeJS.ErrnoException) => {
      const what = err.code === 'ECONNREFUSED' ? 'connection refused (is the ONVIF port right, and ONVIF enabled on the camera?)'
        : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'ENOTFOUND' ? `not reachable (${err.code})`
          : `network error (${err.code ?? err.message})`;
      finish(new SoapError('unreachable', what));
    });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          finish(new SoapError('bad-reply', `reply larger than ${Math.round(maxBytes / 1024)} KiB, refused`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', () => finish(new SoapError('unreachable', 'connection dropped while reading the reply')));
      res.on('end', () => finish(undefined, {
        status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'], text: Buffer.concat(chunks).toString('utf8'),
      }));
    });
    req.end(payload);
  });
}

/** Turns a raw reply into the body's first element, or the SoapError that explains it. */
function interpretReply({ status, text }: HttpReply): XmlElement {
  let env: XmlElement | undefined;
  try {
    env = text.trim() ? parseXml(text) : undefined;
  } catch (err) {
    if (!(err instanceof XmlError)) {
      throw err;
    }
    if (status >= 200 && status < 300) {
      throw new SoapError('bad-reply', `answered with unreadable XML (${err.message})`);
    }
  }
  const fault = env && readFault(env);
  if (status === 401 || (fault && isAuthFault(fault.code, fault.reason))) {
    throw new SoapError('auth', 'authentication failed: check the username and password', fault?.code);
  }
  if (fault) {
    throw new SoapError('fault', `camera refused the request: ${fault.code || 'fault'}${fault.reason ? ` (${fault.reason})` : ''}`, fault.code);
  }
  if (status < 200 || status >= 300) {
    throw new SoapError('http', `answered HTTP ${status} instead of SOAP (is this the ONVIF port?)`);
  }
  if (!env || env.name !== 'Envelope' || !child(env, 'Body')) {
    throw new SoapError('bad-reply', 'answered something that is not a SOAP envelope (is this the ONVIF port?)');
  }
  const body = child(env, 'Body')!;
  const first = body.children[0];
  if (!first) {
    throw new SoapError('bad-reply', 'answered an empty SOAP body');
  }
  // Cameras often declare topic prefixes on the Envelope; carry them down so the returned element can resolve them.
  for (const holder of [body, env]) {
    for (const [k, v] of Object.entries(holder.attrs)) {
      if (k.startsWith('xmlns:') && !(k in first.attrs)) {
        first.attrs[k] = v;
      }
    }
  }
  return first;
}

/** The last Digest challenge per camera and user, so later requests authenticate at once instead of after a 401 each. */
const digestCache = new Map<string, { challenge: DigestChallenge; nc: number }>();

/**
 * Posts one SOAP 1.2 request and returns the first element of the reply's Body. Authenticates with WS-Security and,
 * for cameras that demand it, HTTP Digest as well. Every failure becomes a SoapError whose message says what happened
 * (no camera name: the caller adds it). Bounded in time and in reply size.
 */
export async function soapRequest(url: string, body: string, opts: SoapRequestOptions = {}): Promise<XmlElement> {
  const header = (opts.auth ? securityHeader(opts.auth.username, opts.auth.password, opts.auth.clockOffsetMs) : '') + (opts.header ?? '');
  const payload = Buffer.from(envelope(body, header), 'utf8');
  const timeoutMs = opts.timeoutMs ?? SOAP_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? SOAP_MAX_RESPONSE_BYTES;
  const target = new URL(url);
  const uri = `${target.pathname}${target.search}`;
  const key = opts.auth ? `${target.host}|${opts.auth.username}` : '';
  const authorize = (): string | undefined => {
    const cached = key ? digestCache.get(key) : undefined;
    return cached && opts.auth ? digestAuthorization(cached.challenge, 'POST', uri, opts.auth.username, opts.auth.password, ++cached.nc) : undefined;
  };

  let reply = await post(url, payload, authorize(), timeoutMs, maxBytes, opts.signal);
  const challenge = reply.status === 401 && opts.auth ? parseDigestChallenge(reply.challenge) : undefined;
  if (challenge) {
    // A fresh (or first) challenge: answer it once. A second 401 is a wrong password, reported as such.
    digestCache.set(key, { challenge, nc: 0 });
    reply = await post(url, payload, authorize(), timeoutMs, maxBytes, opts.signal);
  }
  return interpretReply(reply);
}
