import * as path from 'node:path';
import { DATASET_HELP } from '../../core/evaluate/datasets';
import { evaluateModel, type EvaluateOptions, type EvaluateResult } from '../../core/evaluate/evaluate';
import { formatBytes, formatCount, formatPercent } from '../../core/format';
import type { BackendPreference } from '../../core/runtime/tfjs';
import { UsageError, type ParsedArgs } from '../args';
import { isCancelRequested } from '../cancel';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';

/** Flags shared by evaluate and sweep. */
export const DATA_FLAGS = {
  data: { type: 'string', valueName: 'dataset', description: `the data: ${DATASET_HELP}` },
  'label-column': { type: 'string', valueName: 'name', description: 'CSV: the label column (default: label, target, y or class)' },
  limit: { type: 'number', valueName: 'n', description: 'use only the first n samples' },
  'batch-size': { type: 'number', valueName: 'n', description: 'samples per inference call (default 256)' },
  backend: { type: 'string', valueName: 'auto|tensorflow|wasm|cpu', description: 'TF.js backend (default auto: tfjs-node if installed, else wasm)' },
  workspace: { type: 'string', valueName: 'dir', description: 'workspace root for run records (default: nearest folder with .parsimony/ or .git/)' },
  'no-record': { type: 'boolean', description: 'do not write a run record under <workspace>/.parsimony/runs/' },
} as const;

export function dataOptions(args: ParsedArgs, cwd: string): Omit<EvaluateOptions, 'data'> & { data?: string } {
  const f = args.flags;
  const o: Omit<EvaluateOptions, 'data'> & { data?: string } = { cwd };
  if (f.data !== undefined) o.data = String(f.data);
  if (f['label-column'] !== undefined) o.labelColumn = String(f['label-column']);
  if (f.limit !== undefined) {
    const n = f.limit as number;
    if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`--limit must be a positive integer, got ${n}`);
    o.limit = n;
  }
  if (f['batch-size'] !== undefined) {
    const n = f['batch-size'] as number;
    if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`--batch-size must be a positive integer, got ${n}`);
    o.batchSize = n;
  }
  if (f.backend !== undefined) {
    if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(String(f.backend))) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${String(f.backend)}'`);
    o.backend = f.backend as BackendPreference;
  }
  if (f.workspace !== undefined) o.workspace = path.resolve(cwd, String(f.workspace));
  if (f['no-record']) o.record = false;
  return o;
}

export const evaluateCommand: CliCommand = {
  name: 'evaluate',
  summary: 'accuracy on a dataset, agreement with a reference, sizes and latency of a model',
  usage:
    'parsimony evaluate <model> --data <dataset> [--reference <model>] [--label-column name] [--limit n] [--no-latency] [--min-accuracy a] [--min-agreement a] [--json]',
  flags: {
    ...COMMON_FLAGS,
    ...DATA_FLAGS,
    reference: { type: 'string', valueName: 'model', description: 'compare outputs with this model (agreement, KL divergence, MSE)' },
    'no-latency': { type: 'boolean', description: 'skip the latency measurement' },
    'min-accuracy': { type: 'number', valueName: 'a', description: 'exit 1 when accuracy is below a (0–1), for CI' },
    'min-agreement': { type: 'number', valueName: 'a', description: 'exit 1 when agreement with --reference is below a (0–1), for CI' },
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('evaluate takes exactly one model file');
    const f = args.flags;
    const options: EvaluateOptions = {
      ...dataOptions(args, io.cwd),
      onProgress: (fraction, message) => io.progress.report(fraction, message),
      isCancelled: isCancelRequested,
    };
    if (f.reference !== undefined) options.reference = String(f.reference);
    if (f['no-latency']) options.latency = false;
    if (f.reference !== undefined && f.data === undefined) throw new UsageError('--reference needs --data (the samples both models are run on)');
    for (const key of ['min-accuracy', 'min-agreement'] as const) {
      const v = f[key];
      if (v !== undefined && !((v as number) >= 0 && (v as number) <= 1)) throw new UsageError(`--${key} must be between 0 and 1, got ${String(v)}`);
    }
    if (f['min-agreement'] !== undefined && f.reference === undefined) throw new UsageError('--min-agreement needs --reference');
    const result = await evaluateModel(file, options);
    io.progress.done();
    if (io.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
    else io.stdout(renderEvaluation(result, io.cwd) + '\n');
    return checkThresholds(result, f['min-accuracy'] as number | undefined, f['min-agreement'] as number | undefined, io.stderr);
  },
};

function checkThresholds(r: EvaluateResult, minAccuracy: number | undefined, minAgreement: number | undefined, stderr: (t: string) => void): number {
  let failed = false;
  if (minAccuracy !== undefined) {
    if (r.accuracy === null) throw new UsageError('--min-accuracy: accuracy was not measured (the data has no labels, or the model cannot be run)');
    if (r.accuracy < minAccuracy) {
      stderr(`parsimony: accuracy ${r.accuracy.toFixed(4)} is below --min-accuracy ${minAccuracy}\n`);
      failed = true;
    }
  }
  if (minAgreement !== undefined) {
    if (r.agreement === null) throw new UsageError('--min-agreement: agreement was not measured (the model cannot be run)');
    if (r.agreement < minAgreement) {
      stderr(`parsimony: agreement ${r.agreement.toFixed(4)} is below --min-agreement ${minAgreement}\n`);
      failed = true;
    }
  }
  return failed ? EXIT.checkFailed : EXIT.ok;
}

const pct = (v: number | null) => (v === null ? '—' : formatPercent(v, 2));
const num = (v: number | null, digits = 4) => (v === null ? '—' : v.toPrecision(digits));
export const ms = (v: number | null) => (v === null ? '—' : v >= 1 ? `${v.toFixed(2)} ms` : `${(v * 1000).toFixed(1)} µs`);

export function renderEvaluation(r: EvaluateResult, cwd: string): string {
  const rel = (p: string) => path.relative(cwd, p) || p;
  const lines = [`${rel(r.model)} (${r.format})`];
  if (r.dataset !== null) lines.push(`data ${r.dataset}: ${r.samples?.toLocaleString('en-US')} samples${r.outputKind ? `; outputs read as ${r.outputKind}` : ''}`);
  if (r.reference) lines.push(`reference ${rel(r.reference)}`);
  lines.push('');
  const rows: string[][] = [];
  if (r.samples !== null) {
    rows.push(['accuracy', pct(r.accuracy)], ['top-5 accuracy', pct(r.top5)], ['loss (cross-entropy)', num(r.loss)]);
    if (r.reference) rows.push(['agreement with reference', pct(r.agreement)], ['KL(reference ‖ model)', num(r.klDivergence)], ['output MSE', num(r.mse)]);
  }
  rows.push(
    ['params', `${formatCount(r.params)} (${r.nonzeroParams.toLocaleString('en-US')} non-zero)`],
    ['bytes on disk', formatBytes(r.bytesOnDisk)],
    ['gzip bytes', formatBytes(r.bytesGzip)],
    ['bytes in memory', formatBytes(r.bytesInMemory)],
    ['MACs per sample', formatCount(r.macs)],
  );
  if (r.backend) {
    rows.push(['latency, batch 1', `${ms(r.latencyMs.batch1)} per sample`], ['latency, batch 32', `${ms(r.latencyMs.batch32)} per sample`], ['backend', r.inference ? `${r.backend}, ${r.inference}` : r.backend]);
  }
  lines.push(renderTable(['metric', 'value'], rows));
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  if (r.runId) lines.push('', `run recorded in .parsimony/runs: ${r.runId}`);
  return lines.join('\n');
}
