// How a benchmark that starts real processes runs: everything it starts is in the e2e rig's registry, a hung step ends
// the run after the bound, and the registry stops whatever is left, on success or failure.
import { stopAll } from '../test/e2e/rig';

export function runBounded(main: () => Promise<void>, boundMs: number): void {
  const watchdog = setTimeout(() => {
    console.error(`\nbenchmark still running after ${boundMs / 60_000} min: stopping everything`);
    void stopAll().finally(() => process.exit(2));
  }, boundMs);
  main()
    .catch((err: Error) => {
      console.error(`\nbenchmark failed: ${err.stack ?? err.message}`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await stopAll().catch((err: Error) => console.error(err.message));
      clearTimeout(watchdog);
    });
}
