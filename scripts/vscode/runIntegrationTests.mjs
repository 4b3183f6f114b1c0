// Runs the integration tests (dist/test/integration/index.js, built by
// `npm run build`) inside the extension host of a real VS Code: code-server's,
// driven by headless Chromium. See shared/TESTING.md.
//
//   node scripts/vscode/runIntegrationTests.mjs [options]
//     --extension <dir>   extension under development (default: the repo)
//     --tests <file>      module whose run() the extension host calls
//                         (default: dist/test/integration/index.js)
//     --workspace <dir>   folder to copy and open (default: examples/)
//     --timeout <s>       give up after this many seconds (default 420)
//     --summary <file>    write {passed, failed, seconds, exitCode} as JSON
//     --verbose           also print the workbench's own start-up messages
//
// Exits with the tests' exit code (0 when all pass).
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, parseArgs } from 'node:util';
import { ROOT, since, tempWorkspace } from './common.mjs';
import { launchBrowser, payloadUrl, startServer } from './codeServer.mjs';
import { isCodeServerInstalled } from './ensureCodeServer.mjs';
import { missingSystemDeps } from './ensureSystemDeps.mjs';

const { values: opts } = parseArgs({
  options: {
    extension: { type: 'string', default: ROOT },
    tests: { type: 'string', default: path.join(ROOT, 'dist', 'test', 'integration', 'index.js') },
    workspace: { type: 'string', default: path.join(ROOT, 'examples') },
    timeout: { type: 'string', default: '420' },
    summary: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

const OUT = path.join(ROOT, 'test-output');
const LOG = path.join(OUT, 'integration.log');
// The workbench's routine start-up messages, which reach codeAutomationLog too;
// they stay in the log file (and on the console with --verbose).
const WORKBENCH_NOISE = new RegExp([
  '^Resolv(ing|ed) connection token',
  '^Creating a socket',
  '^Creation of workbench contribution',
  '^Ignoring fetching additional builtin extensions',
  '^Updating additional builtin extensions cache',
  '^\\[Service Worker\\]',
  '^ChatSessionStore:',
  '^\\s*$',
].join('|'));
const COUNT_LINE = /^integration: (\d+) passed, (\d+) failed$/m;

function fail(message) {
  console.error(`integration: ${message}`);
  writeSummary({ passed: 0, failed: 1, seconds: 0, exitCode: 1, error: message });
  process.exit(1);
}

function writeSummary(s) {
  if (opts.summary) {
    mkdirSync(path.dirname(opts.summary), { recursive: true });
    writeFileSync(opts.summary, JSON.stringify(s, null, 2) + '\n');
  }
}

async function main() {
  const t0 = performance.now();
  const extension = path.resolve(opts.extension);
  const tests = path.resolve(opts.tests);
  const timeoutMs = Number(opts.timeout) * 1000;

  const missing = missingSystemDeps();
  if (missing.length) fail(`missing system packages (${missing.join(', ')}): run node scripts/vscode/ensureSystemDeps.mjs`);
  if (!isCodeServerInstalled()) fail('code-server is not installed: run node scripts/vscode/ensureCodeServer.mjs');
  if (!existsSync(tests)) fail(`${path.relative(ROOT, tests)} does not exist: run npm run build`);
  const pkg = JSON.parse(readFileSync(path.join(extension, 'package.json'), 'utf8'));
  if (pkg.main && !existsSync(path.join(extension, pkg.main))) fail(`${pkg.main} does not exist in ${extension}: run npm run build`);
  if (!existsSync(opts.workspace)) fail(`workspace ${opts.workspace} does not exist`);

  mkdirSync(OUT, { recursive: true });
  const log = createWriteStream(LOG);
  const ws = tempWorkspace('integration', path.resolve(opts.workspace));
  // Opened as a saved workspace holding that one folder: a test can then add a folder
  // (a virtual file system's) to it. Turning a plain folder window into a multi-root
  // workspace would be "entering a new workspace", which VS Code refuses in tests.
  const workspaceFile = path.join(path.dirname(ws.dir), 'integration.code-workspace');
  writeFileSync(workspaceFile, JSON.stringify({ folders: [{ path: path.basename(ws.dir) }] }, null, 2) + '\n');

  let server;
  let browser;
  let output = '';
  let exitCode = 1;
  // The time limit covers everything: server start, page load, tests.
  let timer;
  const timedOut = new Promise((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
  const runTests = async () => {
    server = await startServer({ workspace: ws.dir, onLine: (l) => log.write(`[server] ${l}\n`) });
    log.write(`[runner] code-server on ${server.url} (${since(t0)}s)\n`);
    browser = await launchBrowser();
    const page = await browser.newPage();
    // The workbench's own log lines (%c-styled) also reach codeAutomationLog: keep the rest.
    page.on('console', (m) => { if (!m.text().startsWith('%c')) log.write(`[browser ${m.type()}] ${m.text()}\n`); });
    page.on('pageerror', (e) => log.write(`[browser pageerror] ${e.stack ?? e}\n`));

    let resolveExit;
    const exited = new Promise((r) => { resolveExit = r; });
    // Everything the extension host logs (mocha's reporter included), printf-style.
    await page.exposeFunction('codeAutomationLog', (level, args) => {
      const text = format(...(Array.isArray(args) ? args : [args]));
      output += text + '\n';
      log.write(`[automation ${level}] ${text}\n`);
      if (opts.verbose || !WORKBENCH_NOISE.test(text)) (level === 'error' ? process.stderr : process.stdout).write(text + '\n');
    });
    await page.exposeFunction('codeAutomationExit', (code) => resolveExit(code));

    const url = payloadUrl(server.url, workspaceFile, { extensionDevelopmentPath: extension, extensionTestsPath: tests });
    log.write(`[runner] opening ${url}\n`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 0 });
    return exited;
  };
  try {
    const result = await Promise.race([runTests(), timedOut]);
    if (result === 'timeout') {
      console.error(`integration: the tests did not finish within ${timeoutMs / 1000}s ` +
        `(the workbench never called codeAutomationExit); see ${path.relative(process.cwd(), LOG)}`);
      exitCode = 1;
    } else {
      exitCode = Number(result) || 0;
    }
  } catch (err) {
    console.error(`integration: ${err.stack ?? err}`);
    exitCode = 1;
  } finally {
    clearTimeout(timer);
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    ws.remove();
    await new Promise((r) => log.end(r));
  }

  const m = COUNT_LINE.exec(output);
  let passed = m ? Number(m[1]) : 0;
  let failed = m ? Number(m[2]) : 0;
  if (!m && exitCode === 0) {
    console.error('integration: the tests exited 0 but printed no "integration: N passed, N failed" line');
    exitCode = 1;
  }
  if (m && passed + failed === 0) {
    console.error('integration: no integration tests ran');
    exitCode = 1;
  }
  if (exitCode !== 0 && failed === 0) failed = 1; // a crash or a timeout counts as one failure
  const seconds = Number(since(t0));
  console.log(`integration tests: ${passed + failed} run, ${passed} passed, ${failed} failed in ${seconds}s (log: ${path.relative(process.cwd(), LOG)})`);
  writeSummary({ passed, failed, seconds, exitCode });
  process.exit(exitCode);
}

main();
