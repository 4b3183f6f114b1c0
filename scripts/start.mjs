// `npm start`: builds the extension and opens examples/ in VS Code with it loaded
// as the extension under development.
//   - desktop VS Code when `code` is on PATH: code --extensionDevelopmentPath=<repo> examples
//   - otherwise code-server on 127.0.0.1 (installed on first use), printing the URL
//     to open; it stays in the foreground until Ctrl-C.
//
//   node scripts/start.mjs [--port N] [--no-build] [--code-server] [folder]
// Rebuild after a change with `npm run build` (or keep `npm run watch` running),
// then reload the window (Developer: Reload Window).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CACHE_DIR, ROOT, since } from './vscode/common.mjs';
import { payloadUrl, startServer } from './vscode/codeServer.mjs';
import { ensureCodeServer, isCodeServerInstalled } from './vscode/ensureCodeServer.mjs';
import { ensureSystemDeps } from './vscode/ensureSystemDeps.mjs';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  allowNegative: true,
  options: {
    port: { type: 'string', default: process.env.PARSIMONY_PORT ?? '0' },
    build: { type: 'boolean', default: true },
    'code-server': { type: 'boolean', default: false },
  },
});
const folder = path.resolve(positionals[0] ?? path.join(ROOT, 'examples'));

const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (opts.build) {
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('start: npm run build failed');
    process.exit(r.status ?? 1);
  }
}

if (onPath('code') && !opts['code-server']) {
  console.log(`start: code --extensionDevelopmentPath=${ROOT} ${folder}`);
  const r = spawnSync('code', [`--extensionDevelopmentPath=${ROOT}`, folder], { stdio: 'inherit' });
  process.exit(r.status ?? 0);
}

// code-server: install on first use (system packages only as needed to build it).
if (!isCodeServerInstalled()) {
  try {
    await ensureSystemDeps({ packages: ['libkrb5-dev', 'ripgrep'] });
    await ensureCodeServer();
  } catch (err) {
    console.error(`start: ${err.message}`);
    process.exit(1);
  }
}

const t = performance.now();
// A user-data dir that lasts between runs, so layout and settings changes stay.
const server = await startServer({
  workspace: folder,
  port: Number(opts.port),
  userDataDir: path.join(CACHE_DIR, 'start', 'user-data'),
  extensionsDir: path.join(CACHE_DIR, 'start', 'extensions'),
  keepSettings: true,
  onLine: (line) => {
    // The server's own errors are worth seeing; its routine chatter is not.
    if (/\berror\b/i.test(line) && !/vsda|File not found/.test(line)) console.error(`[code-server] ${line}`);
  },
}).catch((err) => {
  console.error(`start: ${err.message}`);
  process.exit(1);
});

const url = payloadUrl(server.url, folder, { extensionDevelopmentPath: ROOT });
console.log(`\nVS Code (code-server) is running with Parsimony loaded from ${ROOT} (started in ${since(t)}s).`);
console.log(`Open in a browser:\n\n  ${url}\n`);
console.log('Press Ctrl-C to stop.');

let stopping = false;
const stop = async (code) => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping code-server …');
  await server.stop();
  process.exit(code);
};
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
// Keep the process (and so the server) alive until then.
setInterval(() => {}, 1 << 30);
