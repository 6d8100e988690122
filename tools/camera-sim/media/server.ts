import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir, ensureClips, ensureProfile } from './clips';
import { aptInstallHint } from './debian-packages';
import { AUDIO, GopOption, PROFILES, withGop } from './profiles';
import { repoRoot } from './repo-root';
import { runProcess } from './run-process';

/** Debian's python: python3-gi is installed for it, not for a pyenv python3 that may come first on PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface MediaPath {
  /** Mount point, e.g. "/cam3/main". */
  path: string;
  profile: 'main' | 'sub';
  audio: boolean;
  /** This path's keyframe interval (s) or the variable pattern; default the profile's own (4 s). */
  gop?: GopOption;
}

/** What the simulator sent on one path: each video frame's clip index (drawn into the picture) and send time (ms). */
export interface SentFrames {
  index: number[];
  sentAt: number[];
}

export interface MediaServerOptions {
  /** Loopback only; default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  cacheDir?: string;
  paths: MediaPath[];
}

export interface MediaStats {
  /** RTSP client sessions open per path (every registered path, 0 included). */
  sessions: Record<string, number>;
  /** Running pipelines per path: 1 while any client reads it, 0 when idle. */
  media: Record<string, number>;
}

const READY_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 20_000;
const QUERY_TIMEOUT_MS = 5_000;
const TERM_GRACE_MS = 3_000;
const KILL_WAIT_MS = 2_000;
const STDERR_TAIL_CHARS = 4000;
/** How long the server keeps a UDP session whose client vanished without TEARDOWN or keep-alive. */
const SESSION_TIMEOUT_S = 10;

let probed: Promise<void> | undefined;

/**
 * Fails with the exact apt-get command when Debian's python cannot load GStreamer's RTSP server or an
 * element the server uses is missing. Probed once per process.
 */
export function checkSystemDeps(python: string = SYSTEM_PYTHON): Promise<void> {
  if (python === SYSTEM_PYTHON && probed) {
    return probed;
  }
  const run = (async (): Promise<void> => {
    const script = join(repoRoot(), 'tools', 'camera-sim', 'media', 'rtsp_server.py');
    let detail: string;
    try {
      const r = await runProcess(python, [script, '--check'], PROBE_TIMEOUT_MS);
      const out = r.stdout.toString('utf8').trim();
      if (r.code === 0 && out === 'OK') {
        return;
      }
      detail = out.startsWith('MISSING') ? `missing GStreamer elements: ${out.slice('MISSING'.length).trim()}`
        : lastLine(r.stderr) || `exit ${r.code ?? r.signal}`;
    } catch (err) {
      detail = `${python}: ${(err as Error).message}`;
    }
    throw new Error(`camera-sim media: GStreamer's RTSP server is not usable (${detail}); run: ${aptInstallHint()}`);
  })();
  if (python === SYSTEM_PYTHON) {
    probed = run;
    run.catch(() => {
      probed = undefined; // let a later call re-probe, e.g. after installing
    });
  }
  return run;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function validatePaths(paths: MediaPath[]): void {
  const seen = new Set<string>();
  for (const p of paths) {
    if (!/^\/[A-Za-z0-9._~\-/]+$/.test(p.path)) {
      throw new Error(`camera-sim media: bad RTSP path ${JSON.stringify(p.path)} (want /letters/digits/._-~)`);
    }
    if (seen.has(p.path)) {
      throw new Error(`camera-sim media: RTSP path ${p.path} given twice`);
    }
    if (!(p.profile in PROFILES)) {
      throw new Error(`camera-sim media: unknown profile ${JSON.stringify(p.profile)} for ${p.path}`);
    }
    seen.add(p.path);
  }
}

interface PendingQuery {
  resolve: (line: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The simulated cameras' RTSP server: one Debian-python child running gst-rtsp-server for every path.
 * See index.ts for the design and its cost.
 */
export class MediaServer {
  private readonly pending: PendingQuery[] = [];
  private stdoutRest = '';
  private stderrTail = '';
  private exited = false;
  private stopping: Promise<void> | undefined;
  private readonly exitPromise: Promise<void>;
  private onReady: ((port: number) => void) | undefined;
  private port_ = 0;
  private spawnError: Error | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly host: string,
    private readonly snapshots: Record<'main' | 'sub', Buffer>,
  ) {
    this.exitPromise = new Promise((resolve) => {
      const onGone = (why: string): void => {
        this.exited = true;
        this.failPending(new Error(`camera-sim media: RTSP server ${why}`));
        resolve();
      };
      child.on('exit', () => onGone(`exited: ${lastLine(this.stderrTail)}`));
      child.on('error', (err) => {
        this.spawnError = err;
        if (child.pid === undefined) {
          onGone(`could not start: ${err.message}`); // never ran, so no 'exit' will follow
        }
      });
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    // A write to a child that just died raises EPIPE here; the exit handler reports it.
    child.stdin.on('error', () => undefined);
  }

  static async start(opts: MediaServerOptions): Promise<MediaServer> {
    const host = opts.host ?? '127.0.0.1';
    if (!isLoopback(host)) {
      throw new Error(`camera-sim media: host must be a loopback address, got ${host}`);
    }
    validatePaths(opts.paths);
    await checkSystemDeps();
    const clips = await ensureClips(opts.cacheDir ?? defaultCacheDir());
    const clipFiles: Record<string, { file: string; fps: number; audioRate: number }> = {
      main: { file: clips.main, fps: PROFILES.main.fps, audioRate: AUDIO.sampleRate },
      sub: { file: clips.sub, fps: PROFILES.sub.fps, audioRate: AUDIO.sampleRate },
    };
    // A path with its own GOP plays its own clip (encoded once per GOP and cached, like the others).
    const clipKey = (p: MediaPath): string => (p.gop === undefined ? p.profile : `${p.profile}-gop${p.gop}`);
    for (const p of opts.paths) {
      const key = clipKey(p);
      if (!clipFiles[key] && p.gop !== undefined) {
        const profile = withGop(PROFILES[p.profile], p.gop);
        clipFiles[key] = { file: (await ensureProfile(opts.cacheDir ?? defaultCacheDir(), profile)).clip, fps: profile.fps, audioRate: AUDIO.sampleRate };
      }
    }
    const config = {
      host,
      port: opts.port ?? 0,
      sessionTimeout: SESSION_TIMEOUT_S,
      clips: clipFiles,
      paths: opts.paths.map((p) => ({ path: p.path, profile: clipKey(p), audio: p.audio })),
    };
    const script = join(repoRoot(), 'tools', 'camera-sim', 'media', 'rtsp_server.py');
    const snapshots = { main: readFileSync(clips.mainJpeg), sub: readFileSync(clips.subJpeg) };
    const child = spawn(SYSTEM_PYTHON, [script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    // The constructor attaches every listener ('error' included) synchronously, before any event can fire.
    const server = new MediaServer(child, host, snapshots);
    try {
      await server.waitReady();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get port(): number {
    return this.port_;
  }

  /** The child's pid (tests check it is gone after stop()). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  url(path: string): string {
    return `rtsp://${this.host}:${this.port_}${path}`;
  }

  /** A real JPEG frame of that profile's clip, at the profile's size. */
  snapshot(profile: 'main' | 'sub'): Buffer {
    return this.snapshots[profile];
  }

  async sessions(): Promise<Record<string, number>> {
    return (await this.stats()).sessions;
  }

  /** Every video frame sent on `path` lately (the last few minutes), with its send time: the capture time of record. */
  async frames(path: string): Promise<SentFrames> {
    const answer = JSON.parse(await this.query(`frames ${path}`)) as SentFrames & { error?: string };
    if (answer.error) {
      throw new Error(`camera-sim media: ${answer.error} ${path}`);
    }
    return answer;
  }

  /** The camera drops its readers of `path`: every RTSP connection with a session on it is closed. Resolves with how many. */
  async cut(path: string): Promise<number> {
    return (JSON.parse(await this.query(`cut ${path}`)) as { cut: number }).cut;
  }

  async stats(): Promise<MediaStats> {
    const line = await this.query('stats');
    return JSON.parse(line) as MediaStats;
  }

  /** Ends the child (stdin EOF, then SIGTERM, then SIGKILL), each step bounded. Idempotent. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = this.terminate();
    }
    return this.stopping;
  }

  private async terminate(): Promise<void> {
    this.onReady = undefined;
    if (!this.exited) {
      this.child.stdin.end();
      this.child.kill('SIGTERM');
      if (!(await this.waitExit(TERM_GRACE_MS))) {
        this.child.kill('SIGKILL');
        await this.waitExit(KILL_WAIT_MS);
      }
    }
    this.failPending(new Error('camera-sim media: server stopped'));
  }

  private async waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const done = await Promise.race([this.exitPromise.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }

  private waitReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish(new Error(`camera-sim media: RTSP server not ready after ${READY_TIMEOUT_MS} ms: ${lastLine(this.stderrTail)}`));
      }, READY_TIMEOUT_MS);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.onReady = undefined;
        if (err) {
          reject(err);
        } else {
          resolve();
        }
      };
      this.onReady = (port) => {
        this.port_ = port;
        finish();
      };
      void this.exitPromise.then(() => {
        const why = this.spawnError ? `cannot run ${SYSTEM_PYTHON}: ${this.spawnError.message}` : this.stderrTail.trim();
        finish(new Error(`camera-sim media: RTSP server failed to start: ${why}`));
      });
    });
  }

  private onStdout(chunk: string): void {
    this.stdoutRest += chunk;
    let newline = this.stdoutRest.indexOf('\n');
    while (newline >= 0) {
      const line = this.stdoutRest.slice(0, newline).trim();
      this.stdoutRest = this.stdoutRest.slice(newline + 1);
      this.onLine(line);
      newline = this.stdoutRest.indexOf('\n');
    }
  }

  private onLine(line: string): void {
    const ready = /^READY (\d+)$/.exec(line);
    if (ready) {
      this.onReady?.(Number(ready[1]));
      return;
    }
    // Answers come back in request order: the child handles stdin lines one by one.
    const query = this.pending.shift();
    if (query) {
      clearTimeout(query.timer);
      query.resolve(line);
    }
  }

  private query(command: string): Promise<string> {
    if (this.exited || this.stopping) {
      return Promise.reject(new Error('camera-sim media: server is not running'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // Its answer would arrive out of order now, so the connection to the child is unusable.
        this.failPending(new Error(`camera-sim media: no answer to "${command}" in ${QUERY_TIMEOUT_MS} ms`));
        void this.stop();
      }, QUERY_TIMEOUT_MS);
      this.pending.push({ resolve, reject, timer });
      this.child.stdin.write(`${command}\n`);
    });
  }

  private failPending(err: Error): void {
    for (const q of this.pending.splice(0)) {
      clearTimeout(q.timer);
      q.reject(err);
    }
  }
}
