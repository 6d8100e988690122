// Why a camera's video is transcoded, said once for live view, recording and probe: the same sentence for the same camera
// setting, naming what to set it to.
import assert from 'node:assert/strict';
import type { CameraRecordingConfiguration } from 'homebridge';
import { liveCopyBlocker, recordingCopyBlocker } from '../../src/media/copy-decision';
import type { MediaProfile } from '../../src/onvif/profiles';
import type { StreamFacts } from '../../src/media/source';

/** The hub's usual choice: Main 4.0, 1080p, keyframes every 4 s in 4 s fragments. */
const hub = {
  prebufferLength: 4000, eventTriggerTypes: [1], mediaContainerConfiguration: { type: 0, fragmentLength: 4000 },
  videoCodec: { type: 0, parameters: { profile: 1, level: 2, bitRate: 2000, iFrameInterval: 4000 }, resolution: [1920, 1080, 15] },
  audioCodec: { type: 0, audioChannels: 1, samplerate: 3, bitrate: 64 },
} as CameraRecordingConfiguration;
const profile: MediaProfile = { token: 't', name: 'main', encoding: 'H264', width: 1920, height: 1080, fps: 15, isH265: false };
const good: StreamFacts = { codec: 'h264', width: 1920, height: 1080, fps: 15, profileIdc: 77, levelIdc: 40, keyframeIntervalMs: 4000 };

describe('copy decision', () => {
  it('live view copies H.264 Baseline, Main and High at any size and level', () => {
    for (const profileIdc of [66, 77, 100]) {
      assert.equal(liveCopyBlocker({ ...good, profileIdc, levelIdc: 51, width: 2560, height: 1440 }), undefined);
    }
  });

  it('recording copies H.264 that meets the hub\'s configuration', () => {
    assert.equal(recordingCopyBlocker(hub, profile, good), undefined);
  });

  it('says a codec HomeKit cannot show in one sentence for live view and recording, with the setting to change', () => {
    const hevc = { ...good, codec: 'hevc' };
    assert.equal(liveCopyBlocker(hevc), 'the camera sends HEVC and HomeKit takes H.264 only; set the camera\'s stream to H.264');
    assert.equal(recordingCopyBlocker(hub, profile, hevc), 'the camera sends HEVC and the hub takes H.264 only; set the camera\'s stream to H.264');
    assert.match(liveCopyBlocker({}) ?? '', /^the camera sends an unknown codec and HomeKit takes H\.264 only/);
  });

  it('says an H.264 profile above what is taken in one sentence, naming the profile to set', () => {
    const high444 = { ...good, profileIdc: 244 };
    assert.equal(liveCopyBlocker(high444),
      'the camera\'s H.264 profile is High 4:4:4 (244) and HomeKit takes Baseline, Main or High; set the camera\'s H.264 profile to High');
    assert.equal(recordingCopyBlocker(hub, profile, { ...good, profileIdc: 100 }),
      'the camera\'s H.264 profile is High (100) and the hub takes Baseline or Main; set the camera\'s H.264 profile to Main');
  });

  it('recording also says a level and a size the hub did not choose, and what to set', () => {
    assert.equal(recordingCopyBlocker(hub, profile, { ...good, levelIdc: 42 }),
      'the camera\'s H.264 level is 4.2 and the hub takes up to 4.0; set the camera\'s H.264 level to 4.0 (or lower its resolution or frame rate)');
    assert.equal(recordingCopyBlocker(hub, profile, { ...good, width: 2560, height: 1440 }),
      'the camera\'s stream is 2560x1440 and the hub takes 1920x1080; set one of the camera\'s streams to 1920x1080');
  });
});
