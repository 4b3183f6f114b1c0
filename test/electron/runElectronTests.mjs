// `npm run test:electron`: the integration tests (dist/test/integration/index.js)
// in desktop VS Code through @vscode/test-electron, on the minimum version that
// package.json's engines.vscode allows and on stable, with other extensions
// disabled. It downloads VS Code from Microsoft's update server, so it only works
// where that host is reachable; elsewhere (this project's machines, CI) use
// `npm run test:integration`, which runs the same tests in code-server.
//
//   node test/electron/runElectronTests.mjs [--version 1.100.0] [--version stable]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const UPDATE_HOST = 'https://update.code.visualstudio.com';
const TESTS = path.join(ROOT, 'dist', 'test', 'integration', 'index.js');

const { values: opts } = parseArgs({ options: { version: { type: 'string', multiple: true } } });
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const minimum = String(pkg.engines?.vscode ?? '').replace(/^[\^~>=\s]+/, '');
const versions = opts.version ?? [minimum, 'stable'].filter(Boolean);

function fail(message) {
  console.error(`test:electron: ${message}`);
  console.log('electron: 0 passed, 1 failed');
  process.exit(1);
}

if (!existsSync(TESTS)) fail(`${path.relative(ROOT, TESTS)} does not exist: run npm run build first`);

// Fail fast, with the reason, where the download host cannot be reached
// (test-electron itself would retry and hang for minutes).
if (!process.env.PARSIMONY_UNDER_XVFB) try {
  const res = await fetch(`${UPDATE_HOST}/api/releases/stable`, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
} catch (err) {
  fail(`cannot reach ${UPDATE_HOST} (${err.cause?.code ?? err.cause?.message ?? err.message}), ` +
    'from where @vscode/test-electron downloads VS Code.\n' +
    'On machines without that access run the same tests in code-server instead: npm run test:integration');
}

// Electron needs a display on Linux: use xvfb-run when there is none.
if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.PARSIMONY_UNDER_XVFB) {
  const hasXvfb = spawnSync('sh', ['-c', 'command -v xvfb-run'], { stdio: 'ignore' }).status === 0;
  if (hasXvfb) {
    const r = spawnSync('xvfb-run', ['-a', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, PARSIMONY_UNDER_XVFB: '1' },
    });
    process.exit(r.status ?? 1);
  }
  console.warn('test:electron: no DISPLAY and no xvfb-run (apt-get install xvfb); VS Code may fail to start');
}

const { runTests } = await import('@vscode/test-electron');
let failedVersions = 0;
for (const version of versions) {
  console.log(`\n━━ VS Code ${version} ━━`);
  // A fresh copy of examples/ (tests may create files) and a short user-data
  // path (VS Code's IPC socket path must stay under ~100 characters).
  const tmp = mkdtempSync(path.join(tmpdir(), 'parsimony-electron-'));
  const workspace = path.join(tmp, 'examples');
  cpSync(path.join(ROOT, 'examples'), workspace, { recursive: true });
  try {
    await runTests({
      version,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: TESTS,
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--user-data-dir', path.join(tmp, 'ud'),
      ],
    });
  } catch (err) {
    failedVersions++;
    console.error(`VS Code ${version}: ${err.message ?? err}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
const passed = versions.length - failedVersions;
console.log(`\nVS Code versions: ${versions.join(', ')}`);
console.log(`electron: ${passed} passed, ${failedVersions} failed`);
process.exit(failedVersions ? 1 : 0);
