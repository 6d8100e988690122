'use strict';
// Mocha's spec reporter, plus the run's counts written as JSON to $COURTYARD_MOCHA_STATS so tools/test.js can sum
// several mocha runs into one final line without parsing human-readable output.
const { writeFileSync } = require('node:fs');
const Mocha = require('mocha');

const { EVENT_RUN_END } = Mocha.Runner.constants;

class CourtyardReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.COURTYARD_MOCHA_STATS;
      if (!file) {
        return;
      }
      const { passes, failures, pending, tests } = runner.stats;
      writeFileSync(file, JSON.stringify({ passes, failures, pending, tests }));
    });
  }
}

module.exports = CourtyardReporter;
