import assert from 'node:assert/strict';
import { Mp4Fragmenter } from '../../src/media/mp4';

function box(type: string, payload = 8): Buffer {
  const b = Buffer.alloc(8 + payload, 0xab);
  b.writeUInt32BE(8 + payload, 0);
  b.write(type, 4, 'latin1');
  return b;
}

describe('Mp4Fragmenter', () => {
  it('gives the init segment (ftyp+moov), then one packet per moof+mdat, whatever the chunking', () => {
    const stream = Buffer.concat([box('ftyp'), box('moov', 100), box('moof', 20), box('mdat', 5000), box('styp'), box('moof', 20), box('mdat', 70)]);
    for (const size of [1, 7, 188, 4096, stream.length]) {
      const f = new Mp4Fragmenter();
      const out = [];
      for (let at = 0; at < stream.length; at += size) {
        out.push(...f.push(stream.subarray(at, at + size)));
      }
      assert.deepEqual(out.map((p) => [p.kind, p.data.length]), [['init', 16 + 108], ['fragment', 28 + 5008], ['fragment', 16 + 28 + 78]], `chunk ${size}`);
    }
  });

  it('reads 64-bit box sizes', () => {
    const big = Buffer.alloc(16 + 10);
    big.writeUInt32BE(1, 0);
    big.write('mdat', 4, 'latin1');
    big.writeBigUInt64BE(26n, 8);
    const out = new Mp4Fragmenter().push(Buffer.concat([box('ftyp'), box('moov'), box('moof'), big]));
    assert.deepEqual(out.map((p) => p.kind), ['init', 'fragment']);
  });

  it('refuses a stream that is not MP4 instead of buffering it forever', () => {
    assert.throws(() => new Mp4Fragmenter().push(Buffer.from('HTTP/1.1 401 Unauthorized\r\n')), /not a fragmented MP4 stream/);
  });
});
