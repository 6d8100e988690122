import assert from 'node:assert/strict';
import { raceAbort, sleep } from '../../src/util/abort';

describe('abort helpers', () => {
  it('raceAbort passes the work\'s result through while the signal stays quiet', async () => {
    assert.equal(await raceAbort(Promise.resolve(7), new AbortController().signal), 7);
    await assert.rejects(raceAbort(Promise.reject(new Error('broken')), new AbortController().signal), /broken/);
  });

  it('raceAbort rejects with the signal\'s reason at once, even when the work never ends', async () => {
    const abort = new AbortController();
    const pending = raceAbort(new Promise<never>(() => undefined), abort.signal);
    abort.abort(new Error('stopped'));
    await assert.rejects(pending, /stopped/);
    await assert.rejects(raceAbort(Promise.resolve(1), AbortSignal.abort(new Error('before'))), /before/);
  });

  it('sleep ends early when the signal aborts, and resolves either way', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const slept = sleep(10_000, abort.signal);
    abort.abort();
    await slept;
    assert.ok(Date.now() - started < 1_000);
    await sleep(5);
  });
});
