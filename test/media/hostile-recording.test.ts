// An HKSV clip copied from a camera that changes its picture size mid-clip, through the real Recording delegate (its
// source, CopyClip and packet queue): the hub gets the clip up to the change, its last packet marked isLast, and one log
// line saying why; not a fragment of another size under the init segment's, and not an error after what it recorded.
import assert from 'node:assert/strict';
import * as hap from 'hap-nodejs';
import type { CameraRecordingConfiguration, HAP } from 'homebridge';
import { Recording } from '../../src/media/recording';
import { MediaSource } from '../../src/media/source';
import { HostileRtspServer } from '../../tools/camera-sim/hostile-rtsp';

describe('recording a camera whose stream turns hostile', function () {
  this.timeout(20_000);
  let server: HostileRtspServer | undefined;
  let source: MediaSource | undefined;
  afterEach(async () => {
    await source?.stop();
    await server?.stop();
  });

  it('a picture size changed mid-clip ends the clip with what was recorded, marked isLast, and says why', async () => {
    server = await HostileRtspServer.start({ mode: 'resize', resizeAfterMs: 2_500 });
    const lines: string[] = [];
    const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    source = new MediaSource({ label: 'Gate main', url: server.url(), ffmpegPath: 'ffmpeg', log, audio: 'none' });
    const recording = new Recording({
      hap: hap as unknown as HAP, log, ffmpegPath: 'ffmpeg', encoder: 'libx264', audio: false, maxRecordingSeconds: 60,
      streams: [{ name: 'main', source, profile: { token: 't', name: 'main', encoding: 'H264', width: 320, height: 240, fps: 15, govLength: 15, bitrateKbps: 500, isH265: false } }],
    });
    recording.updateRecordingConfiguration({
      prebufferLength: 4000, eventTriggerTypes: [1], mediaContainerConfiguration: { type: 0, fragmentLength: 4000 },
      videoCodec: { type: 0, parameters: { profile: 1, level: 2, bitRate: 2000, iFrameInterval: 4000 }, resolution: [320, 240, 15] },
      audioCodec: { type: 0, audioChannels: 1, samplerate: 3, bitrate: 64 },
    } as CameraRecordingConfiguration);
    recording.updateRecordingActive(true);
    recording.motionDetected();
    const packets: { bytes: number; isLast: boolean }[] = [];
    try {
      for await (const p of recording.handleRecordingStreamRequest(1)) {
        packets.push({ bytes: p.data.length, isLast: p.isLast });
        if (p.isLast) {
          break;
        }
      }
    } finally {
      recording.updateRecordingActive(false);
    }
    assert.ok(lines.some((l) => /copying the camera's main stream/.test(l)), lines.join('\n'));
    assert.ok(packets.length >= 2, 'the init segment and at least one fragment');
    assert.equal(packets.at(-1)?.isLast, true, 'the clip ends with isLast, not an error');
    assert.ok(lines.includes('recording: clip 1 ends early, with what was recorded: the camera changed its picture size from 320x240 to 640x480'),
      lines.join('\n'));
  });
});
