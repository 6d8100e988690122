// The H.265 words the plugin reads, from real libx265 output: NAL unit types, and the SPS's size (after the conformance
// window), profile and level as ffprobe reads them.
import assert from 'node:assert/strict';
import { rbsp, splitAnnexB } from '../../src/media/h264';
import { HEVC_NAL, hevcNalType, isHevcIrap, parseHevcSps } from '../../src/media/h265';
import { encodeHevc, probeVideo } from './hevc-sample';

function spsOf(stream: Buffer): Buffer {
  const sps = splitAnnexB(stream).find((n) => hevcNalType(n) === HEVC_NAL.SPS);
  assert.ok(sps, 'libx265 wrote an SPS');
  return sps;
}

describe('H.265 bitstream', () => {
  it('names the NAL units of a libx265 stream: VPS, SPS, PPS, prefix SEI, then IDR and trailing slices', () => {
    const types = splitAnnexB(encodeHevc({ size: '320x240', frames: 3 })).map(hevcNalType);
    assert.deepEqual(types.slice(0, 4), [HEVC_NAL.VPS, HEVC_NAL.SPS, HEVC_NAL.PPS, HEVC_NAL.SEI_PREFIX]);
    assert.ok(isHevcIrap(types[4]), `the first picture is an IRAP (${types[4]})`);
    assert.deepEqual(types.slice(5).map(isHevcIrap), [false, false], 'trailing pictures are not keyframes');
  });

  // 202x154 is coded as 208x160 (whole 8x8 CUs) with a conformance window; 1920x1080 needs none; Main 10 at 4:2:0;
  // a stream with a sub-layer (sps_max_sub_layers_minus1 1) has a longer profile_tier_level to skip.
  const cases: { name: string; size: string; x265?: string; pixFmt?: string; profile: number; bits: number; subLayers: number }[] = [
    { name: '1920x1080 Main', size: '1920x1080', profile: 1, bits: 8, subLayers: 0 },
    { name: '202x154 Main, conformance window', size: '202x154', profile: 1, bits: 8, subLayers: 0 },
    { name: '322x182 Main 10, conformance window', size: '322x182', pixFmt: 'yuv420p10le', profile: 2, bits: 10, subLayers: 0 },
    { name: '320x240 with a temporal sub-layer', size: '320x240', x265: 'temporal-layers=1:bframes=3', profile: 1, bits: 8, subLayers: 1 },
  ];
  for (const c of cases) {
    it(`reads the SPS of ${c.name} as ffprobe does`, () => {
      const stream = encodeHevc({ size: c.size, frames: 1, x265: c.x265, pixFmt: c.pixFmt });
      const sps = spsOf(stream);
      assert.equal((rbsp(sps, 2)[0] >> 1) & 0x07, c.subLayers, 'sps_max_sub_layers_minus1 as the case means');
      const info = parseHevcSps(sps);
      const probe = probeVideo(['-f', 'hevc', '-i', '-'], stream);
      assert.deepEqual([info.width, info.height], c.size.split('x').map(Number));
      assert.deepEqual([info.width, info.height], [probe.width, probe.height]);
      assert.equal(info.profileIdc, c.profile);
      assert.deepEqual([info.bitDepthLuma, info.bitDepthChroma, info.chromaFormatIdc], [c.bits, c.bits, 1]);
      assert.equal(info.levelIdc, probe.level);
    });
  }

  it('refuses what is not an SPS, and an SPS cut short', () => {
    const stream = encodeHevc({ size: '320x240', frames: 1 });
    const [vps] = splitAnnexB(stream);
    assert.throws(() => parseHevcSps(vps), /not an H\.265 SPS/);
    assert.throws(() => parseHevcSps(spsOf(stream).subarray(0, 12)), /H\.265 SPS ends early/);
  });
});
