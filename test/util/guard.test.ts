import assert from 'node:assert/strict';
import { answerOnce } from '../../src/util/guard';

function recorder(): { log: { error: (m: string) => void; debug: (m: string) => void }; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: { error: (m) => lines.push(`error ${m}`), debug: (m) => lines.push(`debug ${m}`) } };
}

describe('answerOnce', () => {
  it('answers with the value once', async () => {
    const { log } = recorder();
    const answers: unknown[][] = [];
    answerOnce(log, 'snapshot', (...a) => answers.push(a), () => Promise.resolve(42));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(answers, [[undefined, 42]]);
  });

  it('turns a synchronous throw and a rejection into an error answer with a log line, never an exception', async () => {
    const { log, lines } = recorder();
    const answers: unknown[][] = [];
    answerOnce(log, 'prepare', (...a) => answers.push(a), () => { throw new Error('no port'); });
    answerOnce(log, 'start', (...a) => answers.push(a), () => Promise.reject(new Error('ffmpeg missing')));
    await new Promise((r) => setImmediate(r));
    assert.equal(answers.length, 2);
    assert.match(String(answers[0][0]), /no port/);
    assert.match(String(answers[1][0]), /ffmpeg missing/);
    assert.deepEqual(lines, ['error prepare: no port', 'error start: ffmpeg missing']);
  });

  it('keeps a throwing callback from escaping', async () => {
    const { log, lines } = recorder();
    answerOnce(log, 'snapshot', () => { throw new Error('boom'); }, () => Promise.resolve(1));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines, ["error snapshot: HomeKit's handler threw: boom"]);
  });
});
