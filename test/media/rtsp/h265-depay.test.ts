// H.265 out of RTP (RFC 7798): a real libx265 stream packetized here into single NAL unit packets, aggregation packets
// and fragmentation units (with and without DONL) comes out as the same access units, which ffmpeg decodes; a loss drops
// frames until the next IRAP, never passes a broken one on; parameter sets sent only in the SDP go in front of IRAPs.
import assert from 'node:assert/strict';
import { HEVC_NAL, hevcNalType, isHevcIrap } from '../../../src/media/h265';
import { toAnnexB } from '../../../src/media/rtsp/h264-depay';
import { H265AccessUnit, H265Depayloader, H265DepayOptions, parseHevcSpropParameterSets } from '../../../src/media/rtsp/h265-depay';
import { RtpPacket } from '../../../src/media/rtsp/rtp';
import { decodeErrors, encodeHevc, hevcAccessUnits, HevcUnit, probeVideo } from '../hevc-sample';

/** Fragment size (bytes): libx265's 320x240 slices are 2-8 KB, so some go whole and some in FUs. */
const MTU = 2400;
/** NAL units up to this size are aggregated when two or more come in a row. */
const SMALL = 300;

/** RFC 7798 payloads of one access unit: runs of small NAL units in an AP (§4.4.2), large ones in FUs (§4.4.3), the rest
 *  single (§4.4.1); with `don`, DONL/DOND fields numbering the NAL units from `donStart`. */
function payloads(nalus: Buffer[], don: { next: number } | undefined): { kind: 'single' | 'ap' | 'fu'; payload: Buffer }[] {
  const out: { kind: 'single' | 'ap' | 'fu'; payload: Buffer }[] = [];
  const donl = (): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(don!.next++ & 0xffff);
    return b;
  };
  for (let i = 0; i < nalus.length;) {
    const run: Buffer[] = [];
    while (i + run.length < nalus.length && nalus[i + run.length].length <= SMALL) {
      run.push(nalus[i + run.length]);
    }
    if (run.length >= 2) {
      const parts = run.flatMap((n, k) => [...(don ? [k === 0 ? donl() : (don.next++, Buffer.from([0]))] : []), Buffer.from([n.length >> 8, n.length & 0xff]), n]);
      out.push({ kind: 'ap', payload: Buffer.concat([Buffer.from([48 << 1, 1]), ...parts]) });
      i += run.length;
      continue;
    }
    const nal = nalus[i++];
    if (nal.length <= MTU) {
      out.push({ kind: 'single', payload: don ? Buffer.concat([nal.subarray(0, 2), donl(), nal.subarray(2)]) : nal });
      continue;
    }
    const type = hevcNalType(nal);
    const d = don ? donl() : undefined;
    for (let at = 2; at < nal.length; at += MTU) {
      const fuHeader = (at === 2 ? 0x80 : 0) | (at + MTU >= nal.length ? 0x40 : 0) | type;
      out.push({ kind: 'fu', payload: Buffer.concat([Buffer.from([(nal[0] & 0x81) | (49 << 1), nal[1], fuHeader]), ...(at === 2 && d ? [d] : []), nal.subarray(at, at + MTU)]) });
    }
  }
  return out;
}

/** RTP packets of access units: one timestamp each (6000 apart), marker on the last; sequence and timestamp wrap. */
function packetize(units: { nalus: Buffer[] }[], don = false): { packets: RtpPacket[]; firstOf: number[]; kinds: string[] } {
  let seq = 65500;
  let ts = 0xffff0000;
  const d = don ? { next: 65530 } : undefined;
  const packets: RtpPacket[] = [];
  const firstOf: number[] = [];
  const kinds: string[] = [];
  for (const u of units) {
    firstOf.push(packets.length);
    const ps = payloads(u.nalus, d);
    ps.forEach(({ kind, payload }, i) => {
      kinds.push(kind);
      packets.push({
        version: 2, padding: false, extension: false, csrcCount: 0, marker: i === ps.length - 1, payloadType: 96,
        sequence: seq, timestamp: ts >>> 0, ssrc: 1, payload,
      });
      seq = (seq + 1) & 0xffff;
    });
    ts += 6000;
  }
  return { packets, firstOf, kinds };
}

function run(packets: RtpPacket[], options: Partial<H265DepayOptions> = {}): { aus: H265AccessUnit[]; drops: string[] } {
  const aus: H265AccessUnit[] = [];
  const drops: string[] = [];
  const d = new H265Depayloader({ ...options, onAccessUnit: (au) => aus.push(au), onDrop: (r) => drops.push(r) });
  packets.forEach((p) => d.push(p));
  return { aus, drops };
}

const annexB = (aus: { nalus: Buffer[] }[]): Buffer => Buffer.concat(aus.map((a) => toAnnexB(a.nalus)));
const isSet = (n: Buffer): boolean => [HEVC_NAL.VPS, HEVC_NAL.SPS, HEVC_NAL.PPS].includes(hevcNalType(n) as 32);

describe('H.265 depacketizer', () => {
  let units: HevcUnit[];
  let sliced: HevcUnit[];

  before(() => {
    // 21 frames, an IDR every 10: keyframes 0, 10, 20; and the same with two slice segments per picture.
    units = hevcAccessUnits(encodeHevc({ size: '320x240', frames: 21 }));
    sliced = hevcAccessUnits(encodeHevc({ size: '320x240', frames: 21, x265: 'keyint=10:min-keyint=10:bframes=0:scenecut=0:slices=2' }));
  });

  it('has input worth testing: 21 pictures, IRAPs at 0, 10, 20 with VPS, SPS, PPS; APs, FUs and single packets', () => {
    assert.equal(units.length, 21);
    assert.deepEqual(units.flatMap((u, i) => (u.keyframe ? [i] : [])), [0, 10, 20]);
    assert.deepEqual(units[10].nalus.slice(0, 3).map(hevcNalType), [32, 33, 34]);
    const kinds = new Set(packetize(units).kinds);
    assert.deepEqual([...kinds].sort(), ['ap', 'fu', 'single']);
    assert.equal(sliced.length, 21);
    assert.equal(sliced[10].nalus.filter((n) => isHevcIrap(hevcNalType(n))).length, 2, 'two IRAP slice segments');
  });

  for (const don of [false, true]) {
    it(`puts every access unit back together byte for byte${don ? ' with DONL/DOND fields (sprop-max-don-diff 2)' : ''}; ffmpeg decodes them all`, () => {
      const { aus, drops } = run(packetize(units, don).packets, don ? { maxDonDiff: 2 } : {});
      assert.deepEqual(drops, []);
      assert.equal(aus.length, 21);
      aus.forEach((au, i) => {
        assert.equal(au.codec, 'h265');
        assert.equal(au.nalus.length, units[i].nalus.length, `unit ${i}`);
        au.nalus.forEach((n, k) => assert.ok(n.equals(units[i].nalus[k]), `unit ${i} NAL ${k}`));
      });
      assert.deepEqual(aus.flatMap((a, i) => (a.keyframe ? [i] : [])), [0, 10, 20]);
      assert.deepEqual(aus.map((a) => a.timestamp - aus[0].timestamp), aus.map((_a, i) => i * 6000), 'unwrapped past 2^32');
      const probe = probeVideo(['-f', 'hevc', '-i', '-'], annexB(aus));
      assert.deepEqual([probe.codec, probe.width, probe.height, probe.frames, probe.keyframes], ['hevc', 320, 240, 21, 3]);
    });
  }

  it('a lost FU fragment drops that frame and every one until the next IRAP, said once; what is left decodes cleanly', () => {
    const s = packetize(units);
    const lost = s.packets.findIndex((p, i) => i > s.firstOf[3] && s.kinds[i] === 'fu' && p.timestamp === s.packets[s.firstOf[3]].timestamp);
    assert.ok(lost > 0 && lost < s.firstOf[4], 'frame 3 has a fragment after its first packet');
    const { aus, drops } = run(s.packets.filter((_p, i) => i !== lost));
    assert.equal(drops.length, 1, drops.join('\n'));
    assert.match(drops[0], /^1 RTP packet of the video lost: the frame is dropped, and the video resumes at the next keyframe$/);
    assert.deepEqual(aus.map((a) => (a.timestamp - aus[0].timestamp) / 6000), [0, 1, 2, ...Array.from({ length: 11 }, (_v, i) => 10 + i)]);
    assert.equal(decodeErrors(['-f', 'hevc', '-i', '-'], annexB(aus)), '');
  });

  it('after a gap, an IRAP is taken only whole: its first slice segment starts the picture and its parameter sets came', () => {
    const s = packetize(sliced);
    const frame = (i: number): number[] => s.packets.flatMap((p, k) => (p.timestamp === s.packets[s.firstOf[i]].timestamp ? [k] : []));
    const at = (a: H265AccessUnit[]): number[] => a.map((u) => (u.timestamp - a[0].timestamp) / 6000);
    // The end of frame 9 lost: frame 10 starts right after the gap, whole (its own VPS/SPS/PPS in its AP) and kept.
    const endLost = run(s.packets.filter((_p, k) => k !== frame(9).at(-1)));
    assert.deepEqual(at(endLost.aus), [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    // Frame 10's parameter sets and first slice segment lost: what is left starts with a slice segment that does not
    // start its picture (first_slice_segment_in_pic_flag 0).
    const startsSecondSegment = (k: number): boolean => {
      const pl = s.packets[k].payload;
      const [type, first] = s.kinds[k] === 'single' ? [hevcNalType(pl), pl[2]] : s.kinds[k] === 'fu' && pl[2] & 0x80 ? [pl[2] & 0x3f, pl[3]] : [-1, 0];
      return isHevcIrap(type) && (first & 0x80) === 0;
    };
    const second = frame(10).find(startsSecondSegment);
    assert.ok(second !== undefined && second > frame(10)[1], 'frame 10 has a second slice segment in its own packets');
    const headLost = run(s.packets.filter((_p, k) => !(frame(10).includes(k) && k < second)));
    assert.deepEqual(at(headLost.aus), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20], 'frames 10-19 dropped: resumed at the next IRAP');
    // Only the AP with its VPS/SPS/PPS (and SEI) lost: the camera sends them in band, so the IRAP cannot be decoded.
    const setsLost = run(s.packets.filter((_p, k) => k !== frame(10)[0]));
    assert.equal(s.kinds[frame(10)[0]], 'ap');
    assert.deepEqual(at(setsLost.aus), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20]);
    assert.equal(decodeErrors(['-f', 'hevc', '-i', '-'], annexB(headLost.aus)), '');
    // The same with parameter sets only in the SDP (nothing of them to lose): frame 10 without its first slice segment is
    // still not whole.
    const stripped = packetize(sliced.map((u) => ({ nalus: u.nalus.filter((n) => !isSet(n)) })));
    const strippedFrame10 = stripped.packets.flatMap((p, k) => (p.timestamp === stripped.packets[stripped.firstOf[10]].timestamp ? [k] : []));
    const secondSegment = strippedFrame10.find((k) => {
      const pl = stripped.packets[k].payload;
      return stripped.kinds[k] === 'fu' ? (pl[2] & 0x80) !== 0 && (pl[3] & 0x80) === 0 : stripped.kinds[k] === 'single' && isHevcIrap(hevcNalType(pl)) && (pl[2] & 0x80) === 0;
    });
    assert.ok(secondSegment !== undefined);
    const sdpOnly = run(stripped.packets.filter((_p, k) => !(strippedFrame10.includes(k) && k < secondSegment)), { parameterSets: sliced[0].nalus.filter(isSet) });
    assert.deepEqual(at(sdpOnly.aus), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20]);
  });

  it('a camera that sends VPS/SPS/PPS only in the SDP: they go in front of every IRAP, and ffmpeg decodes the stream', () => {
    const stripped = units.map((u) => ({ nalus: u.nalus.filter((n) => !isSet(n)) }));
    const sets = units[0].nalus.filter(isSet);
    const fmtp = { 'sprop-vps': sets[0].toString('base64'), 'sprop-sps': sets[1].toString('base64'), 'sprop-pps': sets[2].toString('base64') };
    const parsed = parseHevcSpropParameterSets(fmtp);
    assert.deepEqual(parsed.map(hevcNalType), [32, 33, 34]);
    const { aus, drops } = run(packetize(stripped).packets, { parameterSets: parsed });
    assert.deepEqual(drops, []);
    assert.equal(aus.length, 21);
    for (const k of [0, 10, 20]) {
      assert.deepEqual(aus[k].nalus.slice(0, 3).map((n) => n.toString('hex')), sets.map((n) => n.toString('hex')), `IRAP ${k}`);
    }
    assert.equal(aus[1].nalus.some(isSet), false, 'not in front of other pictures');
    const probe = probeVideo(['-f', 'hevc', '-i', '-'], annexB(aus));
    assert.deepEqual([probe.frames, probe.keyframes], [21, 3]);
    // Without them the stream cannot start: the SDP's sets are what makes it decodable.
    const bare = run(packetize(stripped).packets);
    assert.notEqual(decodeErrors(['-f', 'hevc', '-i', '-'], annexB(bare.aus)), '');
  });

  it('resuming at a CRA drops its RASL pictures (they refer to pictures before it); ffmpeg decodes the rest cleanly', () => {
    const open = hevcAccessUnits(encodeHevc({ size: '320x240', frames: 21, x265: 'keyint=10:min-keyint=10:bframes=3:open-gop=1:scenecut=0' }));
    const firstSlice = (u: { nalus: Buffer[] }): number => hevcNalType(u.nalus.find((n) => hevcNalType(n) < 32)!);
    const cra = open.findIndex((u) => firstSlice(u) === HEVC_NAL.CRA);
    assert.ok(cra > 0 && open.slice(cra + 1).some((u) => firstSlice(u) === HEVC_NAL.RASL_N || firstSlice(u) === HEVC_NAL.RASL_R), 'a CRA with RASL pictures');
    const nextIrap = open.findIndex((u, i) => i > cra && u.keyframe);
    const isRasl = (u: { nalus: Buffer[] }): boolean => firstSlice(u) === HEVC_NAL.RASL_N || firstSlice(u) === HEVC_NAL.RASL_R;
    const { aus } = run(packetize(open.slice(cra)).packets);
    assert.equal(firstSlice(aus[0]), HEVC_NAL.CRA);
    // Those of the CRA resumed at are dropped; those of the next IRAP (read from it on) are decodable and kept.
    const expected = open.slice(cra).filter((u, i) => !(isRasl(u) && (nextIrap < 0 || cra + i < nextIrap)));
    assert.ok(expected.length < open.length - cra);
    assert.deepEqual(aus.map(firstSlice), expected.map(firstSlice));
    assert.equal(decodeErrors(['-f', 'hevc', '-i', '-'], annexB(aus)), '');
    // Read from the start, the same CRA's RASL pictures are decodable and kept.
    const whole = run(packetize(open).packets);
    assert.equal(whole.aus.length, open.length);
  });

  it('a malformed AP, a fragment without its start, an oversized frame: dropped until the next IRAP; PACI ignored', () => {
    const s = packetize(units);
    const badAp = s.packets.map((p, i) => (i === s.firstOf[10] ? { ...p, payload: Buffer.concat([p.payload.subarray(0, 4), Buffer.from([0xff])]) } : p));
    const a = run(badAp);
    assert.match(a.drops[0], /^a malformed H\.265 aggregation packet: the frame is dropped/);
    assert.deepEqual(a.aus.map((u) => (u.timestamp - a.aus[0].timestamp) / 6000), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20]);
    const fu = s.kinds.findIndex((k, i) => k === 'fu' && i > s.firstOf[1] && (s.packets[i].payload[2] & 0x80) !== 0);
    const noStart = run(s.packets.map((p, i) => (i === fu ? { ...p, payload: Buffer.concat([p.payload.subarray(0, 2), Buffer.from([p.payload[2] & 0x3f]), p.payload.subarray(3)]) } : p)));
    assert.match(noStart.drops[0] ?? '', /^a FU fragment without its start/);
    // The bound at the first access unit's size: it passes; the larger IRAPs (libx265's CRAs here) do not, and each is
    // said (a keyframe lost); nothing over the bound comes out.
    const size = (u: { nalus: Buffer[] }): number => u.nalus.reduce((n, x) => n + x.length, 0);
    const bound = size(units[0]);
    assert.ok(units.some((u) => u.keyframe && size(u) > bound), 'a later IRAP is larger than the first');
    const big = run(s.packets, { maxAccessUnitBytes: bound });
    assert.ok(big.drops.length >= 1 && big.drops.every((d) => /^the camera sent a video frame over 0 MiB/.test(d)), big.drops.join('\n'));
    assert.ok(big.aus[0].keyframe && big.aus.every((u) => size(u) <= bound));
    assert.ok(big.aus.length < 21);
    const paci = s.packets.flatMap((p, i) => (i === 1 ? [p, { ...p, marker: false, sequence: 0, payload: Buffer.from([50 << 1, 1, 0, 0]) }] : [p]));
    let seq = s.packets[0].sequence;
    const renumbered = paci.map((p) => ({ ...p, sequence: seq++ & 0xffff }));
    const withPaci = run(renumbered);
    assert.deepEqual([withPaci.drops, withPaci.aus.length], [[], 21]);
  });
});
