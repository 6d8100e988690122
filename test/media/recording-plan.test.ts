import assert from 'node:assert/strict';
import type { CameraRecordingConfiguration, HAP } from 'homebridge';
import type { CameraStream } from '../../src/media/live';
import { CLOSE_REASONS, planRecording, Recording, recordingArgs, recordingStream } from '../../src/media/recording';
import type { MediaSource, StreamFacts } from '../../src/media/source';

const config = (over: Partial<CameraRecordingConfiguration['videoCodec']['parameters']> = {}, resolution: [number, number, number] = [1920, 1080, 15]): CameraRecordingConfiguration => ({
  prebufferLength: 4000, eventTriggerTypes: [1], mediaContainerConfiguration: { type: 0, fragmentLength: 4000 },
  videoCodec: { type: 0, parameters: { profile: 1, level: 2, bitRate: 2000, iFrameInterval: 4000, ...over }, resolution },
  audioCodec: { type: 0, audioChannels: 1, samplerate: 3, bitrate: 64 },
} as CameraRecordingConfiguration);

const stream = (width: number, height: number, bitrateKbps = 2000): CameraStream => ({
  name: width > 1000 ? 'main' : 'sub', source: {} as MediaSource,
  profile: { token: 't', name: 'n', encoding: 'H264', width, height, fps: 15, govLength: 60, bitrateKbps, isH265: false },
});
const good: StreamFacts = { codec: 'h264', width: 1920, height: 1080, fps: 15, profileIdc: 77, levelIdc: 40, keyframeIntervalMs: 4000, audio: 'aac', audioSampleRateHz: 16000 };

/** The stream a hub's configuration selects, then the plan for it: what a clip does. */
const planFor = (c: CameraRecordingConfiguration, list: CameraStream[], facts: StreamFacts, audio: boolean): ReturnType<typeof planRecording> =>
  planRecording(c, recordingStream(c, list), facts, audio);

describe('recording plan', () => {
  const streams = [stream(1920, 1080), stream(640, 360)];

  it('copies a camera stream that meets the hub configuration, and transcodes 16 kHz audio to the hub\'s 32 kHz', () => {
    const plan = planFor(config(), streams, good, true);
    assert.equal(plan.copyVideo, true);
    assert.equal(plan.stream.name, 'main');
    assert.equal(plan.audio, 'transcode');
    const args = recordingArgs(plan, config(), 'libx264');
    assert.deepEqual(args.slice(args.indexOf('-c:v'), args.indexOf('-c:v') + 2), ['-c:v', 'copy']);
    assert.ok(args.includes('frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer'));
    assert.equal(args.at(-1), 'pipe:1');
  });

  it('copies 32 kHz AAC as it is, sends a silent track for a camera without audio, none when audio is off', () => {
    assert.equal(planFor(config(), streams, { ...good, audioSampleRateHz: 32000 }, true).audio, 'copy');
    const silent = planFor(config(), streams, { ...good, audio: undefined }, true);
    assert.equal(silent.audio, 'silent');
    assert.ok(recordingArgs(silent, config(), 'libx264').includes('anullsrc=channel_layout=mono:sample_rate=32000'));
    assert.equal(planFor(config(), streams, good, false).audio, 'none');
  });

  const blockers: [string, StreamFacts, CameraStream[], RegExp][] = [
    ['H.265', { ...good, codec: 'hevc' }, streams, /sends HEVC and the hub takes H\.264 only; set the camera's stream to H\.264/],
    ['a 3 s GOP', { ...good, keyframeIntervalMs: 3000 }, streams,
      /keyframe interval is 3\.0 s, which does not divide the hub's 4 s fragments; set the camera's I-frame interval \(GOP\) to a fixed 60 frames/],
    ['an 8 s GOP', { ...good, keyframeIntervalMs: 8000 }, streams, /keyframe interval is 8\.0 s, which does not divide/],
    ['a variable GOP', { ...good, keyframeIntervalMs: 3000, keyframeIntervalsMs: [3000, 5000, 8000] }, streams,
      /keyframe interval is variable \(3\.0, 5\.0, 8\.0 s\).*turn off its smart\/variable GOP/],
    ['level 4.1', { ...good, levelIdc: 41 }, streams, /level is 4\.1 and the hub takes up to 4\.0; set the camera's H\.264 level to 4\.0/],
    ['High profile when the hub chose Main', { ...good, profileIdc: 100 }, streams, /profile is High \(100\) and the hub takes Baseline or Main; set the camera's H\.264 profile to Main/],
    ['4 Mbps', good, [stream(1920, 1080, 4096)], /bitrate \(4096 kbps\) is above 2200 kbps/],
  ];
  for (const gopMs of [1000, 2000, 4000]) {
    it(`copies a steady ${gopMs / 1000} s GOP: fragments cut at the keyframe that completes the hub's 4 s`, () => {
      const plan = planFor(config(), streams, { ...good, keyframeIntervalMs: gopMs, keyframeIntervalsMs: [gopMs, gopMs, gopMs] }, true);
      assert.equal(plan.copyVideo, true, plan.videoReason);
      const args = recordingArgs(plan, config(), 'libx264');
      assert.equal(args[args.indexOf('-min_frag_duration') + 1], '3800000');
    });
  }

  for (const [what, facts, list, reason] of blockers) {
    it(`transcodes ${what} and says which camera setting stops copying`, () => {
      const plan = planFor(config(), list, facts, true);
      assert.equal(plan.copyVideo, false);
      assert.match(plan.videoReason ?? '', reason);
      const args = recordingArgs(plan, config(), 'libx264');
      assert.ok(args.includes('expr:gte(t,n_forced*4)'), 'keyframes every 4 s');
      assert.equal(args[args.indexOf('-tune') + 1], 'zerolatency', 'the encoder holds no picture back: a fragment leaves when its keyframe comes');
      assert.deepEqual(args.slice(args.indexOf('-b:v'), args.indexOf('-b:v') + 2), ['-b:v', '2000k']);
    });
  }

  it('a transcoded clip decodes the lead before the prebuffer but does not encode it; a copied one keeps it', () => {
    const eightSecondGop = { ...good, keyframeIntervalMs: 8000, keyframeIntervalsMs: [8000, 8000, 8000] };
    const transcoded = planFor(config(), streams, eightSecondGop, true);
    assert.equal(transcoded.copyVideo, false);
    const args = recordingArgs(transcoded, config(), 'libx264', 6_400);
    assert.equal(args[args.indexOf('-ss') + 1], '6.400', 'the 6.4 s before the prebuffer are skipped');
    assert.ok(args.indexOf('-ss') > args.indexOf('pipe:0') && args.indexOf('-ss') < args.indexOf('pipe:1'), 'an output option: decoded, then dropped');
    assert.ok(!recordingArgs(transcoded, config(), 'libx264', 200).includes('-ss'), 'a lead under half a second is kept');
    const copied = planFor(config(), streams, good, true);
    assert.ok(!recordingArgs(copied, config(), 'libx264', 3_000).includes('-ss'), 'copying, the clip must start on the keyframe');
  });

  it('moves transcoded clips to libx264\'s fastest preset, once and said once, after a first fragment slower than 3 s', () => {
    const lines: string[] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: (m: string) => lines.push(m), error: () => undefined };
    const recording = new Recording({ hap: {} as HAP, log, ffmpegPath: 'ffmpeg', encoder: 'libx264', audio: false, maxRecordingSeconds: 60, streams: [] });
    const inner = recording as unknown as { firstFragmentTook(ms: number): void; preset: string };
    inner.firstFragmentTook(2_500);
    assert.equal(inner.preset, 'veryfast', 'a machine that keeps up keeps the better preset');
    inner.firstFragmentTook(3_400);
    inner.firstFragmentTook(3_900);
    assert.equal(inner.preset, 'ultrafast');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /took 3\.4 s to transcode a clip's first fragment .* "ultrafast" preset/);
    const plan = planFor(config(), streams, { ...good, keyframeIntervalMs: 8000, keyframeIntervalsMs: [8000, 8000, 8000] }, true);
    const args = recordingArgs(plan, config(), 'libx264', 0, 'ultrafast');
    assert.deepEqual(args.slice(args.indexOf('-preset'), args.indexOf('-preset') + 4), ['-preset', 'ultrafast', '-tune', 'zerolatency']);
  });

  it('uses the stream of the selected size, and transcodes a size the camera has not', () => {
    assert.equal(planFor(config({}, [640, 360, 15]), streams, { ...good, width: 640, height: 360 }, false).stream.name, 'sub');
    const plan = planFor(config({}, [1280, 720, 30]), streams, good, false);
    assert.equal(plan.copyVideo, false);
    assert.match(plan.videoReason ?? '', /stream is 1920x1080 and the hub takes 1280x720; set one of the camera's streams to 1280x720/);
  });

  it('says every close reason 0-9 as a sentence', () => {
    for (let r = 0; r <= 9; r++) {
      assert.ok(CLOSE_REASONS[r] && CLOSE_REASONS[r].length > 20, `reason ${r}`);
    }
  });
});
