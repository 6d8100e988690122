// The RTP fixed header (RFC 3550 §5.1) read in place, and the sequence and timestamp arithmetic across their wraps.
import assert from 'node:assert/strict';
import { parseRtp, sequenceGap, TimestampUnwrapper } from '../../../src/media/rtsp/rtp';

/** An RTP packet: version 2, the given first-byte flags, marker, PT 96, sequence, timestamp, SSRC, then `rest`. */
function packet(opts: { b0?: number; marker?: boolean; seq?: number; ts?: number; rest?: number[] }): Buffer {
  const head = Buffer.alloc(12);
  head[0] = 0x80 | (opts.b0 ?? 0);
  head[1] = (opts.marker ? 0x80 : 0) | 96;
  head.writeUInt16BE(opts.seq ?? 1, 2);
  head.writeUInt32BE(opts.ts ?? 1000, 4);
  head.writeUInt32BE(0xdeadbeef, 8);
  return Buffer.concat([head, Buffer.from(opts.rest ?? [])]);
}

describe('RTP header', () => {
  it('reads the fields and gives the payload as a view, not a copy', () => {
    const p = packet({ marker: true, seq: 65535, ts: 0xfffffff0, rest: [1, 2, 3] });
    const rtp = parseRtp(p);
    assert.ok(rtp);
    assert.deepEqual({ ...rtp, payload: [...rtp.payload] }, {
      version: 2, padding: false, extension: false, csrcCount: 0, marker: true, payloadType: 96, sequence: 65535,
      timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: [1, 2, 3],
    });
    assert.equal(rtp.payload.buffer, p.buffer, 'a view into the packet');
    assert.equal(rtp.payload.byteOffset, p.byteOffset + 12);
  });

  it('skips the CSRC list and a header extension, and leaves the padding out', () => {
    // 2 CSRCs, an extension of one 32-bit word, 3 payload bytes, 2 bytes of padding (the last one counting them).
    const p = packet({ b0: 0x20 | 0x10 | 2, rest: [0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 9, 9, 9, 9, 7, 8, 9, 0, 2] });
    const rtp = parseRtp(p);
    assert.deepEqual([...(rtp?.payload ?? [])], [7, 8, 9]);
    assert.equal(rtp?.csrcCount, 2);
  });

  it('rejects what is not a whole RTP packet', () => {
    assert.equal(parseRtp(Buffer.alloc(11)), undefined, 'shorter than the fixed header');
    const v1 = packet({});
    v1[0] = 0x40;
    assert.equal(parseRtp(v1), undefined, 'version 1');
    assert.equal(parseRtp(packet({ b0: 3, rest: [0, 0, 0, 1] })), undefined, 'CSRC list past the end');
    assert.equal(parseRtp(packet({ b0: 0x10, rest: [0, 0] })), undefined, 'extension header past the end');
    assert.equal(parseRtp(packet({ b0: 0x10, rest: [0, 0, 0, 4, 1, 2] })), undefined, 'extension words past the end');
    assert.equal(parseRtp(packet({ b0: 0x20, rest: [1, 0] })), undefined, 'a padding count of 0');
    assert.equal(parseRtp(packet({ b0: 0x20, rest: [1, 2, 9] })), undefined, 'padding longer than the payload');
    assert.ok(parseRtp(packet({ b0: 0x20, rest: [1, 2, 2] })), 'padding that fits');
  });

  it('counts sequence gaps across the 16-bit wrap, and a late packet as behind', () => {
    assert.equal(sequenceGap(65535, 0), 1);
    assert.equal(sequenceGap(65534, 1), 3);
    assert.equal(sequenceGap(5, 5), 0);
    assert.equal(sequenceGap(0, 65535), -1);
    assert.equal(sequenceGap(10, 3), -7);
  });

  it('unwraps 32-bit timestamps into a number that keeps growing, and small steps back stay back', () => {
    const u = new TimestampUnwrapper();
    assert.equal(u.unwrap(0xffffff00), 0xffffff00);
    assert.equal(u.unwrap(0x00000100), 0x100000100, 'past the wrap');
    assert.equal(u.unwrap(0x000000f0), 0x1000000f0, 'a step back (B-frame order) across nothing');
    assert.equal(u.unwrap(0xfffffff0), 0xfffffff0, 'a step back across the wrap');
  });
});
