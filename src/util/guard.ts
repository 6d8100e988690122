// HAP calls our camera delegates with callbacks it does not await: an exception there would reach Homebridge, and a
// second answer (or none) confuses HAP. Every such callback goes through answerOnce.

import type { Log } from './log';

/**
 * Runs `work` and hands its result to `callback` exactly once: a thrown error or rejection becomes the callback's error
 * (with a log line), and anything that happens after the answer (a late result or fault) is only logged.
 */
export function answerOnce<T>(log: Pick<Log, 'error' | 'debug'>, what: string, callback: (error?: Error, value?: T) => void,
  work: () => Promise<T>): void {
  let answered = false;
  const answer = (error?: Error, value?: T): void => {
    if (answered) {
      if (error) {
        log.debug(`${what}: failed after it was answered: ${error.message}`);
      }
      return;
    }
    answered = true;
    try {
      callback(error, value);
    } catch (err) {
      log.error(`${what}: HomeKit's handler threw: ${(err as Error).message}`);
    }
  };
  let started: Promise<T>;
  try {
    started = work();
  } catch (err) {
    started = Promise.reject(err);
  }
  started.then((value) => answer(undefined, value), (err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    log.error(`${what}: ${error.message}`);
    answer(error);
  });
}
