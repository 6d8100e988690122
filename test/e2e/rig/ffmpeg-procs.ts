// The ffmpeg processes a Homebridge runs, and a bounded wait for some to be gone: how the media e2e tests prove that
// no ffmpeg outlives its stream.
import type { HomebridgeProcess } from './homebridge';
import { describeProcess, descendantsOf, isStillRunning, ProcessInfo } from './procfs';
import { pollUntil } from './wait';

/** ffmpeg processes Homebridge runs right now (its whole process tree). */
export function ffmpegsOf(hb: HomebridgeProcess): ProcessInfo[] {
  const pid = hb.pid;
  return pid === undefined ? [] : descendantsOf(pid).filter((p) => /ffmpeg/i.test(p.comm) || /(^|\/)ffmpeg(\s|$)/.test(p.cmdline));
}

/** Until every one of `procs` has exited (bounded); the error names those still running. */
export async function untilGone(procs: ProcessInfo[], timeoutMs: number, what: string): Promise<void> {
  await pollUntil(async () => (procs.some(isStillRunning) ? undefined : true), { timeoutMs, intervalMs: 100, what })
    .catch((err: Error) => {
      throw new Error(`${err.message}; still running: ${procs.filter(isStillRunning).map(describeProcess).join('; ')}`);
    });
}
