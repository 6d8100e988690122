// Every request from the settings page is answered within a bound, with a sentence, never left hanging: a camera that
// stops answering mid-check must not leave a committee member staring at a spinner.

/** A failure the page shows as it is: one sentence saying what to fix, and optional data for the page (never a password). */
export class UiError extends Error {
  constructor(message: string, readonly detail: Record<string, unknown> = {}) {
    super(message);
  }
}

/**
 * Runs `work` with a signal that aborts after `ms` (or when `outer` aborts) and rejects with a UiError naming `what`
 * and what to do (`hint`) at the bound even if the work ignores its signal. The work's own UiErrors pass through unchanged.
 */
export async function bounded<T>(ms: number, what: string, hint: string, work: (signal: AbortSignal) => Promise<T>,
  outer?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new UiError(`${what} took longer than ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`} and was stopped; ${hint}`, { timeout: true });
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), late]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}
