// The rig's clock for stream timing, and the bound on the arrival times a receiver keeps.
import { performance } from 'node:perf_hooks';

/** The rig's clock for stream timing: monotonic milliseconds (performance.now()). */
export function streamNow(): number {
  return performance.now();
}

/** Arrival times kept per receiver and per assembler (count); older ones are dropped in halves. */
export const MAX_ARRIVALS = 200_000;
