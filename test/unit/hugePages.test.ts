import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hugePagesNeedRelaunch, shouldRelaunch } from '../../src/cli/relaunch';
import { hasHugePagesSetting, withHugePages } from '../../src/core/runtime/hugePages';
import { bundleCli } from '../helpers/bundleCli';

const ROOT = path.resolve(__dirname, '../..');

/** `env` without the glibc.malloc.hugetlb tunable: a CLI started with it relaunches itself. */
function withoutHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!hasHugePagesSetting(env)) return env;
  const rest = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t && !t.startsWith('glibc.malloc.hugetlb='));
  const out = { ...env };
  if (rest.length) out.GLIBC_TUNABLES = rest.join(':');
  else delete out.GLIBC_TUNABLES;
  return out;
}

function glibcLinux(): boolean {
  return process.platform === 'linux' && typeof (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime === 'string';
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kilobytes of anonymous huge pages a Node child has after filling a 40 MB Float32Array. */
function childHugePagesKb(env: NodeJS.ProcessEnv): number {
  const script = `
    const a = new Float32Array(10_000_000);
    for (let i = 0; i < a.length; i += 1024) a[i] = 1;
    const line = require('fs').readFileSync('/proc/self/smaps_rollup', 'utf8').split('\\n').find((l) => l.startsWith('AnonHugePages:'));
    console.log(line ? line.split(/\\s+/)[1] : '0');`;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('huge pages for CLI jobs', () => {
  it('adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES and keeps what the user set', function () {
    if (process.platform !== 'linux') this.skip();
    assert.equal(withHugePages({}).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
    assert.equal(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES, 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    assert.equal(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0', "the user's choice wins");
    assert.equal(withHugePages({ PATH: '/bin' }).PATH, '/bin');
    assert.deepEqual(withoutHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1', PATH: '/bin' }), {
      GLIBC_TUNABLES: 'glibc.malloc.arena_max=2',
      PATH: '/bin',
    });
    assert.deepEqual(withoutHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }), {});
  });

  it('the CLI relaunches itself only for commands that crunch weights, once, and never against the user', function () {
    if (!glibcLinux()) this.skip();
    const env = withoutHugePages({ PATH: '/bin' });
    for (const command of ['compress', 'evaluate', 'sweep', 'hints', 'run', 'check', 'diff']) {
      assert.equal(shouldRelaunch([command, 'model.json'], env), true, command);
    }
    assert.equal(shouldRelaunch(['analyze', 'model.json'], env), false, 'header-only analysis is not worth a second start');
    assert.equal(shouldRelaunch([], env), false);
    assert.equal(shouldRelaunch(['--version'], env), false);
    assert.equal(shouldRelaunch(['compress', '--help'], env), false);
    assert.equal(shouldRelaunch(['compress', 'm.json'], withHugePages(env)), false, 'the relaunched process does not relaunch again');
    assert.equal(shouldRelaunch(['compress', 'm.json'], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }), false, "the user's 0 wins");
    assert.equal(shouldRelaunch(['compress', 'm.json'], { PARSIMONY_HUGE_PAGES: '0' }), false);
    assert.equal(hugePagesNeedRelaunch(env, ['--inspect-brk=9229']), false, 'a debugged CLI keeps the work in the debugged process');
    assert.equal(hugePagesNeedRelaunch({ ...env, NODE_OPTIONS: '--max-old-space-size=4096 --cpu-prof' }, []), false);
    assert.equal(hugePagesNeedRelaunch(env, ['--max-old-space-size=4096']), true);
  });

  it('parsimony compress from a shell runs in a relaunched process with the tunable; Ctrl+Z stops both, fg continues both; SIGTERM reaches it and the exit code comes back', async function () {
    this.timeout(120_000);
    if (!glibcLinux()) this.skip();
    const buildDir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-relaunch-'));
    try {
      const bundle = await bundleCli(buildDir);
      const env = { ...withoutHugePages(process.env), NODE_PATH: path.join(ROOT, 'node_modules') };
      delete (env as NodeJS.ProcessEnv).PARSIMONY_HUGE_PAGES;
      // Fine-tuning for 200 epochs (a minute): every signal below lands while the job trains, and SIGTERM must end
      // it within seconds (the training loop yields to the event loop, where signals reach JavaScript: loop.ts).
      const model = path.join(ROOT, 'examples/mnist-mlp/model.json');
      const out = path.join(buildDir, 'out', 'model.json');
      const args = ['compress', model, '--method', 'finetune', '--data', 'mnist:train:8000', '--epochs', '200', '--no-record', '--out', out, '--json', '--progress-json'];
      const cli = spawn(process.execPath, [bundle, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      cli.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      cli.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => cli.on('close', resolve));
      let kids: number[] = [];
      for (let i = 0; i < 200 && kids.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        kids = childrenOf(cli.pid!);
      }
      assert.equal(kids.length, 1, `one relaunched process under the CLI (stderr: ${stderr})`);
      // Until it has exec'd, a forked child still shows its parent's environment.
      let childEnv: string[] = [];
      for (let i = 0; i < 100; i++) {
        childEnv = readFileSync(`/proc/${kids[0]}/environ`, 'utf8').split('\0');
        if (childEnv.some((e) => e.startsWith('GLIBC_TUNABLES='))) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(childEnv.includes('GLIBC_TUNABLES=glibc.malloc.hugetlb=1'), childEnv.filter((e) => e.startsWith('GLIBC')).join(', ') || 'no GLIBC_TUNABLES');
      assert.ok(childEnv.includes(`NODE_PATH=${env.NODE_PATH}`), 'the rest of the environment is passed on');
      // Once the job reports progress it has its cancel handlers (a signal before that just ends the process).
      for (let i = 0; i < 400 && !stderr.includes('{'); i++) await new Promise((r) => setTimeout(r, 25));
      // Ctrl+Z (SIGTSTP to the CLI, the terminal's foreground process): the job stops with it, and goes on after SIGCONT.
      const state = (pid: number) => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
      const until = async (what: () => boolean, why: string) => {
        for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
        assert.ok(what(), why);
      };
      cli.kill('SIGTSTP');
      await until(() => state(kids[0]!) === 'T' && state(cli.pid!) === 'T', 'both processes stopped');
      const frozen = stderr.length;
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(stderr.length, frozen, 'no progress while stopped');
      cli.kill('SIGCONT');
      await until(() => state(kids[0]!) !== 'T' && state(cli.pid!) !== 'T', 'both processes continued');
      await until(() => stderr.length > frozen, 'progress again after SIGCONT');
      cli.kill('SIGTERM');
      assert.equal(await closed, 130, stderr);
      assert.deepEqual(JSON.parse(stdout), { error: { code: 'cancelled', message: 'cancelled; nothing was written' } });
      assert.match(stderr, /SIGTERM received/);
      assert.deepEqual(childrenOf(cli.pid!), []);
      assert.equal(existsSync(path.dirname(out)), false, 'a cancelled job writes nothing');
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
  });

  it('gives a Node child 2 MiB pages for a tensor-sized array (where the kernel offers transparent huge pages)', function () {
    this.timeout(30_000);
    const setting = '/sys/kernel/mm/transparent_hugepage/enabled';
    if (process.platform !== 'linux' || !existsSync(setting) || /\[never\]/.test(readFileSync(setting, 'utf8'))) this.skip();
    if (!process.report?.getReport || !(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime) this.skip();
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    const withPages = childHugePagesKb(withHugePages(env));
    // At least half of the 40 MB array in 2 MiB pages (the ends of the mapping may not be aligned).
    assert.ok(withPages >= 20_000, `AnonHugePages ${withPages} kB with the tunable`);
    if (/\[madvise\]/.test(readFileSync(setting, 'utf8'))) {
      assert.ok(childHugePagesKb(env) < withPages, 'without the tunable, madvise mode gives Node no huge pages');
    }
  });
});
