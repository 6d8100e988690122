// One HTTP(S) GET of a camera resource (a snapshot), answering a Basic or Digest challenge, bounded in time and size.
import http from 'node:http';
import https from 'node:https';
import { digestAuthorization, parseDigestChallenge } from './http-digest';
import { RequestError } from './request-error';

/** A GET that failed (its kinds: RequestErrorKind); a class of its own so callers can tell it from a SOAP call's. */
export class HttpGetError extends RequestError {}

export interface HttpGetOptions {
  username?: string;
  password?: string;
  /** The whole exchange, challenge round trip included. */
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
}

export interface HttpGetReply {
  status: number;
  contentType?: string;
  body: Buffer;
  /** How we got in: tells the user which scheme the camera wants (the plugin must speak it too). */
  auth: 'none' | 'basic' | 'digest';
}

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function once(url: URL, authorization: string | undefined, maxBytes: number, signal: AbortSignal): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { Accept: 'image/jpeg, */*' };
    if (authorization) {
      headers.Authorization = authorization;
    }
    const lib = url.protocol === 'https:' ? https : http;
    // agent false: one short exchange, and no kept-alive socket left to hold the process open.
    const req = lib.request(url, { method: 'GET', headers, agent: false, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.destroy();
          reject(new HttpGetError('too-large', `answered more than ${Math.round(maxBytes / 1024)} KiB, refused`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => reject(err));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A network error or an abort, in words (which of the two signals fired decides timeout versus cancelled). */
function explain(err: unknown, timeoutMs: number, deadline: AbortSignal, caller: AbortSignal | undefined): HttpGetError {
  if (err instanceof HttpGetError) {
    return err;
  }
  if (caller?.aborted) {
    return new HttpGetError('cancelled', 'cancelled');
  }
  if (deadline.aborted) {
    return new HttpGetError('timeout', `no answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Number((timeoutMs / 1000).toFixed(1))} s`}`);
  }
  const code = (err as NodeJS.ErrnoException).code;
  return new HttpGetError('unreachable', code === 'ECONNREFUSED' ? 'connection refused' : `network error (${code ?? (err as Error).message})`);
}

const isStale = (header: string | string[] | undefined): boolean =>
  [header ?? []].flat().some((h) => /^\s*Digest\b.*\bstale\s*=\s*"?true"?/i.test(h));

/**
 * GETs `target`. Credentials go only in answer to a challenge (never Basic up front, which would send the password in
 * clear text to a Digest camera); user:pass@ in the URL is used as credentials and never sent as is.
 */
export async function httpGet(target: string, opts: HttpGetOptions): Promise<HttpGetReply> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HttpGetError('http', `is not an http(s) URL (${url.protocol})`);
  }
  const username = opts.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password = opts.password ?? (url.password ? decodeURIComponent(url.password) : '');
  url.username = '';
  url.password = '';
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const uri = `${url.pathname}${url.search}`;
  try {
    let reply = await once(url, undefined, opts.maxBytes, signal);
    let auth: HttpGetReply['auth'] = 'none';
    // At most two answers: the first challenge, and a fresh nonce if the camera calls ours stale.
    for (let attempt = 0; reply.status === 401 && username !== undefined && attempt < 2; attempt++) {
      const header = reply.headers['www-authenticate'];
      if (attempt > 0 && !(auth === 'digest' && isStale(header))) {
        break;
      }
      const digest = parseDigestChallenge(header);
      let authorization: string;
      if (digest) {
        auth = 'digest';
        authorization = digestAuthorization(digest, 'GET', uri, username, password, 1);
      } else if ([header ?? []].flat().some((h) => /^\s*Basic\b/i.test(h))) {
        auth = 'basic';
        authorization = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
      } else {
        throw new HttpGetError('auth', `asks for an authentication scheme other than Basic or Digest (${String(header ?? 'none')})`);
      }
      reply = await once(url, authorization, opts.maxBytes, signal);
    }
    if (reply.status === 401) {
      throw new HttpGetError('auth', username === undefined ? 'asks for a user name and password'
        : 'authentication failed: check the username and password');
    }
    if (reply.status < 200 || reply.status >= 300) {
      const where = reply.headers.location ? ` (to ${reply.headers.location})` : '';
      throw new HttpGetError('http', `answered HTTP ${reply.status}${where}`);
    }
    const type = reply.headers['content-type'];
    return { status: reply.status, contentType: type, body: reply.body, auth };
  } catch (err) {
    throw explain(err, opts.timeoutMs, deadline, opts.signal);
  }
}
