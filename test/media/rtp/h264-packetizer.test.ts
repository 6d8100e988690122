// RFC 6184 payloads of the plugin's live sender: single NAL units when they fit, FU-A fragments cut exactly at the
// room the MTU leaves (RTP header and SRTP tag counted), SPS/PPS before an IDR that lacks them, AUD and filler left out.
import assert from 'node:assert/strict';
import { H264Packetizer } from '../../../src/media/rtp/h264-packetizer';

const START = Buffer.from([0, 0, 0, 1]);
const nal = (header: number, bytes: number, fill = 0x55): Buffer => Buffer.concat([Buffer.from([header]), Buffer.alloc(bytes - 1, fill)]);
const au = (...nals: Buffer[]): Buffer => Buffer.concat(nals.flatMap((n) => [START, n]));
const SPS = Buffer.from([0x67, 0x4d, 0x00, 0x28, 0xaa]);
const PPS = Buffer.from([0x68, 0xee, 0x3c, 0x80]);
const AUD = Buffer.from([0x09, 0xf0]);
const MTU = 1378;
const ROOM = MTU - 12 - 10;

/** Puts FU-A fragments back together (what a receiver does), checking S/E bits and the FU indicator on the way. */
function reassemble(payloads: Buffer[]): Buffer[] {
  const nals: Buffer[] = [];
  let open: Buffer[] | undefined;
  for (const p of payloads) {
    if ((p[0] & 0x1f) !== 28) {
      assert.equal(open, undefined, 'no single NAL inside a fragmented one');
      nals.push(p);
      continue;
    }
    const start = (p[1] & 0x80) !== 0;
    const end = (p[1] & 0x40) !== 0;
    assert.equal(start, open === undefined, 'S bit exactly on the first fragment');
    open ??= [Buffer.from([(p[0] & 0xe0) | (p[1] & 0x1f)])];
    open.push(p.subarray(2));
    if (end) {
      nals.push(Buffer.concat(open));
      open = undefined;
    }
  }
  assert.equal(open, undefined, 'the last fragment has the E bit');
  return nals;
}

describe('H.264 RTP packetizer (RFC 6184)', () => {
  it('sends a NAL that fits (room included) as a single NAL unit, one byte more as FU-A', () => {
    const p = new H264Packetizer(MTU);
    assert.equal(p.maxPayload, ROOM);
    const fits = nal(0x41, ROOM);
    assert.deepEqual(p.payloads(au(fits)), [fits]);
    const over = nal(0x41, ROOM + 1);
    const parts = p.payloads(au(over));
    assert.equal(parts.length, 2);
    assert.deepEqual(parts.map((x) => x[0]), [0x40 | 28, 0x40 | 28], 'FU indicator keeps NRI, type 28');
    assert.deepEqual(parts.map((x) => x[1]), [0x80 | 1, 0x40 | 1], 'FU header: S then E, original type');
    assert.equal(parts[0].length, ROOM, 'the first fragment fills the room');
    assert.deepEqual(reassemble(parts), [over]);
  });

  it('cuts a large IDR into fragments never above the MTU, at exact boundaries, and reassembles it byte for byte', () => {
    for (const mtu of [200, 1200, MTU, 1500]) {
      const p = new H264Packetizer(mtu);
      const idr = Buffer.concat([Buffer.from([0x65]), Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 31) & 0xff))]);
      const payloads = p.payloads(au(SPS, PPS, idr));
      for (const x of payloads) {
        assert.ok(12 + x.length + 10 <= mtu, `datagram of ${12 + x.length + 10} B over the MTU ${mtu}`);
      }
      const fragments = payloads.filter((x) => (x[0] & 0x1f) === 28);
      assert.equal(fragments.length, Math.ceil((idr.length - 1) / (mtu - 12 - 10 - 2)));
      assert.ok(fragments.slice(0, -1).every((x) => x.length === mtu - 22), 'every fragment but the last is full');
      assert.deepEqual(reassemble(payloads), [SPS, PPS, idr]);
    }
  });

  it('leaves out access unit delimiters and filler data, keeps SEI', () => {
    const p = new H264Packetizer(MTU);
    const sei = Buffer.from([0x06, 0x05, 0x01, 0x80]);
    const slice = nal(0x41, 300);
    assert.deepEqual(p.payloads(au(AUD, sei, slice, nal(0x0c, 20, 0xff))), [sei, slice]);
  });

  it('puts the last SPS and PPS before an IDR that comes without them, and not before other frames', () => {
    const p = new H264Packetizer(MTU);
    const idr = nal(0x65, 500);
    assert.deepEqual(p.payloads(au(idr)), [idr], 'none seen yet: nothing to add');
    p.payloads(au(AUD, SPS, PPS, nal(0x65, 400)));
    const slice = nal(0x41, 100);
    assert.deepEqual(p.payloads(au(AUD, slice)), [slice]);
    assert.deepEqual(p.payloads(au(AUD, idr)), [SPS, PPS, idr]);
    const sps2 = Buffer.from([0x67, 0x4d, 0x00, 0x1f, 0xbb]);
    assert.deepEqual(p.payloads(au(sps2, idr)), [sps2, PPS, idr], 'only what is missing, the newest SPS kept');
    assert.deepEqual(p.payloads(au(idr)), [sps2, PPS, idr]);
  });
});
