import assert from 'node:assert/strict';
import * as hap from 'hap-nodejs';
import type { HAP } from 'homebridge';
import { cameraRecordingOptions, resolutionsFor, cameraStreamingOptions } from '../../src/homekit/camera-options';

describe('camera options (what HAP\'s CameraController is told)', () => {
  it('offers only sizes the camera can give without upscaling, and always the Watch sizes', () => {
    assert.deepEqual(resolutionsFor(1280, 720).map(([w, h]) => `${w}x${h}`), ['1280x720', '640x480', '640x360', '480x360', '480x270', '320x240', '320x180']);
    assert.ok(resolutionsFor(1920, 1080).some(([w, h]) => w === 1920 && h === 1080));
    assert.deepEqual(resolutionsFor(160, 120).map(([w, h]) => `${w}x${h}`), ['320x240', '320x180']);
  });

  it('offers Opus live audio when that is what ffmpeg has, and AAC-LC 32 kHz recordings with the chosen prebuffer', () => {
    const h = hap as unknown as HAP;
    const live = cameraStreamingOptions(h, 1920, 1080, 'opus');
    assert.equal(live.audio?.codecs[0].type, h.AudioStreamingCodecType.OPUS);
    assert.equal(cameraStreamingOptions(h, 1920, 1080, undefined).audio, undefined);
    const rec = cameraRecordingOptions(h, 1920, 1080, 6);
    assert.equal(rec.prebufferLength, 6000);
    assert.deepEqual(rec.mediaContainerConfiguration, { type: h.MediaContainerType.FRAGMENTED_MP4, fragmentLength: 4000 });
    assert.ok(rec.video.resolutions.some(([w, h2, fps]) => w === 1920 && h2 === 1080 && fps === 15));
  });
});
