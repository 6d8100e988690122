// Credentials must never reach a log: URLs carry them as user:pass@ and ffmpeg arguments carry whole URLs.

const secrets = new Set<string>();

/** Shortest secret we replace verbatim; shorter ones would turn ordinary words in log lines into asterisks. */
const MIN_SECRET_LENGTH = 3;

/**
 * Remembers a password so that redact() removes it wherever it appears (query strings, ffmpeg error text), as typed and
 * percent-encoded: a caller may register either form (a URL's password is the encoded one) and the other is logged too.
 */
export function registerSecret(secret: string | undefined): void {
  if (!secret) {
    return;
  }
  let decoded = secret;
  try {
    decoded = decodeURIComponent(secret);
  } catch {
    // not percent-encoded text (a lone '%'): the typed form only
  }
  for (const form of new Set([secret, encodeURIComponent(secret), decoded, encodeURIComponent(decoded)])) {
    if (form.length >= MIN_SECRET_LENGTH) {
      secrets.add(form);
    }
  }
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*)(?::[^/@\s]*)?@/gi;

/** Replaces URL passwords and every registered secret with ***. */
export function redact(text: string): string {
  let out = text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user ? `${user}:***` : '***'}@`);
  // Longest first: a short secret found inside a longer one must not split it and leave the rest of it readable.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) {
      out = out.split(s).join('***');
    }
  }
  return out;
}
