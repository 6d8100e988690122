// Process table reads from /proc (Linux only): used to prove that a stopped Homebridge left no ffmpeg or other child
// process behind, and to kill exactly those leftovers (never anything matched by name).
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: together with pid it identifies a process even if the pid is reused. */
  startTime: number;
  /** Kernel command name (max 15 chars; homebridge sets it via process.title). */
  comm: string;
  /** Full command line, arguments joined by spaces ('' for zombies and kernel threads). */
  cmdline: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // comm is in parentheses and may itself contain spaces or ')': the fields after the LAST ')' are fixed.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const rest = stat.slice(close + 2).split(' ');
  const state = rest[0];
  if (state === 'Z' || state === 'X') {
    return undefined; // a zombie is already dead; its parent just has not reaped it
  }
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // exited meanwhile: keep the stat data
  }
  return {
    pid,
    ppid: Number(rest[1]),
    startTime: Number(rest[19]),
    comm: stat.slice(open + 1, close),
    cmdline,
  };
}

export function listProcesses(): ProcessInfo[] {
  const result: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    const info = readProcess(Number(entry));
    if (info) {
      result.push(info);
    }
  }
  return result;
}

/** All live descendants (children, grandchildren, ...) of rootPid. */
export function descendantsOf(rootPid: number): ProcessInfo[] {
  const all = listProcesses();
  const byParent = new Map<number, ProcessInfo[]>();
  for (const proc of all) {
    const siblings = byParent.get(proc.ppid) ?? [];
    siblings.push(proc);
    byParent.set(proc.ppid, siblings);
  }
  const found: ProcessInfo[] = [];
  const queue = [rootPid];
  const seen = new Set<number>(queue);
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const child of byParent.get(parent) ?? []) {
      if (!seen.has(child.pid)) {
        seen.add(child.pid);
        found.push(child);
        queue.push(child.pid);
      }
    }
  }
  return found;
}

/**
 * Live processes whose environment contains `name=value`. Children inherit the environment, so this finds everything
 * a tagged process spawned even after it was re-parented to init (e.g. an ffmpeg orphaned by a killed Homebridge).
 */
export function processesWithEnv(name: string, value: string): ProcessInfo[] {
  const needle = `${name}=${value}`;
  return listProcesses().filter((proc) => {
    if (proc.pid === process.pid) {
      return false;
    }
    try {
      return readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0').includes(needle);
    } catch {
      return false; // exited, or not ours to read
    }
  });
}

/** True when the very same process (pid AND start time) is still alive. */
export function isStillRunning(proc: ProcessInfo): boolean {
  const now = readProcess(proc.pid);
  return now !== undefined && now.startTime === proc.startTime;
}

/** SIGKILL the given processes if they are still the same processes; returns those that were killed. */
export function killLeftovers(procs: ProcessInfo[]): ProcessInfo[] {
  const killed: ProcessInfo[] = [];
  for (const proc of procs) {
    if (!isStillRunning(proc)) {
      continue;
    }
    try {
      process.kill(proc.pid, 'SIGKILL');
      killed.push(proc);
    } catch {
      // exited between the check and the kill
    }
  }
  return killed;
}

/** pid + command line for messages, with URL credentials masked (ffmpeg gets rtsp://user:password@host URLs). */
export function describeProcess(proc: ProcessInfo): string {
  const command = (proc.cmdline || proc.comm).replace(/(\/\/[^:/@\s]+):[^@\s]*@/g, '$1:***@');
  return `${proc.pid} ${command}`;
}
