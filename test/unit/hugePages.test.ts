import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { withHugePages } from '../../src/core/runtime/hugePages';

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
