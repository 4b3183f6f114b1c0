// Starting code-server and a headless Chromium for Parsimony's VS Code tests
// (shared/TESTING.md). Install code-server first: scripts/vscode/ensureCodeServer.mjs.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CODE_SERVER_BIN, onExit } from './common.mjs';

/** Settings for a quiet, predictable workbench: no welcome page, no prompts, no telemetry. */
export function testSettings({ colorTheme = 'Default Dark Modern', extra = {} } = {}) {
  return {
    'workbench.colorTheme': colorTheme,
    'workbench.startupEditor': 'none',
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'security.workspace.trust.enabled': false,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'never',
    'security.workspace.trust.emptyWindow': true,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'update.mode': 'none',
    'update.showReleaseNotes': false,
    'git.openRepositoryInParentFolders': 'never',
    'window.commandCenter': false,
    ...extra,
  };
}

const LISTENING = /HTTP server listening on (http:\/\/127\.0\.0\.1:(\d+))/;

/**
 * Starts code-server on 127.0.0.1 with a port the OS picks.
 * @param {object} o
 * @param {string} [o.userDataDir]   default: a fresh folder in this run's temp dir
 * @param {string} [o.extensionsDir] default: a fresh, empty folder in this run's temp dir
 * @param {string} [o.workspace]     folder to open when the URL has no ?folder=
 * @param {Record<string,string>} [o.env] extra environment
 * @param {string} [o.colorTheme]    workbench.colorTheme for User/settings.json
 * @param {object} [o.settings]      more user settings
 * @param {string} [o.logFile]       where the server's output goes (default: in the temp dir, removed)
 * @param {number} [o.port]          0 (default): any free port
 * @param {boolean} [o.keepSettings] leave an existing User/settings.json as it is
 * @param {(line: string) => void} [o.onLine] called with each line of the server's output
 * @param {number} [o.startTimeoutMs]
 * @returns {Promise<{port:number, url:string, pid:number, runDir:string, output:()=>string, stop:()=>Promise<void>}>}
 */
export async function startServer({
  userDataDir, extensionsDir, workspace, env = {}, colorTheme, settings = {}, logFile, onLine,
  port = 0, keepSettings = false, startTimeoutMs = 60_000,
} = {}) {
  // Everything this server writes outside the given folders stays in here,
  // including VS Code's vscode-ipc-*.sock files (TMPDIR) and code-server's
  // ~/.local/share state (XDG_DATA_HOME); removed by stop().
  const runDir = mkdtempSync(path.join(tmpdir(), 'parsimony-cs-'));
  const dirs = {
    tmp: path.join(runDir, 'tmp'),
    xdgData: path.join(runDir, 'xdg-data'),
    xdgConfig: path.join(runDir, 'xdg-config'),
    xdgCache: path.join(runDir, 'xdg-cache'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true, mode: 0o700 });
  userDataDir ??= path.join(runDir, 'user-data');
  extensionsDir ??= path.join(runDir, 'extensions');
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  const settingsFile = path.join(userDataDir, 'User', 'settings.json');
  if (!(keepSettings && existsSync(settingsFile))) {
    writeFileSync(settingsFile, JSON.stringify(testSettings({ colorTheme, extra: settings }), null, 2) + '\n');
  }

  // A config of our own: ~/.config/code-server/config.yaml may set a password and port.
  const config = path.join(runDir, 'config.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);

  const args = [
    CODE_SERVER_BIN,
    '--config', config,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
  ];
  if (workspace) args.push(workspace);

  const childEnv = {
    ...process.env,
    EXTENSIONS_GALLERY: '{}', // no marketplace look-ups
    TMPDIR: dirs.tmp,
    XDG_RUNTIME_DIR: dirs.tmp,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_CACHE_HOME: dirs.xdgCache,
    ...env,
  };
  // The parent's code-server variables must not confuse this one.
  for (const k of ['PASSWORD', 'HASHED_PASSWORD', 'PORT', 'VSCODE_PROXY_URI', 'CODE_SERVER_SESSION_SOCKET', 'VSCODE_IPC_HOOK_CLI']) {
    if (!(k in env)) delete childEnv[k];
  }

  const logPath = logFile ?? path.join(runDir, 'server.log');
  mkdirSync(path.dirname(logPath), { recursive: true });
  const logStream = createWriteStream(logPath);
  const lines = [];

  // Detached: its own process group, so stop() ends the extension host and
  // every other child with it.
  const child = spawn(process.execPath, args, { env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve(exited);
  }));

  let resolveUrl;
  const urlPromise = new Promise((r) => { resolveUrl = r; });
  let partial = '';
  const onData = (d) => {
    logStream.write(d);
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      lines.push(line);
      onLine?.(line);
      const m = LISTENING.exec(line);
      if (m) resolveUrl({ url: m[1], port: Number(m[2]) });
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {}
  };
  // However this process ends (Ctrl-C included), the server and its temp dir go too.
  const unregister = onExit(() => {
    killGroup('SIGKILL');
    rmSync(runDir, { recursive: true, force: true });
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(t);
    }
    // Children that outlived the server (extension host, pty host, …).
    killGroup('SIGKILL');
    unregister();
    await new Promise((r) => logStream.end(r));
    rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  };

  let timer;
  const started = await Promise.race([
    urlPromise,
    exitPromise.then((e) => ({ error: `code-server exited (${e.signal ?? e.code}) before listening` })),
    new Promise((r) => { timer = setTimeout(() => r({ error: `code-server did not report a port within ${startTimeoutMs / 1000}s` }), startTimeoutMs); }),
  ]);
  clearTimeout(timer);
  if (started.error) {
    const tail = lines.slice(-30).join('\n');
    await stop();
    throw new Error(`${started.error}. Its output:\n${tail}`);
  }
  return {
    port: started.port,
    url: started.url,
    pid: child.pid,
    runDir,
    userDataDir,
    extensionsDir,
    output: () => lines.join('\n'),
    stop,
  };
}

export const BROWSER_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Debian's Chromium through playwright-core. */
export async function launchBrowser({ headless = true, args = [] } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.PARSIMONY_CHROMIUM ?? '/usr/bin/chromium',
    headless,
    args: [...BROWSER_ARGS.filter((a) => headless || a !== '--headless'), ...args],
  });
}

/** A local path as the workbench's remote URI: vscode-remote://127.0.0.1:PORT/abs/path. */
export function remoteUri(base, fsPath) {
  return `vscode-remote://${new URL(base).host}${pathToFileURL(path.resolve(fsPath)).pathname}`;
}

/**
 * The URL that opens `workspace` (a folder, or a .code-workspace file) and,
 * through the workbench's `payload` parameter, loads the extension under
 * development (and runs its tests).
 */
export function payloadUrl(base, workspace, { extensionDevelopmentPath, extensionTestsPath, extra = [] } = {}) {
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remoteUri(base, extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', remoteUri(base, extensionTestsPath)]);
  payload.push(['skipWelcome', 'true'], ['skipReleaseNotes', 'true'], ...extra);
  const origin = new URL(base).origin;
  const kind = workspace.endsWith('.code-workspace') ? 'workspace' : 'folder';
  return `${origin}/?${kind}=${encodeURIComponent(path.resolve(workspace))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}
