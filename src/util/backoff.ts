import { RETRY_JITTER_FRACTION } from '../settings';

/** Exponential backoff with jitter and a cap: the wait before retry number `attempt` (0-based). */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 + RETRY_JITTER_FRACTION * (random() * 2 - 1)));
}

/** "2 h 5 min", "40 s": how people read a duration in a log line. */
export function humanDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) {
    return `${s} s`;
  }
  const m = Math.round(s / 60);
  if (m < 120) {
    return `${m} min`;
  }
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}
