// Benchmark: how late video reaches the HKSV hub and the live viewer, measured from each frame's capture. The simulated
// camera draws a number into every frame and logs when it sent it (capture time = send time); the numbers are read
// back from what the hub and the viewer received, so every figure is per frame, not an estimate.
//
// Run: npx tsc -p tsconfig.build.json && npx tsc -p tsconfig.json && node .build/bench/latency.js
//        [--gop 1|2|4|8|variable] [--prebuffer 4] [--fragments 6] [--live-seconds 12] [--no-camera-ffmpeg]
//        [--courtyard-plugin <dir>]   (another build of this plugin, e.g. a worktree of an older commit, for "before")
//
// Figures (one simulated 1080p15 H.264 Main camera with AAC, the chosen GOP; Homebridge 1.x; all on 127.0.0.1):
//  recording (Courtyard, over real HDS, the hub asking the moment MotionDetected arrives):
//    - the clip's first frame relative to the motion (ms of prebuffer, exact from frame numbers), on a keyframe or not;
//    - first fragment after the hub's request (ms);
//    - each later fragment's arrival after the keyframe that closes it was captured, and after its own last frame (p50/p95);
//  live view (1280x720 asked, the main stream copied): per frame, arrival of the whole frame at the viewer minus its
//    capture, p50/p95 once caught up (from 2 s after START) and the time from START until frames arrive < 150 ms late;
//    the same for homebridge-camera-ffmpeg (vcodec copy) on the same camera, in its own Homebridge.
// Writes bench/results/latency-<gop>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { findFfmpeg } from '../src/media/ffmpeg-path';
import { OnvifDevice } from '../src/onvif/device';
import type { CameraSim } from '../tools/camera-sim';
import type { GopOption } from '../tools/camera-sim/media';
import {
  CameraStreamClient, CharacteristicType, HapClient, HapEvent, pairWith, platformConfigFor, ServiceType, sleep,
  startHomebridge, startRecordingHub, startSim,
} from '../test/e2e/rig';
import { clipFrames, ClipFrames } from '../test/e2e/rig/clip-frames';
import { readFrameNumbers, sendTimeEach } from '../test/e2e/rig/frame-numbers';
import { repoRoot } from '../test/e2e/rig/paths';
import { nearestRank, packageVersion } from './figures';
import { runBounded } from './run-bounded';

const LINE = 1;
const CAMERA = 'Bench';
const FFMPEG_COPY = 'Bench ffmpeg copy';
const WIDTH = 1920;
const START_TIMEOUT_MS = 60_000;
const EVENT_TIMEOUT_MS = 10_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
const CAUGHT_UP_MS = 150;
const STEADY_AFTER_MS = 2_000;
const BOUND_MS = 8 * 60_000;
const MOTION_HOLD_S = 5;
const VIDEO = { width: 1280, height: 720, fps: 15 };

interface Options {
  gop: GopOption;
  prebufferS: number;
  fragments: number;
  liveSeconds: number;
  cameraFfmpeg: boolean;
  courtyardPlugin?: string;
}

function parse(argv: string[]): Options {
  const o: Options = { gop: 2, prebufferS: 4, fragments: 6, liveSeconds: 12, cameraFfmpeg: true };
  for (let i = 0; i < argv.length; i++) {
    const next = (): string => argv[++i] ?? '';
    switch (argv[i]) {
      case '--gop': { const g = next(); o.gop = g === 'variable' ? 'variable' : Number(g) as GopOption; break; }
      case '--prebuffer': o.prebufferS = Number(next()); break;
      case '--fragments': o.fragments = Number(next()); break;
      case '--live-seconds': o.liveSeconds = Number(next()); break;
      case '--no-camera-ffmpeg': o.cameraFfmpeg = false; break;
      case '--courtyard-plugin': o.courtyardPlugin = next(); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

interface Percentiles { n: number; p50: number; p95: number; max: number }
function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: Math.round(nearestRank(s, 50)), p95: Math.round(nearestRank(s, 95)), max: Math.round(s[s.length - 1] ?? NaN) };
}
const fmt = (p: Percentiles): string => `p50 ${p.p50} ms, p95 ${p.p95} ms (n ${p.n}, max ${p.max})`;
/** The rig's stream clock (performance.now()) as wall-clock ms, to compare with the simulator's send times. */
const wall = (t: number): number => performance.timeOrigin + t;

interface LiveResult {
  frames: number;
  /** START → first frame arriving less than CAUGHT_UP_MS after its capture, and staying so for 15 frames (ms). */
  catchUpMs: number;
  steady: Percentiles;
  all: Percentiles;
}

async function measureLive(hap: HapClient, aid: number, sim: CameraSim, seconds: number): Promise<LiveResult> {
  const client = await CameraStreamClient.open(hap, aid);
  const session = await client.setup();
  if (!session.ok) {
    await session.close();
    throw new Error(`SetupEndpoints answered ${session.answer.status}`);
  }
  try {
    const startAt = performance.now();
    await session.start({ video: VIDEO });
    await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    await sleep(seconds * 1000);
    await session.end();
    const arrivals = session.video.frameArrivals().map(wall);
    const numbers = await readFrameNumbers(session.video.elementaryStream(), WIDTH, { format: 'h264' });
    // The decoder drops only frames before the first keyframe: align the decoded frames with the last arrivals.
    const arrived = arrivals.slice(arrivals.length - numbers.length);
    const sent = sendTimeEach(numbers, await sim.frames(0, 'main'), arrived);
    const delays = arrived.map((a, i) => a - sent[i]).filter((d) => Number.isFinite(d));
    console.log(`  (live: ${arrivals.length} frames arrived, ${numbers.length} decoded, ${numbers.filter((n) => n === undefined).length} unreadable, `
      + `${delays.length} timed)`);
    const run = 15;
    const caught = delays.findIndex((_, i) => delays.slice(i, i + run).length === run && delays.slice(i, i + run).every((d) => d < CAUGHT_UP_MS));
    const steadyFrom = wall(startAt) + STEADY_AFTER_MS;
    return {
      frames: numbers.length,
      catchUpMs: caught < 0 ? NaN : Math.round(arrived[caught] - wall(startAt)),
      steady: percentiles(delays.filter((_, i) => arrived[i] >= steadyFrom)),
      all: percentiles(delays),
    };
  } finally {
    await session.close();
  }
}

interface RecordingResult {
  clip: ClipFrames;
  firstOnKeyframe: boolean;
  afterClosingKeyframe: Percentiles;
  afterLastFrame: Percentiles;
  fragmentsMs: number[];
}

/** One clip over real HDS. `recordAudio` is HomeKit's "Record audio": on, the camera's 16 kHz AAC is converted to the hub's
 *  32 kHz by an audio-only ffmpeg whose output each fragment waits for; off, the clip is the camera's H.264 alone. */
async function measureRecording(hap: HapClient, sim: CameraSim, o: Options, recordAudio: boolean): Promise<RecordingResult> {
  const list = await hap.waitForAccessories((l) => l.byName(CAMERA)?.service(ServiceType.CameraRecordingManagement) !== undefined,
    { timeoutMs: START_TIMEOUT_MS, what: 'the camera with HKSV' });
  const accessory = list.requireByName(CAMERA);
  const motion = accessory.servicesOfType(ServiceType.MotionSensor)[0].requireCharacteristic(CharacteristicType.MotionDetected);
  await hap.subscribe([{ aid: motion.aid, iid: motion.iid }]);
  const hub = await startRecordingHub(hap, accessory.aid, { preferences: { prebufferLengthMs: o.prebufferS * 1000 } });
  try {
    await hub.setRecordingAudio(recordAudio);
    const gopS = o.gop === 'variable' ? 8 : o.gop;
    await sleep((o.prebufferS + gopS + 3) * 1000); // the prebuffer fills: its length and a keyframe before it
    await hap.waitForEvent((e: HapEvent) => e.aid === motion.aid && e.iid === motion.iid && !e.value, EVENT_TIMEOUT_MS + MOTION_HOLD_S * 1000)
      .catch(() => undefined); // a previous clip's motion is over (none before the first)
    const seq = hap.lastEventSeq();
    const motionAt = sim.cameras[0].motion(true).at;
    await hap.waitForEvent((e: HapEvent) => e.aid === motion.aid && e.iid === motion.iid && (e.value === true || e.value === 1), EVENT_TIMEOUT_MS, seq);
    const requestedAt = Date.now();
    const stream = await hub.openRecording();
    await stream.waitForFragments(o.fragments, o.fragments * 8_000 + 15_000);
    const packets = stream.packets();
    stream.close();
    sim.cameras[0].motion(false);
    const clip = await clipFrames(packets, await sim.frames(0, 'main'), motionAt, requestedAt, WIDTH);
    const later = clip.fragments.slice(1);
    return {
      clip,
      firstOnKeyframe: clip.fragments[0].keyframeFirst,
      afterClosingKeyframe: percentiles(later.flatMap((f) => (f.delayAfterClosingKeyframeMs === undefined ? [] : [f.delayAfterClosingKeyframeMs]))),
      afterLastFrame: percentiles(later.map((f) => f.delayAfterLastFrameMs)),
      fragmentsMs: clip.fragments.map((f) => Math.round(f.videoMs)),
    };
  } finally {
    await hub.close();
  }
}

async function mainStreamUrl(sim: CameraSim): Promise<string> {
  const cam = sim.cameras[0];
  const device = new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
  await device.connect();
  const main = [...await device.getProfiles()].sort((a, b) => b.width - a.width)[0];
  return device.getStreamUri(main.token);
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const command = `node .build/bench/latency.js ${process.argv.slice(2).join(' ')}`.trim();
  const ffmpeg = findFfmpeg(undefined).path ?? 'ffmpeg';
  const sim = await startSim({ cameras: [{ name: CAMERA, vendor: 'hikvision', gop: o.gop }] });
  const hb = await startHomebridge({
    line: LINE,
    ...(o.courtyardPlugin ? { pluginPath: o.courtyardPlugin } : {}),
    startupTimeoutMs: START_TIMEOUT_MS,
    platforms: [platformConfigFor(sim, { cameras: [{ motionHoldSeconds: MOTION_HOLD_S, prebufferSeconds: o.prebufferS }], platform: { videoProcessor: ffmpeg } })],
  });
  const hap = await pairWith(hb);
  const recording = await measureRecording(hap, sim, o, true);
  const recordingNoAudio = await measureRecording(hap, sim, o, false);
  const aid = (await hap.accessories()).requireByName(CAMERA).aid;
  const live = await measureLive(hap, aid, sim, o.liveSeconds);
  await hb.stop();
  let ffmpegLive: LiveResult | undefined;
  if (o.cameraFfmpeg) {
    const source = `-rtsp_transport tcp -i ${await mainStreamUrl(sim)}`;
    const other = await startHomebridge({
      line: LINE,
      pluginPath: join(repoRoot(), 'node_modules', 'homebridge-camera-ffmpeg'),
      startupTimeoutMs: START_TIMEOUT_MS,
      platforms: [{ platform: 'Camera-ffmpeg', videoProcessor: ffmpeg, cameras: [{ name: FFMPEG_COPY, videoConfig: { source, vcodec: 'copy', audio: false } }] }],
    });
    const otherHap = await pairWith(other);
    const list = await otherHap.waitForAccessories((l) => l.byName(FFMPEG_COPY) !== undefined, { timeoutMs: START_TIMEOUT_MS, what: FFMPEG_COPY });
    ffmpegLive = await measureLive(otherHap, list.requireByName(FFMPEG_COPY).aid, sim, o.liveSeconds);
    await other.stop();
  }

  console.log(`\ncapture → hub and capture → viewer latency, GOP ${o.gop}${o.gop === 'variable' ? '' : ' s'}, prebuffer ${o.prebufferS} s; `
    + `homebridge-camera-ffmpeg ${packageVersion('node_modules/homebridge-camera-ffmpeg')}`);
  console.log(`command: ${command}`);
  for (const [name, r] of [['recording, audio converted 16 → 32 kHz', recording], ['recording, "Record audio" off', recordingNoAudio]] as const) {
    const c = r.clip;
    console.log(`${name}: clip starts on frame ${c.firstFrame} (${r.firstOnKeyframe ? 'a keyframe' : 'NOT a keyframe'}), `
      + `${Math.round(c.prebufferMs)} ms before the motion; fragments ${r.fragmentsMs.join(', ')} ms`);
    console.log(`  first fragment ${Math.round(c.firstFragmentAfterRequestMs)} ms after the hub's request`);
    console.log(`  later fragments after their closing keyframe's capture: ${fmt(r.afterClosingKeyframe)}`);
    console.log(`  later fragments after their last frame's capture:       ${fmt(r.afterLastFrame)}`);
  }
  for (const [name, r] of [['courtyard', live], ['camera-ffmpeg copy', ffmpegLive]] as const) {
    if (r) {
      console.log(`live ${name}: capture → viewer once caught up ${fmt(r.steady)}; all frames ${fmt(r.all)}; `
        + `caught up (< ${CAUGHT_UP_MS} ms) ${r.catchUpMs} ms after START`);
    }
  }
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `latency-${o.gop}.json`), `${JSON.stringify({ command, options: o, recording, recordingNoAudio, live, ffmpegLive }, null, 2)}\n`);
}

runBounded(main, BOUND_MS);
