/**
 * A bounded slice of the fuzz tier (`npm run test:fuzz` runs thousands): a
 * fixed seed, 150 mutated files per format, each opened and summarized in a
 * worker thread with a time and heap limit. Every case must end in a sound
 * ModelDoc or a ModelFormatError with a code. Then every crash the fuzzer ever
 * found (test/fixtures/fuzz-crashes) must end as its manifest row says.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { CRASH_DIR, readCrashManifest } from '../../scripts/fuzz/crashes';
import { createPool, reproduceCommand, runFuzz, type FormatStats } from '../../scripts/fuzz/fuzz';
import type { FuzzPool } from '../../scripts/fuzz/pool';

const SEED = 20251129;
const CASES = Number(process.env.PARSIMONY_FUZZ_CASES ?? 150);

describe('fuzz: every reader survives mutated files', function () {
  // Budget: < 60 s on an idle 2-core machine; generous here because worker start-up (h5wasm) is CPU-bound.
  this.timeout(600_000);
  let pool: FuzzPool;
  before(() => {
    pool = createPool({ timeoutMs: 2000 });
  });
  after(async () => {
    await pool.close();
  });

  it(`${CASES} cases per format (seed ${SEED}): a sound model or a ModelFormatError with a code, within 2 s each`, async () => {
    const stats = await runFuzz({ cases: CASES, seed: SEED, pool });
    console.log(`      ${stats.map((s) => `${s.format} ${s.cases} (${s.ok} ok, ${s.cases - s.ok - s.crashes.length} errors)`).join('; ')}`);
    const problems = stats.flatMap((s: FormatStats) =>
      s.crashes.map((c) => `${c.format}#${c.index} ${c.kind}: ${c.message}\n    from ${c.seedName}: ${c.mutations.join(' ; ')}\n    ${reproduceCommand(c)}`),
    );
    assert.deepEqual(problems, [], `fuzz crashes:\n${problems.join('\n')}`);
    for (const s of stats) {
      assert.deepEqual(s.generatorErrors, [], `${s.format}: the fuzzer failed to build some cases`);
      assert.equal(s.cases, CASES);
      assert.ok(s.ok > 0 && s.ok < s.cases, `${s.format}: the mutations neither break every file nor leave them all readable (${s.ok}/${s.cases})`);
    }
  });

  for (const row of readCrashManifest()) {
    const expected = row.error ? `'${[row.error, ...(row.accept ?? [])].join("'|'")}'` : `a sound ${row.format} model with ${row.totalParams} params`;
    // A row marked skip still hangs inside a library; it is listed, not run (see its reason).
    (row.skip ? it.skip : it)(`fuzz-crashes/${row.file} ends as ${expected}${row.skip ? ` (skipped: ${row.skip})` : ''}`, async () => {
      const outcome = await pool.run(path.join(CRASH_DIR, row.file));
      const got = `${outcome.kind}${outcome.code ? ` '${outcome.code}'` : ''}: ${outcome.message ?? ''}`;
      if (row.error) {
        assert.equal(outcome.kind, 'error', got);
        assert.ok([row.error, ...(row.accept ?? [])].includes(outcome.code!), got);
      } else {
        assert.equal(outcome.kind, 'ok', got);
        if (row.format) assert.equal(outcome.format, row.format);
        if (row.totalParams !== undefined) assert.equal(outcome.totalParams, row.totalParams);
      }
    });
  }
});
