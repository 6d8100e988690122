// A child process's output as complete lines: kept in memory (bounded) for assertions, mirrored to a file for
// post-mortem, with waiters that resolve when a pattern shows up. Patterns are matched line by line (log lines are the
// unit of meaning, and it keeps waiting linear in the amount of output).
import { appendFileSync } from 'node:fs';

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
/** Beyond this many characters the oldest half is dropped (offsets stay absolute). */
const MAX_CHARS = 8 * 1024 * 1024;

interface Waiter {
  pattern: RegExp;
  resolve(match: RegExpExecArray): void;
}

export class LogBuffer {
  private text = '';
  /** Absolute offset of text[0]: grows when old output is dropped. */
  private base = 0;
  private readonly partial = new Map<string, string>();
  private waiters: Waiter[] = [];

  constructor(private readonly file: string) {}

  /** Feed raw output of one stream (stdout/stderr are kept apart so half-lines never interleave). */
  push(stream: string, chunk: Buffer | string): void {
    const data = (this.partial.get(stream) ?? '') + chunk.toString();
    const lines = data.split('\n');
    this.partial.set(stream, lines.pop() ?? '');
    for (const line of lines) {
      this.appendLine(line);
    }
  }

  /** Flush unterminated output (the process exited). */
  flush(): void {
    for (const [stream, rest] of this.partial) {
      if (rest) {
        this.appendLine(rest);
      }
      this.partial.set(stream, '');
    }
  }

  /** A line written by the rig itself (start/stop markers), clearly labelled as such. */
  note(message: string): void {
    this.appendLine(`=== rig: ${message}`);
  }

  appendLine(rawLine: string): void {
    const line = rawLine.replace(ANSI, '').replace(/\r$/, '');
    this.text += `${line}\n`;
    try {
      appendFileSync(this.file, `${line}\n`);
    } catch {
      // the storage dir may already be gone during teardown; memory still has it
    }
    if (this.text.length > MAX_CHARS) {
      const drop = this.text.length - MAX_CHARS / 2;
      this.text = this.text.slice(drop);
      this.base += drop;
    }
    this.checkWaiters(line);
  }

  /** Position to pass as `since` to only look at output written after now. */
  mark(): number {
    return this.base + this.text.length;
  }

  /** Everything kept, or only what was written after `since`. */
  textSince(since = 0): string {
    return this.text.slice(Math.max(0, since - this.base));
  }

  lines(since = 0): string[] {
    return this.textSince(since).split('\n').filter((line) => line.length > 0);
  }

  tail(count = 40): string {
    return this.lines().slice(-count).join('\n');
  }

  /** First line at/after `since` matching pattern. */
  find(pattern: RegExp, since = 0): RegExpExecArray | null {
    const re = nonGlobal(pattern);
    for (const line of this.lines(since)) {
      const match = re.exec(line);
      if (match) {
        return match;
      }
    }
    return null;
  }

  /** All lines at/after `since` matching pattern. */
  matchingLines(pattern: RegExp, since = 0): string[] {
    const re = nonGlobal(pattern);
    return this.lines(since).filter((line) => re.test(line));
  }

  /** Resolves on the first match at/after `since`; the caller bounds the wait and calls cancel() on give-up. */
  whenFound(pattern: RegExp, since: number): { promise: Promise<RegExpExecArray>; cancel(): void } {
    let waiter: Waiter | undefined;
    const promise = new Promise<RegExpExecArray>((resolve) => {
      const existing = this.find(pattern, since);
      if (existing) {
        resolve(existing);
        return;
      }
      waiter = { pattern: nonGlobal(pattern), resolve };
      this.waiters.push(waiter);
    });
    return {
      promise,
      cancel: () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
      },
    };
  }

  private checkWaiters(newLine: string): void {
    for (const waiter of [...this.waiters]) {
      const match = waiter.pattern.exec(newLine);
      if (match) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(match);
      }
    }
  }
}

/** A 'g' or 'y' regex keeps lastIndex between exec calls, which would make repeated searches skip matches. */
function nonGlobal(pattern: RegExp): RegExp {
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
}
