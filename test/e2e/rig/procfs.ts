// Process table reads from /proc (Linux only): used to prove that a stopped Homebridge left no ffmpeg or other child
// process behind, and to kill exactly those leftovers (never anything matched by name).
import { execFileSync } from 'node:child_process';
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

/** CPU times in /proc are in these per second (USER_HZ): asked once, 100 on every Linux we know of. */
export const CLOCK_TICKS_PER_S = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The fields of /proc/<pid>/stat the rig and the benchmarks read; CPU times in clock ticks. */
export interface ProcessStat {
  ppid: number;
  comm: string;
  /** R, S, D, Z, X, ...: Z and X are dead processes not yet reaped. */
  state: string;
  startTime: number;
  /** utime + stime: the CPU the process itself used. */
  ticks: number;
  /** cutime + cstime: the CPU of children it has reaped. */
  reapedTicks: number;
}

/** One read of /proc/<pid>/stat; undefined when the process is gone. */
export function readStat(pid: number): ProcessStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // comm is in parentheses and may itself contain spaces or ')': the fields after the LAST ')' are fixed (proc(5);
  // rest[0] is field 3).
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const rest = stat.slice(close + 2).split(' ');
  return {
    ppid: Number(rest[1]),
    comm: stat.slice(open + 1, close),
    state: rest[0],
    startTime: Number(rest[19]),
    ticks: Number(rest[11]) + Number(rest[12]),
    reapedTicks: Number(rest[13]) + Number(rest[14]),
  };
}

function readProcess(pid: number): ProcessInfo | undefined {
  const stat = readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') {
    return undefined; // gone, or a zombie: already dead, its parent just has not reaped it
  }
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // exited meanwhile: keep the stat data
  }
  return { pid, ppid: stat.ppid, startTime: stat.startTime, comm: stat.comm, cmdline };
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
