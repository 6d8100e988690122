// Prebuffer cost benchmark: CPU and resident memory per camera while the HomeKit Secure Video prebuffer runs (copy mode),
// three ways in one run (issue 14): the plugin reading the camera itself, the plugin reading it through ffmpeg, and the
// usual fMP4 remux prebuffer of other plugins.
//
// Run (from the repo root; everything stays on 127.0.0.1; about 8 minutes with the defaults):
//   npx tsc -p tsconfig.json && nice -n 10 node .build/bench/prebuffer.js [--cases 1,8] [--warmup 5] [--window 20]
//     [--rounds 2] [--schemes plugin,paced,ffmpeg,fmp4] [--pace 500] [--x264] [--cpu-prof DIR]
//
// The simulator's RTSP server (tools/camera-sim/media, GStreamer: the "cameras", 1080p15 H.264 2 Mbps + AAC, 4 s GOP)
// serves /camK/main. Each scheme runs in a fresh Node worker process (this file with --worker) that holds only the
// sources, so its memory starts from the same idle baseline, which is measured in the same worker before anything starts:
//   plugin: one MediaSource per camera with default options (the stream read in the plugin: RTSP, RTP, H.264/AAC
//           depacketized, muxed to MPEG-TS, cut into the keyframe cache), hold(4000): what HKSV's prebuffer asks;
//   paced:  (only with --schemes) the same with another holdPaceMs than the default SOURCE_HOLD_READ_PACE_MS (250 ms):
//           `--pace ms` (500 unless given), to weigh a slower pace (the source paces only while holds alone keep it);
//   ffmpeg: the same with readInPlugin: false (one copying ffmpeg per camera writing MPEG-TS to a pipe);
//   fmp4:   the anchor approach of homebridge-camera-ui / camera-ffmpeg v4 style prebuffers, minimal: one ffmpeg per
//           camera remuxing RTSP to fragmented MP4 on a pipe, boxes split in Node, kept while younger than 4 s;
//   x264:   context only (--x264), 1 camera: ffmpeg transcoding RTSP with libx264 veryfast 1080p15 2 Mbps to fMP4.
// The worker's own CPU comes from its process.cpuUsage() (microseconds; /proc's 10 ms ticks are too coarse for 0.5 %
// of a core over 20 s), asked at the start and end of the idle baseline and of the window; every ffmpeg child's from
// /proc utime+stime. RSS from /proc VmRSS, sampled each second. Prints per-camera CPU (% of one core) and RSS added (MB),
// the ratios, the issue 14 target (plugin: <= 0.5 % and <= 8 MB per camera) and the command; writes
// bench/results/prebuffer.json.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { MediaSource } from '../src/media/source';
import { MediaServer, PROFILES } from '../tools/camera-sim/media';
import { CLOCK_TICKS_PER_S, readStat } from '../test/e2e/rig/procfs';

const ROOT = path.resolve(__dirname, '../..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'prebuffer.json');
const FFMPEG = 'ffmpeg';
/** What HKSV hubs select (REFERENCES.md) and what the task measures: source.hold(4000). */
const HOLD_MS = 4_000;
const DEFAULT_CASES = [1, 8];
const DEFAULT_WARMUP_S = 5;
const DEFAULT_WINDOW_S = 20;
const DEFAULT_ROUNDS = 2;
const BASELINE_S = 5;                                   // the idle worker, before any source starts
const SETTLE_MS = 1_000;                                // after the worker is up: let its start-up GC/JIT finish
const X264_WARMUP_S = 5;
const X264_WINDOW_S = 15;
const SAMPLE_MS = 1_000;
const READY_BOUND_MS = 20_000;                          // every camera must deliver video within this
const IDLE_BOUND_MS = 15_000;
const MARK_BOUND_MS = 5_000;
const DONE_BOUND_MS = 15_000;                           // stop: ffmpeg q -> TERM -> KILL takes at most ~3 s each
const KILL_WAIT_MS = 3_000;
/** Bound of one run (worker start to worker gone): settle + baseline + ready + warm-up + window + stop, with room. */
const RUN_OVERHEAD_BOUND_S = 60;
const TARGET_CPU_PCT = 0.5;
const TARGET_RSS_MB = 8;
const MB = 1024 * 1024;

type Scheme = 'plugin' | 'paced' | 'ffmpeg' | 'fmp4' | 'x264';
const SCHEMES: readonly Scheme[] = ['plugin', 'paced', 'ffmpeg', 'fmp4', 'x264'];
const COMPARED: readonly Scheme[] = ['plugin', 'paced', 'ffmpeg', 'fmp4'];
const DEFAULT_SCHEMES: readonly Scheme[] = ['plugin', 'ffmpeg', 'fmp4'];
/** 'paced': the source with holdPaceMs = pacedMs() (ms); --pace reaches the workers through the environment. */
const PACE_ENV = 'COURTYARD_BENCH_PACE_MS';
const pacedMs = (): number => Number(process.env[PACE_ENV] ?? 500);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;
const noop = (): void => undefined;

// ---------------------------------------------------------------------------------------------------------------------
// Worker side: one scheme on N cameras, driven over stdin ("start", "mark", "stop"), answering on stdout (IDLE, STARTED,
// MARK {cpu, memory}, DONE {report}).

/** One camera's prebuffer, whichever scheme keeps it. */
interface Held {
  ready(): boolean;
  report(): Record<string, number>;
  stop(): Promise<void>;
}

function sourceHold(url: string, index: number, readInPlugin: boolean, paceMs: number | undefined, warnings: string[]): Held {
  const log = { debug: noop, info: noop, warn: (m: string) => void warnings.push(m), error: (m: string) => void warnings.push(m) };
  // Default options but the one under test: audio 'copy' because the cameras send AAC (what ONVIF would say).
  const source = new MediaSource({ label: `cam${index + 1}`, url, ffmpegPath: FFMPEG, log, audio: 'copy',
    ...(readInPlugin ? {} : { readInPlugin: false }), ...(paceMs === undefined ? {} : { holdPaceMs: paceMs }) });
  const release = source.hold(HOLD_MS);
  return {
    ready: () => source.stats().cachedGops > 0,
    report: () => {
      const s = source.stats();
      return { bytesIn: s.bytesIn, starts: s.starts, cachedGops: s.cachedGops, cachedBytes: s.cachedBytes };
    },
    stop: async () => {
      release();
      await source.stop();
    },
  };
}

/** Ends a child we spawned: SIGTERM, then SIGKILL, each wait bounded. */
async function endChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return;
  }
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const within = (ms: number): Promise<boolean> =>
    Promise.race([gone.then(() => true), sleep(ms).then(() => false)]);
  proc.kill('SIGTERM');
  if (!(await within(KILL_WAIT_MS))) {
    proc.kill('SIGKILL');
    await within(KILL_WAIT_MS);
  }
}

interface Atom {
  type: string;
  data: Buffer;
  time: number;
}

/**
 * The anchor baseline, minimal but the same design as homebridge-camera-ui's PreBuffer (and camera-ffmpeg v4's copy of
 * it): ffmpeg remuxes RTSP (copy) to fragmented MP4; Node splits the output into boxes (one copy per box, as their
 * readLength does), keeps ftyp and moov, and keeps every later box while it is younger than the prebuffer (trimmed
 * whenever a box arrives). With frag_keyframe a fragment (moof + mdat) is one GOP and arrives when the GOP ends, so boxes
 * younger than 5 s still reach back at least 5 s. Difference: a pipe instead of their TCP socket on 127.0.0.1.
 */
class Fmp4Prebuffer implements Held {
  private readonly proc: ChildProcess;
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private box?: { type: string; size: number };
  private ftyp?: Atom;
  private moov?: Atom;
  private readonly atoms: Atom[] = [];
  private heldBytes = 0;
  private bytesIn = 0;
  private fragments = 0;
  private exits = 0;

  constructor(url: string, private readonly keepMs: number, private readonly warnings: string[]) {
    const args = [
      '-hide_banner', '-nostats', '-loglevel', 'error',
      // The same input options as the plugin's source, so only the output side differs.
      '-rtsp_transport', 'tcp', '-analyzeduration', '1000000', '-probesize', '1000000', '-i', url,
      '-map', '0:v:0', '-map', '0:a:0?', '-c', 'copy',
      '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', 'pipe:1',
    ];
    this.proc = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.proc.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    this.proc.on('error', (err) => this.warnings.push(`fmp4 ffmpeg: ${err.message}`));
    this.proc.on('exit', (code, signal) => {
      this.exits++;
      this.warnings.push(`fmp4 ffmpeg exited (${signal ?? code})`);
    });
  }

  ready(): boolean {
    return this.fragments > 0;
  }

  report(): Record<string, number> {
    return { bytesIn: this.bytesIn, fragments: this.fragments, heldAtoms: this.atoms.length, heldBytes: this.heldBytes, exits: this.exits };
  }

  async stop(): Promise<void> {
    this.proc.removeAllListeners('exit');
    await endChild(this.proc);
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    for (;;) {
      if (!this.box) {
        if (this.queued < 8) {
          return;
        }
        const header = this.take(8);
        const size = header.readUInt32BE(0);
        if (size < 8) {
          // 64-bit and to-end-of-file sizes: ffmpeg's fragmented output never uses them for these boxes.
          throw new Error(`fmp4: unsupported box size ${size}`);
        }
        this.box = { type: header.toString('latin1', 4, 8), size };
      }
      if (this.queued < this.box.size - 8) {
        return;
      }
      const data = this.take(this.box.size - 8);
      this.onAtom({ type: this.box.type, data, time: Date.now() });
      this.box = undefined;
    }
  }

  /** The next n queued bytes as one Buffer (a view when they sit in one chunk, else one copy). */
  private take(n: number): Buffer {
    this.queued -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) {
        this.chunks.shift();
      } else {
        this.chunks[0] = first.subarray(n);
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const part = Math.min(c.length, n - at);
      c.copy(out, at, 0, part);
      at += part;
      if (part === c.length) {
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(part);
      }
    }
    return out;
  }

  private onAtom(atom: Atom): void {
    if (!this.ftyp) {
      this.ftyp = atom;
    } else if (!this.moov) {
      this.moov = atom;
    } else {
      this.fragments += atom.type === 'mdat' ? 1 : 0;
      this.atoms.push(atom);
      this.heldBytes += atom.data.length + 8;
    }
    while (this.atoms.length && this.atoms[0].time < atom.time - this.keepMs) {
      this.heldBytes -= (this.atoms.shift()?.data.length ?? 0) + 8;
    }
  }
}

/** Context only: what a recording that transcodes costs (decode + libx264 veryfast, 1080p15 2 Mbps, 4 s GOP). */
function x264Recording(url: string, warnings: string[]): Held {
  const p = PROFILES.main;
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-rtsp_transport', 'tcp', '-analyzeduration', '1000000', '-probesize', '1000000', '-i', url,
    '-map', '0:v:0', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-profile:v', 'main', '-level:v', '4.0',
    '-r', String(p.fps), '-b:v', '2000k', '-maxrate', '2000k', '-bufsize', '4000k', '-g', String(p.fps * 4), '-bf', '0', '-an',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', 'pipe:1',
  ];
  const proc = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let bytesIn = 0;
  let exits = 0;
  proc.stdout?.on('data', (chunk: Buffer) => void (bytesIn += chunk.length));
  proc.on('error', (err) => warnings.push(`x264 ffmpeg: ${err.message}`));
  proc.on('exit', () => void exits++);
  return {
    ready: () => bytesIn > 0,
    report: () => ({ bytesIn, exits }),
    stop: async () => {
      proc.removeAllListeners('exit');
      await endChild(proc);
    },
  };
}

/** What the worker says about itself at a MARK: its CPU so far (µs, user + system) and memory, at its own clock (ms). */
interface Mark {
  cpuUs: number;
  /** The system (kernel) part of cpuUs: reads, wake-ups. */
  systemUs: number;
  atMs: number;
  memoryMB: Record<string, number>;
}

function mark(): Mark {
  const u = process.cpuUsage();
  return {
    cpuUs: u.user + u.system, systemUs: u.system, atMs: performance.now(),
    memoryMB: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, round(v / MB, 1)])),
  };
}

async function runWorker(scheme: Scheme, urls: string[]): Promise<void> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const helds: Held[] = [];
  const warnings: string[] = [];
  let stopping: Promise<void> | undefined;
  const rl = createInterface({ input: process.stdin });
  const stopAll = (): Promise<void> => (stopping ??= (async () => {
    const report = helds.map((h) => h.report());
    await Promise.all(helds.map((h) => h.stop()));
    say(`DONE ${JSON.stringify({ report, warnings: warnings.slice(0, 20) })}`);
    rl.close();
    process.stdin.destroy();
    // A normal exit, not a signal: --cpu-prof writes its profile then.
    setTimeout(() => process.exit(0), 200).unref();
  })());
  const start = async (): Promise<void> => {
    urls.forEach((url, i) => helds.push(
      scheme === 'plugin' || scheme === 'paced' || scheme === 'ffmpeg' ? sourceHold(url, i, scheme !== 'ffmpeg', scheme === 'paced' ? pacedMs() : undefined, warnings)
        : scheme === 'fmp4' ? new Fmp4Prebuffer(url, HOLD_MS, warnings) : x264Recording(url, warnings)));
    const end = Date.now() + READY_BOUND_MS;
    while (!helds.every((h) => h.ready())) {
      if (Date.now() > end || stopping) {
        say(`FAILED ${helds.filter((h) => !h.ready()).length} of ${helds.length} cameras sent no video within ${READY_BOUND_MS} ms` +
          ` ${warnings.slice(0, 3).join('; ')}`);
        return;
      }
      await sleep(100);
    }
    say('STARTED');
  };
  rl.on('line', (line) => {
    if (line === 'start' && !helds.length) {
      void start();
    } else if (line === 'mark') {
      say(`MARK ${JSON.stringify(mark())}`);
    } else if (line === 'stop') {
      void stopAll();
    }
  });
  // The benchmark went away (or Ctrl-C reached our process group): never leave an ffmpeg behind.
  rl.on('close', () => void stopAll());
  process.on('SIGINT', () => void stopAll());
  process.on('SIGTERM', () => void stopAll());
  say('IDLE');
}

// ---------------------------------------------------------------------------------------------------------------------
// Benchmark side: /proc sampling.

interface Proc {
  ticks: number;
  rssBytes: number;
  /** ffmpeg only (smaps_rollup): its share of pages shared with other processes, and its private pages. */
  pssBytes?: number;
  ussBytes?: number;
}

function kbField(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readProc(pid: number, withPss: boolean): Proc | undefined {
  const stat = readStat(pid);
  const rssBytes = kbField(readText(`/proc/${pid}/status`), 'VmRSS');
  if (!stat || rssBytes === undefined) {
    return undefined;
  }
  if (!withPss) {
    return { ticks: stat.ticks, rssBytes };
  }
  const rollup = readText(`/proc/${pid}/smaps_rollup`);
  const privateBytes = (kbField(rollup, 'Private_Clean') ?? NaN) + (kbField(rollup, 'Private_Dirty') ?? NaN);
  return { ticks: stat.ticks, rssBytes, pssBytes: kbField(rollup, 'Pss'), ussBytes: privateBytes };
}

/** Every ffmpeg whose parent is `ppid`. */
function ffmpegChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name)) {
      const s = readStat(Number(name));
      if (s && s.ppid === ppid && s.comm === 'ffmpeg') {
        out.push(Number(name));
      }
    }
  }
  return out;
}

interface Sample {
  t: number;
  node?: Proc;
  children: Map<number, Proc>;
  server?: Proc;
}

const seenFfmpeg = new Set<number>();

function sampleOnce(workerPid: number, serverPid: number | undefined): Sample {
  const children = new Map<number, Proc>();
  for (const pid of ffmpegChildren(workerPid)) {
    seenFfmpeg.add(pid);
    const p = readProc(pid, true);
    if (p) {
      children.set(pid, p);
    }
  }
  return { t: performance.now(), node: readProc(workerPid, false), children, server: serverPid === undefined ? undefined : readProc(serverPid, false) };
}

/** Samples every SAMPLE_MS for `seconds` (seconds + 1 samples, on a drift-free schedule). */
async function sampleWindow(workerPid: number, serverPid: number | undefined, seconds: number): Promise<Sample[]> {
  const t0 = performance.now();
  const samples: Sample[] = [sampleOnce(workerPid, serverPid)];
  for (let k = 1; k <= seconds; k++) {
    await sleep(Math.max(0, t0 + k * SAMPLE_MS - performance.now()));
    samples.push(sampleOnce(workerPid, serverPid));
  }
  return samples;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);

/** % of one core between the first and last sample, from `pick` (ticks); NaN when the process was missing. */
function cpuPct(samples: Sample[], pick: (s: Sample) => Proc | undefined): number {
  const a = pick(samples[0]);
  const b = pick(samples[samples.length - 1]);
  const seconds = (samples[samples.length - 1].t - samples[0].t) / 1000;
  return a && b ? ((b.ticks - a.ticks) / CLOCK_TICKS_PER_S / seconds) * 100 : NaN;
}

// ---------------------------------------------------------------------------------------------------------------------
// Benchmark side: one run = one worker, one scheme, N cameras.

class Worker {
  readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private wake?: () => void;
  private exited = false;

  constructor(scheme: Scheme, urls: string[], nodeArgs: string[] = []) {
    this.proc = spawn(process.execPath, [...nodeArgs, __filename, '--worker', scheme, ...urls], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.wake?.();
    });
    this.proc.stdin?.on('error', noop);
    this.proc.on('exit', () => {
      this.exited = true;
      this.wake?.();
    });
    workers.add(this);
  }

  get pid(): number {
    if (this.proc.pid === undefined) {
      throw new Error('worker did not start');
    }
    return this.proc.pid;
  }

  send(line: string): void {
    if (this.proc.stdin?.writable) {
      this.proc.stdin.write(`${line}\n`);
    }
  }

  /** The rest of the first line starting with `word`; throws on FAILED, on exit and after `boundMs`. */
  expect(word: string, boundMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, rest = ''): void => {
        clearTimeout(timer);
        this.wake = undefined;
        if (err) {
          reject(err);
        } else {
          resolve(rest);
        }
      };
      const check = (): void => {
        for (let line = this.lines.shift(); line !== undefined; line = this.lines.shift()) {
          if (line.startsWith('FAILED')) {
            return finish(new Error(`worker: ${line.slice(7)}`));
          }
          if (line.startsWith(word)) {
            return finish(undefined, line.slice(word.length).trim());
          }
        }
        if (this.exited) {
          finish(new Error(`worker exited before ${word}`));
        }
      };
      const timer = setTimeout(() => finish(new Error(`worker: no ${word} within ${boundMs} ms`)), boundMs);
      this.wake = check;
      check();
    });
  }

  /** "stop", then SIGTERM, then SIGKILL, each bounded; then any ffmpeg it left (orphaned) is killed. */
  async end(): Promise<void> {
    if (!this.exited) {
      this.send('stop');
      const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
      const within = (ms: number): Promise<boolean> => Promise.race([gone.then(() => true), sleep(ms).then(() => false)]);
      if (!(await within(DONE_BOUND_MS))) {
        this.proc.kill('SIGTERM');
        if (!(await within(DONE_BOUND_MS))) {
          this.proc.kill('SIGKILL');
          await within(KILL_WAIT_MS);
        }
      }
    }
    workers.delete(this);
  }
}

const workers = new Set<Worker>();

interface WorkerReport {
  report: Record<string, number>[];
  warnings: string[];
}

interface PerCamera {
  cpuPct: number;
  rssMeanMB: number;
  rssMaxMB: number;
  /** ffmpeg's private pages (smaps_rollup) in place of its RSS: what another camera really adds, libraries shared. */
  privateMeanMB: number;
}

interface RunResult {
  scheme: Scheme;
  cameras: number;
  round: number;
  warmupS: number;
  windowS: number;
  loadAverage: number[];
  valid: boolean;
  problems: string[];
  /** The headline: % of one core and MB added per camera. */
  perCamera: PerCamera;
  node: { baselineCpuPct: number; cpuPct: number; systemCpuPct: number; baselineRssMB: number; rssMeanMB: number; rssMaxMB: number; memoryMB: Record<string, number> };
  ffmpeg: { processes: number; cpuPctTotal: number; rssMeanMBPerProcess: number; privateMeanMBPerProcess: number };
  rtspServer: { cpuPct: number; rssMeanMB: number; sessions: number };
  worker: WorkerReport;
}

async function askMark(worker: Worker): Promise<Mark> {
  worker.send('mark');
  return JSON.parse(await worker.expect('MARK', MARK_BOUND_MS)) as Mark;
}

/** The worker's own CPU between two marks, % of one core. */
const markPct = (a: Mark, b: Mark): number => ((b.cpuUs - a.cpuUs) / 1000 / (b.atMs - a.atMs)) * 100;

async function measure(server: MediaServer, scheme: Scheme, cameras: number, roundNo: number, warmupS: number, windowS: number,
  nodeArgs: string[]): Promise<RunResult> {
  const urls = Array.from({ length: cameras }, (_, i) => server.url(`/cam${i + 1}/main`));
  const loadAverage = os.loadavg().map((n) => round(n));
  const worker = new Worker(scheme, urls, nodeArgs);
  const problems: string[] = [];
  try {
    await worker.expect('IDLE', IDLE_BOUND_MS);
    await sleep(SETTLE_MS);
    const baseFrom = await askMark(worker);
    const base = await sampleWindow(worker.pid, server.pid, BASELINE_S);
    const baseTo = await askMark(worker);
    worker.send('start');
    await worker.expect('STARTED', READY_BOUND_MS + 5_000);
    const sessions = Object.values(await server.sessions()).reduce((a, b) => a + b, 0);
    if (sessions !== cameras) {
      problems.push(`the RTSP server had ${sessions} sessions, expected ${cameras}`);
    }
    checkDeadline();
    await sleep(warmupS * 1000);
    const from = await askMark(worker);
    const win = await sampleWindow(worker.pid, server.pid, windowS);
    const to = await askMark(worker);
    worker.send('stop');
    const report = JSON.parse(await worker.expect('DONE', DONE_BOUND_MS)) as WorkerReport;

    // ffmpeg schemes: every camera's ffmpeg the same process from the first sample to the last. The plugin: none at all.
    const want = scheme === 'plugin' || scheme === 'paced' ? 0 : cameras;
    const first = [...win[0].children.keys()];
    if (first.length !== want || win.some((s) => s.children.size !== want || first.some((pid) => !s.children.has(pid)))) {
      problems.push(`expected the same ${want} ffmpeg process(es) through the window`);
    }
    if (win.some((s) => !s.node)) {
      problems.push('the worker vanished during the window');
    }
    const restarts = report.report.reduce((n, r) => n + Math.max(0, (r.starts ?? 1) - 1) + (r.exits ?? 0), 0);
    if (restarts) {
      problems.push(`${restarts} restart(s)/exit(s) of a camera's read`);
    }
    const childCpu = first.reduce((n, pid) => n + cpuPct(win, (s) => s.children.get(pid)), 0);
    const childRss = win.map((s) => [...s.children.values()].reduce((n, p) => n + p.rssBytes, 0));
    const childUss = win.map((s) => [...s.children.values()].reduce((n, p) => n + (p.ussBytes ?? NaN), 0));
    const nodeRss = win.map((s) => s.node?.rssBytes ?? NaN);
    const baseRss = mean(base.map((s) => s.node?.rssBytes ?? NaN));
    const baseCpu = markPct(baseFrom, baseTo);
    const nodeCpu = markPct(from, to);
    // Per camera = ((node CPU - idle node CPU) + ffmpeg CPU) / N; memory = (ffmpeg RSS + node RSS - idle RSS) / N.
    const perCameraRss = win.map((_s, i) => (childRss[i] + nodeRss[i] - baseRss) / cameras);
    return {
      scheme, cameras, round: roundNo, warmupS, windowS, loadAverage, valid: problems.length === 0, problems,
      perCamera: {
        cpuPct: round((nodeCpu - baseCpu + childCpu) / cameras, 3),
        rssMeanMB: round(mean(perCameraRss) / MB, 1),
        rssMaxMB: round(Math.max(...perCameraRss) / MB, 1),
        privateMeanMB: round(mean(win.map((_s, i) => (childUss[i] + nodeRss[i] - baseRss) / cameras)) / MB, 1),
      },
      node: {
        baselineCpuPct: round(baseCpu, 3), cpuPct: round(nodeCpu, 3),
        systemCpuPct: round(((to.systemUs - from.systemUs) / 1000 / (to.atMs - from.atMs)) * 100, 3), baselineRssMB: round(baseRss / MB, 1),
        rssMeanMB: round(mean(nodeRss) / MB, 1), rssMaxMB: round(Math.max(...nodeRss) / MB, 1), memoryMB: to.memoryMB,
      },
      ffmpeg: {
        processes: first.length, cpuPctTotal: round(childCpu, 3),
        rssMeanMBPerProcess: first.length ? round(mean(childRss) / first.length / MB, 1) : 0,
        privateMeanMBPerProcess: first.length ? round(mean(childUss) / first.length / MB, 1) : 0,
      },
      rtspServer: {
        cpuPct: round(cpuPct(win, (s) => s.server)), rssMeanMB: round(mean(win.map((s) => s.server?.rssBytes ?? NaN)) / MB, 1), sessions,
      },
      worker: report,
    };
  } finally {
    await worker.end();
    killLeftovers();
  }
}

/** SIGKILLs any ffmpeg a worker spawned that is still alive (a worker killed before it could stop them). */
function killLeftovers(): void {
  for (const pid of seenFfmpeg) {
    const s = readStat(pid);
    if (s && s.comm === 'ffmpeg' && existsSync(`/proc/${pid}`)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (!s) {
      seenFfmpeg.delete(pid);
    }
  }
}

let deadline = Infinity;

function checkDeadline(): void {
  if (Date.now() > deadline) {
    throw new Error('benchmark exceeded its total time bound');
  }
}

interface Options {
  cases: number[];
  warmupS: number;
  windowS: number;
  rounds: number;
  schemes: Scheme[];
  x264: boolean;
  /** Write a V8 CPU profile of each plugin worker here (node --cpu-prof): the figures then include the profiler. */
  cpuProfDir?: string;
}

function parseArgs(argv: string[]): Options {
  const out: Options = {
    cases: DEFAULT_CASES, warmupS: DEFAULT_WARMUP_S, windowS: DEFAULT_WINDOW_S, rounds: DEFAULT_ROUNDS, schemes: [...DEFAULT_SCHEMES], x264: false,
  };
  const usage = 'usage: node .build/bench/prebuffer.js [--cases 1,8] [--warmup 5] [--window 20] [--rounds 2] ' +
    '[--schemes plugin,paced,ffmpeg,fmp4] [--pace ms] [--x264] [--cpu-prof DIR]';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--x264') {
      out.x264 = true;
      continue;
    }
    const value = argv[++i] ?? '';
    const list = value.split(',');
    if (flag === '--cases' && /^\d+(,\d+)*$/.test(value) && list.every((n) => Number(n) >= 1 && Number(n) <= 16)) {
      out.cases = list.map(Number);
    } else if ((flag === '--warmup' || flag === '--window') && /^\d+$/.test(value) && Number(value) >= 2 && Number(value) <= 120) {
      out[flag === '--warmup' ? 'warmupS' : 'windowS'] = Number(value);
    } else if (flag === '--rounds' && /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 5) {
      out.rounds = Number(value);
    } else if (flag === '--schemes' && list.length && list.every((s) => (COMPARED as string[]).includes(s))) {
      out.schemes = list as Scheme[];
    } else if (flag === '--pace' && /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 2000) {
      process.env[PACE_ENV] = value; // read by the workers, which inherit the environment
    } else if (flag === '--cpu-prof' && value) {
      out.cpuProfDir = path.resolve(value);
    } else {
      throw new Error(`${usage} (got ${flag} ${value})`);
    }
  }
  return out;
}

const fmt = (n: number | undefined, width: number, digits = 2): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '-').padStart(width);

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const command = `npx tsc -p tsconfig.json && nice -n 10 node .build/bench/prebuffer.js${process.argv.slice(2).map((a) => ` ${a}`).join('')}`;
  const runCount = opts.rounds * opts.cases.length * opts.schemes.length + (opts.x264 ? 1 : 0);
  const totalBoundMs = runCount * (RUN_OVERHEAD_BOUND_S + opts.warmupS + opts.windowS) * 1000 + 60_000;
  deadline = Date.now() + totalBoundMs;
  const loadAtStart = os.loadavg();
  let server: MediaServer | undefined;
  const onSignal = (): void => {
    console.error('prebuffer: interrupted, stopping everything');
    void cleanup(server).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const guard = setTimeout(() => {
    console.error(`prebuffer: gave up after ${Math.round(totalBoundMs / 60_000)} min`);
    void cleanup(server).finally(() => process.exit(1));
  }, totalBoundMs + 30_000);
  guard.unref();
  const p = PROFILES.main;
  console.log(`prebuffer cost: hold(${HOLD_MS}) per camera, cameras ${p.width}x${p.height} ${p.fps} fps ${p.bitrateKbps} kbps H.264 ` +
    `+ AAC, GOP ${p.gopFrames / p.fps} s; warm-up ${opts.warmupS} s, window ${opts.windowS} s, ${opts.rounds} round(s); ` +
    `load average ${loadAtStart.map((n) => n.toFixed(2)).join(' ')}`);
  const runs: RunResult[] = [];
  try {
    const maxCameras = Math.max(...opts.cases);
    server = await MediaServer.start({
      paths: Array.from({ length: maxCameras }, (_, i) => ({ path: `/cam${i + 1}/main`, profile: 'main' as const, audio: true })),
    });
    let turn = 0;
    for (let r = 1; r <= opts.rounds; r++) {
      for (const cameras of opts.cases) {
        // Who runs first rotates from case to case: the machine's drift is shared out.
        const order = opts.schemes.map((_s, i) => opts.schemes[(i + turn) % opts.schemes.length]);
        turn++;
        for (const scheme of order) {
          checkDeadline();
          const nodeArgs = opts.cpuProfDir && (scheme === 'plugin' || scheme === 'paced') ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
          const run = await measure(server, scheme, cameras, r, opts.warmupS, opts.windowS, nodeArgs);
          runs.push(run);
          console.log(`  round ${r} ${String(cameras).padStart(2)} camera(s) ${scheme.padEnd(6)}: ${fmt(run.perCamera.cpuPct, 6, 3)} % CPU/camera ` +
            `(node ${run.node.cpuPct} % of which system ${run.node.systemCpuPct} % vs idle ${run.node.baselineCpuPct} %, ffmpeg ${run.ffmpeg.cpuPctTotal} %), ` +
            `RSS +${run.perCamera.rssMeanMB} MB/camera (max ${run.perCamera.rssMaxMB}, private ${run.perCamera.privateMeanMB}), ` +
            `load ${run.loadAverage.join(' ')}${run.valid ? '' : ` INVALID: ${run.problems.join('; ')}`}`);
        }
      }
    }
    if (opts.x264) {
      checkDeadline();
      const run = await measure(server, 'x264', 1, 1, X264_WARMUP_S, X264_WINDOW_S, []);
      runs.push(run);
      console.log(`  1 camera x264: ${fmt(run.perCamera.cpuPct, 6)} % CPU, RSS ${run.perCamera.rssMeanMB} MB` +
        `${run.valid ? '' : ` INVALID: ${run.problems.join('; ')}`}`);
    }
  } finally {
    await cleanup(server);
    clearTimeout(guard);
  }

  // Per case and scheme: the mean over the rounds, and each round's figure.
  const summary = (cameras: number, scheme: Scheme): { cpuPct: number; rssMeanMB: number; rssMaxMB: number; privateMeanMB: number; rounds: PerCamera[] } | undefined => {
    const rs = runs.filter((r) => r.cameras === cameras && r.scheme === scheme);
    if (!rs.length) {
      return undefined;
    }
    const m = (pick: (c: PerCamera) => number, digits: number): number => round(mean(rs.map((r) => pick(r.perCamera))), digits);
    return {
      cpuPct: m((c) => c.cpuPct, 3), rssMeanMB: m((c) => c.rssMeanMB, 1), rssMaxMB: round(Math.max(...rs.map((r) => r.perCamera.rssMaxMB)), 1),
      privateMeanMB: m((c) => c.privateMeanMB, 1), rounds: rs.map((r) => r.perCamera),
    };
  };
  const rows = opts.cases.map((cameras) => {
    const plugin = summary(cameras, 'plugin');
    const paced = summary(cameras, 'paced');
    const ffmpeg = summary(cameras, 'ffmpeg');
    const fmp4 = summary(cameras, 'fmp4');
    const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? round(a / b) : undefined);
    const pluginRuns = runs.filter((r) => r.cameras === cameras && r.scheme === 'plugin');
    const valid = pluginRuns.every((r) => r.valid);
    return {
      cameras, plugin, paced, ffmpeg, fmp4,
      ratioPluginOverFfmpeg: { cpu: ratio(plugin?.cpuPct, ffmpeg?.cpuPct), rss: ratio(plugin?.rssMeanMB, ffmpeg?.rssMeanMB) },
      ratioPluginOverFmp4: { cpu: ratio(plugin?.cpuPct, fmp4?.cpuPct), rss: ratio(plugin?.rssMeanMB, fmp4?.rssMeanMB) },
      ratioPacedOverFfmpeg: { cpu: ratio(paced?.cpuPct, ffmpeg?.cpuPct), rss: ratio(paced?.rssMeanMB, ffmpeg?.rssMeanMB) },
      target: plugin ? { cpu: valid && plugin.cpuPct <= TARGET_CPU_PCT, rss: valid && plugin.rssMeanMB <= TARGET_RSS_MB } : undefined,
    };
  });
  console.log('');
  console.log(`per camera, mean of ${opts.rounds} round(s) [each round]: CPU % of one core | RSS MB added, mean (max)`);
  console.log('cameras | scheme | CPU %/camera          | RSS MB/camera       | private MB/camera');
  for (const r of rows) {
    for (const scheme of opts.schemes) {
      const s = r[scheme as 'plugin' | 'paced' | 'ffmpeg' | 'fmp4'];
      if (s) {
        console.log(`${String(r.cameras).padStart(7)} | ${scheme.padEnd(6)} | ${fmt(s.cpuPct, 6, 3)} [${s.rounds.map((c) => c.cpuPct.toFixed(3)).join(' ')}]`.padEnd(40) +
          ` | ${fmt(s.rssMeanMB, 6, 1)} (${fmt(s.rssMaxMB, 5, 1)})`.padEnd(22) + ` | ${fmt(s.privateMeanMB, 6, 1)}`);
      }
    }
    console.log(`${String(r.cameras).padStart(7)} | plugin/ffmpeg CPU ${fmt(r.ratioPluginOverFfmpeg.cpu, 5)}, RSS ${fmt(r.ratioPluginOverFfmpeg.rss, 5)}; ` +
      `plugin/fmp4 CPU ${fmt(r.ratioPluginOverFmp4.cpu, 5)}, RSS ${fmt(r.ratioPluginOverFmp4.rss, 5)}` +
      (r.ratioPacedOverFfmpeg.cpu !== undefined ? `; paced/ffmpeg CPU ${fmt(r.ratioPacedOverFfmpeg.cpu, 5)}, RSS ${fmt(r.ratioPacedOverFfmpeg.rss, 5)}` : '') +
      (r.target ? `; target (<= ${TARGET_CPU_PCT} %, <= ${TARGET_RSS_MB} MB): CPU ${r.target.cpu ? 'met' : 'NOT met'}, RSS ${r.target.rss ? 'met' : 'NOT met'}` : ''));
  }
  const x264 = runs.find((r) => r.scheme === 'x264');
  if (x264) {
    console.log(`context: one transcoding recording (libx264 veryfast 1080p15 2 Mbps), 1 camera: ${x264.perCamera.cpuPct} % of one core, ` +
      `${x264.perCamera.rssMeanMB} MB RSS`);
  }
  const allValid = runs.every((r) => r.valid);
  if (!allValid) {
    console.log('some runs are INVALID, see above');
  }
  const loadAtEnd = os.loadavg();
  console.log(`load average at start ${loadAtStart.map((n) => n.toFixed(2)).join(' ')}, at end ${loadAtEnd.map((n) => n.toFixed(2)).join(' ')}`);
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({
    benchmark: 'prebuffer', command, date: new Date().toISOString(), node: process.version, platform: `${os.platform()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, ffmpeg: ffmpegVersion(),
    loadAverage: { start: loadAtStart.map((n) => round(n)), end: loadAtEnd.map((n) => round(n)) },
    camera: { ...PROFILES.main, audio: 'AAC-LC 16 kHz mono', server: 'tools/camera-sim/media (GStreamer gst-rtsp-server), RTSP over TCP' },
    holdMs: HOLD_MS, rounds: opts.rounds, cpuProfiled: opts.cpuProfDir !== undefined,
    method: 'each scheme in a fresh Node worker holding only the sources; idle worker measured first (baseline); the ' +
      'worker\'s CPU from its process.cpuUsage() at the start and end of the baseline and of the window, every ffmpeg ' +
      'child\'s from /proc utime+stime; VmRSS of the worker and of every ffmpeg child (by ppid) sampled each second over ' +
      'the window after the warm-up; per camera = ((node CPU - idle node CPU) + ffmpeg CPU) / N and (ffmpeg RSS + node ' +
      'RSS - idle node RSS) / N; the RTSP server is reported separately and not counted; "private" puts ffmpeg\'s private ' +
      'pages (smaps_rollup) in place of its RSS',
    schemes: {
      plugin: `src/media/source.ts MediaSource per camera, default options (read in the plugin), audio 'copy', hold(${HOLD_MS})`,
      paced: `the same with holdPaceMs ${pacedMs()} instead of the default`,
      ffmpeg: `the same with readInPlugin: false (ffmpeg '${FFMPEG}' copying to MPEG-TS on a pipe)`,
      fmp4: 'one ffmpeg per camera: RTSP (tcp) -map 0:v:0 -map 0:a:0? -c copy -f mp4 -movflags frag_keyframe+empty_moov+default_base_moof ' +
        `pipe:1; boxes split in Node (one copy per box), ftyp+moov kept, later boxes kept while younger than ${HOLD_MS} ms`,
      x264: 'context: one ffmpeg, RTSP -> libx264 veryfast main 4.0, 15 fps, 2000k (maxrate 2000k, bufsize 4000k), GOP 60, no B-frames, ' +
        'no audio -> fragmented MP4 on a pipe, counted and dropped in Node',
    },
    targets: { pluginCpuPctPerCamera: TARGET_CPU_PCT, pluginRssMBPerCamera: TARGET_RSS_MB },
    allRunsValid: allValid, table: rows, runs,
  }, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, RESULTS)}`);
  console.log(`command: ${command}`);
}

function ffmpegVersion(): string {
  try {
    return execFileSync(FFMPEG, ['-version'], { timeout: 5_000, encoding: 'utf8' }).split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function cleanup(server: MediaServer | undefined): Promise<void> {
  await Promise.all([...workers].map((w) => w.end()));
  killLeftovers();
  await server?.stop();
}

if (process.argv[2] === '--worker') {
  const scheme = process.argv[3] as Scheme;
  if (!SCHEMES.includes(scheme)) {
    throw new Error(`prebuffer worker: unknown scheme ${scheme}`);
  }
  void runWorker(scheme, process.argv.slice(4));
} else {
  main().catch((err: unknown) => {
    console.error(`prebuffer: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
