// Credentials must never reach a log: URLs carry them as user:pass@ and ffmpeg arguments carry whole URLs.

const secrets = new Set<string>();

/** Shortest secret we replace verbatim; shorter ones would turn ordinary words in log lines into asterisks. */
const MIN_SECRET_LENGTH = 3;

/** Remembers a password so that redact() removes it wherever it appears (query strings, ffmpeg error text). */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_SECRET_LENGTH) {
    secrets.add(secret);
  }
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*)(?::[^/@\s]*)?@/gi;

/** Replaces URL passwords and every registered secret with ***. */
export function redact(text: string): string {
  let out = text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user ? `${user}:***` : '***'}@`);
  for (const s of secrets) {
    if (out.includes(s)) {
      out = out.split(s).join('***');
    }
  }
  return out;
}
