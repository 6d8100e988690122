// The one registry of everything an e2e test started (Homebridge processes, HAP connections, simulators). Mocha's root
// hooks stop them all after each file; process 'exit' and SIGINT/SIGTERM kill the child processes synchronously, so a
// crashed, interrupted or timed-out run leaves nothing running.

export interface TrackedResource {
  /** For messages: what this is, e.g. 'homebridge [HB 2] pid 1234'. */
  readonly label: string;
  /** Graceful, bounded stop. Must not throw for an already stopped resource. */
  stop(): Promise<void>;
  /** Last resort from the 'exit'/signal handlers: synchronous, e.g. SIGKILL a child process. */
  killNow?(): void;
  /** Called when a test failed while this resource was live: keep logs / temp dirs and say where they are. */
  onTestFailure?(testTitle: string): void;
}

const live: TrackedResource[] = [];
let handlersInstalled = false;

function killAllNow(): void {
  for (const resource of [...live].reverse()) {
    try {
      resource.killNow?.();
    } catch {
      // best effort: the process is going away anyway
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killAllNow();
  // Other listeners (e.g. mocha's) decide how to exit; if there are none, behave like the default handler.
  if (process.listenerCount(signal) <= 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function installProcessHandlers(): void {
  if (handlersInstalled) {
    return;
  }
  handlersInstalled = true;
  process.on('exit', killAllNow);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Register a resource; returns the function that unregisters it (call it once the resource stopped on its own). */
export function track(resource: TrackedResource): () => void {
  installProcessHandlers();
  live.push(resource);
  return () => {
    const index = live.indexOf(resource);
    if (index >= 0) {
      live.splice(index, 1);
    }
  };
}

export function liveResources(): readonly TrackedResource[] {
  return [...live];
}

/** Stop everything still registered, newest first (clients before servers before simulators). Errors are collected. */
export async function stopAll(): Promise<void> {
  const errors: string[] = [];
  while (live.length > 0) {
    const resource = live.pop() as TrackedResource;
    try {
      await resource.stop();
    } catch (err) {
      errors.push(`${resource.label}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) {
    throw new Error(`cleanup failed:\n  ${errors.join('\n  ')}`);
  }
}

export function notifyTestFailure(testTitle: string): void {
  for (const resource of live) {
    resource.onTestFailure?.(testTitle);
  }
}
