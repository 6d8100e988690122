// Benchmark: live view and snapshots of one simulated camera through a real Homebridge 1.x, Courtyard next to
// homebridge-camera-ffmpeg 3.1.4 in the same run, on the same camera (tools/camera-sim, 1080p15 H.264 Main, 4 s GOP, AAC).
//
// Run: npx tsc -p tsconfig.build.json && npx tsc -p tsconfig.json && node .build/bench/live.js
//        [--warm 10] [--cold 3] [--copy 10] [--x264 10] [--snapshots 10] [--cpu-seconds 30] [--cpu-viewers 4] [--viewers 1,3,5]
//        [--audio off|on]
//
// Figures, each for both plugins, ratio camera-ffmpeg / Courtyard:
//  1. START write → first decodable keyframe at the controller (p50/p95). Courtyard "warm" (its source still running,
//     < 10 s after the last viewer left) and "cold" (the camera idle > 12 s: the RTSP read must start); camera-ffmpeg with
//     vcodec copy and with its default libx264. Each start: START, keyframe, 1 s of video, END, 1–2 s pause. camera-ffmpeg
//     starts only when the camera has no RTSP session (else it would join the simulator's shared stream mid-GOP).
//  2. Snapshot (hap-controller getImage 640x360, i.e. POST /resource): cold (every cache expired) and warm (at once after).
//  3. CPU seconds per stream-minute: utime+stime of Homebridge and all its descendants (/proc) over a 30 s window of one
//     stream, from 2 s after its first keyframe (steady streaming), with a per-process breakdown; then the same with
//     `--cpu-viewers` (4) viewers at once: the difference divided by the viewers added is what one more viewer costs (per
//     viewer-minute). Two viewers against one, as before, left one 30 s window's noise on one viewer's cost (0.06 to 0.62).
//  4. RTSP sessions the simulator counts on the camera's main path with 1, 3 and 5 concurrent viewers (maxStreams 5).
// Both plugins: video only (Courtyard audio: false, camera-ffmpeg audio: false), or with `--audio on` both with audio (the
// phone asks for Opus 24 kHz; both turn the camera's AAC into it), the same /usr/bin/ffmpeg, the phone's usual 1280x720@15
// request (Courtyard answers it from the main stream). Writes bench/results/live.json (live-audio.json with audio).
// Everything runs on 127.0.0.1 and is stopped at the end (or on the 10 min watchdog).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { findFfmpeg } from '../src/media/ffmpeg-path';
import { OnvifDevice } from '../src/onvif/device';
import type { CameraSim } from '../tools/camera-sim';
import {
  CameraStreamClient, descendantsOf, HapClient, HomebridgeProcess, pairWith, platformConfigFor, pollUntil, ServiceType, sleep,
  SrtpReceiveContext, startHomebridge, startSim, StreamSession, withTimeout,
} from '../test/e2e/rig';
import { CLOCK_TICKS_PER_S, readStat } from '../test/e2e/rig/procfs';
import { repoRoot } from '../test/e2e/rig/paths';
import { nearestRank, packageVersion } from './figures';
import { runBounded } from './run-bounded';

type Target = 'courtyard' | 'ffmpegCopy' | 'ffmpegX264';

interface Options {
  warm: number;
  cold: number;
  copy: number;
  x264: number;
  snapshots: number;
  cpuSeconds: number;
  /** The CPU runs compare 1 viewer with this many: the added viewers' cost divided among them is steadier than one's. */
  cpuViewers: number;
  viewers: number[];
  /** Both plugins send the camera's audio too (Opus), as the Home app asks for it. */
  audio: boolean;
  /** The Courtyard plugin directory Homebridge loads (default: this repo, i.e. dist/): to measure a changed build. */
  courtyardPlugin?: string;
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/** One live-view start. */
interface StartSample {
  target: Target;
  kind: 'warm' | 'cold' | 'start';
  toKeyframeMs: number;
  toFirstPacketMs: number;
  /** Media time delivered beyond the real time elapsed in the first second: how far in the past the picture starts. */
  behindLiveMs: number;
}

interface Endpoint {
  target: Target;
  hb: HomebridgeProcess;
  hap: HapClient;
  aid: number;
}

interface CpuResult {
  target: Target;
  windowS: number;
  /** Viewers streaming at once during the window. */
  viewers: number;
  /** CPU seconds per minute of stream, Homebridge + descendants. */
  cpuSecondsPerMinute: number;
  /** The same process tree idle (no stream) just before, per minute. */
  idleCpuSecondsPerMinute: number;
  /** Per process alive over the whole window: its role ("homebridge", "ffmpeg rtsp→srtp", ...) and CPU s per minute. */
  processes: { role: string; cpuSecondsPerMinute: number }[];
  videoKbps: number;
}

interface ViewersResult {
  target: Target;
  viewers: number;
  rtspSessions: number;
  keyframeMs: number[];
}

const LINE = 1; // Homebridge 1.x on this Node, as bench/event-to-hap.ts
const CAMERA = 'Bench Cam';
const FFMPEG_COPY = 'Ffmpeg Copy';
const FFMPEG_X264 = 'Ffmpeg x264';
const MAX_STREAMS = 5;
const VIDEO = { width: 1280, height: 720, fps: 15 }; // the Home app's usual request on Wi-Fi
const SNAPSHOT = { width: 640, height: 360 };
const MAIN_PATH = '/cam1/main';
const SUB_PATH = '/cam1/sub';
const BEHIND_WINDOW_MS = 1_000; // video kept after the keyframe, to see how far behind live it starts
const PAUSE_MS = 1_000;
// Added to the pause between starts, a fixed pattern (0–1 s): a start → keyframe → 1 s → END → pause cycle is about as
// long as the camera's 4 s GOP, and without it every start would meet the GOP at the same phase, so a plugin that waits
// for the camera's next keyframe would always wait the same time instead of 0–4 s.
const PAUSE_JITTER_MS = [0, 530, 170, 890, 350, 710, 60, 440, 960, 260, 620, 110, 800];
let pauses = 0;
function pauseBetweenStarts(): Promise<void> {
  return sleep(PAUSE_MS + PAUSE_JITTER_MS[pauses++ % PAUSE_JITTER_MS.length]);
}
const COLD_IDLE_MS = 12_500; // Courtyard keeps reading 10 s (SOURCE_IDLE_STOP_MS) after the last viewer
const SNAPSHOT_COLD_GAP_MS = 5_000; // Courtyard caches 4 s, camera-ffmpeg 3 s after its ffmpeg exits
const CPU_IDLE_S = 5;
const CPU_SETTLE_MS = 2_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = 25_000;
const SNAPSHOT_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 90_000;
const BENCH_TIMEOUT_MS = 10 * 60_000;
const LABEL: Record<Target, string> = { courtyard: 'courtyard', ffmpegCopy: 'camera-ffmpeg copy', ffmpegX264: 'camera-ffmpeg libx264' };

function parseArgs(argv: string[]): Options {
  const options: Options = { warm: 10, cold: 3, copy: 10, x264: 10, snapshots: 10, cpuSeconds: 30, cpuViewers: 4, viewers: [1, 3, 5], audio: false };
  const count = (name: string, value: string | undefined, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    switch (argv[i]) {
    case '--warm': options.warm = count('--warm', value, 1, 100); break;
    case '--cold': options.cold = count('--cold', value, 1, 20); break;
    case '--copy': options.copy = count('--copy', value, 1, 100); break;
    case '--x264': options.x264 = count('--x264', value, 0, 100); break;
    case '--snapshots': options.snapshots = count('--snapshots', value, 1, 100); break;
    case '--cpu-seconds': options.cpuSeconds = count('--cpu-seconds', value, 5, 300); break;
    case '--cpu-viewers': options.cpuViewers = count('--cpu-viewers', value, 2, MAX_STREAMS); break;
    case '--audio':
      if (value !== 'on' && value !== 'off') {
        throw new Error('--audio is on or off');
      }
      options.audio = value === 'on';
      break;
    case '--courtyard-plugin':
      if (!value) {
        throw new Error('--courtyard-plugin needs a directory (a plugin with package.json and dist/)');
      }
      options.courtyardPlugin = value;
      break;
    case '--viewers':
      options.viewers = (value ?? '').split(',').map(Number);
      if (options.viewers.length === 0 || options.viewers.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_STREAMS)) {
        throw new Error(`--viewers must list viewer counts from 1 to ${MAX_STREAMS}, e.g. 1,3,5`);
      }
      break;
    default:
      throw new Error(`unknown argument ${argv[i]} (see the header of bench/live.ts)`);
    }
  }
  return options;
}

/** Nearest-rank percentiles. */
function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => nearestRank(sorted, p);
  const round = (v: number): number => Math.round(v * 10) / 10;
  return {
    n: sorted.length, p50: round(rank(50) ?? NaN), p95: round(rank(95) ?? NaN), min: round(sorted[0] ?? NaN),
    max: round(sorted[sorted.length - 1] ?? NaN), mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
}

/** Spread `total` over `parts` as evenly as possible, larger parts first. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------------------- /proc CPU

/** What a process of the tree is, for the CPU breakdown: "homebridge", "ffmpeg rtsp→srtp", "ffmpeg pipe→srtp", ... */
function roleOf(cmdline: string, comm: string): string {
  if (comm !== 'ffmpeg') {
    return comm;
  }
  const input = /-i (\S+)/.exec(cmdline)?.[1] ?? '';
  const from = input.startsWith('rtsp:') ? 'rtsp' : input.startsWith('pipe') ? 'pipe' : 'other';
  const to = cmdline.includes('srtp://') ? 'srtp' : / pipe:1\b/.test(cmdline) ? 'pipe' : 'other';
  return `ffmpeg ${from}→${to}`;
}

interface TreeReading {
  /** Clock ticks of the whole tree: every process, plus what the processes reaped (exited children). */
  total: number;
  /** Per live process: role and its own ticks. */
  processes: Map<number, { role: string; ticks: number }>;
}

/**
 * CPU ticks of a process tree. A child that exits between two reads moves from its own count into its parent's
 * cutime/cstime (Node reaps its children), so the difference of two totals is what the tree used in between.
 */
function readTree(root: number): TreeReading {
  const processes = new Map<number, { role: string; ticks: number }>();
  let total = 0;
  for (const p of [{ pid: root, comm: 'homebridge', cmdline: '' }, ...descendantsOf(root)]) {
    const t = readStat(p.pid);
    total += (t?.ticks ?? 0) + (t?.reapedTicks ?? 0);
    processes.set(p.pid, { role: p.pid === root ? 'homebridge' : roleOf(p.cmdline, p.comm), ticks: t?.ticks ?? 0 });
  }
  return { total, processes };
}

// ----------------------------------------------------------------------------------------------------------- the camera

async function rtspSessions(sim: CameraSim): Promise<{ main: number; sub: number }> {
  const s = (await sim.cameras[0].fullStats()).rtspSessions ?? {};
  return { main: s[MAIN_PATH] ?? 0, sub: s[SUB_PATH] ?? 0 };
}

/** Until nobody reads the camera (bounded): a start that must meet an idle camera waits for this. */
async function cameraIdle(sim: CameraSim, what: string): Promise<void> {
  await pollUntil(async () => {
    const s = await rtspSessions(sim);
    return s.main === 0 && s.sub === 0 ? true : undefined;
  }, { timeoutMs: IDLE_TIMEOUT_MS, intervalMs: 200, what: `no RTSP session on the camera (${what})` });
}

/** The main profile's RTSP URL as the camera's ONVIF gives it (what a camera-ffmpeg user pastes into "source"). */
async function mainStreamUrl(sim: CameraSim): Promise<string> {
  const cam = sim.cameras[0];
  const device = new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
  await device.connect();
  const profiles = await device.getProfiles();
  const main = [...profiles].sort((a, b) => b.width - a.width)[0];
  if (!main) {
    throw new Error('the simulated camera lists no profile');
  }
  return device.getStreamUri(main.token);
}

// ---------------------------------------------------------------------------------------------------------- the plugins

async function pairCamera(hb: HomebridgeProcess, names: string[]): Promise<{ hap: HapClient; aids: number[] }> {
  const hap = await pairWith(hb);
  const list = await hap.waitForAccessories(
    (l) => names.every((n) => (l.byName(n)?.servicesOfType(ServiceType.CameraRTPStreamManagement).length ?? 0) === MAX_STREAMS),
    { timeoutMs: START_TIMEOUT_MS, what: `${names.join(', ')} with ${MAX_STREAMS} stream services` });
  return { hap, aids: names.map((n) => list.requireByName(n).aid) };
}

async function startCourtyard(sim: CameraSim, ffmpeg: string, audio: boolean, pluginPath?: string): Promise<Endpoint> {
  const hb = await startHomebridge({
    line: LINE,
    ...(pluginPath ? { pluginPath } : {}),
    startupTimeoutMs: START_TIMEOUT_MS,
    platforms: [platformConfigFor(sim, {
      cameras: [{ maxStreams: MAX_STREAMS, audio }],
      platform: { videoProcessor: ffmpeg },
    })],
  });
  const { hap, aids } = await pairCamera(hb, [CAMERA]);
  return { target: 'courtyard', hb, hap, aid: aids[0] };
}

async function startCameraFfmpeg(url: string, ffmpeg: string, audio: boolean): Promise<{ copy: Endpoint; x264: Endpoint }> {
  const source = `-rtsp_transport tcp -i ${url}`;
  const hb = await startHomebridge({
    line: LINE,
    pluginPath: join(repoRoot(), 'node_modules', 'homebridge-camera-ffmpeg'),
    startupTimeoutMs: START_TIMEOUT_MS,
    platforms: [{
      platform: 'Camera-ffmpeg',
      videoProcessor: ffmpeg,
      cameras: [
        { name: FFMPEG_COPY, videoConfig: { source, vcodec: 'copy', audio, maxStreams: MAX_STREAMS } },
        // Its default encoder (libx264 -preset ultrafast -tune zerolatency): what users get.
        { name: FFMPEG_X264, videoConfig: { source, audio, maxStreams: MAX_STREAMS } },
      ],
    }],
  });
  const { hap, aids } = await pairCamera(hb, [FFMPEG_COPY, FFMPEG_X264]);
  return { copy: { target: 'ffmpegCopy', hb, hap, aid: aids[0] }, x264: { target: 'ffmpegX264', hb, hap, aid: aids[1] } };
}

// -------------------------------------------------------------------------------------------------------------- streams

/**
 * How far behind live the picture starts: media time (RTP timestamps) received from the first keyframe on, minus the
 * real time that passed meanwhile. A sender pacing in real time gives about 0; one that first sends video it had
 * buffered (a cached GOP, ffmpeg's probe buffer) gives that buffer's length, and a player that plays at the timestamps'
 * pace stays that far in the past.
 */
function behindLiveMs(session: StreamSession): number {
  const first = session.stats().video.firstKeyframe;
  if (!first) {
    return NaN;
  }
  const candidates = [session.answer.videoSrtp, session.video.controllerKeys].filter((k) => k && k.key.length === 16);
  const datagrams = session.video.capture().datagrams;
  for (const keys of candidates) {
    if (!keys) {
      continue;
    }
    const context = new SrtpReceiveContext({ key: keys.key, salt: keys.salt });
    let last: { at: number; ts: number } | undefined;
    let seen = false;
    for (const d of datagrams) {
      const rtp = context.unprotectRtp(d.data);
      if (!rtp) {
        continue;
      }
      seen ||= rtp.header.timestamp === first.rtpTimestamp;
      if (seen) {
        last = { at: d.at, ts: rtp.header.timestamp };
      }
    }
    if (last) {
      const mediaMs = ((last.ts - first.rtpTimestamp) >>> 0) / 90;
      return Math.round(mediaMs - (last.at - first.firstPacketAt));
    }
  }
  return NaN;
}

async function openSession(e: Endpoint, streamIndex = 0): Promise<StreamSession> {
  const client = await CameraStreamClient.open(e.hap, e.aid, { streamIndex });
  const session = await client.setup();
  if (!session.ok) {
    await session.close();
    throw new Error(`${LABEL[e.target]}: SetupEndpoints answered status ${session.answer.status}`);
  }
  return session;
}

/** One start: setup, START, first decodable keyframe, 1 s of video, END. */
async function startOnce(e: Endpoint, kind: StartSample['kind']): Promise<StartSample> {
  const session = await openSession(e);
  try {
    await session.start({ video: VIDEO });
    await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    await sleep(BEHIND_WINDOW_MS);
    const t = session.timing();
    const sample: StartSample = {
      target: e.target, kind, toKeyframeMs: round1(t.toFirstKeyframeMs ?? NaN), toFirstPacketMs: round1(t.toFirstPacketMs ?? NaN),
      behindLiveMs: behindLiveMs(session),
    };
    await session.end();
    return sample;
  } finally {
    await session.close();
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function note(line: string): void {
  process.stdout.write(line);
}

/**
 * Figure 1. Cycles, one per cold Courtyard sample; who goes first alternates. Courtyard part: wait until the camera has
 * been idle > 12 s, a cold start, then warm starts (each < 10 s after the last END). camera-ffmpeg part: copy and libx264
 * starts alternately, each on an idle camera.
 */
async function measureStarts(o: Options, sim: CameraSim, c: Endpoint, copy: Endpoint, x264: Endpoint): Promise<StartSample[]> {
  const samples: StartSample[] = [];
  const cycles = o.cold;
  const warm = split(o.warm, cycles);
  const copies = split(o.copy, cycles);
  const x264s = split(o.x264, cycles);
  let courtyardLastEnd = performance.now() - COLD_IDLE_MS;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const parts = cycle % 2 === 0 ? ['courtyard', 'ffmpeg'] : ['ffmpeg', 'courtyard'];
    for (const part of parts) {
      if (part === 'courtyard') {
        await sleep(Math.max(0, courtyardLastEnd + COLD_IDLE_MS - performance.now()));
        await cameraIdle(sim, 'before a cold Courtyard start');
        const cold = await startOnce(c, 'cold');
        samples.push(cold);
        note(`  cycle ${cycle + 1}: courtyard cold ${cold.toKeyframeMs} ms, warm`);
        for (let k = 0; k < warm[cycle]; k++) {
          await pauseBetweenStarts();
          const s = await startOnce(c, 'warm');
          samples.push(s);
          note(` ${s.toKeyframeMs}`);
        }
        courtyardLastEnd = performance.now();
        note(' ms\n');
      } else {
        note(`  cycle ${cycle + 1}: camera-ffmpeg copy / libx264`);
        for (let k = 0; k < Math.max(copies[cycle], x264s[cycle]); k++) {
          const order = (cycle + k) % 2 === 0 ? [copy, x264] : [x264, copy];
          for (const e of order) {
            if (k >= (e === copy ? copies[cycle] : x264s[cycle])) {
              continue;
            }
            await cameraIdle(sim, `before a ${LABEL[e.target]} start`);
            const s = await startOnce(e, 'start');
            samples.push(s);
            note(` ${e === copy ? 'c' : 'x'}${s.toKeyframeMs}`);
            await pauseBetweenStarts();
          }
        }
        note(' ms\n');
      }
    }
  }
  return samples;
}

// ----------------------------------------------------------------------------------------------------------- snapshots

interface SnapshotSample {
  target: 'courtyard' | 'ffmpeg';
  kind: 'cold' | 'warm';
  ms: number;
  bytes: number;
}

async function snapshotOnce(e: Endpoint, kind: SnapshotSample['kind']): Promise<SnapshotSample> {
  const t0 = performance.now();
  const jpeg = await withTimeout(e.hap.httpClient.getImage(SNAPSHOT.width, SNAPSHOT.height, e.aid), SNAPSHOT_TIMEOUT_MS,
    `${LABEL[e.target]} snapshot`);
  const ms = performance.now() - t0;
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
    throw new Error(`${LABEL[e.target]}: the snapshot is not a JPEG (${jpeg.length} bytes)`);
  }
  return { target: e.target === 'courtyard' ? 'courtyard' : 'ffmpeg', kind, ms: round1(ms), bytes: jpeg.length };
}

/** Figure 2. Per round: every cache expired, then per plugin (order alternating) a cold request and at once a warm one. */
async function measureSnapshots(o: Options, sim: CameraSim, c: Endpoint, f: Endpoint): Promise<SnapshotSample[]> {
  const samples: SnapshotSample[] = [];
  await cameraIdle(sim, 'before the snapshots');
  note('  snapshots (cold/warm ms):');
  for (let round = 0; round < o.snapshots; round++) {
    for (const e of round % 2 === 0 ? [c, f] : [f, c]) {
      if (e !== c) {
        await cameraIdle(sim, 'before a camera-ffmpeg snapshot');
      }
      const cold = await snapshotOnce(e, 'cold');
      const warm = await snapshotOnce(e, 'warm');
      samples.push(cold, warm);
      note(` ${e === c ? 'C' : 'F'}${Math.round(cold.ms)}/${Math.round(warm.ms)}`);
    }
    // Both caches run from their last fetch: the gap from the round's last answer expires them all.
    await sleep(SNAPSHOT_COLD_GAP_MS);
  }
  note('\n');
  return samples;
}

// ---------------------------------------------------------------------------------------------------------------- CPU

/**
 * Figure 3. The tree idle for a few seconds, then one stream: CPU over `seconds` of steady streaming, from 2 s after its
 * first keyframe (start-up and any catch-up of a cached GOP are figure 1's business).
 */
async function measureCpu(e: Endpoint, seconds: number, viewers = 1): Promise<CpuResult> {
  const root = e.hb.pid;
  if (root === undefined) {
    throw new Error(`${LABEL[e.target]}: Homebridge is not running`);
  }
  const perMinute = (ticks: number, s: number): number => Math.round((ticks / CLOCK_TICKS_PER_S / s) * 60 * 100) / 100;
  const idle0 = readTree(root);
  const idleT0 = performance.now();
  await sleep(CPU_IDLE_S * 1000);
  const idleCpuSecondsPerMinute = perMinute(readTree(root).total - idle0.total, (performance.now() - idleT0) / 1000);
  const sessions: StreamSession[] = [];
  try {
    for (let i = 0; i < viewers; i++) {
      sessions.push(await openSession(e, i));
    }
    await Promise.all(sessions.map((s) => s.start({ video: VIDEO })));
    await Promise.all(sessions.map((s) => s.waitForKeyframe(KEYFRAME_TIMEOUT_MS)));
    await sleep(CPU_SETTLE_MS);
    const session = sessions[0];
    const bytes0 = session.stats().video.rtpBytes;
    const a = readTree(root);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const b = readTree(root);
    const windowS = (performance.now() - t0) / 1000;
    const bytes1 = session.stats().video.rtpBytes;
    await Promise.all(sessions.map((s) => s.end()));
    const processes = [...b.processes].filter(([pid]) => a.processes.has(pid))
      .map(([pid, p]) => ({ role: p.role, cpuSecondsPerMinute: perMinute(p.ticks - (a.processes.get(pid)?.ticks ?? 0), windowS) }));
    return {
      target: e.target,
      viewers,
      windowS: round1(windowS),
      cpuSecondsPerMinute: perMinute(b.total - a.total, windowS),
      idleCpuSecondsPerMinute,
      processes,
      videoKbps: Math.round(((bytes1 - bytes0) * 8) / windowS / 1000),
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

// ------------------------------------------------------------------------------------------------------------ viewers

/** Figure 4. N viewers at once (stream services 0..N-1), then the RTSP sessions the camera counts. */
async function measureViewers(sim: CameraSim, e: Endpoint, viewers: number): Promise<ViewersResult> {
  const sessions: StreamSession[] = [];
  try {
    for (let i = 0; i < viewers; i++) {
      sessions.push(await openSession(e, i));
    }
    await Promise.all(sessions.map((s) => s.start({ video: VIDEO })));
    await Promise.all(sessions.map((s) => s.waitForKeyframe(KEYFRAME_TIMEOUT_MS)));
    await sleep(PAUSE_MS);
    // The largest of a few reads: a session that is still being set up must not be missed.
    let rtsp = 0;
    for (let i = 0; i < 3; i++) {
      const s = await rtspSessions(sim);
      rtsp = Math.max(rtsp, s.main + s.sub);
      await sleep(300);
    }
    const keyframeMs = sessions.map((s) => round1(s.timing().toFirstKeyframeMs ?? NaN));
    await Promise.all(sessions.map((s) => s.end()));
    return { target: e.target, viewers, rtspSessions: rtsp, keyframeMs };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

// --------------------------------------------------------------------------------------------------------------- main

function ratio(ffmpeg: number | undefined, courtyard: number | undefined): number | undefined {
  return ffmpeg !== undefined && courtyard !== undefined && courtyard > 0 && Number.isFinite(ffmpeg / courtyard)
    ? Math.round((ffmpeg / courtyard) * 10) / 10 : undefined;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const command = `npx tsc -p tsconfig.build.json && npx tsc -p tsconfig.json && node ${relative(repoRoot(), __filename)}`
    + (process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : '');
  const loadBefore = loadavg();
  const began = performance.now();
  const ffmpeg = findFfmpeg(undefined).path;
  if (!ffmpeg) {
    throw new Error('no ffmpeg found');
  }
  console.log(`live view: Courtyard vs homebridge-camera-ffmpeg ${packageVersion('node_modules/homebridge-camera-ffmpeg')}, `
    + `Homebridge ${packageVersion('node_modules/homebridge1')} on node ${process.version}, ${ffmpeg}`);

  const sim = await startSim({ cameras: [{ name: CAMERA, vendor: 'generic' }], media: true });
  const url = await mainStreamUrl(sim);
  const [courtyard, ff] = await Promise.all([startCourtyard(sim, ffmpeg, o.audio, o.courtyardPlugin), startCameraFfmpeg(url, ffmpeg, o.audio)]);
  if (o.courtyardPlugin) {
    console.log(`  Courtyard loaded from ${o.courtyardPlugin}, not this repo's dist/`);
  }
  console.log(`  both bridges paired in ${Math.round((performance.now() - began) / 1000)} s; camera main stream ${url}`);

  const starts = await measureStarts(o, sim, courtyard, ff.copy, ff.x264);
  const snapshots = await measureSnapshots(o, sim, courtyard, ff.copy);

  // Figure 4 before 3: Courtyard first, then camera-ffmpeg (once Courtyard's source has stopped), whose CPU runs come
  // next, then Courtyard's, so every CPU run (and its idle baseline) starts on an idle camera without an extra wait.
  const viewers: ViewersResult[] = [];
  for (const e of [courtyard, ff.copy]) {
    for (const n of o.viewers) {
      // Courtyard's own source may still run from its previous viewers: joining it is the point.
      if (e !== courtyard) {
        await cameraIdle(sim, `before ${n} camera-ffmpeg viewer(s)`);
      }
      const r = await measureViewers(sim, e, n);
      viewers.push(r);
      console.log(`  ${LABEL[e.target]}: ${n} viewer(s) → ${r.rtspSessions} RTSP session(s); keyframes at ${r.keyframeMs.join(', ')} ms`);
      await sleep(PAUSE_MS);
    }
  }

  const cpu: CpuResult[] = [];
  for (const e of [ff.copy, ...(o.x264 > 0 ? [ff.x264] : []), courtyard]) {
    for (const n of e === ff.x264 ? [1] : [1, o.cpuViewers]) {
      await cameraIdle(sim, `before the ${LABEL[e.target]} CPU run`);
      const r = await measureCpu(e, o.cpuSeconds, n);
      cpu.push(r);
      console.log(`  ${LABEL[e.target]}, ${n} viewer(s): ${r.cpuSecondsPerMinute} CPU s per minute (`
        + `${r.processes.map((p) => `${p.role} ${p.cpuSecondsPerMinute}`).join(', ')}; idle ${r.idleCpuSecondsPerMinute}), ${r.videoKbps} kbps`);
      await sleep(PAUSE_MS);
    }
  }

  const of = (target: Target, kind?: StartSample['kind']): StartSample[] => starts.filter((s) => s.target === target && (!kind || s.kind === kind));
  const keyframe = {
    courtyardWarm: stats(of('courtyard', 'warm').map((s) => s.toKeyframeMs)),
    courtyardCold: stats(of('courtyard', 'cold').map((s) => s.toKeyframeMs)),
    ffmpegCopy: stats(of('ffmpegCopy').map((s) => s.toKeyframeMs)),
    ffmpegX264: stats(of('ffmpegX264').map((s) => s.toKeyframeMs)),
  };
  const behind = {
    courtyardWarm: stats(of('courtyard', 'warm').map((s) => s.behindLiveMs)),
    courtyardCold: stats(of('courtyard', 'cold').map((s) => s.behindLiveMs)),
    ffmpegCopy: stats(of('ffmpegCopy').map((s) => s.behindLiveMs)),
    ffmpegX264: stats(of('ffmpegX264').map((s) => s.behindLiveMs)),
  };
  const snap = (target: SnapshotSample['target'], kind: SnapshotSample['kind']): Stats =>
    stats(snapshots.filter((s) => s.target === target && s.kind === kind).map((s) => s.ms));
  const snapshot = { courtyardCold: snap('courtyard', 'cold'), courtyardWarm: snap('courtyard', 'warm'),
    ffmpegCold: snap('ffmpeg', 'cold'), ffmpegWarm: snap('ffmpeg', 'warm') };
  const cpuOf = (t: Target, viewers = 1): CpuResult | undefined => cpu.find((r) => r.target === t && r.viewers === viewers);
  /** What each viewer after the first added (CPU s per viewer-minute): (N viewers − 1 viewer) / (N − 1). */
  const perViewer = (t: Target): number | undefined => {
    const one = cpuOf(t, 1)?.cpuSecondsPerMinute;
    const many = cpuOf(t, o.cpuViewers)?.cpuSecondsPerMinute;
    return one === undefined || many === undefined ? undefined : Math.round(((many - one) / (o.cpuViewers - 1)) * 100) / 100;
  };
  const sessionsOf = (t: Target): number[] => o.viewers.map((n) => viewers.find((v) => v.target === t && v.viewers === n)?.rtspSessions ?? NaN);

  const rows: [string, string, string, number | undefined][] = [];
  const pp = (s: Stats): string => `${Math.round(s.p50)} / ${Math.round(s.p95)}`;
  rows.push(['START→keyframe p50/p95 ms, warm vs copy', pp(keyframe.courtyardWarm), pp(keyframe.ffmpegCopy), ratio(keyframe.ffmpegCopy.p50, keyframe.courtyardWarm.p50)]);
  rows.push(['START→keyframe p50/p95 ms, cold vs copy', pp(keyframe.courtyardCold), pp(keyframe.ffmpegCopy), ratio(keyframe.ffmpegCopy.p50, keyframe.courtyardCold.p50)]);
  if (o.x264 > 0) {
    rows.push(['START→keyframe p50/p95 ms, warm vs libx264', pp(keyframe.courtyardWarm), pp(keyframe.ffmpegX264), ratio(keyframe.ffmpegX264.p50, keyframe.courtyardWarm.p50)]);
    rows.push(['START→keyframe p50/p95 ms, cold vs libx264', pp(keyframe.courtyardCold), pp(keyframe.ffmpegX264), ratio(keyframe.ffmpegX264.p50, keyframe.courtyardCold.p50)]);
  }
  rows.push(['picture behind live p50 ms, warm/cold vs copy', `${Math.round(behind.courtyardWarm.p50)} / ${Math.round(behind.courtyardCold.p50)}`,
    `${Math.round(behind.ffmpegCopy.p50)}`, undefined]);
  rows.push(['snapshot p50 ms, cold', `${Math.round(snapshot.courtyardCold.p50)}`, `${Math.round(snapshot.ffmpegCold.p50)}`, ratio(snapshot.ffmpegCold.p50, snapshot.courtyardCold.p50)]);
  rows.push(['snapshot p50 ms, warm', `${Math.round(snapshot.courtyardWarm.p50)}`, `${Math.round(snapshot.ffmpegWarm.p50)}`, ratio(snapshot.ffmpegWarm.p50, snapshot.courtyardWarm.p50)]);
  rows.push(['CPU s per stream-minute, copy', `${cpuOf('courtyard')?.cpuSecondsPerMinute}`, `${cpuOf('ffmpegCopy')?.cpuSecondsPerMinute}`,
    ratio(cpuOf('ffmpegCopy')?.cpuSecondsPerMinute, cpuOf('courtyard')?.cpuSecondsPerMinute)]);
  rows.push([`CPU s per added viewer-minute ((${o.cpuViewers} viewers − 1) / ${o.cpuViewers - 1}), copy`, `${perViewer('courtyard')}`, `${perViewer('ffmpegCopy')}`,
    ratio(perViewer('ffmpegCopy'), perViewer('courtyard'))]);
  if (cpuOf('ffmpegX264')) {
    rows.push(['CPU s per stream-minute, what users get', `${cpuOf('courtyard')?.cpuSecondsPerMinute} (copy)`, `${cpuOf('ffmpegX264')?.cpuSecondsPerMinute} (libx264)`,
      ratio(cpuOf('ffmpegX264')?.cpuSecondsPerMinute, cpuOf('courtyard')?.cpuSecondsPerMinute)]);
  }
  rows.push([`RTSP sessions at the camera, ${o.viewers.join('/')} viewers`, sessionsOf('courtyard').join(' / '), sessionsOf('ffmpegCopy').join(' / '), undefined]);

  console.log(`\n${'figure'.padEnd(48)} ${'courtyard'.padStart(16)} ${'camera-ffmpeg'.padStart(18)} ${'ffmpeg/courtyard'.padStart(17)}`);
  for (const [what, c, f, r] of rows) {
    console.log(`${what.padEnd(48)} ${c.padStart(16)} ${f.padStart(18)} ${(r === undefined ? '' : `×${r}`).padStart(17)}`);
  }
  const target = {
    p50Under500: keyframe.courtyardWarm.p50 < 500 && keyframe.courtyardCold.p50 < 500,
    atLeast3xFasterThanCopy: (ratio(keyframe.ffmpegCopy.p50, keyframe.courtyardWarm.p50) ?? 0) >= 3,
  };
  console.log(`target START→keyframe p50 < 500 ms (warm and cold): ${target.p50Under500 ? 'met' : 'NOT met'}; `
    + `≥ 3× faster than camera-ffmpeg copy (warm): ${target.atLeast3xFasterThanCopy ? 'met' : 'NOT met'}`);
  // Courtyard transcodes only when the camera's video is not H.264 Baseline/Main/High (live.ts copyBlocker); the simulator
  // sends H.264 Main, and there is no setting that forces a transcode, so Courtyard's transcode cost is not measured.

  const wallSeconds = Math.round((performance.now() - began) / 1000);
  const out = join(repoRoot(), 'bench', 'results', o.audio ? 'live-audio.json' : 'live.json');
  mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
  writeFileSync(out, `${JSON.stringify({
    benchmark: 'live',
    generatedAt: new Date().toISOString(),
    command,
    wallSeconds,
    node: process.version,
    homebridge: packageVersion('node_modules/homebridge1'),
    hapNodejs: packageVersion('node_modules/homebridge1/node_modules/hap-nodejs'),
    cameraFfmpeg: packageVersion('node_modules/homebridge-camera-ffmpeg'),
    ffmpeg: execFileSync(ffmpeg, ['-version'], { encoding: 'utf8' }).split('\n')[0],
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavgBefore: loadBefore, loadavgAfter: loadavg(), clockTicks: CLOCK_TICKS_PER_S },
    method: {
      camera: 'tools/camera-sim, one camera (generic vendor), main 1920x1080 15 fps H.264 Main 2 Mbps, 4 s GOP, AAC; RTSP over TCP',
      request: { video: VIDEO, snapshot: SNAPSHOT },
      courtyard: { audio: o.audio, maxStreams: MAX_STREAMS },
      cameraFfmpeg: { source: '-rtsp_transport tcp -i <ONVIF main stream URI>', copy: { vcodec: 'copy' }, x264: { vcodec: 'default (libx264 ultrafast zerolatency)' },
        audio: o.audio, maxStreams: MAX_STREAMS },
      keyframe: 'START write → last packet of the first decodable IDR (SPS+PPS before it) at the controller; 1 s of video, END, 1 s pause + a fixed 0–1 s pattern (no phase lock with the 4 s GOP)',
      behindLive: 'RTP media time received after the first keyframe minus the real time elapsed, over the 1 s after it',
      coldIdleMs: COLD_IDLE_MS,
      snapshotColdGapMs: SNAPSHOT_COLD_GAP_MS,
      cpu: `utime+stime(+reaped children) of Homebridge and its descendants over ${o.cpuSeconds} s, from ${CPU_SETTLE_MS / 1000} s after the first keyframe; `
        + `with 1 and with ${o.cpuViewers} viewers (stream services 0..${o.cpuViewers - 1}): the difference divided by ${o.cpuViewers - 1} is the cost of one more viewer`,
      options: o,
    },
    results: { keyframe, behindLive: behind, snapshot, cpu, viewers, target },
    samples: { starts, snapshots },
    table: rows.map(([figure, courtyardValue, ffmpegValue, r]) => ({ figure, courtyard: courtyardValue, cameraFfmpeg: ffmpegValue, ratio: r })),
  }, null, 2)}\n`);
  console.log(`\n${wallSeconds} s; written: ${relative(repoRoot(), out)}\ncommand: ${command}`);
}

runBounded(main, BENCH_TIMEOUT_MS);
