/**
 * `npm run bench`: Parsimony against a peer doing the same work on this
 * machine. Each number is the median of several runs after warm-up.
 *
 *   npm run bench                          # everything, a table on stdout (~5–10 min)
 *   npm run bench -- --json                # the same as JSON on stdout
 *   npm run bench -- --json=bench.json     # table on stdout, JSON written to a file
 *   npm run bench -- --markdown            # the table as Markdown (docs/performance.md)
 *   npm run bench -- --only=kernels,editor # some sections: analysis, kernels, inference, training, editor, hints
 *   npm run bench -- --quick               # fewer runs, smaller inputs (a smoke test, not a measurement)
 *   npm run bench -- --runs=7              # measured runs per case (default 5)
 *
 * Ratio = peer time / our time (for throughput rows: ours / peer), so higher is
 * better and 1.0 means as fast as the peer; the target column is the ratio the
 * project aims for. Progress goes to stderr. Nothing is installed: a missing
 * peer (python3-numpy, python3-torch, onnxruntime-node) yields a row saying so.
 *
 * The bench runs in a process started the way Parsimony's weight-crunching
 * processes are (the editor's CLI jobs, and the CLI, which relaunches itself:
 * src/cli/relaunch.ts): with 2 MiB pages for large arrays. Python peers start
 * with the environment the bench was given, as a user would start them;
 * activation is timed without the tunable, as the extension host has none.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { hugePagesNeedRelaunch, relaunchWithHugePages } from '../../src/cli/relaunch';
import { loadTf, type TfRuntime } from '../../src/core/runtime/tfjs';
import { benchAnalysis } from './analysis';
import { benchEditor } from './editor';
import { benchHints } from './hints';
import { benchInference } from './inference';
import { benchKernels } from './kernels';
import { benchTraining } from './training';
import { formatSeconds, log, type Row, type Section } from './util';

const SECTIONS: Section[] = ['analysis', 'kernels', 'inference', 'training', 'editor', 'hints'];

interface Args {
  json: boolean | string;
  markdown: boolean;
  only: Set<Section>;
  quick: boolean;
  runs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, markdown: false, only: new Set(SECTIONS), quick: false, runs: 5 };
  for (const a of argv) {
    const [key, value] = a.split('=', 2) as [string, string | undefined];
    if (key === '--json') args.json = value ?? true;
    else if (key === '--markdown') args.markdown = true;
    else if (key === '--quick') args.quick = true;
    else if (key === '--runs' && value && Number(value) >= 1) args.runs = Math.floor(Number(value));
    else if (key === '--only' && value) {
      const wanted = value.split(',').map((s) => s.trim()) as Section[];
      const unknown = wanted.filter((s) => !SECTIONS.includes(s));
      if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}`);
      args.only = new Set(wanted);
    } else if (key === '--help' || key === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '') + '\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return args;
}

/** Microseconds to first-touch one fresh 4 KiB page here: allocation-heavy kernels pay it per page. */
function pageFaultMicros(): number {
  const bytes = 32 << 20;
  const t = process.hrtime.bigint();
  const a = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) a[i] = 1;
  return Number(process.hrtime.bigint() - t) / 1e3 / (bytes / 4096);
}

function cpuPressure(): string | null {
  try {
    return /avg60=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

function machine(rt: TfRuntime | null): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    cpuPressureAvg60: cpuPressure(),
    pageFaultMicrosPer4KiB: Number(pageFaultMicros().toFixed(1)),
    // glibc.malloc.hugetlb=1 gives large ArrayBuffers 2 MiB pages (as the editor's CLI jobs run; src/core/runtime/hugePages.ts).
    glibcTunables: process.env.GLIBC_TUNABLES ?? null,
    tfjs: rt ? { backend: rt.backend, reason: rt.reason, version: rt.tf.version.tfjs } : null,
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function cell(r: Row, side: 'ours' | 'peer'): string {
  const t = side === 'ours' ? r.ours : r.peer;
  const label = side === 'ours' ? r.oursLabel : r.peerLabel;
  if (!t) return '—';
  return label ? `${formatSeconds(t.median)} (${label})` : formatSeconds(t.median);
}

/** yes/no by the medians; a * when the fastest runs (ratioBest) say otherwise. */
function verdict(r: Row): string {
  if (r.ratio === null) return '—';
  const met = r.ratio >= r.target;
  const unsure = r.ratioBest != null && r.ratioBest >= r.target !== met;
  return (met ? 'yes' : 'no') + (unsure ? '*' : '');
}

const UNSURE_NOTE = '* the fastest runs of each side disagree with the medians (ratioBest in the JSON): the machine was too busy to tell.';
const anyUnsure = (rows: Row[]) => rows.some((r) => verdict(r).endsWith('*'));

const fmtRatio = (x: number | null) => (x === null ? '—' : x >= 100 ? `${x.toFixed(0)}×` : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`);

function table(rows: Row[]): string {
  const head = ['section', 'case', 'ours', 'peer', 'peer is', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [r.section, r.case, cell(r, 'ours'), cell(r, 'peer'), r.peerName, fmtRatio(r.ratio), `≥ ${fmtRatio(r.target)}`, verdict(r)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => pad(c, widths[i]!, i === 5 || i === 6)).join('  ');
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)];
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.section} / ${r.case}: ${r.note}`);
  return out.join('\n') + (anyUnsure(rows) ? `\n${UNSURE_NOTE}` : '') + (notes.length ? '\n\nnotes:\n' + notes.join('\n') : '') + '\n';
}

function markdown(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = ['| section | case | ours | peer | peer is | ratio | target | met |', '|---|---|---|---|---|---:|---:|---|'];
  for (const r of rows) out.push(`| ${r.section} | ${esc(r.case)} | ${esc(cell(r, 'ours'))} | ${esc(cell(r, 'peer'))} | ${esc(r.peerName)} | ${fmtRatio(r.ratio)} | ≥ ${fmtRatio(r.target)} | ${verdict(r)} |`);
  return out.join('\n') + (anyUnsure(rows) ? `\n\n\\${UNSURE_NOTE}` : '') + '\n';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const q = args.quick;
  const runs = q ? Math.min(args.runs, 3) : args.runs;
  // TF.js is loaded for the sections that use it, after analysis and kernels: those run in processes
  // without it (the extension host, CLI jobs that do not infer), and its heap would weigh on their GC.
  let rt: TfRuntime | null = null;
  const tfRuntime = async () => (rt ??= await loadTf('auto'));
  const before = machine(null);
  log(`machine: ${before['cpu']} ×${before['cores']}, load ${String(before['loadAverage'])}`);
  const rows: Row[] = [];
  const info: Record<string, unknown> = {};
  const run = async (section: Section, fn: () => Promise<{ rows: Row[]; info: Record<string, unknown> }>) => {
    if (!args.only.has(section)) return;
    const t = Date.now();
    try {
      const r = await fn();
      rows.push(...r.rows);
      info[section] = { ...r.info, seconds: (Date.now() - t) / 1000 };
    } catch (e) {
      log(`${section} failed: ${(e as Error).stack ?? String(e)}`);
      rows.push({ section, case: '(section failed)', ours: null, peerName: '—', peer: null, ratio: null, target: 1, note: (e as Error).message });
    }
  };
  await run('analysis', () => benchAnalysis({ runs, warmup: 1, safetensorsBytes: (q ? 1 : 3) * 2 ** 30, onnxMegabytes: q ? 20 : 100 }));
  await run('kernels', () => benchKernels({ runs, warmup: 1, size: q ? 1_000_000 : 10_000_000 }));
  await run('inference', async () => benchInference(await tfRuntime(), { runs, warmup: 1 }));
  await run('training', async () => benchTraining(await tfRuntime(), { epochs: q ? 1 : 3, warmup: 1, limit: q ? 2048 : undefined }));
  await run('editor', () => benchEditor({ runs, warmup: 1 }));
  // Each run takes seconds: three measured runs are enough to see the spread.
  await run('hints', () => benchHints({ runs: Math.min(runs, 3), warmup: 1, width: q ? 0.25 : 1 }));
  // Assigned by tfRuntime(), which TypeScript's narrowing does not follow.
  const tfLoaded = rt as TfRuntime | null;
  for (const r of rows) {
    if (r.ratio === null || !r.ours || !r.peer || r.peerName === 'budget') continue;
    // Throughput rows store times too, so min/min is the same kind of ratio.
    r.ratioBest = r.peer.min / r.ours.min;
  }
  const result = {
    date: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    machine: { ...before, tfjs: machine(tfLoaded)['tfjs'], loadAverageAfter: os.loadavg().map((x) => Number(x.toFixed(2))), cpuPressureAvg60After: cpuPressure() },
    ratio: 'peer time / our time (throughput rows: ours / peer); higher is better, ≥ target meets the goal',
    rows,
    info,
  };
  if (args.json === true) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    if (typeof args.json === 'string') fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(args.markdown ? markdown(rows) : table(rows));
    const k = info['kernels'] as { numpy?: string; blas?: string[]; openblasCore?: string; threadpoolctl?: unknown } | undefined;
    if (k?.blas) {
      const tp = k.threadpoolctl === 'not installed' ? 'threadpoolctl not installed' : `threadpoolctl: ${JSON.stringify(k.threadpoolctl)}`;
      process.stdout.write(`\nnumpy ${k.numpy} ran with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset; BLAS mapped: ${k.blas.join(', ') || 'none found'} (OpenBLAS core: ${k.openblasCore}); ${tp}.\n`);
    }
    process.stdout.write(`\n${String(before['cpu'])} ×${String(before['cores'])}, Node ${process.version}, TF.js ${tfLoaded ? `${tfLoaded.backend} (${tfLoaded.reason})` : 'not loaded'}; load average ${String(before['loadAverage'])} → ${os.loadavg().map((x) => x.toFixed(2)).join(',')}; first touch of a 4 KiB page ${String(before['pageFaultMicrosPer4KiB'])} µs${before['glibcTunables'] ? ` (GLIBC_TUNABLES=${String(before['glibcTunables'])})` : ''}; ${result.seconds.toFixed(0)} s in all.\n`);
  }
}

async function start(): Promise<void> {
  if (hugePagesNeedRelaunch()) {
    // For peerEnv(): the peers start with what the bench was given.
    process.env.PARSIMONY_BENCH_GLIBC_TUNABLES = process.env.GLIBC_TUNABLES ?? '';
    const code = await relaunchWithHugePages();
    if (code !== null) {
      process.exitCode = code;
      return;
    }
  }
  await main();
}

start().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
