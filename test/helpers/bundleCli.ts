import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Bundles the CLI as esbuild.mjs does, into `dir`/cli.js, for tests that run it
 * as a child process (signals, exit codes). A private folder, because dist/ is
 * shared with other builds running at the same time.
 */
export async function bundleCli(dir: string): Promise<string> {
  const bundle = path.join(dir, 'cli.js');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'src/cli/main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    define: { PARSIMONY_VERSION: JSON.stringify(pkg.version) },
    external: ['vscode', 'onnxruntime-node', '@tensorflow/*', 'h5wasm', 'h5wasm/node', 'mnist'],
    logLevel: 'error',
  });
  return bundle;
}
