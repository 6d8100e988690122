// H.264 out of RTP (RFC 6184): single NAL units, STAP-A, FU-A into access units; what leaves is always decodable: a
// loss, a late packet, a malformed or oversized frame drops frames until the next IDR, never passes a broken one on.
import assert from 'node:assert/strict';
import { H264AccessUnit, H264Depayloader, parseSpropParameterSets, toAnnexB } from '../../../src/media/rtsp/h264-depay';
import { ReorderBuffer } from '../../../src/media/rtsp/reorder';
import { RtpPacket } from '../../../src/media/rtsp/rtp';
import { parseSps } from '../../../src/media/h264';

const [SPS, PPS] = parseSpropParameterSets('Z01AHtoCgL/lwEQAAAMABAAAAwB4PFi6gA==,aO88gA==');
const AUD = Buffer.from([0x09, 0xf0]);

/** A slice NAL unit of `bytes` (IDR type 5 or non-IDR type 1); `first` = first_mb_in_slice 0 (its first bit set). */
function slice(type: 5 | 1, bytes: number, fill: number, first = true): Buffer {
  const nal = Buffer.alloc(bytes, fill);
  nal[0] = (type === 5 ? 0x60 : 0x40) | type;
  nal[1] = first ? 0x88 : 0x08;
  return nal;
}

/** FU-A payloads carrying `nal` in pieces of `piece` bytes (RFC 6184 §5.8). */
function fuA(nal: Buffer, piece: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 1; at < nal.length; at += piece) {
    const header = (at === 1 ? 0x80 : 0) | (at + piece >= nal.length ? 0x40 : 0) | (nal[0] & 0x1f);
    out.push(Buffer.concat([Buffer.from([(nal[0] & 0xe0) | 28, header]), nal.subarray(at, at + piece)]));
  }
  return out;
}

function stapA(...nals: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([0x18]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
}

/** Turns access units (lists of payloads) into RTP packets: one timestamp each (3000 apart), marker on the last. */
class Stream {
  seq = 65530; // wraps within the tests
  ts = 0xfffff000; // and so does the timestamp, at the third unit
  packets: RtpPacket[] = [];

  unit(payloads: Buffer[], marker = true): this {
    payloads.forEach((payload, i) => {
      this.packets.push({
        version: 2, padding: false, extension: false, csrcCount: 0, marker: marker && i === payloads.length - 1, payloadType: 96,
        sequence: this.seq, timestamp: this.ts >>> 0, ssrc: 1, payload,
      });
      this.seq = (this.seq + 1) & 0xffff;
    });
    this.ts += 3000;
    return this;
  }
}

function run(packets: RtpPacket[], options: { parameterSets?: Buffer[]; maxAccessUnitBytes?: number } = {}): { aus: H264AccessUnit[]; drops: string[] } {
  const aus: H264AccessUnit[] = [];
  const drops: string[] = [];
  const d = new H264Depayloader({ ...options, onAccessUnit: (au) => aus.push(au), onDrop: (r) => drops.push(r) });
  packets.forEach((p) => d.push(p));
  return { aus, drops };
}

const types = (au: H264AccessUnit): number[] => au.nalus.map((n) => n[0] & 0x1f);

describe('H.264 depacketizer', () => {
  const idr = slice(5, 5000, 0x11);
  const p1 = slice(1, 900, 0x22);
  const p2 = slice(1, 3000, 0x33);

  it('puts single NAL units, STAP-A and FU-A together into whole access units with growing timestamps', () => {
    const s = new Stream().unit([stapA(SPS, PPS), ...fuA(idr, 1400)]).unit([p1]).unit(fuA(p2, 1000));
    const { aus, drops } = run(s.packets);
    assert.deepEqual(drops, []);
    assert.deepEqual(aus.map(types), [[7, 8, 5], [1], [1]]);
    assert.ok(aus[0].nalus[2].equals(idr), 'the IDR rebuilt byte for byte');
    assert.ok(aus[2].nalus[0].equals(p2));
    assert.deepEqual(aus.map((a) => a.keyframe), [true, false, false]);
    assert.deepEqual(aus.map((a) => a.timestamp - aus[0].timestamp), [0, 3000, 6000], 'unwrapped past 2^32');
    assert.ok(aus[2].timestamp > 0xffffffff);
    assert.equal(parseSps(aus[0].nalus[0]).width, 640);
  });

  it('ends an access unit at a new timestamp when the camera sets no marker bit', () => {
    const s = new Stream().unit([SPS, PPS, idr], false).unit([p1], false).unit([p2], false);
    const { aus } = run(s.packets);
    assert.deepEqual(aus.map(types), [[7, 8, 5], [1]], 'the last one waits for its end');
  });

  it('starts on an IDR: frames before the first keyframe are not passed on', () => {
    const s = new Stream().unit([p1]).unit(fuA(p2, 1000)).unit([SPS, PPS, idr]).unit([p1]);
    assert.deepEqual(run(s.packets).aus.map(types), [[7, 8, 5], [1]]);
  });

  it('a lost FU-A fragment drops that frame and every one until the next IDR, said once', () => {
    const s = new Stream().unit([SPS, PPS, idr]).unit([p1]).unit(fuA(p2, 1000)).unit([p1]).unit([p1]).unit([SPS, PPS, idr]).unit([p1]);
    const lost = s.packets.findIndex((p) => p.payload[0] === 28 + 0x40 && (p.payload[1] & 0xc0) === 0); // p2's middle
    const { aus, drops } = run(s.packets.filter((_p, i) => i !== lost));
    assert.deepEqual(aus.map(types), [[7, 8, 5], [1], [7, 8, 5], [1]]);
    assert.equal(drops.length, 1, drops.join('\n'));
    assert.match(drops[0], /^1 RTP packet of the video lost: the frame is dropped, and the video resumes at the next keyframe$/);
  });

  it('a loss between frames keeps the IDR that follows when it is whole, and drops it when its SPS was lost', () => {
    const s = new Stream().unit([SPS, PPS, idr]).unit([p1]).unit([SPS, PPS, ...fuA(idr, 1400)]).unit([p1]);
    // p1 (the marker packet of frame 2) lost: the IDR after it starts on its own SPS: whole.
    const whole = run(s.packets.filter((_p, i) => i !== 3));
    assert.deepEqual(whole.aus.map(types), [[7, 8, 5], [7, 8, 5], [1]]);
    // p1 and the IDR's SPS lost: the IDR may have needed a new SPS, so it is not passed on; neither is what follows.
    const noSps = run(s.packets.filter((_p, i) => i !== 3 && i !== 4));
    assert.deepEqual(noSps.aus.map(types), [[7, 8, 5]]);
    // A second slice of an IDR seen first after a loss (first_mb_in_slice not 0) is not a picture's start either.
    const t = new Stream().unit([SPS, PPS, idr]).unit([p1]).unit([SPS, PPS, slice(5, 800, 1), slice(5, 800, 2, false)]).unit([p1]);
    const secondSlice = run(t.packets.filter((_p, i) => i < 3 || i > 6));
    assert.deepEqual(secondSlice.aus.map(types), [[7, 8, 5]]);
  });

  it('a late (reordered) packet is a loss: no frame is passed on out of order or twice', () => {
    const s = new Stream().unit([SPS, PPS, idr]).unit(fuA(p2, 1000)).unit([p1]).unit([SPS, PPS, idr]);
    const swapped = [...s.packets];
    [swapped[4], swapped[5]] = [swapped[5], swapped[4]]; // two fragments of p2
    const { aus } = run(swapped);
    assert.deepEqual(aus.map(types), [[7, 8, 5], [7, 8, 5]]);
    const dup = run([...s.packets.slice(0, 4), s.packets[3], ...s.packets.slice(4)]);
    assert.deepEqual(dup.aus.map(types), [[7, 8, 5], [1], [1], [7, 8, 5]], 'a repeated packet is skipped');
  });

  it('behind the reorder buffer, the same swap costs nothing: every frame whole, in order, nothing dropped', () => {
    const s = new Stream().unit([SPS, PPS, idr]).unit(fuA(p2, 1000)).unit([p1]).unit([SPS, PPS, idr]);
    const swapped = [...s.packets];
    [swapped[4], swapped[5]] = [swapped[5], swapped[4]];
    const aus: H264AccessUnit[] = [];
    const drops: string[] = [];
    const d = new H264Depayloader({ onAccessUnit: (au) => aus.push(au), onDrop: (r) => drops.push(r) });
    const order = new ReorderBuffer({ onPacket: (p) => d.push(p) });
    swapped.forEach((p) => order.push(p));
    order.close();
    assert.deepEqual(aus.map(types), [[7, 8, 5], [1], [1], [7, 8, 5]]);
    assert.equal(toAnnexB(aus[1].nalus).subarray(4).equals(p2), true, 'the FU-A frame put together from its pieces in order');
    assert.deepEqual(drops, []);
  });

  it('a camera that starts its sequence over is a loss, not a stream of late packets: the video resumes at the next IDR', () => {
    const s = new Stream().unit([SPS, PPS, idr]).unit([p1]);
    s.seq = (s.seq - 5000) & 0xffff;
    s.unit([p1]).unit([SPS, PPS, idr]).unit([p1]);
    const { aus, drops } = run(s.packets);
    assert.deepEqual(aus.map(types), [[7, 8, 5], [1], [7, 8, 5], [1]]);
    assert.equal(drops.length, 1);
    assert.match(drops[0], /^the camera started its RTP sequence over: the frame is dropped/);
  });

  it('puts the SDP\'s SPS/PPS before an IDR that lacks them, after an access unit delimiter', () => {
    const s = new Stream().unit([AUD, ...fuA(idr, 1400)]).unit([p1]).unit([idr]);
    const { aus } = run(s.packets, { parameterSets: [SPS, PPS] });
    assert.deepEqual(aus.map(types), [[9, 7, 8, 5], [1], [7, 8, 5]]);
    assert.ok(aus[0].nalus[1].equals(SPS) && aus[0].nalus[2].equals(PPS));
    // In-band ones win over the SDP's, and are remembered for later IDRs that lack them.
    const newSps = Buffer.from(SPS);
    newSps[newSps.length - 1] ^= 1;
    const t = new Stream().unit([newSps, PPS, idr]).unit([idr]);
    const later = run(t.packets, { parameterSets: [SPS, PPS] }).aus;
    assert.ok(later[1].nalus[0].equals(newSps));
  });

  it('an access unit over the bound is dropped, not buffered, and the video resumes at the next IDR', () => {
    const big = slice(1, 30_000, 0x44);
    const s = new Stream().unit([SPS, PPS, idr]).unit(fuA(big, 1400)).unit([p1]).unit([SPS, PPS, idr]);
    const { aus, drops } = run(s.packets, { maxAccessUnitBytes: 20_000 });
    assert.deepEqual(aus.map(types), [[7, 8, 5], [7, 8, 5]]);
    assert.equal(drops.length, 1);
    assert.match(drops[0], /^the camera sent a video frame over 0 MiB/);
    const held = run(new Stream().unit([SPS, PPS, idr]).unit(fuA(big, 1400)).packets, { maxAccessUnitBytes: 8 << 20 });
    assert.equal(held.aus.length, 2, 'under the default bound it passes');
  });

  it('a malformed STAP-A or a fragment without its start drops the frame', () => {
    const bad = Buffer.from([0x18, 0x00, 0x09, 0x67]); // says 9 bytes, holds 1
    const s = new Stream().unit([SPS, PPS, idr]).unit([bad]).unit([p1]).unit([SPS, PPS, idr]);
    const { aus, drops } = run(s.packets);
    assert.deepEqual(aus.map(types), [[7, 8, 5], [7, 8, 5]]);
    assert.match(drops[0], /^a malformed STAP-A packet/);
    const orphan = new Stream().unit([SPS, PPS, idr]).unit(fuA(p2, 1000).slice(1)).unit([SPS, PPS, idr]);
    const o = run(orphan.packets);
    assert.deepEqual(o.aus.map(types), [[7, 8, 5], [7, 8, 5]]);
    assert.match(o.drops[0], /^a FU-A fragment without its start/);
  });

  it('writes Annex B with 4-byte start codes', () => {
    assert.deepEqual([...toAnnexB([Buffer.from([0x67, 1]), Buffer.from([0x68])])], [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68]);
  });
});
