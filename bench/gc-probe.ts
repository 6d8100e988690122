// Preloaded into Homebridge by the leak runs (NODE_OPTIONS=--require): on SIGUSR2 it collects all garbage, then writes
// process.memoryUsage() to courtyard-memory-<pid>.json in Homebridge's working directory, so memory is compared at the
// same point of the garbage-collection cycle instead of anywhere on its sawtooth. Nothing else changes in Homebridge.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

process.on('SIGUSR2', () => {
  gc();
  setTimeout(() => {
    gc();
    writeFileSync(join(process.cwd(), `courtyard-memory-${process.pid}.json`), JSON.stringify({ at: Date.now(), ...process.memoryUsage() }));
  }, 500).unref();
});
