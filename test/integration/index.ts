// The extension host's test entry (extensionTestsPath): VS Code loads the bundle
// dist/test/integration/index.js and calls run(). scripts/vscode/buildTests.mjs
// bundles this module first and every test/integration/**/*.test.ts after it, so
// the Mocha instance and its globals (describe, it, before, …) exist by the time
// the test files register their suites.
import Mocha from 'mocha';

const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, reporter: 'spec', color: false });
mocha.suite.emit('pre-require', globalThis, 'integration', mocha);

/** Runs the suites; resolves when all pass, rejects with the failure count otherwise. */
export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        const { passes = 0 } = runner.stats ?? {};
        // The runner prints the count; scripts/test.mjs reads this line.
        console.log(`integration: ${passes} passed, ${failures} failed`);
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      });
    } catch (err) {
      console.error(err);
      reject(err);
    }
  });
}
