// HomeKit Secure Video end to end, with the test acting as the home hub: a real Homebridge with the plugin and two
// simulated cameras is paired, each camera gets the recording configuration and Active like a hub writes them and a
// HomeKit Data Stream; motion is raised at the simulated camera, the recording is requested over HDS the moment the
// MotionDetected event arrives, and what comes back is checked box by box and with ffprobe: fMP4 (ftyp+moov, then
// moof+mdat), the camera's H.264 copied, AAC at the hub's rate (silent when the camera has no microphone, none when
// Home's "Record audio" is off), 4 s fragments each on a keyframe, the prebuffer before the motion, no pause a hub
// would give up on. Then the ends: the hub's close (nothing live view uses is stopped), the clip cap with isLast, and
// recording or the camera switched off, which must let go of the camera's stream.
//
// Yard (Hikvision-like, AAC microphone): live view running next to recording. Gate (Dahua-like): no microphone, a 6 s
// prebuffer and "maxRecordingSeconds": 10.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CameraStreamClient,
  CharacteristicRef,
  CharacteristicType,
  currentHbLine,
  describeProcess,
  HapClient,
  HapEvent,
  HdsCloseReason,
  Hksv,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  pollUntil,
  ProcessInfo,
  readSupportedRecording,
  recordingCharacteristicsOf,
  RecordingHub,
  RecordingStream,
  SelectedRecordingConfiguration,
  ServiceType,
  sleep,
  startHomebridge,
  startRecordingHub,
  startSim,
  stopAll,
  streamNow,
  StreamSession,
} from './rig';
import { Mp4Track, mp4Boxes, mp4Fragment, mp4InitTracks, probe, ProbeResult, summarizeVideo } from './rig/media-probe';
import { makeTempDir } from './rig/paths';
import { ffmpegsOf, untilGone } from './rig/ffmpeg-procs';
import { isStillRunning } from './rig/procfs';
import { FFMPEG_QUIT_GRACE_MS, FFMPEG_TERM_GRACE_MS, SOURCE_IDLE_STOP_MS } from '../../src/settings';
import type { CameraSim, SimCamera } from '../../tools/camera-sim';

const line = currentHbLine();

const YARD = 'Yard';
const GATE = 'Gate';
const GATE_PREBUFFER_S = 6;
const GATE_MAX_RECORDING_S = 10;
/** Short, so a second motion on the same camera is a new MotionDetected event soon after the first ends. */
const MOTION_HOLD_S = 1;

/** The simulator's main profile: 1920x1080, 15 fps, H.264 Main level 4.0, a keyframe every 60 frames (4 s). */
const CAMERA = { width: 1920, height: 1080, profile: 'Main', level: 40, gopMs: 4_000 } as const;
const FRAGMENT_MS = 4_000;
const FRAGMENT_TOLERANCE = 0.1;
/** The recording must hold at least the selected prebuffer minus this before the motion (4 s selected: ≥ 3.5 s). */
const PREBUFFER_SLACK_MS = 500;
/** Hubs give up after about 5 s without data; HAP-NodeJS plugins aim for 4.5 s. */
const MAX_PACKET_GAP_MS = 4_500;
/** Audio must cover this much of the video's duration when it is on. */
const MIN_AUDIO_COVERAGE = 0.75;

const PUBLISH_TIMEOUT_MS = 45_000;
const EVENT_TIMEOUT_MS = 10_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
/** An ffmpeg the plugin stops is gone by then: `q`, the grace, SIGTERM, the grace, SIGKILL, plus reaping. */
const FFMPEG_GONE_MS = FFMPEG_QUIT_GRACE_MS + FFMPEG_TERM_GRACE_MS + 2_000;
/** A camera stream nobody reads any more is closed by then. */
const SOURCE_GONE_MS = SOURCE_IDLE_STOP_MS + FFMPEG_GONE_MS + 3_000;
/** HAP-NodeJS's own complaints about recording delegates, and crashes. */
const HAP_RECORDING_ERRORS = /still awaiting generator|without setting RecordingPacket\.isLast|after already signaling end of stream|unexpected error (for|on already closed) recording stream|uncaught|unhandled/i;

function truthy(value: unknown): boolean {
  return value === true || value === 1;
}

function is(ref: CharacteristicRef, on: boolean): (e: HapEvent) => boolean {
  return (e) => e.aid === ref.aid && e.iid === ref.iid && truthy(e.value) === on;
}

function processKey(p: ProcessInfo): string {
  return `${p.pid}@${p.startTime}`;
}

/** Processes in `now` that were not in `before`. */
function newSince(before: ProcessInfo[], now: ProcessInfo[]): ProcessInfo[] {
  const old = new Set(before.map(processKey));
  return now.filter((p) => !old.has(processKey(p)));
}

/** RTSP sessions the simulator counts on the camera's main and sub paths. */
async function rtspSessions(cam: SimCamera): Promise<{ main: number; sub: number }> {
  const sessions = (await cam.fullStats()).rtspSessions ?? {};
  const count = (suffix: string): number => Object.entries(sessions).find(([path]) => path.endsWith(suffix))?.[1] ?? 0;
  return { main: count('/main'), sub: count('/sub') };
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/** What a recording stream held, decoded by us (boxes) and by ffprobe. */
interface RecordingAnalysis {
  tracks: Mp4Track[];
  /** Top-level boxes of the init segment and of each fragment, in order. */
  initBoxes: string[];
  fragmentBoxes: string[][];
  fragments: {
    sequence: number;
    videoMs: number;
    audioMs: number;
    keyframeFirst: boolean;
    /** Video decode time at the fragment's start, and its gap to the previous fragment's end (ms). */
    startMs: number;
    discontinuityMs: number;
    receivedAt: number;
  }[];
  videoMs: number;
  audioMs: number;
  /** Lower bound of the video before the motion instant (see preMotionBound). */
  preMotionMs: number;
  /** Time before each packet: from the request for the first, from the previous packet's end for the others. */
  gapsMs: number[];
  probe: ProbeResult;
}

/**
 * How much video before the motion the stream holds, at least, measured from the outside.
 *
 * The camera is live: a frame cannot reach us before it was captured. Let S be the wall-clock time the stream's first
 * frame was captured. Fragment k arrived at r_k and ends E_k after the first frame in media time (decode times from the
 * fragments themselves), so its last frame — captured at S + E_k minus one frame — was captured no later than r_k:
 * S <= r_k - (E_k - frame). Every fragment gives such a bound; the prebuffered fragments, which arrive in a burst right
 * after the request, give loose ones, and the first fragments at the live point (arriving as they are captured) give
 * the tight one. So S <= min_k(r_k - E_k + frame), and the video before the motion instant M (when the simulated camera
 * published it) is at least M - min_k(...). Pipeline latency only makes r_k later, i.e. the bound more conservative.
 * The recording request goes out the moment the hub sees MotionDetected, as a hub does.
 */
function preMotionBound(motionAt: number, fragments: { receivedAt: number; endMs: number; frameMs: number }[]): number {
  const startBound = Math.min(...fragments.map((f) => f.receivedAt - f.endMs + f.frameMs));
  return motionAt - startBound;
}

async function analyse(stream: RecordingStream, motionAt: number): Promise<RecordingAnalysis> {
  const packets = stream.packets();
  const init = packets[0];
  assert.ok(init && init.kind === 'init', `the first packet is the init segment (packets: ${packets.map((p) => p.kind).join(', ')})`);
  const fragmentPackets = packets.slice(1);
  assert.ok(fragmentPackets.length > 0, 'at least one fragment arrived');
  const tracks = mp4InitTracks(init.data);
  const video = tracks.find((t) => t.handler === 'vide');
  assert.ok(video, `a video track in the init segment (tracks: ${JSON.stringify(tracks)})`);
  const audio = tracks.find((t) => t.handler === 'soun');
  const toMs = (ticks: number, track: Mp4Track): number => ticks / track.timescale * 1000;

  const parsed = fragmentPackets.map((p) => ({ packet: p, fragment: mp4Fragment(p.data, tracks) }));
  const runOf = (f: (typeof parsed)[number]['fragment'], track: Mp4Track | undefined): { baseDecodeTime: number; duration: number; samples: number; firstSampleSync: boolean } | undefined =>
    track && f.tracks.find((t) => t.trackId === track.id);
  const firstVideo = runOf(parsed[0].fragment, video);
  assert.ok(firstVideo, 'the first fragment carries video');
  const origin = firstVideo.baseDecodeTime;
  let previousEnd: number | undefined;
  const fragments = parsed.map(({ packet, fragment }) => {
    const v = runOf(fragment, video) ?? { baseDecodeTime: previousEnd ?? origin, duration: 0, samples: 0, firstSampleSync: false };
    const a = runOf(fragment, audio);
    const discontinuity = previousEnd === undefined ? 0 : v.baseDecodeTime - previousEnd;
    previousEnd = v.baseDecodeTime + v.duration;
    return {
      sequence: fragment.sequence,
      videoMs: toMs(v.duration, video),
      audioMs: a && audio ? toMs(a.duration, audio) : 0,
      keyframeFirst: v.samples > 0 && v.firstSampleSync,
      startMs: toMs(v.baseDecodeTime - origin, video),
      discontinuityMs: toMs(discontinuity, video),
      receivedAt: packet.receivedAt,
      endMs: toMs(v.baseDecodeTime + v.duration - origin, video),
      frameMs: v.samples > 0 ? toMs(v.duration / v.samples, video) : 0,
    };
  });

  const gapsMs = packets.map((p, i) => p.firstChunkAt - (i === 0 ? stream.openedAt : packets[i - 1].receivedAt));
  const dir = makeTempDir('recording');
  try {
    const file = join(dir, 'recording.mp4');
    writeFileSync(file, Buffer.concat(packets.map((p) => p.data)));
    return {
      tracks,
      initBoxes: mp4Boxes(init.data).map((b) => b.type),
      fragmentBoxes: fragmentPackets.map((p) => mp4Boxes(p.data).map((b) => b.type)),
      fragments,
      videoMs: fragments.reduce((sum, f) => sum + f.videoMs, 0),
      audioMs: fragments.reduce((sum, f) => sum + f.audioMs, 0),
      preMotionMs: preMotionBound(motionAt, fragments),
      gapsMs,
      probe: await probe(file, { frames: true }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const PROFILE_NAMES: Record<number, string> = { [Hksv.profile.BASELINE]: 'Baseline', [Hksv.profile.MAIN]: 'Main', [Hksv.profile.HIGH]: 'High' };
const LEVEL_IDC: Record<number, number> = { [Hksv.level.L3_1]: 31, [Hksv.level.L3_2]: 32, [Hksv.level.L4_0]: 40 };
const SAMPLE_RATE_HZ: Record<number, number> = {
  [Hksv.sampleRate.KHZ_8]: 8000, [Hksv.sampleRate.KHZ_16]: 16000, [Hksv.sampleRate.KHZ_24]: 24000,
  [Hksv.sampleRate.KHZ_32]: 32000, [Hksv.sampleRate.KHZ_44_1]: 44100, [Hksv.sampleRate.KHZ_48]: 48000,
};

/**
 * The checks every recording must pass. `audio`: an AAC track is expected (false: none at all); `ended`: the stream
 * ended with isLast (its last fragment may be short).
 */
function checkRecording(a: RecordingAnalysis, selected: SelectedRecordingConfiguration, options: { audio: boolean; ended: boolean }): void {
  const summary = `fragments ${JSON.stringify(a.fragments.map((f) => ({ seq: f.sequence, video: Math.round(f.videoMs), audio: Math.round(f.audioMs), key: f.keyframeFirst })))}`;
  // Container: the box order a hub parses.
  assert.deepEqual(a.initBoxes, ['ftyp', 'moov'], 'the init segment is ftyp + moov');
  a.fragmentBoxes.forEach((boxes, i) => assert.deepEqual(boxes, ['moof', 'mdat'], `fragment ${i + 1} is moof + mdat`));
  assert.deepEqual(a.fragments.map((f) => f.sequence), a.fragments.map((_, i) => a.fragments[0].sequence + i), 'moof sequence numbers count up by one');

  // Video: H.264 at the selected size, the camera's own profile and level (copied: it fits the selection).
  const v = summarizeVideo(a.probe);
  const vs = a.probe.streams.find((s) => s.codec_type === 'video');
  assert.equal(v.codec, 'h264');
  assert.deepEqual([v.width, v.height], [selected.video.width, selected.video.height], 'the selected size');
  assert.deepEqual([v.profile, vs?.level], [CAMERA.profile, CAMERA.level],
    `the camera's H.264 (Main 4.0) copied: it fits the hub's ${PROFILE_NAMES[selected.video.profile]} ${LEVEL_IDC[selected.video.level] / 10}`);
  const [num, den] = (vs?.r_frame_rate ?? '0/1').split('/').map(Number);
  assert.ok(num / den <= selected.video.fps + 0.01, `frame rate ${vs?.r_frame_rate} within the selected ${selected.video.fps} fps`);
  assert.ok(v.firstFrameIsKey, 'ffprobe: the first frame is a keyframe');

  // Fragments: each starts on a keyframe, lasts the fragment length (the last of an ended clip may be short), and
  // continues the previous one without a gap.
  a.fragments.forEach((f, i) => assert.ok(f.keyframeFirst, `fragment ${i + 1} starts with a keyframe; ${summary}`));
  const full = options.ended ? a.fragments.slice(0, -1) : a.fragments;
  for (const [i, f] of full.entries()) {
    assert.ok(Math.abs(f.videoMs - FRAGMENT_MS) <= FRAGMENT_MS * FRAGMENT_TOLERANCE,
      `fragment ${i + 1} lasts ${ms(f.videoMs)}, not within 10 % of ${FRAGMENT_MS} ms; ${summary}`);
  }
  a.fragments.forEach((f, i) => assert.ok(Math.abs(f.discontinuityMs) <= 1,
    `fragment ${i + 1} starts ${ms(f.discontinuityMs)} off the previous fragment's end`));

  // Audio: AAC-LC at the selected rate and channels, covering the video; or no audio track at all.
  const audioStream = a.probe.streams.find((s) => s.codec_type === 'audio');
  if (options.audio) {
    assert.ok(audioStream, `an audio stream (streams: ${JSON.stringify(a.probe.streams)})`);
    assert.deepEqual([audioStream.codec_name, audioStream.profile, Number(audioStream.sample_rate), audioStream.channels],
      ['aac', 'LC', SAMPLE_RATE_HZ[selected.audio.sampleRate], selected.audio.channels], 'AAC-LC at the selected sample rate and channels');
    assert.ok(a.audioMs >= a.videoMs * MIN_AUDIO_COVERAGE, `audio ${ms(a.audioMs)} covers the video's ${ms(a.videoMs)}; ${summary}`);
    assert.ok(a.probe.frames.some((f) => f.media_type === 'audio'), 'ffprobe decoded audio frames');
  } else {
    assert.equal(audioStream, undefined, 'no audio stream when recording audio is off');
    assert.equal(a.tracks.some((t) => t.handler === 'soun'), false, 'no audio track in the init segment');
  }

  // Prebuffer: the clip starts at least the selected prebuffer (minus a little) before the motion.
  const wanted = selected.prebufferLengthMs - PREBUFFER_SLACK_MS;
  assert.ok(a.preMotionMs >= wanted, `at least ${ms(wanted)} of video before the motion, measured ${ms(a.preMotionMs)} `
    + `(lower bound, see preMotionBound); ${summary}`);

  // Pace: a hub gives up on a silent stream.
  const worst = Math.max(...a.gapsMs);
  assert.ok(worst < MAX_PACKET_GAP_MS, `every packet within ${MAX_PACKET_GAP_MS} ms of the previous one; gaps ${a.gapsMs.map(ms).join(', ')}`);
}

describe(`[HB ${line}] HomeKit Secure Video recording`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  let yardHub: RecordingHub;
  let gateHub: RecordingHub;
  let yardMotion: CharacteristicRef;
  let gateMotion: CharacteristicRef;
  let live: StreamSession;
  /** Wall clock of live view's first keyframe on Yard: the camera's stream was being read by then. */
  let yardStreamingSince: number;
  let yardRecording: RecordingStream | undefined;
  let yardRecordingProcs: ProcessInfo[] = [];
  let yardMotionOnSeq = 0;

  const cam = (name: string): SimCamera => sim.cameras.find((c) => c.name === name) as SimCamera;

  before(async function () {
    this.timeout(120_000);
    sim = await startSim({ cameras: [{ name: YARD, vendor: 'hikvision' }, { name: GATE, vendor: 'dahua', audio: false }] });
    hb = await startHomebridge({
      platforms: [platformConfigFor(sim, {
        cameras: [
          { motionHoldSeconds: MOTION_HOLD_S },
          { motionHoldSeconds: MOTION_HOLD_S, prebufferSeconds: GATE_PREBUFFER_S, maxRecordingSeconds: GATE_MAX_RECORDING_S },
        ],
      })],
    });
    hap = await pairWith(hb);
    const list = await hap.waitForAccessories((l) => [YARD, GATE].every((n) => l.byName(n)?.service(ServiceType.CameraRecordingManagement) !== undefined),
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: 'both cameras with HomeKit Secure Video recording' });
    const motionOf = (name: string): CharacteristicRef => {
      const sensor = list.requireByName(name).servicesOfType(ServiceType.MotionSensor)
        .find((s) => s.value(CharacteristicType.Name) === `${name} Motion`);
      assert.ok(sensor, `${name} has its motion sensor`);
      const c = sensor.requireCharacteristic(CharacteristicType.MotionDetected);
      return { aid: c.aid, iid: c.iid };
    };
    yardMotion = motionOf(YARD);
    gateMotion = motionOf(GATE);
    await hap.subscribe([yardMotion, gateMotion]);
    await pollUntil(async () => (sim.cameras.every((c) => c.stats().subscriptions > 0) ? true : undefined),
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: 'an event subscription on both simulated cameras' });
    // What a hub does once it adopts a camera: configure recording and switch it on, which starts the prebuffer.
    const gatePrebufferMs = (await readSupportedRecording(hap, recordingCharacteristicsOf(list.requireByName(GATE)))).camera.prebufferLengthMs;
    [yardHub, gateHub] = await Promise.all([
      startRecordingHub(hap, list.requireByName(YARD).aid),
      // A hub selects the prebuffer the camera advertises.
      startRecordingHub(hap, list.requireByName(GATE).aid, { preferences: { prebufferLengthMs: gatePrebufferMs } }),
    ]);
    // Live view on Yard next to its recording, 1280x720 from the main stream like a phone.
    const client = await CameraStreamClient.open(hap, yardHub.characteristics.aid);
    live = await client.setup();
    assert.ok(live.ok, `SetupEndpoints answered ${live.answer.status}`);
    await live.start({ video: { width: 1280, height: 720, fps: 15 } });
    await live.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    yardStreamingSince = Date.now();
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('offers recording as HomeKit Secure Video expects: fMP4 in 4 s fragments, the configured prebuffer, the motion trigger, H.264 up to the camera size, AAC-LC at 32 kHz', async function () {
    for (const [hub, prebufferMs] of [[yardHub, 4_000], [gateHub, GATE_PREBUFFER_S * 1000]] as const) {
      const s = hub.supported;
      assert.equal(s.camera.prebufferLengthMs, prebufferMs, 'prebufferSeconds × 1000 (default 4)');
      assert.deepEqual(s.camera.containers, [{ type: Hksv.container.FRAGMENTED_MP4, fragmentLengthMs: FRAGMENT_MS }]);
      assert.equal(s.camera.eventTriggers & Hksv.trigger.MOTION, Hksv.trigger.MOTION, 'the motion trigger');
      const h264 = s.video.find((c) => c.codec === Hksv.videoCodec.H264);
      assert.ok(h264, 'H.264 offered');
      assert.deepEqual([...h264.profiles].sort(), [Hksv.profile.BASELINE, Hksv.profile.MAIN, Hksv.profile.HIGH]);
      assert.deepEqual([...h264.levels].sort(), [Hksv.level.L3_1, Hksv.level.L3_2, Hksv.level.L4_0]);
      assert.ok(h264.resolutions.some((r) => r.width === CAMERA.width && r.height === CAMERA.height), 'the camera size is offered');
      const larger = h264.resolutions.filter((r) => r.width > CAMERA.width || r.height > CAMERA.height);
      assert.deepEqual(larger, [], 'nothing larger than the camera (no upscaling)');
      const aac = s.audio.find((c) => c.codec === Hksv.audioCodec.AAC_LC);
      assert.ok(aac?.sampleRates.includes(Hksv.sampleRate.KHZ_32), `AAC-LC at 32 kHz offered: ${JSON.stringify(s.audio)}`);
      assert.deepEqual(await hub.readSelectedConfiguration(), hub.selected, 'the selected configuration reads back as written');
    }
  });

  it('recording on keeps a prebuffer: Gate\'s main stream is read with nobody watching, Yard\'s once for prebuffer and live view', async function () {
    this.timeout(20_000);
    const gate = await pollUntil(async () => {
      const s = await rtspSessions(cam(GATE));
      return s.main === 1 ? s : undefined;
    }, { timeoutMs: 15_000, what: `one RTSP session on ${GATE}'s main stream (the prebuffer)` });
    assert.equal(gate.sub, 0, `${GATE}'s sub stream is not read`);
    assert.deepEqual(await rtspSessions(cam(YARD)), { main: 1, sub: 0 }, `${YARD}: one read of the main stream, shared`);
  });

  it('records motion on Yard: the prebuffer from a keyframe before the motion, the camera\'s H.264 copied, AAC at 32 kHz, 4 s fragments, no pause over 4.5 s', async function () {
    this.timeout(60_000);
    const selected = yardHub.selected as SelectedRecordingConfiguration;
    // The prebuffer needs the selected length of history plus up to one keyframe interval to start on a keyframe.
    const fillMs = selected.prebufferLengthMs + CAMERA.gopMs + PREBUFFER_SLACK_MS;
    await sleep(Math.max(0, yardStreamingSince + fillMs - Date.now()));
    const processesBefore = ffmpegsOf(hb);
    const seq = hap.lastEventSeq();
    const motionAt = cam(YARD).motion(true).at;
    yardMotionOnSeq = (await hap.waitForEvent(is(yardMotion, true), EVENT_TIMEOUT_MS, seq)).seq;
    const stream = await yardHub.openRecording();
    yardRecording = stream;
    // The init segment, the prebuffered fragment(s), then fragments as the camera sends them: three reach the live point.
    await stream.waitForFragments(3, 3 * FRAGMENT_MS + 10_000);
    yardRecordingProcs = newSince(processesBefore, ffmpegsOf(hb));
    // The video is muxed in the plugin; the one process a clip still needs converts the camera's 16 kHz AAC to the hub's 32 kHz.
    assert.deepEqual(yardRecordingProcs.map((p) => /-f aac -i pipe:0 .*-f adts/.test(p.cmdline) && !/-c:v|mpegts|-f mp4/.test(p.cmdline)),
      [true], `one audio-only ffmpeg for the clip: ${yardRecordingProcs.map(describeProcess).join(' | ')}`);
    assert.deepEqual(await rtspSessions(cam(YARD)), { main: 1, sub: 0 }, 'recording, prebuffer and live view share one read of the camera');
    assert.deepEqual(stream.violations(), [], 'HDS rules');
    const analysis = await analyse(stream, motionAt);
    checkRecording(analysis, selected, { audio: true, ended: false });
    assert.equal(stream.ended, false, 'the clip goes on while motion lasts');
  });

  it('the hub\'s close ends the Yard recording promptly (its audio ffmpeg exits) and stops nothing live view uses', async function () {
    this.timeout(30_000);
    const stream = yardRecording;
    assert.ok(stream, 'the Yard recording of the previous test is open');
    assert.ok(yardRecordingProcs.length > 0, 'the recording runs an audio ffmpeg of its own (found none new under Homebridge)');
    const others = ffmpegsOf(hb).filter((p) => !yardRecordingProcs.some((r) => processKey(r) === processKey(p)));
    stream.close(HdsCloseReason.NORMAL);
    cam(YARD).motion(false);
    await untilGone(yardRecordingProcs, FFMPEG_GONE_MS, 'the recording\'s ffmpeg');
    const stopped = others.filter((p) => !isStillRunning(p));
    assert.deepEqual(stopped.map(describeProcess), [], 'the camera stream and live view processes keep running');
    // Live view still plays: fresh video packets after the close (15 fps; each frame is several packets).
    const since = streamNow();
    await live.waitForPackets(30, 5_000, 'video', since);
    assert.deepEqual(await rtspSessions(cam(YARD)), { main: 1, sub: 0 }, 'still one read of the camera');
    assert.equal(stream.closedByAccessory, undefined, 'the accessory sent no close of its own (no error)');
    assert.deepEqual(stream.violations(), []);
    const gaps = stream.packets().map((p, i, all) => p.firstChunkAt - (i === 0 ? stream.openedAt : all[i - 1].receivedAt));
    assert.ok(Math.max(...gaps) < MAX_PACKET_GAP_MS, `no pause over ${MAX_PACKET_GAP_MS} ms until the close; gaps ${gaps.map(ms).join(', ')}`);
  });

  it('with "Record audio" off in Home (RecordingAudioActive 0), a new Yard clip has no audio track and runs no ffmpeg (muxed in the plugin)', async function () {
    this.timeout(40_000);
    const selected = yardHub.selected as SelectedRecordingConfiguration;
    await hap.waitForEvent(is(yardMotion, false), EVENT_TIMEOUT_MS, yardMotionOnSeq); // the previous motion is over
    await yardHub.setRecordingAudio(false);
    const processesBefore = ffmpegsOf(hb);
    const seq = hap.lastEventSeq();
    const motionAt = cam(YARD).motion(true).at;
    try {
      await hap.waitForEvent(is(yardMotion, true), EVENT_TIMEOUT_MS, seq);
      const stream = await yardHub.openRecording();
      // The prebuffer alone makes one or two fragments; the second is there within one keyframe interval.
      await stream.waitForFragments(2, FRAGMENT_MS + 10_000);
      const recordingProcs = newSince(processesBefore, ffmpegsOf(hb));
      stream.close(HdsCloseReason.NORMAL);
      assert.deepEqual(stream.violations(), [], 'HDS rules');
      assert.equal(stream.closedByAccessory, undefined, 'the accessory sent no close of its own (no error)');
      checkRecording(await analyse(stream, motionAt), selected, { audio: false, ended: false });
      // The camera's H.264 fits the hub and there is no audio to convert: nothing for ffmpeg to do.
      assert.deepEqual(recordingProcs.map(describeProcess), [], 'no ffmpeg started for a copied clip without audio');
      assert.ok(hb.log.lines().some((l) => l.includes(YARD) && l.includes('recording: copying') && l.includes('muxed in the plugin')),
        'the log says the clip is muxed in the plugin');
    } finally {
      cam(YARD).motion(false);
      await yardHub.setRecordingAudio(true);
    }
  });

  it('records Gate (no microphone) with a silent AAC track and ends the clip with isLast at "maxRecordingSeconds"', async function () {
    this.timeout(60_000);
    const selected = gateHub.selected as SelectedRecordingConfiguration;
    const processesBefore = ffmpegsOf(hb);
    const seq = hap.lastEventSeq();
    const motionAt = cam(GATE).motion(true).at;
    try {
      await hap.waitForEvent(is(gateMotion, true), EVENT_TIMEOUT_MS, seq);
      const stream = await gateHub.openRecording();
      await stream.waitForPackets(1, EVENT_TIMEOUT_MS);
      const recordingProcs = newSince(processesBefore, ffmpegsOf(hb));
      // Motion goes on: only the cap can end this clip, at the first fragment after it.
      const capMs = GATE_MAX_RECORDING_S * 1000;
      await stream.waitForEnd(capMs + FRAGMENT_MS + 10_000);
      const tookMs = Date.now() - stream.openedAt;
      assert.ok(tookMs <= capMs + FRAGMENT_MS * (1 + FRAGMENT_TOLERANCE) + 1_000, `the clip ended ${ms(tookMs)} after the request (cap ${capMs} ms)`);
      assert.deepEqual(stream.violations(), [], 'HDS rules');
      assert.equal(stream.closedByAccessory, undefined, 'ended by isLast, not by a close');
      const analysis = await analyse(stream, motionAt);
      // The camera has no microphone while recording audio is on: a silent AAC track keeps the clip what the hub asked for.
      checkRecording(analysis, selected, { audio: true, ended: true });
      assert.ok(analysis.videoMs >= capMs - FRAGMENT_MS, `the clip holds ${ms(analysis.videoMs)} of video: not cut well before the cap`);
      // The hub acknowledged the end (the rig acks like a hub): the clip's ffmpeg goes.
      assert.ok(recordingProcs.length > 0, 'the recording runs an ffmpeg of its own');
      await untilGone(recordingProcs, FFMPEG_GONE_MS, 'the Gate recording\'s ffmpeg');
    } finally {
      cam(GATE).motion(false);
    }
  });

  it('the camera\'s stream cut under a clip and a viewer (the camera drops its reader): the clip closes with isLast and what was recorded, the viewer is stopped, the read comes back and the next clip records', async function () {
    this.timeout(90_000);
    const selected = yardHub.selected as SelectedRecordingConfiguration;
    await hap.waitForEvent(is(yardMotion, false), EVENT_TIMEOUT_MS, yardMotionOnSeq);
    await yardHub.setRecordingAudio(false); // the clip muxed in the plugin: the source read is its only process
    try {
      const seq = hap.lastEventSeq();
      const motionAt = cam(YARD).motion(true).at;
      await hap.waitForEvent(is(yardMotion, true), EVENT_TIMEOUT_MS, seq);
      const stream = await yardHub.openRecording();
      await stream.waitForFragments(2, FRAGMENT_MS + 10_000);
      const viewer = ffmpegsOf(hb).filter((p) => /srtp:\/\//.test(p.cmdline));
      assert.deepEqual(await rtspSessions(cam(YARD)), { main: 1, sub: 0 }, 'one read of Yard\'s main stream');
      const cutAt = Date.now();
      assert.equal(await sim.cutStream(sim.cameras.indexOf(cam(YARD)), 'main'), 1, 'the camera dropped one reader');
      // The clip: what arrived since the last keyframe goes out as its last fragment, marked isLast; no error close.
      const packets = await stream.waitForEnd(5_000);
      assert.ok(Date.now() - cutAt < 3_000, `the clip ended ${Date.now() - cutAt} ms after the cut`);
      assert.equal(stream.closedByAccessory, undefined, 'the accessory sent no error close');
      assert.deepEqual(stream.violations(), [], 'HDS rules');
      const analysis = await analyse(stream, motionAt);
      assert.ok(analysis.fragments.length >= 3 && analysis.fragments.every((f) => f.keyframeFirst), `every fragment starts on a keyframe; ${analysis.fragments.length} fragments`);
      const last = analysis.fragments[analysis.fragments.length - 1];
      assert.ok(last.videoMs > 0 && last.videoMs <= FRAGMENT_MS * (1 + FRAGMENT_TOLERANCE), `the last fragment holds what was recorded (${ms(last.videoMs)})`);
      assert.ok(packets.length >= 3, 'init, fragments and the last one');
      assert.ok(hb.log.lines().some((l) => l.includes(YARD) && /clip \d+ ends early, with what was recorded: the camera's stream was cut/.test(l)),
        'the log says why the clip ended early');
      // The viewer: its stream is stopped (HomeKit is told) and its process, if it had one, ends.
      await untilGone(viewer, FFMPEG_GONE_MS, 'the viewer\'s ffmpeg');
      assert.ok(hb.log.lines().some((l) => l.includes(YARD) && /live view stopped: the camera's stream ended: the camera's stream was cut/.test(l)),
        'the log says why live view stopped');
      // The read comes back after its backoff (the prebuffer wants it), one RTSP session again.
      await pollUntil(async () => ((await rtspSessions(cam(YARD))).main === 1 ? true : undefined), { timeoutMs: 10_000, what: 'one RTSP session on Yard' });
      cam(YARD).motion(false);
      await hap.waitForEvent(is(yardMotion, false), EVENT_TIMEOUT_MS, seq);
      // The next clip, from the new read's prebuffer.
      await new Promise((r) => setTimeout(r, selected.prebufferLengthMs + CAMERA.gopMs));
      const seq2 = hap.lastEventSeq();
      const motion2 = cam(YARD).motion(true).at;
      await hap.waitForEvent(is(yardMotion, true), EVENT_TIMEOUT_MS, seq2);
      const next = await yardHub.openRecording();
      await next.waitForFragments(2, FRAGMENT_MS + 10_000);
      next.close(HdsCloseReason.NORMAL);
      assert.deepEqual(next.violations(), [], 'HDS rules (next clip)');
      checkRecording(await analyse(next, motion2), selected, { audio: false, ended: false });
    } finally {
      cam(YARD).motion(false);
      await yardHub.setRecordingAudio(true);
    }
  });

  it('recording off (Yard) and the camera off in Home (Gate) let go of the camera streams once they idle out', async function () {
    this.timeout(SOURCE_GONE_MS + 20_000);
    await live.end().catch(() => undefined); // stopped already when the camera's stream was cut
    await live.close();
    const offAt = Date.now();
    await Promise.all([yardHub.setRecordingActive(false), gateHub.setCameraActive(false)]);
    for (const name of [YARD, GATE]) {
      await pollUntil(async () => {
        const s = await rtspSessions(cam(name));
        return s.main === 0 && s.sub === 0 ? true : undefined;
      }, { timeoutMs: Math.max(1, offAt + SOURCE_GONE_MS - Date.now()), intervalMs: 500, what: `${name}'s RTSP sessions to end` });
    }
    await untilGone(ffmpegsOf(hb), FFMPEG_GONE_MS, 'every ffmpeg under Homebridge');
    assert.deepEqual(ffmpegsOf(hb).map(describeProcess), [], 'no ffmpeg left under Homebridge');
  });

  it('HAP-NodeJS saw every recording generator return in time and nothing crashed', function () {
    assert.deepEqual(hb.log.matchingLines(HAP_RECORDING_ERRORS), [], 'no recording errors from HAP-NodeJS in the Homebridge log');
  });
});
