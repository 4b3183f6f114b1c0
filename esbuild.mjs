// Builds the three targets: the extension host bundle, the CLI and the webview.
// Heavy runtimes (TF.js, onnxruntime, h5wasm) stay external: they are required
// lazily on first use, so activation only loads the small extension bundle.
import * as esbuild from 'esbuild';
import { mkdirSync, copyFileSync, existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

// The extension host bundle keeps the heavy runtimes external: it never loads them
// (number crunching runs in the CLI child process). The CLI bundles everything but
// native addons, so the packaged extension ships no node_modules for TF.js or h5wasm.
// h5wasm stays external too: its Node build locates its wasm through import.meta.url, which a CJS bundle lacks.
const nativeOnly = ['vscode', 'onnxruntime-node', '@tensorflow/tfjs-node', 'mnist', 'h5wasm', 'h5wasm/node'];
const external = [
  ...nativeOnly,
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-converter',
  'h5wasm',
  'h5wasm/node',
];

/** Reports errors in the `file:line:col: error:` shape VS Code's problem matcher reads. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => console.log(`[build] ${build.initialOptions.outfile} started`));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log(`[build] ${build.initialOptions.outfile} finished`);
    });
  },
};

/**
 * `import * as vscode from 'vscode'` in each of ~30 modules makes esbuild's CommonJS
 * interop copy the ~200 properties of the vscode module into a fresh namespace
 * object per importing module, at load: the largest part of activation after
 * compiling the bundle. This resolves such imports to one shared module
 * (`export * from 'vscode'`), so the copy happens once. Same for node:path.
 */
const SHARED_NAMESPACES = ['vscode', 'node:path'];
const sharedNamespaces = {
  name: 'shared-namespaces',
  setup(build) {
    const filter = new RegExp(`^(${SHARED_NAMESPACES.join('|')})$`);
    build.onResolve({ filter }, (args) =>
      args.namespace === 'shared-namespace' ? { path: args.path, external: true } : { path: args.path, namespace: 'shared-namespace' },
    );
    build.onLoad({ filter: /.*/, namespace: 'shared-namespace' }, (args) => ({ contents: `export * from ${JSON.stringify(args.path)};`, loader: 'js' }));
  },
};

const pkg = JSON.parse((await import("node:fs")).readFileSync("package.json", "utf8"));
const node = {
  define: { PARSIMONY_VERSION: JSON.stringify(pkg.version) },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  external,
  logLevel: 'warning',
  plugins: [problemMatcher],
};

const targets = [
  // Activation time is mostly V8 compiling this bundle, which scales with its size and
  // the length of its identifiers: it is minified in every build (450 → 260 KiB, half
  // the compile time). Development builds keep a source map for stack traces.
  { ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', minify: true, plugins: [...node.plugins, sharedNamespaces] },
  { ...node, external: nativeOnly, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The thread that makes every h5wasm call (src/core/formats/keras/hdf5Thread.ts starts it from
  // beside cli.js or extension.js): a corrupt HDF5 file can loop forever, and only a thread can be stopped.
  { ...node, external: nativeOnly, entryPoints: ['src/core/formats/keras/hdf5Worker.ts'], outfile: 'dist/hdf5Worker.js' },
];
if (existsSync('webview/main.ts')) {
  targets.push({
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: production,
    sourcemap: !production,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview/main.js',
    logLevel: 'warning',
    plugins: [problemMatcher],
  });
}

function copyMedia() {
  mkdirSync('dist/webview', { recursive: true });
  mkdirSync('dist/wasm', { recursive: true });
  const wasmDir = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    if (existsSync(`${wasmDir}/${f}`)) copyFileSync(`${wasmDir}/${f}`, `dist/wasm/${f}`);
  }
  if (existsSync('webview/main.css')) copyFileSync('webview/main.css', 'dist/webview/main.css');
}

if (watch) {
  const contexts = await Promise.all(targets.map((t) => esbuild.context(t)));
  copyMedia();
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
  copyMedia();
}
