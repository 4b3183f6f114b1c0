// Makes sure the Debian packages the VS Code tests need are installed:
//   chromium      the browser Playwright drives (/usr/bin/chromium)
//   libkrb5-dev   headers for code-server's `kerberos` native module
//   ripgrep       VS Code's search; its npm package would download rg otherwise
// As root, missing ones are installed with apt-get; otherwise this prints the
// command to run and exits non-zero.
//
//   node scripts/vscode/ensureSystemDeps.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isMain, since } from './common.mjs';

const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Debian package → is it usable already? */
const CHECKS = {
  chromium: () => existsSync('/usr/bin/chromium'),
  'libkrb5-dev': () => existsSync('/usr/include/gssapi/gssapi.h') || existsSync('/usr/include/krb5.h'),
  ripgrep: () => existsSync('/usr/bin/rg') || onPath('rg'),
};

/** The Debian packages (of `packages`, default all three) that are not installed. */
export function missingSystemDeps(packages = Object.keys(CHECKS)) {
  return packages.filter((pkg) => !CHECKS[pkg]());
}

/**
 * Installs what is missing. Resolves to { installed: string[], seconds } or throws
 * an Error whose message is the command a person has to run.
 */
export async function ensureSystemDeps({ packages = Object.keys(CHECKS), log = console.log } = {}) {
  const missing = missingSystemDeps(packages);
  if (missing.length === 0) {
    log(`system packages: ${packages.join(', ')} present`);
    return { installed: [], seconds: 0 };
  }
  const command = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    const err = new Error(`missing system packages: ${missing.join(', ')}.\nInstall them with:\n  sudo sh -c '${command}'`);
    err.code = 'ENOTROOT';
    throw err;
  }
  const t = performance.now();
  log(`system packages: installing ${missing.join(', ')} with apt-get (about 1–2 min) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', ...missing]]) {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-30).join('\n');
      throw new Error(`apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
    }
  }
  const still = missingSystemDeps(packages);
  if (still.length) throw new Error(`apt-get ran but these are still missing: ${still.join(', ')}`);
  const seconds = Number(since(t));
  log(`system packages: installed ${missing.join(', ')} in ${seconds}s`);
  return { installed: missing, seconds };
}

if (isMain(import.meta.url)) {
  ensureSystemDeps().catch((err) => {
    console.error(`ensureSystemDeps: ${err.message}`);
    process.exit(1);
  });
}
