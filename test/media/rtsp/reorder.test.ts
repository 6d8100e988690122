// The reorder buffer in front of the depacketizers: packets out of order put back within its bounds (32 packets ahead,
// 40 ms), holes given up on after that (the depacketizer then sees the jump), the 16-bit sequence wrap, duplicates and
// late packets dropped, nothing released or left running after close().
import assert from 'node:assert/strict';
import sinon from 'sinon';
import { REORDER_MAX_PACKETS, REORDER_MAX_WAIT_MS, ReorderBuffer } from '../../../src/media/rtsp/reorder';
import { RtpPacket } from '../../../src/media/rtsp/rtp';

function packet(sequence: number): RtpPacket {
  return {
    version: 2, padding: false, extension: false, csrcCount: 0, marker: false, payloadType: 96, sequence, timestamp: 0, ssrc: 1,
    payload: Buffer.from([sequence & 0xff]),
  };
}

describe('RTP reorder buffer', () => {
  let clock: sinon.SinonFakeTimers;
  let out: number[];
  let buffer: ReorderBuffer;

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    out = [];
    buffer = new ReorderBuffer({ onPacket: (p) => out.push(p.sequence) });
  });

  afterEach(() => {
    buffer.close();
    clock.restore();
  });

  const push = (...seqs: number[]): void => seqs.forEach((s) => buffer.push(packet(s)));

  it('passes packets in order straight through, holding nothing and arming no timer', () => {
    push(10, 11, 12, 13);
    assert.deepEqual(out, [10, 11, 12, 13]);
    assert.deepEqual(buffer.stats, { held: 0, filled: 0, gaps: 0, late: 0, duplicates: 0 });
    assert.equal(clock.countTimers(), 0);
  });

  it('puts swapped and shuffled packets back in order at once, across the 16-bit wrap', () => {
    push(65533, 65535, 65534, 1, 0, 3, 4, 2, 5);
    assert.deepEqual(out, [65533, 65534, 65535, 0, 1, 2, 3, 4, 5]);
    assert.equal(buffer.stats.filled, 3);
    assert.equal(buffer.stats.gaps, 0);
    assert.equal(clock.countTimers(), 0, 'no timer left once the holes are filled');
  });

  it('drops duplicates, held or already released', () => {
    push(1, 2, 2, 4, 4, 3, 3, 1);
    assert.deepEqual(out, [1, 2, 3, 4]);
    assert.equal(buffer.stats.duplicates, 1, 'the second 4, while held');
    assert.equal(buffer.stats.late, 3, 'the second 2, 3 and 1, after their release');
  });

  it(`gives up on a hole after ${REORDER_MAX_WAIT_MS} ms: the packets after it go on with the jump, the late one is dropped`, () => {
    push(100, 102, 103);
    assert.deepEqual(out, [100]);
    clock.tick(REORDER_MAX_WAIT_MS - 1);
    assert.deepEqual(out, [100], 'still waiting within the bound');
    clock.tick(1);
    assert.deepEqual(out, [100, 102, 103]);
    assert.equal(buffer.stats.gaps, 1);
    push(101);
    assert.deepEqual(out, [100, 102, 103], 'too late: its place was given up on');
    assert.equal(buffer.stats.late, 1);
    // A second hole behind the first: each gets its own wait, counted from when the packets after it came.
    push(105, 108);
    clock.tick(REORDER_MAX_WAIT_MS);
    assert.deepEqual(out, [100, 102, 103, 105]);
    clock.tick(1);
    assert.deepEqual(out, [100, 102, 103, 105, 108], 'the second hole had already waited its bound');
    assert.equal(clock.countTimers(), 0);
  });

  it('a packet arriving after the bound has passed releases the held ones at once (a late timer or paced reads)', () => {
    push(1, 3);
    clock.setSystemTime(Date.now() + REORDER_MAX_WAIT_MS); // time passed without the timer running
    push(4);
    assert.deepEqual(out, [1, 3, 4]);
  });

  it(`a packet ${REORDER_MAX_PACKETS} or more ahead gives up on every hole before it at once`, () => {
    push(0, 2, 5);
    push(5 + REORDER_MAX_PACKETS);
    assert.deepEqual(out, [0, 2, 5, 5 + REORDER_MAX_PACKETS]);
    assert.equal(clock.countTimers(), 0);
    push(6 + REORDER_MAX_PACKETS);
    assert.deepEqual(out.at(-1), 6 + REORDER_MAX_PACKETS);
  });

  it('another bound (5 packets) holds within it across the wrap and gives up beyond it', () => {
    const small = new ReorderBuffer({ onPacket: (p) => out.push(p.sequence), maxPackets: 5 });
    [65533, 65535, 0, 1, 65534, 2].forEach((q) => small.push(packet(q)));
    assert.deepEqual(out, [65533, 65534, 65535, 0, 1, 2]);
    [4, 5, 6, 7, 8].forEach((q) => small.push(packet(q)));
    assert.deepEqual(out.slice(6), [4, 5, 6, 7, 8], 'a hole with 4 packets past it: the fifth gives up at once');
    small.close();
  });

  it('a sender that starts its sequence over is followed, not dropped as late', () => {
    push(40_000, 40_001, 30_000, 30_001);
    assert.deepEqual(out, [40_000, 40_001, 30_000, 30_001]);
    assert.equal(buffer.stats.late, 0);
  });

  it('close() drops what is held, stops its timer and takes nothing more', () => {
    push(1, 3);
    assert.equal(clock.countTimers(), 1);
    buffer.close();
    assert.equal(clock.countTimers(), 0);
    push(2);
    clock.tick(REORDER_MAX_WAIT_MS * 2);
    assert.deepEqual(out, [1]);
  });
});
