// `npm test`: the whole suite, in order, with one summary at the end.
//   1. npm run build                     (extension, CLI, webview, integration-test bundle)
//   2. unit tests                        (mocha + tsx in plain Node: test/unit/**/*.test.ts)
//   3. system packages and code-server   (installed on first use, cached after)
//   4. integration tests                 (mocha inside code-server's extension host)
//   5. UI tests                          (Playwright + headless Chromium: test/ui/*.test.mjs)
// The last line is `N passed, N failed` over all tiers; exit 1 when anything failed.
//
//   node scripts/test.mjs [--unit] [--integration] [--ui]   only these tiers
//                         [--no-unit] [--no-integration] [--no-ui] [--no-build]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, since } from './vscode/common.mjs';
import { ensureCodeServer } from './vscode/ensureCodeServer.mjs';
import { ensureSystemDeps } from './vscode/ensureSystemDeps.mjs';

const { values: opts } = parseArgs({
  options: {
    unit: { type: 'boolean' },
    integration: { type: 'boolean' },
    ui: { type: 'boolean' },
    build: { type: 'boolean', default: true },
  },
  allowNegative: true,
});

const chosen = ['unit', 'integration', 'ui'].filter((t) => opts[t] === true);
const run = Object.fromEntries(['unit', 'integration', 'ui'].map((t) => [t, chosen.length ? chosen.includes(t) : opts[t] !== false]));
const needsVsCode = run.integration || run.ui;

const OUT = path.join(ROOT, 'test-output');
const MINUTE = 60_000;
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const red = (s) => (tty ? `\x1b[31m${s}\x1b[0m` : s);

const heading = (title) => console.log(`\n${bold(`━━ ${title} ${'━'.repeat(Math.max(3, 60 - title.length))}`)}`);

/** Runs a command with inherited output; resolves to its exit code (or 1 on timeout). */
function exec(cmd, args, { timeoutMs, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    let timedOut = false;
    const timer = timeoutMs && setTimeout(() => {
      timedOut = true;
      console.error(red(`\n${cmd} ${args.join(' ')}: still running after ${timeoutMs / MINUTE} min, stopping it`));
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, timeoutMs);
    child.on('error', (err) => {
      console.error(red(`${cmd}: ${err.message}`));
      resolve(1);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(timedOut ? 1 : code ?? (signal ? 1 : 0));
    });
  });
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function hasUnitTests(dir = path.join(ROOT, 'test', 'unit')) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith('.test.ts'));
}

/** One row per tier: {tier, passed, failed, skipped, seconds, note}. */
const rows = [];
const setupNotes = [];
const t0 = performance.now();
mkdirSync(OUT, { recursive: true });

// 1. build
let built = true;
if (needsVsCode && opts.build) {
  heading('build');
  const t = performance.now();
  const code = await exec('npm', ['run', 'build'], { timeoutMs: 5 * MINUTE });
  setupNotes.push(`build ${since(t)}s`);
  if (code !== 0) {
    built = false;
    rows.push({ tier: 'build', passed: 0, failed: 1, seconds: since(t), note: `npm run build exited ${code}` });
  }
}

// 2. unit tests
if (run.unit) {
  heading('unit tests (mocha, Node)');
  const t = performance.now();
  if (!hasUnitTests()) {
    rows.push({ tier: 'unit', passed: 0, failed: 0, seconds: since(t), note: 'no test/unit/**/*.test.ts' });
  } else {
    const summary = path.join(OUT, 'unit-summary.json');
    rmSync(summary, { force: true });
    const code = await exec(process.execPath, [
      path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
      '--import=tsx',
      '--reporter', path.join(ROOT, 'scripts', 'specSummaryReporter.cjs'),
      '--reporter-option', `summary=${summary}`,
      '--exit', // a test that leaves a handle open must not hang CI
      'test/unit/**/*.test.ts',
    ], { timeoutMs: 10 * MINUTE });
    const s = readJson(summary);
    const failed = s ? s.failed + (code !== 0 && s.failed === 0 ? 1 : 0) : 1;
    rows.push({
      tier: 'unit', passed: s?.passed ?? 0, failed, skipped: s?.pending ?? 0, seconds: since(t),
      note: s ? (failed > s.failed ? `mocha exited ${code}` : '') : `mocha exited ${code} without a summary`,
    });
  }
}

// 3. system packages and code-server
let vsCodeReady = needsVsCode && built;
if (vsCodeReady) {
  heading('VS Code for tests: system packages and code-server');
  try {
    const t = performance.now();
    const deps = await ensureSystemDeps();
    setupNotes.push(deps.installed.length ? `apt-get ${deps.installed.join(' ')} ${deps.seconds}s` : `system packages present (${since(t)}s)`);
    const t2 = performance.now();
    const cs = await ensureCodeServer();
    setupNotes.push(cs.cached ? `code-server cached (${since(t2)}s)` : `code-server installed ${since(t2)}s (${cs.steps.map((s) => `${s.seconds}s`).join(' + ')})`);
  } catch (err) {
    console.error(red(err.message));
    rows.push({ tier: 'setup', passed: 0, failed: 1, seconds: since(t0), note: 'system packages / code-server install failed' });
    vsCodeReady = false;
  }
}

/** Runs one of the VS Code runners, which write a JSON summary. */
async function vscodeTier(tier, script, title, timeoutMs) {
  heading(title);
  const t = performance.now();
  if (!vsCodeReady) {
    rows.push({ tier, passed: 0, failed: 0, seconds: '0.0', note: 'not run (build or setup failed)' });
    return;
  }
  const summary = path.join(OUT, `${tier}-summary.json`);
  rmSync(summary, { force: true });
  const code = await exec(process.execPath, [path.join(ROOT, 'scripts', 'vscode', script), '--summary', summary], { timeoutMs });
  const s = readJson(summary);
  const failed = s ? Math.max(s.failed, code !== 0 ? 1 : 0) : 1;
  rows.push({ tier, passed: s?.passed ?? 0, failed, seconds: since(t), note: s ? '' : `exited ${code} without a summary` });
}

// 4. integration tests, 5. UI tests
if (run.integration) await vscodeTier('integration', 'runIntegrationTests.mjs', 'integration tests (mocha in the extension host of code-server)', 8 * MINUTE);
if (run.ui) await vscodeTier('ui', 'runUiTests.mjs', 'UI tests (Playwright, headless Chromium)', 8 * MINUTE);

// Summary
const passed = rows.reduce((n, r) => n + r.passed, 0);
const failed = rows.reduce((n, r) => n + r.failed, 0);
const total = Number(since(t0));
heading('summary');
const pad = (s, n, right = false) => (right ? String(s).padStart(n) : String(s).padEnd(n));
console.log(`  ${pad('tier', 12)}${pad('passed', 8, true)}${pad('failed', 8, true)}${pad('skipped', 9, true)}${pad('time', 9, true)}`);
for (const r of rows) {
  const f = r.failed ? red(pad(r.failed, 8, true)) : pad(r.failed, 8, true);
  console.log(`  ${pad(r.tier, 12)}${pad(r.passed, 8, true)}${f}${pad(r.skipped ?? '-', 9, true)}${pad(`${r.seconds}s`, 9, true)}${r.note ? `  ${r.note}` : ''}`);
}
if (setupNotes.length) console.log(`  setup: ${setupNotes.join(' · ')}`);
console.log(`  total time ${Math.floor(total / 60)}m ${Math.round(total % 60)}s`);
console.log(`\n${passed} passed, ${failed} failed`); // exactly this, alone on the last line: CI reads it
process.exitCode = failed ? 1 : 0;
