// HomeKit Secure Video on every keyframe interval cameras ship with, measured exactly by frame numbers: five simulated
// cameras with a main-stream GOP of 1, 2, 4, 8 s and a variable one (3, 5, 8 s), each recorded over real HDS on motion.
// The simulator draws a number into every frame and logs when it sent it, so the clip's first frame is known exactly:
// it must be a camera keyframe, captured at least the prebuffer before the motion, and the newest such keyframe (the
// next one was captured after motion − prebuffer). Fragments last the hub's 4 s: copied when the GOP divides 4 s (cut
// at every 4th, 2nd or each keyframe), transcoded with keyframes forced every 4 s otherwise, the reason in the log.
// Audio runs with the video in every fragment. No wall-clock timing is asserted (latency figures: bench/latency.ts).
import assert from 'node:assert/strict';
import {
  CharacteristicRef, CharacteristicType, currentHbLine, HapClient, HapEvent, HomebridgeProcess, pairWith, platformConfigFor,
  readSupportedRecording, recordingCharacteristicsOf, RecordingHub, ServiceType, sleep, startHomebridge, startRecordingHub,
  startSim, stopAll,
} from './rig';
import { clipFrames } from './rig/clip-frames';
import type { FrameLog } from './rig/frame-numbers';
import { GopOption, keyframeIndexes, PROFILES, withGop } from '../../tools/camera-sim/media';
import type { CameraSim } from '../../tools/camera-sim';

const line = currentHbLine();

interface Case {
  gop: GopOption;
  prebufferS: number;
  /** What the plugin must do with this GOP and 4 s fragments. */
  copy: boolean;
}
const CASES: Case[] = [
  { gop: 1, prebufferS: 4, copy: true },
  { gop: 2, prebufferS: 8, copy: true },
  { gop: 4, prebufferS: 4, copy: true },
  { gop: 8, prebufferS: 4, copy: false },
  { gop: 'variable', prebufferS: 4, copy: false },
];
const nameOf = (c: Case): string => `GOP ${c.gop}`;
const FRAGMENT_MS = 4_000;
const FRAGMENT_TOLERANCE = 0.1;
/** Per fragment, audio and video durations agree within this (ms): a few AAC frames. */
/** A fragment's audio against its video (ms). Copied clips with converted audio end a fragment's audio up to ~0.2 s
 *  early on a quiet machine (the converter's own delay; the rest opens the next fragment); 0.29 s was seen at load 5. */
const AV_SYNC_MS = 300;
/** Audio against video over the whole clip (ms): no drift, whatever each fragment carries. */
const AV_DRIFT_MS = 250;
/** A transcoded clip's first frame before motion − prebuffer, at most (ms): 0.3 s of the lead is kept for the event's
 *  latency, and a lead under half a second is not cut (recording.ts TRANSCODE_LEAD_KEPT_MS, TRANSCODE_SKIP_MIN_MS). */
const TRANSCODE_START_SLACK_MS = 300 + 550;
const PUBLISH_TIMEOUT_MS = 45_000;
/** Added to a camera's prebuffer and keyframe interval before its motion is raised (ms). */
const PREBUFFER_MARGIN_MS = 2_000;
const EVENT_TIMEOUT_MS = 10_000;
/** Motion is raised only while no camera keyframe lies this close (ms) to motion − prebuffer: the event's own trip to the
 *  plugin (a few ms) must not decide between two keyframes, so the expected start frame is unambiguous. */
const KEYFRAME_GUARD_MS = 250;
const GUARD_POLL_MS = 40;
const GUARD_TRIES = 200;

function keyframeSet(gop: GopOption): Set<number> {
  return new Set(keyframeIndexes(withGop(PROFILES.main, gop)));
}

describe(`[HB ${line}] HKSV on every keyframe interval (frame-numbered camera)`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  const hubs = new Map<string, RecordingHub>();
  const motions = new Map<string, CharacteristicRef>();
  /** When the hubs were set up and the prebuffers began to fill (ms). */
  let prebuffersFrom = 0;

  before(async function () {
    // What is measured here is the plugin's media pipeline (source, prebuffer, ffmpeg, fMP4), the same on both
    // Homebridge lines; HDS itself is covered on both by recording.e2e and network.e2e. Once keeps the suite in its
    // time budget (two minutes a run).
    if (line === 1) {
      this.skip();
    }
    this.timeout(150_000);
    sim = await startSim({ cameras: CASES.map((c) => ({ name: nameOf(c), vendor: 'hikvision' as const, gop: c.gop })) });
    hb = await startHomebridge({
      platforms: [platformConfigFor(sim, { cameras: CASES.map((c) => ({ motionHoldSeconds: 1, prebufferSeconds: c.prebufferS })) })],
    });
    hap = await pairWith(hb);
    const list = await hap.waitForAccessories((l) => CASES.every((c) => l.byName(nameOf(c))?.service(ServiceType.CameraRecordingManagement) !== undefined),
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: 'every camera with HKSV' });
    for (const c of CASES) {
      const accessory = list.requireByName(nameOf(c));
      const sensor = accessory.servicesOfType(ServiceType.MotionSensor)[0].requireCharacteristic(CharacteristicType.MotionDetected);
      motions.set(nameOf(c), { aid: sensor.aid, iid: sensor.iid });
      const prebufferLengthMs = (await readSupportedRecording(hap, recordingCharacteristicsOf(accessory))).camera.prebufferLengthMs;
      assert.equal(prebufferLengthMs, c.prebufferS * 1000, 'the camera advertises its prebuffer');
      hubs.set(nameOf(c), await startRecordingHub(hap, accessory.aid, { preferences: { prebufferLengthMs } }));
    }
    await hap.subscribe([...motions.values()]);
    prebuffersFrom = Date.now();
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  for (const [index, c] of CASES.entries()) {
    it(`GOP ${c.gop}${c.gop === 'variable' ? ' (3, 5, 8 s)' : ' s'}, prebuffer ${c.prebufferS} s: starts on the newest keyframe ≥ ${c.prebufferS} s before the motion, ` +
      `${FRAGMENT_MS / 1000} s fragments (${c.copy ? 'copied' : 'transcoded, logged why'}), audio in step`, async function () {
      this.timeout(60_000);
      const name = nameOf(c);
      const keyframes = keyframeSet(c.gop);
      const prebufferMs = c.prebufferS * 1000;
      // This camera's prebuffer is full: its length plus its longest gap between keyframes, and a margin (the cases
      // before it have usually taken longer than that).
      await sleep(Math.max(0, prebuffersFrom + prebufferMs + (c.gop === 'variable' ? 8 : c.gop) * 1000 + PREBUFFER_MARGIN_MS - Date.now()));
      // Raise motion when no keyframe was sent near motion − prebuffer (the log covers that past instant).
      let log: FrameLog = await sim.frames(index, 'main');
      for (let i = 0; i < GUARD_TRIES; i++) {
        const target = Date.now() - prebufferMs;
        log = await sim.frames(index, 'main');
        const near = log.index.some((n, k) => keyframes.has(n) && Math.abs(log.sentAt[k] - target) < KEYFRAME_GUARD_MS);
        if (!near && Date.now() - target - prebufferMs < GUARD_POLL_MS) {
          break;
        }
        await sleep(GUARD_POLL_MS);
      }
      const seq = hap.lastEventSeq();
      const motionAt = sim.cameras[index].motion(true).at;
      const ref = motions.get(name) as CharacteristicRef;
      await hap.waitForEvent((e: HapEvent) => e.aid === ref.aid && e.iid === ref.iid && (e.value === true || e.value === 1), EVENT_TIMEOUT_MS, seq);
      const hub = hubs.get(name) as RecordingHub;
      const requestedAt = Date.now();
      const stream = await hub.openRecording();
      // Prebuffered fragments arrive at once (the prebuffer and the keyframe lead before it); two more are live.
      const wanted = Math.ceil(prebufferMs / FRAGMENT_MS) + 2;
      await stream.waitForFragments(wanted, wanted * FRAGMENT_MS + 15_000);
      const packets = stream.packets();
      stream.close();
      sim.cameras[index].motion(false);
      assert.deepEqual(stream.violations(), [], 'HDS rules');
      log = await sim.frames(index, 'main');
      const clip = await clipFrames(packets, log, motionAt, requestedAt, PROFILES.main.width);
      const summary = JSON.stringify({
        first: clip.firstFrame, prebufferMs: Math.round(clip.prebufferMs),
        fragments: clip.fragments.map((f) => ({ frames: f.frames, ms: Math.round(f.videoMs), audio: Math.round(f.audioMs), key: f.keyframeFirst, first: f.firstFrame })),
      });

      assert.equal(clip.unreadable, 0, `every frame number reads; ${summary}`);
      if (c.copy) {
        assert.ok(clip.firstFrame !== undefined && keyframes.has(clip.firstFrame), `the clip starts on a camera keyframe; ${summary}`);
        assert.ok(clip.prebufferMs >= prebufferMs, `its first frame was captured at least ${prebufferMs} ms before the motion; ${summary}`);
        // The newest such keyframe: the camera's next keyframe after it was captured later than motion − prebuffer.
        const at = log.sentAt.indexOf(clip.firstSentAt);
        const next = log.index.findIndex((n, k) => k > at && keyframes.has(n));
        assert.ok(at >= 0 && next > at, 'the next keyframe is in the simulator\'s log');
        assert.ok(log.sentAt[next] > motionAt - prebufferMs,
          `no newer keyframe was captured ${prebufferMs} ms before the motion (next one ${Math.round(motionAt - log.sentAt[next])} ms before); ${summary}`);
      } else {
        // Transcoded, the encoder makes its own first keyframe: the clip holds the hub's prebuffer, not the camera's
        // keyframe lead before it (up to a whole 8 s GOP more to encode before the first fragment).
        const frameMs = 1000 / PROFILES.main.fps;
        assert.ok(clip.prebufferMs >= prebufferMs - frameMs && clip.prebufferMs <= prebufferMs + TRANSCODE_START_SLACK_MS,
          `the transcoded clip starts ${prebufferMs} ms before the motion, not on the camera's earlier keyframe; ${summary}`);
      }

      clip.fragments.forEach((f, i) => assert.ok(f.keyframeFirst, `fragment ${i + 1} starts on a keyframe; ${summary}`));
      for (const [i, f] of clip.fragments.entries()) {
        assert.ok(Math.abs(f.videoMs - FRAGMENT_MS) <= FRAGMENT_MS * FRAGMENT_TOLERANCE, `fragment ${i + 1} lasts the hub's ${FRAGMENT_MS} ms; ${summary}`);
        assert.ok(Math.abs(f.audioMs - f.videoMs) <= AV_SYNC_MS, `fragment ${i + 1}: audio ${Math.round(f.audioMs)} ms with video ${Math.round(f.videoMs)} ms; ${summary}`);
      }
      // What one fragment's audio lacks opens the next (the converter holds ~0.2 s): over the clip, sound never drifts.
      const total = (k: 'audioMs' | 'videoMs'): number => clip.fragments.reduce((sum, f) => sum + f[k], 0);
      assert.ok(Math.abs(total('audioMs') - total('videoMs')) <= AV_DRIFT_MS,
        `audio ${Math.round(total('audioMs'))} ms over the clip's ${Math.round(total('videoMs'))} ms of video; ${summary}`);

      const said = hb.log.lines().filter((l) => l.includes(name) && /recording: (copying|transcoding)/.test(l));
      const last = said[said.length - 1] ?? '';
      if (c.copy) {
        assert.match(last, /recording: copying/, `the log says the clip is copied: ${said.join(' | ')}`);
      } else {
        assert.match(last, /recording: transcoding with \S+ because the camera's keyframe interval is .* does not divide the hub's 4 s fragments/,
          `the log says why the clip is transcoded: ${said.join(' | ')}`);
      }
      await sleep(1_500); // motion off (hold 1 s) before the next camera: one clip at a time on two cores
    });
  }
});
