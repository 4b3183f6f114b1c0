// Bundles the integration tests (test/integration/index.ts and every
// test/integration/**/*.test.ts), with mocha, into dist/test/integration/index.js,
// the module whose run() the extension host calls (extensionTestsPath).
// (Failures' stack traces name lines of the bundle: the extension host installs
// its own Error.prepareStackTrace, so Node's source-map support does not apply.)
//
// index.ts creates the Mocha instance and installs describe/it as globals when it
// is loaded; the generated entry imports it first and then each test file, so
// the files register their suites in that order. A new *.test.ts is picked up
// without being listed anywhere.
//
//   node scripts/vscode/buildTests.mjs
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isMain, ROOT } from './common.mjs';

const SRC = path.join(ROOT, 'test', 'integration');
export const TESTS_BUNDLE = path.join(ROOT, 'dist', 'test', 'integration', 'index.js');

/** test/integration/**\/*.test.ts, relative to SRC, sorted. */
export function integrationTestFiles(dir = SRC) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) out.push(path.relative(SRC, p).split(path.sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

export async function buildIntegrationTests({ production = false } = {}) {
  const files = integrationTestFiles();
  rmSync(path.dirname(TESTS_BUNDLE), { recursive: true, force: true });
  const contents = [
    "export { run } from './index';",
    ...files.map((f) => `import './${f.replace(/\.ts$/, '')}';`),
  ].join('\n');
  await esbuild.build({
    stdin: { contents, resolveDir: SRC, sourcefile: 'integration-tests-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: TESTS_BUNDLE,
    // Mocha is bundled too: mocha 12 is ESM that needs require(esm) (Node ≥ 20.19),
    // which an older desktop VS Code's extension host may lack. Its parallel mode
    // (unused here) resolves worker files at run time: hence the silenced warning.
    external: ['vscode'],
    logOverride: { 'require-resolve-not-external': 'silent' },
    sourcemap: !production,
    sourcesContent: false,
    logLevel: 'warning',
  });
  return files;
}

if (isMain(import.meta.url)) {
  const files = await buildIntegrationTests({ production: process.argv.includes('--production') });
  console.log(`[build] ${path.relative(ROOT, TESTS_BUNDLE)}: ${files.length} integration test file(s)`);
}
