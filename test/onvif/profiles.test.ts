import assert from 'node:assert/strict';
import { parseMedia1Profiles, parseMedia2Profiles } from '../../src/onvif/profiles';
import { parseXml } from '../../src/onvif/xml';

describe('media profiles', () => {
  it('reads Media (ver10) profiles, codec details from the H264 element, and drops one without a video encoder', () => {
    const reply = parseXml('<trt:GetProfilesResponse xmlns:trt="urn:trt" xmlns:tt="urn:tt">' +
      '<trt:Profiles token="main"><tt:Name>Main</tt:Name><tt:VideoEncoderConfiguration><tt:Encoding>H264</tt:Encoding>' +
      '<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution>' +
      '<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>' +
      '<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264></tt:VideoEncoderConfiguration>' +
      '<tt:AudioEncoderConfiguration><tt:Encoding>AAC</tt:Encoding><tt:Bitrate>32</tt:Bitrate><tt:SampleRate>16</tt:SampleRate>' +
      '</tt:AudioEncoderConfiguration></trt:Profiles>' +
      '<trt:Profiles token="audio-only"><tt:Name>Audio</tt:Name></trt:Profiles>' +
      '</trt:GetProfilesResponse>');
    assert.deepEqual(parseMedia1Profiles(reply), [{
      token: 'main', name: 'Main', encoding: 'H264', width: 1920, height: 1080, fps: 25, bitrateKbps: 4096, govLength: 50,
      h264Profile: 'Main', audio: { encoding: 'AAC', sampleRateHz: 16_000, bitrateKbps: 32 }, isH265: false,
    }]);
  });

  it('reads Media2 (ver20) profiles, codec details from the VideoEncoder attributes, and marks H.265', () => {
    const reply = parseXml('<tr2:GetProfilesResponse xmlns:tr2="urn:tr2" xmlns:tt="urn:tt">' +
      '<tr2:Profiles token="p0"><tt:Name>Main</tt:Name><tr2:Configurations>' +
      '<tr2:VideoEncoder GovLength="60" Profile="Main"><tt:Encoding>H265</tt:Encoding>' +
      '<tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution></tr2:VideoEncoder>' +
      '</tr2:Configurations></tr2:Profiles>' +
      '<tr2:Profiles token="p1"><tr2:Configurations/></tr2:Profiles>' +
      '</tr2:GetProfilesResponse>');
    assert.deepEqual(parseMedia2Profiles(reply), [{
      token: 'p0', name: 'Main', encoding: 'H265', width: 2560, height: 1440, fps: undefined, bitrateKbps: undefined,
      govLength: 60, h264Profile: 'Main', audio: undefined, isH265: true,
    }]);
  });
});
