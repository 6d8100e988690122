// Leak runs (issue 12, item 5): against one real Homebridge with one simulated camera (HKSV on, so its prebuffer runs
// throughout), 200 live start/stop cycles, 100 recordings and 5,000 motion events. After a warm-up the figures settle;
// at the end there must be no ffmpeg beyond the prebuffer's (none after stop), fd growth within a small constant, and
// Homebridge's RSS within 10 % of where it settled. Prints the numbers and writes docs/leaks.md.
//
// Run: npm run leaks [-- --quick] [--cycles 200] [--recordings 100] [--events 5000] [--line 1|2]
//   (= npx tsc -p tsconfig.build.json && npx tsc -p tsconfig.json && node .build/bench/leaks.js ...)
//   --quick: 20 cycles, 10 recordings, 500 events (about 3 minutes).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  CameraStreamClient, CharacteristicRef, CharacteristicType, descendantsOf, HapClient, HapEvent, HdsCloseReason, pairWith,
  platformConfigFor, RecordingHub, ServiceType, sleep, startHomebridge, startRecordingHub, startSim, withTimeout,
} from '../test/e2e/rig';
import { fdKinds, isFfmpeg, mb, percentile, sampleTree, TreeSample } from './proc-sample';
import { runBounded } from './run-bounded';

const CAMERA = 'Leak Test';
const FD_ALLOWANCE = 10;
const RSS_ALLOWANCE = 0.10;
const EVENT_TIMEOUT_MS = 10_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
const QUIET_MS = 15_000;   // a live source stops 10 s after its last viewer

interface Options { cycles: number; recordings: number; events: number; line: 1 | 2; quick: boolean }

function parse(argv: string[]): Options {
  const o: Options = { cycles: 200, recordings: 100, events: 5000, line: 1, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const next = (): number => Number(argv[++i]);
    switch (argv[i]) {
      case '--quick': Object.assign(o, { cycles: 20, recordings: 10, events: 500, quick: true }); break;
      case '--cycles': o.cycles = next(); break;
      case '--recordings': o.recordings = next(); break;
      case '--events': o.events = next(); break;
      case '--line': o.line = next() === 2 ? 2 : 1; break;
      default: throw new Error(`unknown option ${argv[i]} (use --quick, --cycles N, --recordings N, --events N, --line 1|2)`);
    }
  }
  for (const [k, v] of [['cycles', o.cycles], ['recordings', o.recordings], ['events', o.events]] as const) {
    if (!(Number.isInteger(v) && v >= 1 && v <= 100_000)) {
      throw new Error(`--${k} must be a whole number from 1 to 100000`);
    }
  }
  return o;
}

const options = parse(process.argv.slice(2));
const t0 = Date.now();
const say = (line: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

interface Phase { name: string; count: number; ok: number; seconds: number; detail: string; after: TreeSample; afterGc: GcReading }
/** Homebridge's memory right after a full garbage collection: RSS, what JavaScript still holds, and Buffers outside the heap. */
interface GcReading { rssKb: number; heapUsedMb: number; externalMb: number }

async function main(): Promise<void> {
  const o = options;
  const command = `npm run leaks -- ${process.argv.slice(2).join(' ')}`.replace(/ -- $/, '');
  const sim = await startSim({ cameras: [{ name: CAMERA, vendor: 'hikvision' }] });
  const cam = sim.cameras[0];
  const hb = await startHomebridge({
    line: o.line,
    startupTimeoutMs: 90_000,
    platforms: [platformConfigFor(sim, { cameras: [{ motionHoldSeconds: 1, maxStreams: 2 }] })],
    // SIGUSR2 makes Homebridge collect all garbage and write its memory figures (bench/gc-probe.ts, preloaded).
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'gc-probe.js')}`.trim() },
  });
  const afterFullGc = async (): Promise<GcReading> => {
    const pid = hb.pid;
    if (pid === undefined) {
      return { rssKb: 0, heapUsedMb: 0, externalMb: 0 };
    }
    const file = join(hb.storageDir, `courtyard-memory-${pid}.json`);
    const sentAt = Date.now();
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 50; i++) {
      await sleep(200);
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as { at: number; rss: number; heapUsed: number; external: number };
        if (m.at >= sentAt) {
          return { rssKb: Math.round(m.rss / 1024), heapUsedMb: Math.round(m.heapUsed / 2 ** 20 * 10) / 10, externalMb: Math.round(m.external / 2 ** 20 * 10) / 10 };
        }
      } catch {
        // not written yet
      }
    }
    throw new Error('Homebridge did not report its memory after SIGUSR2 within 10 s (is bench/gc-probe.js preloaded?)');
  };
  const ctl = await pairWith(hb);
  const list = await ctl.waitForAccessories((l) => l.byName(CAMERA)?.service(ServiceType.CameraRecordingManagement) !== undefined,
    { timeoutMs: 90_000, what: 'the camera with HKSV' });
  const accessory = list.requireByName(CAMERA);
  const aid = accessory.aid;
  const motion: CharacteristicRef = { aid, iid: accessory.servicesOfType(ServiceType.MotionSensor)[0].requireCharacteristic(CharacteristicType.MotionDetected).iid };
  await ctl.subscribe([motion]);
  const hub: RecordingHub = await startRecordingHub(ctl, aid);
  const viewer: HapClient = ctl.fork();
  const isMotion = (on: boolean) => (e: HapEvent): boolean => e.aid === motion.aid && e.iid === motion.iid && (on ? e.value === true || e.value === 1 : e.value === false || e.value === 0);
  const ffmpegs = (): number => (hb.pid === undefined ? 0 : descendantsOf(hb.pid).filter(isFfmpeg).length);
  const samples: TreeSample[] = [];
  const sampler = setInterval(() => samples.push(sampleTree(hb.pid)), 2_000);

  // ---- the three loads
  const keyframeMs: number[] = [];
  async function liveCycles(n: number): Promise<number> {
    let decoded = 0;
    for (let i = 0; i < n; i++) {
      const client = await CameraStreamClient.open(viewer, aid, { streamIndex: i % 2 });
      const session = await client.setup();
      try {
        const started = Date.now();
        await session.start({ video: i % 3 === 2 ? { width: 640, height: 360, fps: 15 } : { width: 1280, height: 720, fps: 15 } });
        await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
        keyframeMs.push(Date.now() - started);
        decoded++;
        await sleep(300);
        await session.end();
      } catch (err) {
        say(`  live cycle ${i + 1}: ${(err as Error).message.slice(0, 200)}`);
      } finally {
        await withTimeout(session.close(), 10_000, 'session close').catch(() => undefined);
      }
    }
    return decoded;
  }

  async function recordingsOf(n: number): Promise<number> {
    let complete = 0;
    for (let i = 0; i < n; i++) {
      const seq = ctl.lastEventSeq();
      cam.motion(true);
      try {
        await ctl.waitForEvent(isMotion(true), EVENT_TIMEOUT_MS, seq);
        const stream = await hub.openRecording();
        await stream.waitForFragments(1, 15_000);
        stream.close(HdsCloseReason.NORMAL);
        await sleep(200);
        if (stream.init && !stream.lost && stream.violations().length === 0 && !(stream.closedByAccessory && stream.closedByAccessory.reason !== 0)) {
          complete++;
        } else {
          say(`  recording ${i + 1}: lost ${stream.lost}, violations ${stream.violations().join('; ')}, closed by accessory ${JSON.stringify(stream.closedByAccessory)}`);
        }
      } catch (err) {
        say(`  recording ${i + 1}: ${(err as Error).message.slice(0, 200)}`);
      }
      const offSeq = ctl.lastEventSeq();
      cam.motion(false);
      await ctl.waitForEvent(isMotion(false), EVENT_TIMEOUT_MS, offSeq).catch(() => undefined);
    }
    return complete;
  }

  async function motionEvents(n: number): Promise<number> {
    // Pairs of on/off, one every 20 ms (50 events a second); then one more that must still reach HAP.
    for (let i = 0; i < n; i++) {
      cam.motion(i % 2 === 0);
      await sleep(20);
    }
    cam.motion(false);
    await ctl.waitForEvent(isMotion(false), EVENT_TIMEOUT_MS + 5_000, ctl.lastEventSeq()).catch(() => undefined);
    await sleep(2_000);
    const seq = ctl.lastEventSeq();
    const at = Date.now();
    cam.motion(true);
    const delivered = await ctl.waitForEvent(isMotion(true), EVENT_TIMEOUT_MS, seq).then(() => Date.now() - at, () => -1);
    cam.motion(false);
    await ctl.waitForEvent(isMotion(false), EVENT_TIMEOUT_MS, ctl.lastEventSeq()).catch(() => undefined);
    return delivered;
  }

  // ---- warm-up, settle
  say('warm-up: 10 live cycles, 5 recordings, 250 motion events');
  await liveCycles(10);
  await recordingsOf(5);
  await motionEvents(250);
  await sleep(QUIET_MS);
  const settled = sampleTree(hb.pid);
  const settledGc = await afterFullGc();
  const settledKinds = hb.pid === undefined ? {} : fdKinds(hb.pid);
  say(`settled: node ${mb(settled.nodeRssKb)} MB RSS (${mb(settledGc.rssKb)} MB after a full GC, heap used ${settledGc.heapUsedMb} MB, external ${settledGc.externalMb} MB), tree ${mb(settled.treeRssKb)} MB, ${settled.nodeFds} fds (tree ${settled.treeFds}), ${settled.ffmpegs} ffmpeg`);

  const phases: Phase[] = [];
  const run = async (name: string, count: number, work: () => Promise<number>, detail: (r: number) => string, okOf: (r: number) => number): Promise<void> => {
    const start = Date.now();
    say(`${name}: ${count}`);
    const r = await work();
    await sleep(QUIET_MS);
    const after = sampleTree(hb.pid);
    const afterGc = await afterFullGc();
    phases.push({ name, count, ok: okOf(r), seconds: (Date.now() - start) / 1000, detail: detail(r), after, afterGc });
    say(`  done: ${detail(r)}; node ${mb(after.nodeRssKb)} MB (${mb(afterGc.rssKb)} MB after a full GC, heap used ${afterGc.heapUsedMb} MB, external ${afterGc.externalMb} MB), ${after.nodeFds} fds, ${after.ffmpegs} ffmpeg`);
  };
  await run('live start/stop cycles', o.cycles, () => liveCycles(o.cycles), (r) => `${r} of ${o.cycles} decoded a keyframe (START → keyframe p50 ${percentile(keyframeMs.slice(10), 50)} ms)`, (r) => r);
  await run('recordings', o.recordings, () => recordingsOf(o.recordings), (r) => `${r} of ${o.recordings} complete (init + fragment, closed normally)`, (r) => r);
  await run('motion events', o.events, () => motionEvents(o.events), (r) => (r >= 0 ? `the next motion after them reached HAP in ${r} ms` : 'the next motion after them did NOT reach HAP'), (r) => (r >= 0 ? o.events : 0));
  clearInterval(sampler);

  const end = sampleTree(hb.pid);
  const endKinds = hb.pid === undefined ? {} : fdKinds(hb.pid);
  const ffmpegNow = ffmpegs();
  const peakNode = Math.max(settled.nodeRssKb, ...samples.map((s) => s.nodeRssKb));
  await hub.close();
  await viewer.close();
  const report = await hb.stop();
  const subsLeft = cam.stats().subscriptions;

  const fdGrowth = end.nodeFds - settled.nodeFds;
  const endGc = phases[phases.length - 1].afterGc;
  const rssChange = (endGc.rssKb - settledGc.rssKb) / settledGc.rssKb;
  const rawChange = (end.nodeRssKb - settled.nodeRssKb) / settled.nodeRssKb;
  const checks: [string, boolean, string][] = [
    ['no ffmpeg beyond the prebuffer\'s at the end, none after stop', ffmpegNow === settled.ffmpegs && report.leftovers.filter(isFfmpeg).length === 0,
      `${settled.ffmpegs} settled, ${ffmpegNow} at the end, ${report.leftovers.filter(isFfmpeg).length} after stop`],
    [`fd growth ≤ ${FD_ALLOWANCE}`, fdGrowth <= FD_ALLOWANCE, `${settled.nodeFds} → ${end.nodeFds} (${fdGrowth >= 0 ? '+' : ''}${fdGrowth}); by kind ${JSON.stringify(settledKinds)} → ${JSON.stringify(endKinds)}`],
    [`Homebridge RSS within ${RSS_ALLOWANCE * 100} % of where it settled (both read right after a full GC)`, Math.abs(rssChange) <= RSS_ALLOWANCE,
      `${mb(settledGc.rssKb)} → ${mb(endGc.rssKb)} MB (${rssChange >= 0 ? '+' : ''}${(rssChange * 100).toFixed(1)} %); heap used ${settledGc.heapUsedMb} → ${endGc.heapUsedMb} MB, external ${settledGc.externalMb} → ${endGc.externalMb} MB; `
      + `without the GC: ${mb(settled.nodeRssKb)} → ${mb(end.nodeRssKb)} MB (${rawChange >= 0 ? '+' : ''}${(rawChange * 100).toFixed(1)} %, the GC sawtooth), peak ${mb(peakNode)} MB; whole tree ${mb(settled.treeRssKb)} → ${mb(end.treeRssKb)} MB`],
    ['ONVIF subscriptions left at the camera after stop', subsLeft === 0, String(subsLeft)],
    ['processes left after stop', report.leftovers.length === 0, String(report.leftovers.length)],
    ['every cycle, recording and the motion after the events worked', phases.every((p) => p.ok === p.count), phases.map((p) => `${p.ok}/${p.count}`).join(', ')],
  ];
  const phaseTable = ['| load | count | took | result | Homebridge RSS (after a full GC; heap used) | fds after | ffmpeg after |', '|---|---:|---:|---|---:|---:|---:|',
    `| (settled, after a warm-up) | | | | ${mb(settled.nodeRssKb)} MB (${mb(settledGc.rssKb)} MB; ${settledGc.heapUsedMb} MB) | ${settled.nodeFds} | ${settled.ffmpegs} |`,
    ...phases.map((p) => `| ${p.name} | ${p.count} | ${p.seconds.toFixed(0)} s | ${p.detail} | ${mb(p.after.nodeRssKb)} MB (${mb(p.afterGc.rssKb)} MB; ${p.afterGc.heapUsedMb} MB) | ${p.after.nodeFds} | ${p.after.ffmpegs} |`)].join('\n');
  const checkTable = ['| check | met | figures |', '|---|---|---|', ...checks.map(([k, ok, v]) => `| ${k} | ${ok ? 'yes' : '**no**'} | ${v} |`)].join('\n');
  console.log(`\n${phaseTable}\n\n${checkTable}\n\ncommand: ${command}`);

  const cpu = cpus();
  let ffmpegVersion = '?';
  let head = '?';
  try {
    ffmpegVersion = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8', timeout: 5_000 }).split('\n')[0].replace(/ Copyright.*/, '');
    head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'src'], { encoding: 'utf8', timeout: 5_000 }).trimEnd();
    if (dirty) {
      head += ` with uncommitted changes in src/ (${dirty.split('\n').map((l) => l.slice(3)).join(', ')})`;
    }
  } catch {
    // reported as '?'
  }
  const md = `# Leak runs

Issue 12, item 5: ${o.cycles} live start/stop cycles, ${o.recordings} recordings and ${o.events} motion events against one real
Homebridge ${hb.launch.version} with one simulated camera (Hikvision-like, 1080p15 H.264 + AAC, 4 s GOP; HKSV on, so its prebuffer
reads the camera throughout). Figures are Homebridge's node process (RSS, open fds) and the ffmpeg processes under it.

- Command: \`nice -n 10 ${command}\`${o.quick ? ' (quick)' : ''}
- Machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM; Node ${process.version}; ${ffmpegVersion}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}
- Date: ${new Date().toISOString().replace(/\.\d+Z$/, ' UTC').replace('T', ' ')}; code: ${head}

${phaseTable}

${checkTable}

How: a warm-up (10 cycles, 5 recordings, 250 events) and ${QUIET_MS / 1000} s of quiet set where the figures settle. A live cycle is
SetupEndpoints, START (1280x720, every third 640x360), the first decodable keyframe over SRTP, 0.3 s, END. A recording is motion
on at the camera, the hub opening a recording on MotionDetected, one whole fragment, the hub's close (NORMAL), motion off.
Motion events alternate on/off every 20 ms at the camera (PullPoint); one more motion must still reach HAP afterwards.
Every figure after a load is taken ${QUIET_MS / 1000} s after it ended (a live source stops 10 s after its last viewer). Node's RSS
rises and falls by tens of MB with garbage collection, so the RSS check compares readings taken right after a full GC: Homebridge
preloads bench/gc-probe.js (\`NODE_OPTIONS=--require\`), which on SIGUSR2 collects all garbage and writes process.memoryUsage();
"heap used" is what JavaScript still holds, "external" the Buffers outside V8's heap.
`;
  const root = join(__dirname, '..', '..');
  // docs/leaks.md is the run (the default counts); other runs only write their JSON.
  const standard = !o.quick && o.cycles === 200 && o.recordings === 100 && o.events === 5000;
  const name = standard ? 'leaks' : o.quick ? 'leaks-quick' : 'leaks-custom';
  if (standard) {
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(root, 'docs', 'leaks.md'), md);
  }
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', `${name}.json`),
    `${JSON.stringify({ command, options: o, settled, end, phases, checks, samples, keyframeMs }, null, 1)}\n`);
  console.log(standard ? 'wrote docs/leaks.md and bench/results/leaks.json' : `wrote bench/results/${name}.json (docs/leaks.md is written by the default run only)`);
  if (!checks.every(([, ok]) => ok)) {
    process.exitCode = 1;
  }
}

runBounded(main, (3 + options.cycles * 0.05 + options.recordings * 0.1 + options.events * 0.001 + 5) * 60_000);
