// Shared helpers for the scripts that install and drive code-server (the VS Code
// that ships in the `code-server` npm package) for Parsimony's tests.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (scripts/vscode/ → ../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where code-server is installed and cached: outside the repository on purpose.
 * The workbench treats every color/icon theme found under the extension
 * development path (the repo) as the extension's own and switches to it, so a
 * code-server inside the repo would override workbench.colorTheme with its
 * built-in Light+ theme. Override with PARSIMONY_VSCODE_TEST_DIR.
 */
export const CACHE_DIR = process.env.PARSIMONY_VSCODE_TEST_DIR
  ? path.resolve(process.env.PARSIMONY_VSCODE_TEST_DIR)
  : path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'parsimony', 'vscode-test');

export const CODE_SERVER_VERSION = '4.100.3';
export const CODE_SERVER_DIR = path.join(CACHE_DIR, 'code-server');
export const CODE_SERVER_BIN = path.join(CODE_SERVER_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');

/** Seconds since `start` (from performance.now()), one decimal. */
export const since = (start) => ((performance.now() - start) / 1000).toFixed(1);

// Machine-level npm settings that may be passed on (a CI's cache or registry mirror).
const KEEP_NPM_ENV = /^npm_config_(cache|registry|userconfig|globalconfig|cafile|proxy|https_proxy|noproxy|strict_ssl)$/i;

/**
 * The environment for an npm command run in a folder other than the project:
 * without the npm_* variables that `npm test`/`npm start` export to their
 * scripts (npm_config_local_prefix, npm_package_*, …), so neither the project's
 * package.json nor its .npmrc leak into it.
 */
export function cleanNpmEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'INIT_CWD') continue;
    if (/^npm_/i.test(k) && !KEEP_NPM_ENV.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Runs a command, appending its output to `logStream`; resolves on exit 0,
 * rejects otherwise with an error that names the command.
 */
export function run(cmd, args, { cwd, env, logStream }) {
  return new Promise((resolve, reject) => {
    logStream?.write(`\n$ (cd ${cwd} && ${cmd} ${args.join(' ')})\n`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => logStream?.write(d));
    child.stderr.on('data', (d) => logStream?.write(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${signal ?? code}`));
    });
  });
}

/**
 * A fresh copy of `source` (default `examples/`) in a temp folder, so tests can
 * create files freely. Returns { dir, remove() }.
 */
export function tempWorkspace(label = 'ws', source = path.join(ROOT, 'examples')) {
  const parent = mkdtempSync(path.join(tmpdir(), `parsimony-${label}-`));
  const dir = path.join(parent, path.basename(source));
  cpSync(source, dir, { recursive: true });
  const remove = () => rmSync(parent, { recursive: true, force: true });
  const unregister = onExit(remove);
  return { dir, remove: () => { unregister(); remove(); } };
}

/** True when the module with this import.meta.url is the script node was started with. */
export const isMain = (metaUrl) => Boolean(process.argv[1]) && metaUrl === pathToFileURL(path.resolve(process.argv[1])).href;

// Synchronous clean-ups (stop servers, remove temp dirs) that must run however
// the process ends: normally, by process.exit(), or by Ctrl-C / SIGTERM.
const cleanups = new Set();
let signalsHooked = false;

/** Registers `fn` (synchronous) to run at exit; returns a function that unregisters it. */
export function onExit(fn) {
  cleanups.add(fn);
  if (!signalsHooked) {
    signalsHooked = true;
    process.on('exit', runCleanups);
    for (const [sig, num] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
      process.once(sig, () => {
        // Another handler (e.g. npm start's graceful stop) takes care of exiting;
        // the 'exit' hook still runs the clean-ups then.
        if (process.listenerCount(sig) > 0) return;
        runCleanups();
        process.exit(128 + num);
      });
    }
  }
  return () => cleanups.delete(fn);
}

function runCleanups() {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {}
  }
}
