/**
 * Child process of the editor bench: loads the bundled extension (dist/extension.js)
 * under a minimal stand-in for the `vscode` module and calls activate(), in a
 * fresh Node process so the require is cold. Prints one JSON line:
 * { requireMs, activateMs, reportedMs } (reportedMs is what the extension logs as
 * "activated in N ms").
 *
 *   node activateChild.cjs <extension folder> [preload] Plain CommonJS, run with `node`, no tsx hooks in the way.
 */
const Module = require('node:module');
const path = require('node:path');

/** Anything: callable, constructible, every property another stub; awaiting it gives undefined. */
function stub() {
  const cache = new Map();
  const target = function () {};
  return new Proxy(target, {
    get(_t, prop) {
      if (prop === 'then') return (resolve) => resolve && resolve(undefined);
      if (prop === 'dispose') return () => {};
      if (prop === Symbol.toPrimitive) return () => '';
      if (prop === Symbol.iterator) return function* () {};
      if (prop === 'length') return 0;
      if (!cache.has(prop)) cache.set(prop, stub());
      return cache.get(prop);
    },
    set: (_t, prop, value) => (cache.set(prop, value), true),
    defineProperty: (_t, prop, d) => (cache.set(prop, d.value), true),
    apply: () => stub(),
    construct: () => stub(),
  });
}

/**
 * The module object itself: bundlers copy a CommonJS module's own property names
 * into a namespace object, so the stub lists the API's top-level names (read from
 * @types/vscode, or a short list when it is not installed).
 */
function apiNames() {
  try {
    const dts = require('node:fs').readFileSync(require.resolve('@types/vscode/index.d.ts'), 'utf8');
    const names = new Set();
    for (const m of dts.matchAll(/^(?:\t| {4})export (?:namespace|class|enum|const|function|let) (\w+)/gm)) names.add(m[1]);
    if (names.size > 20) return [...names];
  } catch {
    /* fall through */
  }
  return ['window', 'workspace', 'commands', 'languages', 'env', 'extensions', 'Uri', 'EventEmitter', 'Disposable', 'TreeItem',
    'TreeItemCollapsibleState', 'ThemeIcon', 'ThemeColor', 'MarkdownString', 'Hover', 'Range', 'Position', 'StatusBarAlignment',
    'ViewColumn', 'ProgressLocation', 'CancellationTokenSource', 'RelativePattern', 'FileType', 'ConfigurationTarget', 'l10n'];
}
// A plain object, as the real module is: bundlers copy its properties once per importing module.
const vscode = Object.fromEntries(apiNames().map((n) => [n, stub()]));
const originalLoad = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'vscode') return vscode;
  return originalLoad.call(this, request, parent, isMain);
};

const extensionPath = process.argv[2];
const context = {
  subscriptions: [],
  extensionPath,
  extensionUri: stub(),
  globalStorageUri: stub(),
  storageUri: stub(),
  globalState: stub(),
  workspaceState: stub(),
  secrets: stub(),
  environmentVariableCollection: stub(),
  asAbsolutePath: (p) => path.join(extensionPath, p),
  extensionMode: 1,
  logUri: stub(),
};

// The extension host has long loaded these Node built-ins; with `preload` they are loaded before timing.
if (process.argv[3] === 'preload') for (const m of ['node:fs', 'node:path', 'node:os', 'node:crypto', 'node:zlib', 'node:child_process', 'node:util', 'node:events']) require(m);

const t0 = performance.now();
const ext = require(path.join(extensionPath, 'dist', 'extension.js'));
const t1 = performance.now();
const api = ext.activate(context);
const t2 = performance.now();
process.stdout.write(JSON.stringify({ requireMs: t1 - t0, activateMs: t2 - t1, reportedMs: api && typeof api.activationMs === 'number' ? api.activationMs : null }) + '\n');
try {
  ext.deactivate && ext.deactivate();
} catch {
  /* the stub cannot honour every dispose path */
}
process.exit(0);
