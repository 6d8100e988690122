import { spawn } from 'node:child_process';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  /** The tail of stderr only: enough to explain a failure without holding a chatty log. */
  stderr: string;
}

const STDERR_TAIL_CHARS = 4000;
const KILL_GRACE_MS = 2000;

/**
 * Runs a command (argument array, no shell) to completion; kills it when it outlives timeoutMs.
 * Rejects only when the command cannot be started (e.g. ENOENT); a non-zero exit is a result.
 */
export function runProcess(command: string, args: string[], timeoutMs: number, maxStdoutBytes = 64 * 1024 * 1024): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let timedOut = false;
    let hardKill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      hardKill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdoutBytes) {
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      const note = timedOut ? `\n(killed after ${timeoutMs} ms)` : '';
      resolve({ code, signal, stdout: Buffer.concat(chunks), stderr: stderr + note });
    });
  });
}
