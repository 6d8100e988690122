import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { FFMPEG_QUIT_GRACE_MS, FFMPEG_STDERR_LINES, FFMPEG_TERM_GRACE_MS } from '../settings';
import type { Log } from '../util/log';
import { redact } from '../util/redact';

export type FfmpegLog = Pick<Log, 'debug' | 'error'>;

/** SRTP session keys are secrets too: the argument after these options is never logged. */
const KEY_OPTIONS = new Set(['-srtp_out_params', '-srtp_in_params']);

function maskKeys(args: string[]): string[] {
  return args.map((a, i) => (i > 0 && KEY_OPTIONS.has(args[i - 1]) ? '***' : a));
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** We asked it to stop (a normal end), as opposed to ffmpeg ending by itself. */
  stopped: boolean;
  /** The last stderr lines, credentials redacted: what to show when it failed. */
  tail: string[];
}

/**
 * One ffmpeg process: spawned from an argument array (never a shell), stderr kept in a small ring and sent to the debug log,
 * stopped with `q`, then SIGTERM, then SIGKILL, so it never outlives its stream. Emits 'exit' (FfmpegExit) once and 'line'
 * (string, redacted) per stderr line, for callers that read what ffmpeg found in its input.
 */
export class FfmpegProcess extends EventEmitter {
  readonly process: ChildProcess;
  private readonly tail: string[] = [];
  private partial = '';
  private stopRequested = false;
  private exitInfo?: FfmpegExit;
  private readonly exited: Promise<FfmpegExit>;
  private timers: NodeJS.Timeout[] = [];

  constructor(binary: string, args: string[], private readonly log: FfmpegLog, private readonly label: string, signal?: AbortSignal) {
    super();
    this.log.debug(`${label}: ffmpeg ${redact(maskKeys(args).join(' '))}`);
    this.process = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, sig: NodeJS.Signals | null): void => {
        if (this.exitInfo) {
          return;
        }
        this.timers.forEach(clearTimeout);
        this.flushPartial();
        this.exitInfo = { code, signal: sig, stopped: this.stopRequested, tail: [...this.tail] };
        if (!this.stopRequested && code !== 0) {
          this.log.error(`${label}: ffmpeg ended with ${sig ?? `code ${code}`}: ${this.tail.slice(-3).join(' | ') || 'no output'}`);
        }
        this.emit('exit', this.exitInfo);
        resolve(this.exitInfo);
      };
      this.process.on('exit', done);
      this.process.on('error', (err: NodeJS.ErrnoException) => {
        this.remember(`cannot run ${binary}: ${err.code ?? err.message}`);
        done(null, null);
      });
    });
    // A broken pipe to a dying ffmpeg is expected, never fatal.
    this.process.stdin?.on('error', () => undefined);
    this.process.stdout?.on('error', () => undefined);
    this.process.stderr?.on('data', (chunk: Buffer) => this.onStderr(chunk));
    if (signal) {
      if (signal.aborted) {
        void this.stop();
      } else {
        signal.addEventListener('abort', () => void this.stop(), { once: true });
      }
    }
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Resolves when the process has exited, however it ended. */
  wait(): Promise<FfmpegExit> {
    return this.exited;
  }

  /** `q` lets ffmpeg close its outputs cleanly; SIGTERM and SIGKILL follow if it does not go. */
  stop(): Promise<FfmpegExit> {
    if (this.exitInfo || this.stopRequested) {
      return this.exited;
    }
    this.stopRequested = true;
    if (this.process.stdin?.writable) {
      this.process.stdin.end('q');
    }
    this.timers.push(setTimeout(() => this.process.kill('SIGTERM'), FFMPEG_QUIT_GRACE_MS));
    this.timers.push(setTimeout(() => this.process.kill('SIGKILL'), FFMPEG_QUIT_GRACE_MS + FFMPEG_TERM_GRACE_MS));
    return this.exited;
  }

  private onStderr(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split(/\r?\n|\r/);
    this.partial = lines.pop() ?? '';
    lines.forEach((l) => this.remember(l));
  }

  private flushPartial(): void {
    if (this.partial) {
      this.remember(this.partial);
      this.partial = '';
    }
  }

  private remember(line: string): void {
    const clean = redact(line.trim());
    if (!clean) {
      return;
    }
    this.log.debug(`${this.label}: ${clean}`);
    this.emit('line', clean);
    this.tail.push(clean);
    if (this.tail.length > FFMPEG_STDERR_LINES) {
      this.tail.shift();
    }
  }
}
