// Installs code-server (VS Code's workbench + Node extension host, from npm)
// offline-safe, following shared/TESTING.md: code-server's own postinstall
// downloads things, so its steps are done here one by one. It goes to
// ~/.cache/parsimony/vscode-test/code-server (PARSIMONY_VSCODE_TEST_DIR overrides;
// not inside the repo: see common.mjs). A marker file written at the very end
// makes a second run skip it all; a half-finished install (no marker, or another
// version or Node ABI) is redone from scratch. The log of the npm commands goes
// to code-server-install.log beside it.
//
//   node scripts/vscode/ensureCodeServer.mjs [--force]
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, CODE_SERVER_DIR, CODE_SERVER_VERSION, cleanNpmEnv, isMain, onExit, run, since } from './common.mjs';

const MARKER = path.join(CODE_SERVER_DIR, '.parsimony-installed.json');
const LOG = path.join(CACHE_DIR, 'code-server-install.log');

/** What a complete install must have (package dir → a file that proves it was built). */
function requiredBuilds(csDir) {
  const vs = path.join(csDir, 'lib', 'vscode', 'node_modules');
  return {
    'node-pty': { dir: path.join(vs, 'node-pty'), ext: '.node' },
    '@vscode/spdlog': { dir: path.join(vs, '@vscode', 'spdlog'), ext: '.node' },
    kerberos: { dir: path.join(vs, 'kerberos'), ext: '.node' },
    argon2: { dir: path.join(csDir, '..', 'argon2'), ext: '.node' },
    '@vscode/ripgrep': { file: path.join(vs, '@vscode', 'ripgrep', 'bin', 'rg') },
  };
}

/** The names of the required builds that are missing. */
function missingBuilds(csDir) {
  return Object.entries(requiredBuilds(csDir))
    .filter(([, r]) => (r.file ? !existsSync(r.file) : findNodeFiles(r.dir).length === 0))
    .map(([name]) => name);
}

function wantedMarker() {
  return { version: CODE_SERVER_VERSION, nodeAbi: process.versions.modules, platform: `${process.platform}-${process.arch}` };
}

/** True when a complete install of this version for this Node ABI is there. */
export function isCodeServerInstalled() {
  try {
    const m = JSON.parse(readFileSync(MARKER, 'utf8'));
    const w = wantedMarker();
    if (m.version !== w.version || m.nodeAbi !== w.nodeAbi || m.platform !== w.platform) return false;
    return missingBuilds(path.join(CODE_SERVER_DIR, 'node_modules', 'code-server')).length === 0;
  } catch {
    return false;
  }
}

/** Replaces whatever is at `linkPath` by a symlink to `target` (relative). */
function forceSymlink(target, linkPath) {
  try {
    lstatSync(linkPath);
    unlinkSync(linkPath);
  } catch {}
  symlinkSync(target, linkPath);
}

/** Finds `<name>.node` files under a package, for the report. */
function findNodeFiles(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findNodeFiles(p, out);
    else if (e.name.endsWith('.node')) out.push(p);
  }
  return out;
}

/**
 * Ensures code-server is installed. Resolves to { cached: boolean, steps: [{name, seconds}] }.
 * Throws (after printing the log's tail) when a step fails.
 */
export async function ensureCodeServer({ force = false, log = console.log } = {}) {
  if (!force && isCodeServerInstalled()) {
    log(`code-server ${CODE_SERVER_VERSION}: cached in ${CODE_SERVER_DIR}`);
    return { cached: true, steps: [] };
  }
  // One install at a time (npm test and npm start may both get here).
  const release = await lock(log);
  try {
    if (!force && isCodeServerInstalled()) {
      log(`code-server ${CODE_SERVER_VERSION}: installed by another process in ${CODE_SERVER_DIR}`);
      return { cached: true, steps: [] };
    }
    return await install(log);
  } finally {
    release();
  }
}

/** Takes CACHE_DIR/code-server.lock (a folder holding the owner's pid); waits while another live process holds it. */
async function lock(log) {
  const dir = path.join(CACHE_DIR, 'code-server.lock');
  mkdirSync(CACHE_DIR, { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      const release = () => rmSync(dir, { recursive: true, force: true });
      const unregister = onExit(release);
      return () => { unregister(); release(); };
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    } catch {}
    const alive = Number.isInteger(owner) && owner > 0 && (() => {
      try {
        process.kill(owner, 0);
        return true;
      } catch {
        return false;
      }
    })();
    const age = Date.now() - (statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (!alive && age > 5_000) {
      rmSync(dir, { recursive: true, force: true }); // left by a process that died
      continue;
    }
    if (!told) {
      log(`code-server: waiting for another install (pid ${owner}) to finish …`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function install(log) {
  if (!existsSync('/usr/bin/rg')) {
    throw new Error('ripgrep (/usr/bin/rg) is missing: run scripts/vscode/ensureSystemDeps.mjs first');
  }

  // Anything there without a marker is a half-finished install: start over.
  rmSync(CODE_SERVER_DIR, { recursive: true, force: true });
  mkdirSync(CODE_SERVER_DIR, { recursive: true });
  const logStream = createWriteStream(LOG, { flags: 'w' });
  const top = CODE_SERVER_DIR;
  const cs = path.join(top, 'node_modules', 'code-server');
  const vscode = path.join(cs, 'lib', 'vscode');

  // A package.json of its own, so npm's prefix is this folder (not the project's,
  // whose .npmrc and allowScripts policy must not apply here). npm 11 gates
  // dependency install scripts with `allowScripts`; list the ones this install runs.
  writeFileSync(path.join(top, 'package.json'), JSON.stringify({
    name: 'parsimony-code-server',
    private: true,
    description: 'code-server for Parsimony\'s tests, installed by scripts/vscode/ensureCodeServer.mjs',
    // code-server's own postinstall is what the steps below replace.
    allowScripts: { argon2: true, 'code-server': false },
  }, null, 2) + '\n');
  // Own .npmrc, explicit: build native modules against the local Node headers.
  writeFileSync(path.join(top, '.npmrc'), 'nodedir=/usr\nfund=false\naudit=false\nupdate-notifier=false\n');

  const env = cleanNpmEnv({
    npm_config_nodedir: '/usr',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
    npm_config_yes: 'true', // node-pty's install script fetches node-gyp via npx
    JOBS: 'max', // node-gyp: compile with every core
    npm_config_loglevel: 'warn',
    // Nothing here should try to download a prebuilt binary or electron headers.
    ELECTRON_SKIP_BINARY_DOWNLOAD: '1',
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
  });

  /** Adds an allowScripts entry for every installed package that has install scripts. */
  const allowAllInstallScripts = (dir) => {
    const pj = path.join(dir, 'package.json');
    const pkg = JSON.parse(readFileSync(pj, 'utf8'));
    const allow = { ...(pkg.allowScripts ?? {}) };
    const visit = (nm) => {
      let names;
      try {
        names = readdirSync(nm);
      } catch {
        return;
      }
      for (const n of names) {
        if (n.startsWith('.')) continue;
        if (n.startsWith('@')) {
          visit(path.join(nm, n));
          continue;
        }
        const p = path.join(nm, n);
        try {
          const m = JSON.parse(readFileSync(path.join(p, 'package.json'), 'utf8'));
          const s = m.scripts ?? {};
          if (s.preinstall || s.install || s.postinstall || existsSync(path.join(p, 'binding.gyp'))) allow[m.name] = true;
        } catch {}
        visit(path.join(p, 'node_modules'));
      }
    };
    visit(path.join(dir, 'node_modules'));
    pkg.allowScripts = allow;
    writeFileSync(pj, JSON.stringify(pkg, null, 2) + '\n');
    return Object.keys(allow);
  };

  const steps = [
    ['install code-server (no scripts)', () =>
      run('npm', ['install', '--ignore-scripts', '--save-exact', `code-server@${CODE_SERVER_VERSION}`], { cwd: top, env, logStream })],
    ['install lib/vscode dependencies (no scripts)', () =>
      run('npm', ['install', '--omit=dev', '--ignore-scripts'], { cwd: vscode, env, logStream })],
    ['use Debian\'s ripgrep', async () => {
      const bin = path.join(vscode, 'node_modules', '@vscode', 'ripgrep', 'bin');
      mkdirSync(bin, { recursive: true });
      copyFileSync('/usr/bin/rg', path.join(bin, 'rg'));
    }],
    ['build native modules in lib/vscode (npm rebuild)', async () => {
      const allowed = allowAllInstallScripts(vscode);
      logStream.write(`\nallowScripts for lib/vscode: ${allowed.join(', ')}\n`);
      await run('npm', ['rebuild'], { cwd: vscode, env, logStream });
    }],
    ['make the links code-server\'s postinstall makes', async () => {
      forceSymlink('node_modules', path.join(vscode, 'node_modules.asar'));
      forceSymlink('code-linux.sh', path.join(vscode, 'bin', 'remote-cli', 'code-server'));
      forceSymlink('browser-linux.sh', path.join(vscode, 'bin', 'helpers', 'browser.sh'));
    }],
    ['install built-in extensions\' dependencies', async () => {
      const ext = path.join(vscode, 'extensions');
      // Their dependencies' install scripts (if any) run here: allow them explicitly.
      allowAllInstallScripts(ext);
      await run('npm', ['install', '--omit=dev'], { cwd: ext, env, logStream });
    }],
    ['build argon2 (npm rebuild argon2)', () =>
      run('npm', ['rebuild', 'argon2'], { cwd: top, env, logStream })],
  ];

  log(`code-server ${CODE_SERVER_VERSION}: installing into ${CODE_SERVER_DIR} (log: ${LOG})`);
  const times = [];
  const t0 = performance.now();
  try {
    for (const [i, [name, fn]] of steps.entries()) {
      const t = performance.now();
      process.stdout.write(`  [${i + 1}/${steps.length}] ${name} … `);
      logStream.write(`\n===== step ${i + 1}: ${name}\n`);
      await fn();
      const s = since(t);
      times.push({ name, seconds: Number(s) });
      process.stdout.write(`${s}s\n`);
    }
    const missing = missingBuilds(cs);
    const found = [...findNodeFiles(path.join(vscode, 'node_modules')), ...findNodeFiles(path.join(top, 'node_modules', 'argon2'))]
      .map((f) => path.relative(top, f));
    logStream.write(`\n.node files built:\n${found.join('\n')}\n`);
    if (missing.length) throw new Error(`native modules missing after the build: ${missing.join(', ')}`);
  } catch (err) {
    process.stdout.write('FAILED\n');
    await new Promise((r) => logStream.end(r));
    const tail = readFileSync(LOG, 'utf8').split('\n').slice(-40).join('\n');
    console.error(`\n--- last lines of ${LOG} ---\n${tail}\n---`);
    throw err;
  }
  writeFileSync(MARKER, JSON.stringify({ ...wantedMarker(), installedAt: new Date().toISOString(), steps: times }, null, 2) + '\n');
  await new Promise((r) => logStream.end(r));
  log(`code-server ${CODE_SERVER_VERSION}: installed in ${since(t0)}s`);
  return { cached: false, steps: times };
}

if (isMain(import.meta.url)) {
  ensureCodeServer({ force: process.argv.includes('--force') }).catch((err) => {
    console.error(`ensureCodeServer: ${err.message}`);
    process.exit(1);
  });
}
