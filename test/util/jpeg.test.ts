import assert from 'node:assert/strict';
import { jpegSize } from '../../src/util/jpeg';
import { BUILTIN_JPEG } from '../../tools/camera-sim/snapshot';

/** A marker segment: FF, marker, 16-bit length (payload + 2), payload. */
const segment = (marker: number, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);

/** SOFn payload: precision, height, width, one component. */
const sof = (width: number, height: number): Buffer =>
  Buffer.from([8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]);

describe('jpegSize', () => {
  it('reads the simulator\'s baseline JPEG (made by ffmpeg) as 64x36', () => {
    assert.deepEqual(jpegSize(BUILTIN_JPEG), { width: 64, height: 36 });
  });

  it('walks APP, DQT and DHT segments (DHT is not a frame header) to a progressive SOF2', () => {
    const jpeg = Buffer.concat([
      Buffer.from([0xff, 0xd8]),
      segment(0xe0, Buffer.from('JFIF\0\x01\x02\0\0\x01\0\x01\0\0', 'binary')),
      segment(0xe1, Buffer.alloc(300, 7)),
      segment(0xc4, Buffer.alloc(20, 1)),
      Buffer.from([0xff]), // a fill byte
      segment(0xc2, sof(3840, 2160)),
      segment(0xda, Buffer.alloc(10)),
    ]);
    assert.deepEqual(jpegSize(jpeg), { width: 3840, height: 2160 });
  });

  it('gives undefined for what is not a JPEG, a truncated one, and one without a frame header', () => {
    assert.equal(jpegSize(Buffer.from('<html>401</html>')), undefined);
    assert.equal(jpegSize(Buffer.alloc(0)), undefined);
    assert.equal(jpegSize(BUILTIN_JPEG.subarray(0, 30)), undefined);
    assert.equal(jpegSize(Buffer.concat([Buffer.from([0xff, 0xd8]), segment(0xda, Buffer.alloc(4)), Buffer.from([0xff, 0xd9])])), undefined);
    // A length that points past the end ends the walk.
    assert.equal(jpegSize(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 0x00])), undefined);
  });
});
