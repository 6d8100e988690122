// Where the commands print, and the exit codes they end with. Every line goes through redact(): a camera can put
// credentials into any URI it hands out, and the user's password must not reach a terminal, a log or a bug report.
import { redact } from '../util/redact';
import { RequestError } from '../util/request-error';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
/** The camera refused the user name or password: worth telling apart in scripts (fix the config, not the network). */
export const EXIT_AUTH = 2;

export interface Output {
  /** Results (stdout). */
  line(text: string): void;
  /** What went wrong (stderr). */
  error(text: string): void;
}

/** Wraps an output so that nothing reaches it unredacted, whatever the command passes in. */
export function redacting(out: Output): Output {
  return {
    line: (text) => out.line(redact(text)),
    error: (text) => out.error(redact(text)),
  };
}

/** The process's stdout and stderr. */
export function consoleOutput(): Output {
  return redacting({
    line: (text) => process.stdout.write(`${text}\n`),
    error: (text) => process.stderr.write(`${text}\n`),
  });
}

/** One JSON document, every string in it redacted before encoding (so escaping cannot hide a password from redact). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redact(v) : v), 2);
}

/** The camera refused the credentials (a SOAP call or a snapshot GET). */
export function isAuthError(err: unknown): boolean {
  return err instanceof RequestError && err.kind === 'auth';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
