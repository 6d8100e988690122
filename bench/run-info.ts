// What a long benchmark (soak, fleet) writes about where it ran: the machine, the code, and the load that other jobs on
// the same cores put on it, so a figure can be read against what else was running.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

/** CPUs, RAM, Node and ffmpeg versions on one line. */
export function machine(): string {
  const cpu = cpus();
  let ffmpeg = '?';
  try {
    ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8', timeout: 5_000 }).split('\n')[0].replace(/ Copyright.*/, '');
  } catch {
    // reported as '?'
  }
  return `${cpu.length} × ${cpu[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM; Node ${process.version}; ${ffmpeg}`;
}

/** HEAD's short hash, and which files in src/ differ from it (the build measured is the working tree's). */
export function gitDescribe(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'src'], { encoding: 'utf8', timeout: 5_000 }).trimEnd();
    return dirty ? `${head} with uncommitted changes in src/ (${dirty.split('\n').map((l) => l.slice(3)).join(', ')})` : head;
  } catch {
    return '?';
  }
}

/** The 1, 5 and 15 minute load averages, two decimals. */
export const loadAverage = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Busy and total jiffies of the whole machine (/proc/stat, first line: every process of every user, see proc(5)). */
export interface MachineTicks { busy: number; total: number }

export function machineTicks(): MachineTicks {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Percent of the whole machine (all cores) busy between two reads. */
export const machineBusyPercent = (a: MachineTicks, b: MachineTicks): number =>
  (b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : NaN);
