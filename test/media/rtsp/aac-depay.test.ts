// AAC out of RTP (RFC 3640 AAC-hbr): several frames per packet, a frame fragmented over packets, the decoder setup from
// the SDP's config=, and ADTS headers that the project's own ADTS reader reads back.
import assert from 'node:assert/strict';
import { AacDepayloader, AacFrame, adtsHeader, parseAudioSpecificConfig } from '../../../src/media/rtsp/aac-depay';
import { RtpPacket } from '../../../src/media/rtsp/rtp';
import { TsDemuxer } from '../../../src/media/ts-demux';

const HBR = { mode: 'AAC-hbr', sizelength: '13', indexlength: '3', indexdeltalength: '3', config: '140856e500' };

/** An AAC-hbr payload: AU-headers-length, one 16-bit header per frame (13-bit size, 3-bit index 0), the frames.
 *  `sizes` overrides the sizes written (a fragment carries the whole frame's size). */
function payload(frames: Buffer[], sizes = frames.map((f) => f.length)): Buffer {
  const head = Buffer.alloc(2 + 2 * sizes.length);
  head.writeUInt16BE(16 * sizes.length, 0);
  sizes.forEach((size, i) => head.writeUInt16BE(size << 3, 2 + 2 * i));
  return Buffer.concat([head, ...frames]);
}

function packet(seq: number, ts: number, body: Buffer, marker = true): RtpPacket {
  return { version: 2, padding: false, extension: false, csrcCount: 0, marker, payloadType: 97, sequence: seq, timestamp: ts, ssrc: 2, payload: body };
}

function depay(fmtp: Record<string, string> = HBR): { d: AacDepayloader; frames: AacFrame[]; drops: string[] } {
  const frames: AacFrame[] = [];
  const drops: string[] = [];
  const d = new AacDepayloader({ fmtp, onFrame: (f) => frames.push(f), onDrop: (r) => drops.push(r) });
  return { d, frames, drops };
}

const frame = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('AAC depacketizer', () => {
  it('reads the AudioSpecificConfig of config=', () => {
    assert.deepEqual({ ...parseAudioSpecificConfig('140856e500'), config: undefined },
      { objectType: 2, rateIndex: 8, sampleRate: 16000, channels: 1, config: undefined });
    assert.deepEqual({ ...parseAudioSpecificConfig('1210'), config: undefined },
      { objectType: 2, rateIndex: 4, sampleRate: 44100, channels: 2, config: undefined });
    // Rate written out (index 15: 24 bits); object type escaped (31 → 32 + 6 bits).
    const explicit = parseAudioSpecificConfig('17805dc010');
    assert.deepEqual([explicit?.objectType, explicit?.rateIndex, explicit?.sampleRate, explicit?.channels], [2, 15, 48000, 2]);
    const escaped = parseAudioSpecificConfig('f94620');
    assert.deepEqual([escaped?.objectType, escaped?.rateIndex, escaped?.sampleRate, escaped?.channels], [42, 3, 48000, 1]);
    assert.equal(parseAudioSpecificConfig('f8')?.objectType, undefined, 'cut short');
    assert.equal(parseAudioSpecificConfig('zz'), undefined);
    assert.equal(parseAudioSpecificConfig(undefined), undefined);
  });

  it('gives each frame of a packet, 1024 samples apart', () => {
    const { d, frames, drops } = depay();
    d.push(packet(1, 0xfffffc00, payload([frame(200, 1), frame(180, 2), frame(5, 3)])));
    d.push(packet(2, 0xfffffc00 + 3 * 1024, payload([frame(100, 4)])));
    assert.deepEqual(drops, []);
    assert.deepEqual(frames.map((f) => [f.data.length, f.data[0], f.timestamp - 0xfffffc00]), [[200, 1, 0], [180, 2, 1024], [5, 3, 2048], [100, 4, 3072]]);
  });

  it('puts a frame fragmented over packets together, and drops it when a fragment is lost', () => {
    const big = Buffer.concat([frame(1000, 5), frame(1000, 6), frame(500, 7)]);
    const pieces = [big.subarray(0, 1000), big.subarray(1000, 2000), big.subarray(2000)];
    const whole = depay();
    pieces.forEach((p, i) => whole.d.push(packet(10 + i, 5000, payload([p], [big.length]), i === 2)));
    whole.d.push(packet(13, 6024, payload([frame(50, 8)])));
    assert.deepEqual(whole.frames.map((f) => f.data.length), [2500, 50]);
    assert.ok(whole.frames[0].data.equals(big));
    const lossy = depay();
    lossy.d.push(packet(10, 5000, payload([pieces[0]], [big.length]), false));
    lossy.d.push(packet(12, 5000, payload([pieces[2]], [big.length])));
    lossy.d.push(packet(13, 6024, payload([frame(50, 8)])));
    assert.deepEqual(lossy.frames.map((f) => f.data.length), [50], 'only the whole frame after it');
    assert.match(lossy.drops[0], /lost inside a fragmented AAC frame/);
  });

  it('drops malformed packets with a reason and goes on', () => {
    const { d, frames, drops } = depay();
    d.push(packet(1, 0, Buffer.from([0x00, 0x40, 0x01]))); // 64 bits of headers, 1 byte there
    d.push(packet(2, 1024, payload([frame(10, 1)], [40]).subarray(0, 14), true)); // says 40 bytes, holds 10: a fragment whose rest never comes
    d.push(packet(3, 2048, payload([frame(10, 1), frame(10, 2)], [10, 30])));
    d.push(packet(4, 3072, payload([frame(10, 9)])));
    assert.deepEqual(frames.map((f) => f.data[0]), [9]);
    assert.equal(drops.length, 3, drops.join('\n'));
    assert.match(drops[0], /^a malformed AAC packet/);
  });

  it('refuses an fmtp it cannot read', () => {
    assert.throws(() => depay({ mode: 'AAC-hbr' }), /sizelength/);
    assert.throws(() => depay({ ...HBR, sizelength: '40' }), /sizelength/);
  });

  it('writes ADTS headers the project\'s ADTS reader reads back', () => {
    const config = parseAudioSpecificConfig('140856e500');
    assert.ok(config);
    const raw = frame(321, 0x5a);
    const header = adtsHeader(config, raw.length);
    assert.ok(header);
    const [read] = TsDemuxer.adtsFrames(Buffer.concat([header, raw]));
    assert.deepEqual([read.objectType, read.rateIndex, read.channels, read.data.length], [2, 8, 1, 321]);
    assert.equal(adtsHeader({ ...config, rateIndex: 15 }, 10), undefined);
  });
});
