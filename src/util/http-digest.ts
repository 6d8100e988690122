import { createHash, randomBytes } from 'node:crypto';

/** The parameters of a `WWW-Authenticate: Digest ...` challenge (RFC 7616). */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  qop?: string;
  opaque?: string;
  algorithm: 'MD5' | 'SHA-256';
}

/** Reads a Digest challenge from a WWW-Authenticate header (which may list Basic too), or undefined. */
export function parseDigestChallenge(header: string | string[] | undefined): DigestChallenge | undefined {
  const all = Array.isArray(header) ? header : header ? [header] : [];
  const digest = all.map((h) => /Digest\s+(.*)$/i.exec(h)?.[1]).find(Boolean);
  if (!digest) {
    return undefined;
  }
  const params: Record<string, string> = {};
  for (const m of digest.matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)) {
    params[m[1].toLowerCase()] = m[2] ?? m[3];
  }
  if (params.realm === undefined || !params.nonce) {
    return undefined;
  }
  const algorithm = /^SHA-256$/i.test(params.algorithm ?? '') ? 'SHA-256' : 'MD5';
  // Cameras offer "auth,auth-int"; we only ever send auth (the body is not hashed).
  const qop = params.qop?.split(',').map((q) => q.trim()).includes('auth') ? 'auth' : undefined;
  return { realm: params.realm, nonce: params.nonce, qop, opaque: params.opaque, algorithm };
}

/** The Authorization header answering a Digest challenge for one request. */
export function digestAuthorization(ch: DigestChallenge, method: string, uri: string, username: string, password: string, nc = 1): string {
  const h = (s: string): string => createHash(ch.algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');
  const ha1 = h(`${username}:${ch.realm}:${password}`);
  const ha2 = h(`${method}:${uri}`);
  const q = (s: string): string => s.replace(/[\\"]/g, (c) => `\\${c}`);
  const parts = [`username="${q(username)}"`, `realm="${q(ch.realm)}"`, `nonce="${q(ch.nonce)}"`, `uri="${q(uri)}"`, `algorithm=${ch.algorithm}`];
  if (ch.qop) {
    const ncHex = nc.toString(16).padStart(8, '0');
    const cnonce = randomBytes(8).toString('hex');
    parts.push(`qop=${ch.qop}`, `nc=${ncHex}`, `cnonce="${cnonce}"`, `response="${h(`${ha1}:${ch.nonce}:${ncHex}:${cnonce}:${ch.qop}:${ha2}`)}"`);
  } else {
    parts.push(`response="${h(`${ha1}:${ch.nonce}:${ha2}`)}"`);
  }
  if (ch.opaque !== undefined) {
    parts.push(`opaque="${q(ch.opaque)}"`);
  }
  return `Digest ${parts.join(', ')}`;
}
