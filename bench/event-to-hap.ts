// Benchmark: how long a camera event takes to reach a paired HomeKit controller as a HAP EVENT (MotionDetected), through
// a real Homebridge 1.x on this Node. Courtyard: from SimEvent.at (the simulated camera made the event available to
// PullMessages) to the EVENT at hap-controller. Baseline, same run, same Homebridge line: homebridge-camera-ffmpeg 3.1.4
// from the moment its HTTP motion trigger request is sent. The headline is the "on" edge (motion starts: what notifies
// and starts HomeKit Secure Video recording); "off" edges are reported where the off itself causes the HAP change.
//
// Run: npx tsc -p tsconfig.json && node .build/bench/event-to-hap.js [--events 200] [--cameras 1,8] [--only courtyard|ffmpeg]
// (--events: "on" edges measured per scenario, spread over the cameras)
// Writes bench/results/event-to-hap.json. Everything runs on 127.0.0.1 and is stopped at the end (or on a timeout).
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CharacteristicRef, CharacteristicType, HapClient, HomebridgeProcess, pairWith, platformConfigFor, pollUntil, ServiceType,
  sleep, startHomebridge, startSim, stopAll, withTimeout,
} from '../test/e2e/rig';
import { freePort, waitForTcp } from '../test/e2e/rig/net';
import { repoRoot } from '../test/e2e/rig/paths';
import { nearestRank, packageVersion } from './figures';
import { runBounded } from './run-bounded';

type Plugin = 'courtyard' | 'ffmpeg';
type Edge = 'on' | 'off';

interface Options {
  events: number;
  cameras: number[];
  only?: Plugin;
}

interface Sample {
  edge: Edge;
  camera: number;
  ms: number;
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

interface Measured {
  samples: Sample[];
  /** Cycles whose "false" EVENT came from the plugin's own hold/timeout before the off was sent (no off sample). */
  clearedBeforeOff: number;
}

interface ScenarioResult {
  plugin: Plugin;
  cameras: number;
  /** HAP EVENTs timed (on + off). */
  events: number;
  wallSeconds: number;
  on: Stats;
  off: Stats;
  all: Stats;
  clearedBeforeOff: number;
  /** Courtyard only: largest |SimEvent.at - our high-resolution injection time| (ms), a check on the start point. */
  simAtSkewMaxMs?: number;
}

const LINE = 1; // Homebridge 1.x on this Node (20): the same for both plugins
const HOLD_S = 1; // the smallest motionHoldSeconds
// Injection period per camera, identical for both plugins so the load is the same; a new "on" is a HAP change only once
// the previous motion has cleared, so the period exceeds the 1 s hold / motionTimeout. Courtyard's "off" goes after its
// hold (an earlier off is held back by design and we would time the hold); camera-ffmpeg's reset goes before its 1 s
// motionTimeout (else its own timer clears motion first and the reset changes nothing).
const PERIOD_MS = 1_150;
const OFF_AFTER_MS: Record<Plugin, number> = { courtyard: HOLD_S * 1000 + 50, ffmpeg: 500 };
const WARMUP_CYCLES = 3;
const EDGE_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 60_000;
const BENCH_TIMEOUT_MS = 15 * 60_000;
const HTTP_TIMEOUT_MS = 5_000;

function parseArgs(argv: string[]): Options {
  const options: Options = { events: 200, cameras: [1, 8] };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
    case '--events':
      options.events = Number(value);
      if (!Number.isInteger(options.events) || options.events < 2 || options.events > 100_000) {
        throw new Error('--events must be a whole number from 2 to 100000');
      }
      i++;
      break;
    case '--cameras':
      options.cameras = (value ?? '').split(',').map(Number);
      if (options.cameras.length === 0 || options.cameras.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) {
        throw new Error('--cameras must list camera counts from 1 to 64, e.g. 1,8');
      }
      i++;
      break;
    case '--only':
      if (value !== 'courtyard' && value !== 'ffmpeg') {
        throw new Error('--only must be courtyard or ffmpeg');
      }
      options.only = value;
      i++;
      break;
    default:
      throw new Error(`unknown argument ${argv[i]} (use --events N, --cameras 1,8, --only courtyard|ffmpeg)`);
    }
  }
  return options;
}

/** Nearest-rank percentiles. */
function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => nearestRank(sorted, p);
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    n: sorted.length,
    p50: round(rank(50)),
    p95: round(rank(95)),
    p99: round(rank(99)),
    min: round(sorted[0] ?? NaN),
    max: round(sorted[sorted.length - 1] ?? NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
}

/** Wall-clock ms with sub-ms resolution (SimEvent.at is Date.now(), so the same clock). */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The arrival time of the next EVENT carrying `value` for one characteristic, stamped in the client's own 'event'
 * callback (before any promise hop), so both plugins are timed at the same point.
 */
class Arrivals {
  private readonly pending = new Map<string, { value: boolean; resolve: (at: number) => void }>();

  constructor(hap: HapClient) {
    hap.onEvent((e) => {
      const at = nowMs();
      const key = `${e.aid}.${e.iid}`;
      const want = this.pending.get(key);
      if (want && (e.value === want.value || e.value === Number(want.value))) {
        this.pending.delete(key);
        want.resolve(at);
      }
    });
  }

  /** Arm before injecting, so an event cannot slip past. */
  next(ref: CharacteristicRef, value: boolean, what: string): Promise<number> {
    const key = `${ref.aid}.${ref.iid}`;
    const arrival = new Promise<number>((resolve) => this.pending.set(key, { value, resolve }));
    return withTimeout(arrival, EDGE_TIMEOUT_MS, `MotionDetected=${value} for ${what}`).finally(() => this.pending.delete(key));
  }
}

/** Injects one edge at one camera; resolves with the injection time (ms, nowMs clock). */
type Inject = (camera: number, edge: Edge) => Promise<number>;

/**
 * The measurement loop shared by both plugins, per camera and staggered: on → EVENT true (always counted); off → EVENT
 * false, counted only when the off caused it. Courtyard holds motion for motionHoldSeconds after the last "on" and clears
 * it then by itself, so its "off" may change nothing in Home: those clears are counted as clearedBeforeOff instead.
 */
async function measure(plugin: Plugin, cameras: number, onEdges: number, refs: CharacteristicRef[], hap: HapClient,
  inject: Inject): Promise<Measured> {
  const arrivals = new Arrivals(hap);
  const cyclesPerCamera = Math.ceil(onEdges / cameras);
  const samples: Sample[] = [];
  let clearedBeforeOff = 0;
  const one = async (camera: number, record: boolean): Promise<void> => {
    const cycleStart = nowMs();
    const onArrival = arrivals.next(refs[camera], true, `camera ${camera + 1} (on)`);
    const onAt = await inject(camera, 'on');
    const onMs = (await onArrival) - onAt;
    // Armed now: the clear may come from the plugin's own timer before the off is sent.
    const offArrival = arrivals.next(refs[camera], false, `camera ${camera + 1} (off)`);
    offArrival.catch(() => undefined); // awaited below
    await sleep(Math.max(0, cycleStart + OFF_AFTER_MS[plugin] - nowMs()));
    const offAt = await inject(camera, 'off');
    const offMs = (await offArrival) - offAt;
    if (record) {
      samples.push({ edge: 'on', camera, ms: onMs });
      if (offMs >= 0) {
        samples.push({ edge: 'off', camera, ms: offMs });
      } else {
        clearedBeforeOff++;
      }
    }
    await sleep(Math.max(0, cycleStart + PERIOD_MS - nowMs()));
  };
  await Promise.all(Array.from({ length: cameras }, async (_, camera) => {
    // Cameras are not in lock-step in real life: spread their injections over the period.
    await sleep((PERIOD_MS / cameras) * camera);
    for (let c = 0; c < WARMUP_CYCLES + cyclesPerCamera; c++) {
      await one(camera, c >= WARMUP_CYCLES);
    }
  }));
  return { samples, clearedBeforeOff };
}

async function pairAndWatch(hb: HomebridgeProcess, names: string[]): Promise<{ hap: HapClient; refs: CharacteristicRef[] }> {
  const hap = await pairWith(hb);
  const list = await hap.waitForAccessories((l) => names.every((n) => l.byName(n)?.service(ServiceType.MotionSensor) !== undefined),
    { timeoutMs: START_TIMEOUT_MS, what: `${names.length} accessories with a motion sensor` });
  // The camera's own motion sensor: Courtyard's is "<name> Motion", camera-ffmpeg's is the only one.
  const refs = names.map((n) => {
    const sensors = list.requireByName(n).servicesOfType(ServiceType.MotionSensor);
    const main = sensors.find((s) => s.value(CharacteristicType.Name) === `${n} Motion`) ?? sensors[0];
    return main.requireCharacteristic(CharacteristicType.MotionDetected);
  });
  await hap.subscribe(refs);
  return { hap, refs };
}

async function runCourtyard(cameras: number, events: number): Promise<Measured & { skew: number }> {
  const sim = await startSim({ cameras, vendor: 'generic', media: false });
  const names = sim.cameras.map((c) => c.name);
  const hb = await startHomebridge({
    line: LINE,
    platforms: [platformConfigFor(sim, { cameras: sim.cameras.map(() => ({ motionHoldSeconds: HOLD_S })) })],
    startupTimeoutMs: START_TIMEOUT_MS,
  });
  const { hap, refs } = await pairAndWatch(hb, names);
  await pollUntil(async () => (sim.cameras.every((c) => c.stats().subscriptions > 0) ? true : undefined),
    { timeoutMs: START_TIMEOUT_MS, what: 'the plugin subscribed to every camera\'s events' });
  let skew = 0;
  const measured = await measure('courtyard', cameras, events, refs, hap, async (camera, edge) => {
    const before = nowMs();
    const event = sim.cameras[camera].motion(edge === 'on');
    if (event.messages === 0) {
      throw new Error(`camera ${camera + 1}: motion ${edge} changed nothing at the simulator`);
    }
    // The brief's start point is SimEvent.at (Date.now(), whole ms); ours is the same instant at sub-ms resolution.
    skew = Math.max(skew, Math.abs(event.at - before));
    return before;
  });
  await stopAll();
  return { ...measured, skew };
}

function httpGet(agent: Agent, port: number, path: string): Promise<void> {
  return withTimeout(new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: 'GET' }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end();
  }), HTTP_TIMEOUT_MS, `GET 127.0.0.1:${port}${path}`);
}

async function runFfmpeg(cameras: number, events: number): Promise<Measured> {
  const port = await freePort();
  const names = Array.from({ length: cameras }, (_, i) => `Ffmpeg Cam ${i + 1}`);
  const hb = await startHomebridge({
    line: LINE,
    pluginPath: join(repoRoot(), 'node_modules', 'homebridge-camera-ffmpeg'),
    startupTimeoutMs: START_TIMEOUT_MS,
    platforms: [{
      platform: 'Camera-ffmpeg',
      porthttp: port,
      localhttp: true, // binds "localhost", which is 127.0.0.1 here
      cameras: names.map((name) => ({ name, motion: true, motionTimeout: 1, videoConfig: { source: '-i rtsp://127.0.0.1/none' } })),
    }],
  });
  await waitForTcp(port, START_TIMEOUT_MS);
  const { hap, refs } = await pairAndWatch(hb, names);
  // Keep-alive, like Courtyard's standing PullMessages connection: connection set-up is not part of either latency.
  const agent = new Agent({ keepAlive: true, maxSockets: cameras });
  try {
    const requests: Promise<void>[] = [];
    const measured = await measure('ffmpeg', cameras, events, refs, hap, async (camera, edge) => {
      const path = `${edge === 'on' ? '/motion' : '/motion/reset'}?${encodeURIComponent(names[camera])}`;
      const sentAt = nowMs();
      // The latency runs from the send, not from the response; every response is still checked below.
      const done = httpGet(agent, port, path);
      done.catch(() => undefined); // awaited below: no unhandled rejection meanwhile
      requests.push(done);
      return sentAt;
    });
    await Promise.all(requests);
    return measured;
  } finally {
    agent.destroy();
    await stopAll();
  }
}

function summarise(plugin: Plugin, cameras: number, { samples, clearedBeforeOff }: Measured, started: number, skew?: number): ScenarioResult {
  return {
    plugin,
    cameras,
    events: samples.length,
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    on: stats(samples.filter((s) => s.edge === 'on').map((s) => s.ms)),
    off: stats(samples.filter((s) => s.edge === 'off').map((s) => s.ms)),
    all: stats(samples.map((s) => s.ms)),
    clearedBeforeOff,
    ...(skew !== undefined ? { simAtSkewMaxMs: Math.round(skew * 100) / 100 } : {}),
  };
}

function row(r: ScenarioResult): string {
  const s = (x: Stats): string => `${x.p50.toFixed(1).padStart(7)} ${x.p95.toFixed(1).padStart(7)} ${x.p99.toFixed(1).padStart(7)}`;
  const off = r.off.n > 0 ? s(r.off) : `${'(none: cleared by its hold before the off)'.padStart(23)}`;
  return `${r.plugin.padEnd(10)} ${String(r.cameras).padStart(4)} ${String(r.on.n).padStart(5)}  ${s(r.on)}   ${off}`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const command = `npx tsc -p tsconfig.json && node ${relative(repoRoot(), __filename)}${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const plugins: Plugin[] = options.only ? [options.only] : ['courtyard', 'ffmpeg'];
  const loadBefore = loadavg();
  const results: ScenarioResult[] = [];
  console.log(`event → HAP EVENT latency, Homebridge ${packageVersion('node_modules/homebridge1')} on node ${process.version}, `
    + `${options.events} "on" events per scenario (+${WARMUP_CYCLES} warm-up cycles per camera, not counted)`);
  for (const [k, cameras] of options.cameras.entries()) {
    // Alternate who goes first, so neither always meets the colder machine.
    for (const plugin of k % 2 === 0 ? plugins : [...plugins].reverse()) {
      const started = Date.now();
      process.stdout.write(`  ${plugin}, ${cameras} camera(s) ... `);
      if (plugin === 'courtyard') {
        const measured = await runCourtyard(cameras, options.events);
        results.push(summarise(plugin, cameras, measured, started, measured.skew));
      } else {
        results.push(summarise(plugin, cameras, await runFfmpeg(cameras, options.events), started));
      }
      console.log(`${results[results.length - 1].wallSeconds} s`);
    }
  }

  const comparison = options.cameras.map((cameras) => {
    const c = results.find((r) => r.plugin === 'courtyard' && r.cameras === cameras);
    const f = results.find((r) => r.plugin === 'ffmpeg' && r.cameras === cameras);
    const ratio = (a?: number, b?: number): number | undefined => (a !== undefined && b ? Math.round((a / b) * 100) / 100 : undefined);
    return { cameras, onP50Ratio: ratio(c?.on.p50, f?.on.p50), onP95Ratio: ratio(c?.on.p95, f?.on.p95),
      onP99Ratio: ratio(c?.on.p99, f?.on.p99) };
  });

  console.log('\nlatency in ms (on edge: p50 p95 p99 | off edge: p50 p95 p99)');
  console.log(`${'plugin'.padEnd(10)} ${'cams'.padStart(4)} ${'n on'.padStart(5)}  ${'on p50'.padStart(7)} ${'p95'.padStart(7)} `
    + `${'p99'.padStart(7)}   ${'off p50'.padStart(7)} ${'p95'.padStart(7)} ${'p99'.padStart(7)}`);
  results.forEach((r) => console.log(row(r)));
  for (const c of comparison) {
    if (c.onP50Ratio !== undefined) {
      console.log(`${c.cameras} camera(s): courtyard / camera-ffmpeg, on edge: p50 ×${c.onP50Ratio}, p95 ×${c.onP95Ratio}, `
        + `p99 ×${c.onP99Ratio}`);
    }
  }

  const out = join(repoRoot(), 'bench', 'results', 'event-to-hap.json');
  mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
  writeFileSync(out, `${JSON.stringify({
    benchmark: 'event-to-hap',
    generatedAt: new Date().toISOString(),
    command,
    node: process.version,
    homebridge: packageVersion('node_modules/homebridge1'),
    hapNodejs: packageVersion('node_modules/homebridge1/node_modules/hap-nodejs'),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavgBefore: loadBefore, loadavgAfter: loadavg() },
    cameraFfmpeg: packageVersion('node_modules/homebridge-camera-ffmpeg'),
    method: {
      courtyard: `SimEvent.at at the in-process camera simulator (generic vendor, motionHoldSeconds ${HOLD_S}) → HAP EVENT at hap-controller`,
      ffmpeg: 'HTTP GET /motion?<name> (or /motion/reset?<name>) sent on a keep-alive connection → HAP EVENT at hap-controller',
      periodMs: PERIOD_MS,
      offAfterMs: OFF_AFTER_MS,
      warmupCyclesPerCamera: WARMUP_CYCLES,
    },
    results,
    comparison,
  }, null, 2)}\n`);
  console.log(`\nwritten: ${relative(repoRoot(), out)}\ncommand: ${command}`);
}

runBounded(main, BENCH_TIMEOUT_MS);
