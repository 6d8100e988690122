'use strict';
// Preloaded with `node -r tools/parent-guard.js` into a long-lived child (Homebridge under `npm start` and the e2e
// rig) so that it never outlives the process that started it. A parent that exits normally stops its children itself;
// one that is SIGKILLed (by a test runner's timeout, the OOM killer, `kill -9`) cannot, and Linux has no portable
// PR_SET_PDEATHSIG for Node. An orphan is re-parented (to init or a subreaper), so its parent pid changes: that is
// the signal to shut down as on SIGTERM (Homebridge then stops its plugins, which stop their ffmpegs).
// Plain JavaScript: it runs before anything is compiled, in Homebridge 1 (CommonJS) and 2 (ESM) alike.
const CHECK_MS = 500;
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }
}, CHECK_MS);
timer.unref(); // never what keeps the process alive
