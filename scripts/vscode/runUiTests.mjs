// Runs the UI tests (test/ui/*.test.mjs): code-server with Parsimony loaded as
// the extension under development, on a fresh copy of examples/, driven by
// Playwright in headless Chromium. Screenshots go to test-output/screenshots/.
//
//   node scripts/vscode/runUiTests.mjs [options] [name filter]
//     --workspace <dir>   folder to copy and open (default: examples/)
//     --theme <name>      workbench.colorTheme (default: Default Dark Modern)
//     --summary <file>    write {passed, failed, seconds, exitCode} as JSON
//     --headed            show the browser (needs a display)
//
// Prints "ui: N passed, N failed" and exits 1 when a test failed.
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ROOT, since, tempWorkspace } from './common.mjs';
import { launchBrowser, payloadUrl, startServer } from './codeServer.mjs';
import { isCodeServerInstalled } from './ensureCodeServer.mjs';
import { missingSystemDeps } from './ensureSystemDeps.mjs';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workspace: { type: 'string', default: path.join(ROOT, 'examples') },
    theme: { type: 'string', default: 'Default Dark Modern' },
    summary: { type: 'string' },
    headed: { type: 'boolean', default: false },
  },
});

const UI_DIR = path.join(ROOT, 'test', 'ui');
const OUT = path.join(ROOT, 'test-output');
const SHOTS = path.join(OUT, 'screenshots');
const LOG = path.join(OUT, 'ui.log');

const green = (s) => (process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s) => (process.stdout.isTTY ? `\x1b[31m${s}\x1b[0m` : s);

function writeSummary(s) {
  if (!opts.summary) return;
  mkdirSync(path.dirname(opts.summary), { recursive: true });
  writeFileSync(opts.summary, JSON.stringify(s, null, 2) + '\n');
}

function fail(message) {
  console.error(`ui: ${message}`);
  console.log('ui: 0 passed, 1 failed');
  writeSummary({ passed: 0, failed: 1, seconds: 0, exitCode: 1, error: message });
  process.exit(1);
}

const safeName = (s) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80).toLowerCase();

async function loadTests() {
  const { registered } = await import(pathToFileURL(path.join(UI_DIR, 'harness.mjs')).href);
  const files = readdirSync(UI_DIR).filter((f) => f.endsWith('.test.mjs')).sort();
  for (const f of files) {
    const before = registered.length;
    await import(pathToFileURL(path.join(UI_DIR, f)).href);
    for (const t of registered.slice(before)) t.file = f;
  }
  const filter = positionals.join(' ').toLowerCase();
  return registered.filter((t) => !filter || t.name.toLowerCase().includes(filter));
}

async function main() {
  const t0 = performance.now();
  const missing = missingSystemDeps();
  if (missing.length) fail(`missing system packages (${missing.join(', ')}): run node scripts/vscode/ensureSystemDeps.mjs`);
  if (!isCodeServerInstalled()) fail('code-server is not installed: run node scripts/vscode/ensureCodeServer.mjs');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  if (!existsSync(path.join(ROOT, pkg.main))) fail(`${pkg.main} does not exist: run npm run build`);
  if (!existsSync(opts.workspace)) fail(`workspace ${opts.workspace} does not exist`);
  const tests = await loadTests();
  if (tests.length === 0) fail('no UI tests found (test/ui/*.test.mjs)');

  mkdirSync(SHOTS, { recursive: true });
  const log = createWriteStream(LOG);
  const ws = tempWorkspace('ui', path.resolve(opts.workspace));
  const results = [];
  let server;
  let browser;
  try {
    server = await startServer({ workspace: ws.dir, colorTheme: opts.theme, onLine: (l) => log.write(`[server] ${l}\n`) });
    browser = await launchBrowser({ headless: !opts.headed });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log.write(`[browser ${m.type()}] ${m.text()}\n`);
    });
    page.on('pageerror', (e) => log.write(`[browser pageerror] ${e.stack ?? e}\n`));
    const url = payloadUrl(server.url, ws.dir, { extensionDevelopmentPath: ROOT });
    log.write(`[runner] opening ${url}\n`);
    console.log(`ui: workbench at ${server.url} (workspace: a copy of ${path.relative(ROOT, opts.workspace) || '.'})`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    const { waitForWorkbench } = await import(pathToFileURL(path.join(UI_DIR, 'workbench.mjs')).href);
    await waitForWorkbench(page);
    log.write(`[runner] workbench up after ${since(t0)}s\n`);

    for (const t of tests) {
      const start = performance.now();
      const ctx = {
        page,
        serverUrl: server.url,
        workspace: ws.dir,
        screenshot: async (name) => {
          const file = path.join(SHOTS, `${safeName(name)}.png`);
          await page.screenshot({ path: file });
          console.log(`      screenshot: ${path.relative(process.cwd(), file)}`);
          return file;
        },
        log: (...a) => {
          const text = format(...a);
          log.write(`[test] ${text}\n`);
          console.log(`      ${text}`);
        },
      };
      let timer;
      try {
        await Promise.race([
          t.fn(ctx),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${t.timeout / 1000}s`)), t.timeout); }),
        ]);
        results.push({ name: t.name, ok: true, seconds: since(start) });
        console.log(`  ${green('✔')} ${t.name} (${since(start)}s)`);
      } catch (err) {
        results.push({ name: t.name, ok: false, seconds: since(start), error: err });
        console.log(`  ${red('✘')} ${t.name} (${since(start)}s)`);
        const file = path.join(SHOTS, `FAILED-${safeName(t.name)}.png`);
        await page.screenshot({ path: file }).then(
          () => console.log(`      screenshot of the failure: ${path.relative(process.cwd(), file)}`),
          () => {},
        );
      } finally {
        clearTimeout(timer);
      }
    }
  } catch (err) {
    results.push({ name: 'start the workbench', ok: false, seconds: since(t0), error: err });
    console.log(`  ${red('✘')} start the workbench`);
  } finally {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    ws.remove();
    await new Promise((r) => log.end(r));
  }

  const failures = results.filter((r) => !r.ok);
  failures.forEach((r, i) => {
    console.log(`\n  ${i + 1}) ${r.name}:\n     ${String(r.error?.stack ?? r.error).split('\n').join('\n     ')}`);
  });
  const passed = results.length - failures.length;
  const seconds = Number(since(t0));
  console.log(`\nui tests: ${results.length} run in ${seconds}s (log: ${path.relative(process.cwd(), LOG)})`);
  console.log(`ui: ${passed} passed, ${failures.length} failed`);
  writeSummary({ passed, failed: failures.length, seconds, exitCode: failures.length ? 1 : 0 });
  process.exit(failures.length ? 1 : 0);
}

main();
