import { createHash, randomBytes } from 'node:crypto';
import { escapeXml } from './xml';

// WS-Security UsernameToken Profile 1.0 §3.1: PasswordDigest = Base64(SHA-1(nonce + created + password)),
// where nonce is the raw bytes (sent Base64-encoded) and created is the UTC time the camera checks for freshness.
export const PASSWORD_DIGEST_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
export const NONCE_ENCODING =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created + password, 'utf8')])).digest('base64');
}

/** ISO time without milliseconds, as cameras expect in `Created`. */
export function wsseTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The wsse:Security header for one request. `clockOffsetMs` is (camera clock - our clock): adding it makes
 * `Created` read as "now" on a camera whose clock is off, which is what lets a skewed camera authenticate.
 */
export function securityHeader(username: string, password: string, clockOffsetMs: number, now = Date.now()): string {
  const nonce = randomBytes(16);
  const created = wsseTime(now + clockOffsetMs);
  return '<wsse:Security s:mustUnderstand="1" ' +
    'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ' +
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">' +
    '<wsse:UsernameToken>' +
    `<wsse:Username>${escapeXml(username)}</wsse:Username>` +
    `<wsse:Password Type="${PASSWORD_DIGEST_TYPE}">${passwordDigest(nonce, created, password)}</wsse:Password>` +
    `<wsse:Nonce EncodingType="${NONCE_ENCODING}">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created>` +
    '</wsse:UsernameToken></wsse:Security>';
}
