// Server-side credential checks of a simulated camera: WS-Security UsernameToken, HTTP Digest (RFC 7616), Basic.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { XmlElement, child, find } from '../../src/onvif/xml';

/**
 * Accepted distance between wsu:Created and the camera's clock. WS-Security leaves the freshness window to the
 * receiver; 5 minutes is the usual choice (Apache WSS4J's default timestamp TTL is 300 s) and wide enough that
 * only a real clock error fails, which is exactly the case the simulator must reproduce (a camera whose clock is
 * off by more than this rejects a client that does not correct for it with GetSystemDateAndTime).
 */
export const CREATED_WINDOW_MS = 5 * 60 * 1000;

const MAX_REMEMBERED = 4096; // nonces remembered for replay checks; oldest forgotten first

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Remembers recently seen values for `ttlMs`, bounded in size. */
class RecentSet {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  /** True when the value was new (and is now remembered). */
  add(value: string, now: number): boolean {
    for (const [k, at] of this.seen) {
      if (now - at <= this.ttlMs && this.seen.size < MAX_REMEMBERED) {
        break;
      }
      this.seen.delete(k);
    }
    if (this.seen.has(value)) {
      return false;
    }
    this.seen.set(value, now);
    return true;
  }
}

/**
 * WS-Security UsernameToken Profile 1.0 §3.1: Base64(SHA-1(nonce bytes + Created + password)). Written here again on
 * purpose, not imported from the plugin: the simulated camera checks the plugin's digest, so a bug in the plugin's
 * function must not pass on both sides. Both are held to published known answers (test/onvif/wsse.test.ts).
 */
export function expectedPasswordDigest(nonceBase64: string, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.from(nonceBase64, 'base64'))
    .update(created, 'utf8')
    .update(password, 'utf8')
    .digest('base64');
}

export type AuthResult = { ok: true } | { ok: false; reason: string };

export class UsernameTokenVerifier {
  private readonly nonces = new RecentSet(2 * CREATED_WINDOW_MS);

  constructor(private readonly username: string, private readonly password: string) {}

  /** Checks the wsse:Security header of a request against the camera's clock (`cameraNowMs`). */
  verify(header: XmlElement | undefined, cameraNowMs: number): AuthResult {
    const token = find(child(header, 'Security'), 'UsernameToken');
    if (!token) {
      return { ok: false, reason: 'no UsernameToken' };
    }
    const user = child(token, 'Username')?.text ?? '';
    const pw = child(token, 'Password');
    const nonceText = child(token, 'Nonce')?.text ?? '';
    const created = child(token, 'Created')?.text ?? '';
    if (!safeEqual(user, this.username) || !pw) {
      return { ok: false, reason: 'unknown user' };
    }
    const type = pw.attrs.Type ?? '';
    if (type.endsWith('#PasswordText')) {
      // Some cameras accept plain text tokens; it needs no clock, so accept it as they do.
      return safeEqual(pw.text, this.password) ? { ok: true } : { ok: false, reason: 'wrong password' };
    }
    const createdMs = Date.parse(created);
    if (Number.isNaN(createdMs) || !nonceText) {
      return { ok: false, reason: 'Created/Nonce missing' };
    }
    if (Math.abs(createdMs - cameraNowMs) > CREATED_WINDOW_MS) {
      return { ok: false, reason: 'Created outside the camera clock window' };
    }
    const expected = expectedPasswordDigest(nonceText, created, this.password);
    if (!safeEqual(pw.text, expected)) {
      return { ok: false, reason: 'wrong digest' };
    }
    if (!this.nonces.add(`${nonceText}|${created}`, cameraNowMs)) {
      return { ok: false, reason: 'replayed nonce' };
    }
    return { ok: true };
  }
}

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** Parses `Digest a="b", c=d` (quoted strings may contain commas and escaped quotes). */
export function parseAuthParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return out;
}

const NONCE_LIFETIME_MS = 5 * 60 * 1000;

/** HTTP Digest (RFC 7616, MD5, qop=auth) as IP cameras implement it, with nonce expiry and nc replay checks. */
export class DigestAuthority {
  private readonly nonces = new Map<string, { issued: number; lastNc: number }>();
  private readonly opaque = randomBytes(8).toString('hex');

  constructor(readonly realm: string, private readonly username: string, private readonly password: string) {}

  challenge(stale = false): string {
    const now = Date.now();
    for (const [k, v] of this.nonces) {
      if (now - v.issued <= NONCE_LIFETIME_MS && this.nonces.size < MAX_REMEMBERED) {
        break;
      }
      this.nonces.delete(k);
    }
    const nonce = randomBytes(16).toString('hex');
    this.nonces.set(nonce, { issued: now, lastNc: 0 });
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", opaque="${this.opaque}", algorithm=MD5` +
      (stale ? ', stale=TRUE' : '');
  }

  /** 'stale' = right credentials on an expired nonce (client should retry with the new one). */
  verify(method: string, requestUri: string, authorization: string | undefined): 'ok' | 'stale' | 'bad' {
    if (!authorization || !/^Digest\s/i.test(authorization)) {
      return 'bad';
    }
    const p = parseAuthParams(authorization.slice(7));
    if (p.username !== this.username || p.realm !== this.realm || p.uri !== requestUri || p.qop !== 'auth' ||
        (p.algorithm !== undefined && p.algorithm.toUpperCase() !== 'MD5') || !p.nonce || !p.nc || !p.cnonce ||
        !p.response) {
      return 'bad';
    }
    const ha1 = md5(`${this.username}:${this.realm}:${this.password}`);
    const ha2 = md5(`${method}:${p.uri}`);
    const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
    if (!safeEqual(p.response.toLowerCase(), expected)) {
      return 'bad';
    }
    const state = this.nonces.get(p.nonce);
    if (!state || Date.now() - state.issued > NONCE_LIFETIME_MS) {
      return 'stale';
    }
    const nc = parseInt(p.nc, 16);
    if (!(nc > state.lastNc)) {
      return 'bad'; // replayed request
    }
    state.lastNc = nc;
    return 'ok';
  }
}

export function verifyBasic(authorization: string | undefined, username: string, password: string): boolean {
  if (!authorization || !/^Basic\s/i.test(authorization)) {
    return false;
  }
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  return safeEqual(decoded, `${username}:${password}`);
}
