// What the soak and the leak runs read about the Homebridge process tree (Linux /proc): resident memory, open file
// descriptors, CPU time and the ffmpeg processes in it, and a seeded PRNG so a run can be repeated exactly.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { descendantsOf, ProcessInfo } from '../test/e2e/rig';

/** USER_HZ: what /proc counts CPU time in (100 on every Linux we know of). */
const CLOCK_TICKS_PER_S = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat { ppid: number; startTime: number; ticks: number; reapedTicks: number }

/** /proc/<pid>/stat: parent, start time, own CPU ticks and reaped children's ticks; undefined when gone. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' '); // rest[0] is field 3 (state), see proc(5)
  return { ppid: Number(rest[1]), startTime: Number(rest[19]), ticks: Number(rest[11]) + Number(rest[12]),
    reapedTicks: Number(rest[13]) + Number(rest[14]) };
}

/** VmRSS of one process in kB (0 when gone). */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process (0 when gone). */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process by kind: socket, pipe, anon_inode, file (what a leak is made of). */
export function fdKinds(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  let entries: string[] = [];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return kinds;
  }
  for (const fd of entries) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = /^socket:/.test(target) ? 'socket' : /^pipe:/.test(target) ? 'pipe' : /^anon_inode:/.test(target) ? 'anon_inode' : 'file';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

export const isFfmpeg = (p: ProcessInfo): boolean => /ffmpeg/i.test(p.comm) || /(^|\/)ffmpeg(\s|$)/.test(p.cmdline);

export interface TreeSample {
  at: number;
  /** Homebridge's own node process. */
  nodeRssKb: number;
  nodeFds: number;
  /** Homebridge and every process under it (ffmpegs). */
  treeRssKb: number;
  treeFds: number;
  ffmpegs: number;
  processes: number;
}

export function sampleTree(pid: number | undefined): TreeSample {
  const at = Date.now();
  if (pid === undefined) {
    return { at, nodeRssKb: 0, nodeFds: 0, treeRssKb: 0, treeFds: 0, ffmpegs: 0, processes: 0 };
  }
  const kids = descendantsOf(pid);
  const pids = [pid, ...kids.map((k) => k.pid)];
  return {
    at,
    nodeRssKb: rssKb(pid),
    nodeFds: fdCount(pid),
    treeRssKb: pids.reduce((sum, p) => sum + rssKb(p), 0),
    treeFds: pids.reduce((sum, p) => sum + fdCount(p), 0),
    ffmpegs: kids.filter(isFfmpeg).length,
    processes: pids.length,
  };
}

/**
 * CPU seconds used by a process tree, across restarts of its root: call sample() often (every 1-2 s). Each live
 * process counts its own utime+stime growth; a process that ended between samples is counted through its parent's
 * reaped-children time (cutime+cstime), less what was already counted for it while it lived.
 */
export class TreeCpu {
  private ticks = 0;
  private readonly seen = new Map<number, { start: number; ticks: number; ppid: number }>();
  private reaped = new Map<number, number>();

  sample(rootPid: number | undefined): void {
    if (rootPid === undefined) {
      return;
    }
    const now = new Map<number, { start: number; ticks: number; ppid: number }>();
    const reapedNow = new Map<number, number>();
    for (const pid of [rootPid, ...descendantsOf(rootPid).map((p) => p.pid)]) {
      const s = readStat(pid);
      if (s) {
        now.set(pid, { start: s.startTime, ticks: s.ticks, ppid: s.ppid });
        reapedNow.set(pid, s.reapedTicks);
      }
    }
    for (const [pid, cur] of now) {
      const before = this.seen.get(pid);
      this.ticks += before && before.start === cur.start ? cur.ticks - before.ticks : cur.ticks;
      const reapedBefore = before && before.start === cur.start ? this.reaped.get(pid) ?? 0 : 0;
      this.ticks += (reapedNow.get(pid) ?? 0) - reapedBefore;
    }
    for (const [pid, before] of this.seen) {
      const cur = now.get(pid);
      if ((!cur || cur.start !== before.start) && now.has(before.ppid)) {
        this.ticks -= before.ticks; // counted in its parent's reaped time above, in full
      }
    }
    this.seen.clear();
    now.forEach((v, k) => this.seen.set(k, v));
    this.reaped = reapedNow;
  }

  get seconds(): number {
    return Math.max(0, this.ticks) / CLOCK_TICKS_PER_S;
  }
}

/** mulberry32: a small seeded PRNG, so a run's schedule and choices repeat with the same seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
}

export const mb = (kb: number): string => (kb / 1024).toFixed(1);
