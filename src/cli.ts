#!/usr/bin/env node
// The package's bin: parses the command line and runs a command; the commands themselves live in src/cli/.
import { parseArgs, USAGE, UsageError } from './cli/args';
import { runDiscover } from './cli/discover';
import { runEvents } from './cli/events';
import { consoleOutput, EXIT_FAILED, EXIT_OK, messageOf } from './cli/output';
import { runProbe } from './cli/probe';

async function main(): Promise<number> {
  const out = consoleOutput();
  let args;
  try {
    args = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      out.error(`${err.message} (see homebridge-courtyard --help)`);
      return EXIT_FAILED;
    }
    throw err;
  }
  if (args.command === 'help') {
    out.line(USAGE);
    return EXIT_OK;
  }
  if (args.command === 'events') {
    return runEvents(args, out);
  }
  // First Ctrl-C: stop listening, unsubscribe, print the summary. Second: leave at once.
  const abort = new AbortController();
  const onSigint = (): void => {
    if (abort.signal.aborted) {
      process.exit(130);
    }
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return args.command === 'probe' ? await runProbe(args, out, abort.signal) : await runDiscover(args, out, abort.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  // A bug, not a camera problem: say so in one line (redacted like everything else).
  consoleOutput().error(`unexpected error: ${messageOf(err)}`);
  process.exitCode = EXIT_FAILED;
});
