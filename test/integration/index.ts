// The extension host's test entry (extensionTestsPath): VS Code loads the bundle
// dist/test/integration/index.js and calls run(). scripts/vscode/buildTests.mjs
// bundles this module first and every test/integration/**/*.test.ts after it, so
// the Mocha instance and its globals (describe, it, before, …) exist by the time
// the test files register their suites.
import Mocha from 'mocha';

// PARSIMONY_INTEGRATION_GREP (in the environment of the runner) runs only the matching tests.
const grep = process.env.PARSIMONY_INTEGRATION_GREP;
const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, reporter: 'spec', color: false, ...(grep ? { grep } : {}) });
mocha.suite.emit('pre-require', globalThis, 'integration', mocha);

// A promise rejected with nobody listening (in a test or in the extension, which
// shares this extension host) fails the run, even when every test passed.
// A rejection handled a moment later (within half a second) is forgiven; VS Code's
// extension host itself attaches a handler after a second to log the rest, which
// must not count as handling.
const unhandledRejections = new Map<Promise<unknown>, { reason: unknown; at: number }>();
process.on('unhandledRejection', (reason, promise) => {
  if (unhandledRejections.has(promise)) return;
  unhandledRejections.set(promise, { reason, at: Date.now() });
  console.error('integration: unhandled promise rejection:', reason);
});
process.on('rejectionHandled', (promise) => {
  const entry = unhandledRejections.get(promise);
  if (entry && Date.now() - entry.at < 500) unhandledRejections.delete(promise);
});

/** Runs the suites; resolves when all pass, rejects with the failure count otherwise. */
export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((testFailures) => {
        const { passes = 0 } = runner.stats ?? {};
        // Rejections surface a turn or more after the code that dropped them.
        setTimeout(() => {
          const unhandled = unhandledRejections.size;
          if (unhandled) console.error(`integration: ${unhandled} unhandled promise rejection(s) during the run (listed above): counted as a failure`);
          const failures = testFailures + (unhandled ? 1 : 0);
          // The runner prints the count; scripts/test.mjs reads this line.
          console.log(`integration: ${passes} passed, ${failures} failed`);
          if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
          else resolve();
        }, 1_000);
      });
    } catch (err) {
      console.error(err);
      reject(err);
    }
  });
}
