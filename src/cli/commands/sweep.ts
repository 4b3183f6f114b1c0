import * as path from 'node:path';
import { SWEEP_METHODS, sweepModel, type Setting, type SweepMethod, type SweepOptions, type SweepResult } from '../../core/evaluate/sweep';
import { formatBytes, formatCount, formatPercent } from '../../core/format';
import { UsageError } from '../args';
import { isCancelRequested } from '../cancel';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';
import { DATA_FLAGS, dataOptions } from './evaluate';

export const sweepCommand: CliCommand = {
  name: 'sweep',
  summary: 'compress at a series of settings, evaluate each, and show the size/accuracy Pareto frontier',
  usage: 'parsimony sweep <model> --method prune|quantize|cluster|low-rank --data <dataset> [--points n | --settings a,b,…] [--keep] [--json]',
  flags: {
    ...COMMON_FLAGS,
    method: { type: 'string', valueName: 'prune|quantize|cluster|low-rank', description: 'the compression to sweep' },
    ...DATA_FLAGS,
    points: {
      type: 'number',
      valueName: 'n',
      description:
        'how many settings (default: all of the ladder — prune 0.1…0.9, 0.95; cluster 256, 64, 16, 8, 4, 2; quantize float16, uint16, uint8 (TF.js) or float16, int8 (ONNX); low-rank D/2, D/4, … 1)',
    },
    settings: { type: 'string', valueName: 'a,b,…', description: 'exactly these settings (sparsities, dtypes, cluster counts or ranks)' },
    scope: { type: 'string', valueName: 'global|layer', description: 'prune: one global threshold (default) or each layer to the sparsity' },
    'include-ends': { type: 'boolean', description: 'prune: also prune the first and last weighted layers' },
    keep: { type: 'boolean', description: 'keep the compressed models (their folder is printed) instead of deleting them' },
    latency: { type: 'boolean', description: 'also time every point (about 1 s each)' },
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('sweep takes exactly one model file');
    const f = args.flags;
    if (typeof f.method !== 'string') throw new UsageError(`--method is required (${SWEEP_METHODS.join(', ')})`);
    if (!SWEEP_METHODS.includes(f.method as SweepMethod)) throw new UsageError(`unknown sweep method '${f.method}' (methods: ${SWEEP_METHODS.join(', ')})`);
    const method = f.method as SweepMethod;
    const options: SweepOptions = {
      ...dataOptions(args, io.cwd),
      method,
      onProgress: (fraction, message) => io.progress.report(fraction, message),
      isCancelled: isCancelRequested,
    };
    if (f.points !== undefined) {
      const n = f.points as number;
      if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`--points must be a positive integer, got ${n}`);
      options.points = n;
    }
    if (f.settings !== undefined) {
      if (f.points !== undefined) throw new UsageError('give --points or --settings, not both');
      options.settings = parseSettings(String(f.settings), method);
    }
    if (f.scope !== undefined) {
      if (method !== 'prune') throw new UsageError('--scope applies to --method prune');
      if (f.scope !== 'global' && f.scope !== 'layer') throw new UsageError(`--scope must be global or layer, got '${String(f.scope)}'`);
      options.scope = f.scope;
    }
    if (f['include-ends']) {
      if (method !== 'prune') throw new UsageError('--include-ends applies to --method prune');
      options.includeEnds = true;
    }
    if (f.keep) options.keep = true;
    if (f.latency) options.latency = true;
    const result = await sweepModel(file, options);
    io.progress.done();
    if (io.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
    else io.stdout(renderSweep(result, io.cwd) + '\n');
    return EXIT.ok;
  },
};

function parseSettings(text: string, method: SweepMethod): Setting[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new UsageError('--settings needs at least one value');
  return parts.map((p) => {
    if (method === 'quantize') return p;
    const n = Number(p);
    if (!Number.isFinite(n)) throw new UsageError(`--settings: '${p}' is not a number (${method} settings are numbers)`);
    return n;
  });
}

export function renderSweep(r: SweepResult, cwd: string): string {
  const lines = [`${path.relative(cwd, r.model) || r.model} (${r.format}): ${r.method} sweep over ${r.parameter}`];
  if (r.dataset) lines.push(`data ${r.dataset}: ${r.samples?.toLocaleString('en-US')} samples; Pareto frontiers of disk bytes, gzip bytes and MACs against ${r.metric}`);
  lines.push('');
  const onSize = new Set(r.pareto);
  const onGzip = new Set(r.paretoGzip);
  const onMacs = new Set(r.paretoMacs);
  const base = r.points[0]!;
  const metric = r.metric;
  const header = ['#', r.parameter, 'params', 'non-zero', 'disk', 'gzip', 'MACs', metric ?? 'accuracy', `Δ ${metric ?? ''}`.trim(), 'frontier'];
  const rows = r.points.map((p, i) => {
    const v = metric ? p[metric] : null;
    const b = metric ? base[metric] : null;
    const frontier = [onSize.has(i) ? 'disk' : '', onGzip.has(i) ? 'gzip' : '', onMacs.has(i) ? 'MACs' : ''].filter(Boolean).join(' ');
    return [
      String(i),
      p.setting === null ? 'original' : String(p.setting),
      formatCount(p.params),
      formatCount(p.nonzeroParams),
      formatBytes(p.bytesOnDisk),
      formatBytes(p.bytesGzip),
      formatCount(p.macs),
      p.error ? 'failed' : v === null ? '—' : formatPercent(v, 2),
      v === null || b === null || i === 0 ? '' : `${v >= b ? '+' : ''}${((v - b) * 100).toFixed(2)} pt`,
      frontier,
    ];
  });
  lines.push(renderTable(header, rows, new Set([2, 3, 4, 5, 6, 7, 8])));
  const failed = r.points.map((p, i) => (p.error ? `- point ${i} (${String(p.setting)}): ${p.error}` : '')).filter(Boolean);
  if (failed.length) lines.push('', ...failed);
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  if (r.keptIn) lines.push('', `compressed models kept in ${r.keptIn}`);
  return lines.join('\n');
}
