/**
 * `npm run test:fuzz` — mutates the fixtures of every format and checks that
 * each case ends in a sound ModelDoc or a ModelFormatError with a code, within
 * a time and memory limit. Crashes are printed with what reproduces them and
 * saved as fixtures under test/fixtures/fuzz-crashes/.
 *
 *   npm run test:fuzz -- [--cases 2000] [--seed 1] [--format onnx,gguf] [--start 0]
 *                        [--case 17[,18…]] [--timeout 2000] [--workers 2] [--no-save] [--verbose]
 *   npm run test:fuzz -- --replay      re-run every saved crash against its manifest row
 */
import { createPool, reproduceCommand, runFuzz, type Crash, type FormatStats } from './fuzz';
import * as path from 'node:path';
import { CRASH_DIR, readCrashManifest, saveCrash } from './crashes';
import { FORMATS, type FuzzFormat } from './seeds';

function parse(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[key] = next;
      i++;
    } else out[key] = true;
  }
  return out;
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    console.log('usage: npm run test:fuzz -- [--cases N] [--seed S] [--format a,b] [--start I] [--case I[,J]] [--timeout ms] [--workers n] [--no-save] [--verbose]');
    return 0;
  }
  if (args.replay) return replay();
  const formats = typeof args.format === 'string' ? (args.format.split(',') as FuzzFormat[]) : [...FORMATS];
  for (const f of formats) if (!FORMATS.includes(f)) throw new Error(`unknown format '${f}' (${FORMATS.join(', ')})`);
  const seed = Number(args.seed ?? 1);
  const cases = Number(args.cases ?? 2000);
  const only = typeof args.case === 'string' ? args.case.split(',').map(Number) : undefined;
  const verbose = Boolean(args.verbose) || only !== undefined;
  const save = !args['no-save'];
  console.log(`parsimony fuzz: seed ${seed}, ${only ? `case ${only.join(',')}` : `${cases} cases`} per format, formats ${formats.join(', ')}`);
  const t0 = Date.now();
  let done = 0;
  const stats = await runFuzz({
    formats,
    cases,
    seed,
    ...(args.start !== undefined ? { start: Number(args.start) } : {}),
    ...(only ? { only } : {}),
    ...(args.timeout !== undefined ? { timeoutMs: Number(args.timeout) } : {}),
    ...(args.workers !== undefined ? { workers: Number(args.workers) } : {}),
    onCase: (c, o) => {
      done++;
      if (verbose) {
        console.log(`  ${c.format}#${c.index} from ${c.seedName}: ${c.mutations.join(' ; ')}`);
        console.log(`    → ${o.kind}${o.code ? ` '${o.code}'` : ''} in ${o.ms.toFixed(0)} ms${o.message ? `: ${o.message.slice(0, 200)}` : ''}`);
      } else if (o.kind !== 'ok' && o.kind !== 'error') {
        console.log(`  CRASH ${c.format}#${c.index} (${o.kind}): ${(o.message ?? '').slice(0, 160)}`);
      } else if (done % 250 === 0) process.stdout.write(`  … ${done} cases\n`);
    },
    onFormatDone: (s) => console.log(line(s)),
  });
  console.log('');
  console.log(summary(stats, Date.now() - t0));
  for (const s of stats) for (const g of s.generatorErrors) console.log(`fuzzer error building ${s.format}#${g.index}: ${g.message}`);
  const crashes = stats.flatMap((s) => s.crashes);
  if (crashes.length) {
    console.log('');
    console.log(`${crashes.length} crash(es), ${new Set(crashes.map((c) => c.signature)).size} distinct:`);
    const bySig = new Map<string, Crash[]>();
    for (const c of crashes) bySig.set(c.signature, [...(bySig.get(c.signature) ?? []), c]);
    for (const [sig, list] of bySig) {
      const c = list[0]!;
      console.log(`\n● ${sig}  (${list.length}×)`);
      console.log(`  first: ${c.format}#${c.index} from ${c.seedName}`);
      for (const m of c.mutations) console.log(`    mutation: ${m}`);
      console.log(`  ${c.kind}${c.phase ? ` during ${c.phase}` : ''}: ${c.message}`);
      if (c.stack) console.log(c.stack.split('\n').slice(0, 8).map((l) => `    ${l}`).join('\n'));
      if (c.output) console.log(`  output: ${c.output.slice(-300).replace(/\n/g, '\\n')}`);
      console.log(`  reproduce: ${reproduceCommand(c)}`);
      if (save) {
        // At most three fixtures per distinct crash.
        for (const x of list.slice(0, 3)) {
          const rel = saveCrash(x);
          if (rel) console.log(`  saved test/fixtures/fuzz-crashes/${rel}`);
        }
      }
    }
  }
  return crashes.length ? 1 : 0;
}

/** Runs every saved crash (test/fixtures/fuzz-crashes) and compares the outcome with its manifest row. */
async function replay(): Promise<number> {
  const rows = readCrashManifest();
  const pool = createPool();
  let bad = 0;
  let skipped = 0;
  try {
    for (const row of rows) {
      if (row.skip) {
        skipped++;
        console.log(`  skip ${row.file}: ${row.skip}`);
        continue;
      }
      const o = await pool.run(path.join(CRASH_DIR, row.file));
      const ok = row.error ? o.kind === 'error' && [row.error, ...(row.accept ?? [])].includes(o.code!) : o.kind === 'ok' && (row.totalParams === undefined || o.totalParams === row.totalParams);
      if (!ok) bad++;
      console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${row.file}: ${o.kind}${o.code ? ` '${o.code}'` : ''}${o.totalParams !== undefined ? ` ${o.format} ${o.totalParams} params` : ''}${o.kind !== 'ok' ? `: ${(o.message ?? '').slice(0, 160)}` : ''}`);
    }
  } finally {
    await pool.close();
  }
  console.log(`${rows.length - skipped - bad} of ${rows.length - skipped} saved crashes end as their manifest rows expect${skipped ? ` (${skipped} skipped)` : ''}`);
  return bad ? 1 : 0;
}

function line(s: FormatStats): string {
  const errors = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `${s.format.padEnd(12)} ${String(s.cases).padStart(6)} cases  ok ${String(s.ok).padStart(5)}  errors ${String(s.cases - s.ok - s.crashes.length).padStart(5)} (${errors || '—'})  crashes ${s.crashes.length}  slow ${s.slow.length}  max ${s.maxMs.toFixed(0)} ms  ${(s.wallMs / 1000).toFixed(1)} s`;
}

export function summary(stats: FormatStats[], ms: number): string {
  const total = stats.reduce((n, s) => n + s.cases, 0);
  const crashes = stats.reduce((n, s) => n + s.crashes.length, 0);
  return [`summary: ${total} cases in ${(ms / 1000).toFixed(1)} s, ${crashes} crash(es)`, ...stats.map(line)].join('\n');
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
