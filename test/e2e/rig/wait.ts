// Bounded waiting primitives: every wait in the rig has a deadline, and says what it was waiting for when it expires.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once `check` holds, checking every `intervalMs`; rejects after `timeoutMs` with what it waited for (`what`
 * may be a function, to describe the state at that moment, e.g. the log lines seen).
 */
export async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 15_000,
  intervalMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await sleep(intervalMs);
  }
}

/** Rejects with `what` if the promise has not settled within ms. Does not cancel the underlying work. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Used in the timeout error: what we were waiting for. */
  what: string;
}

/**
 * Calls probe until it returns a value other than undefined, or the deadline passes. A probe that throws is retried
 * (the target may not be up yet); the last error is reported on timeout.
 */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const interval = options.intervalMs ?? 250;
  const deadline = Date.now() + options.timeoutMs;
  let lastError: Error | undefined;
  let attempts = 0;
  while (attempts === 0 || Date.now() < deadline) {
    attempts++;
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
      lastError = undefined;
    } catch (err) {
      lastError = err as Error;
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  const suffix = lastError ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${options.timeoutMs} ms (${attempts} attempts) waiting for ${options.what}${suffix}`);
}
