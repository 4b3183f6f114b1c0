// Mocha's spec reporter, plus the run's counts written as JSON to the file given
// by `--reporter-option summary=FILE` (scripts/test.mjs reads it).
const { writeFileSync } = require('node:fs');
const mocha = require('mocha');

const { Spec } = (mocha.default ?? mocha).reporters;

class SpecWithSummary extends Spec {
  constructor(runner, options = {}) {
    super(runner, options);
    const file = options.reporterOption?.summary ?? options.reporterOptions?.summary;
    runner.once('end', () => {
      if (!file) return;
      const { passes = 0, failures = 0, pending = 0, tests = 0, duration = 0 } = this.stats ?? {};
      writeFileSync(file, JSON.stringify({ passed: passes, failed: failures, pending, tests, duration }) + '\n');
    });
  }
}

module.exports = SpecWithSummary;
