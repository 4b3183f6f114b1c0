import * as path from 'node:path';
import { computeHints, type HintDataOptions } from '../../core/analysis/hints';
import { formatBytes, formatCount } from '../../core/format';
import { openModel } from '../../core/formats/registry';
import { UsageError } from '../args';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { isCancelRequested } from '../cancel';
import { renderTable } from '../table';
import { DATA_FLAGS, dataOptions } from './evaluate';

export const hintsCommand: CliCommand = {
  name: 'hints',
  summary: 'redundancy hints: what can be pruned, factorized, clustered or quantized, and what it saves',
  usage: 'parsimony hints <model> [--data <dataset>] [--epsilon e] [--json]',
  flags: {
    ...COMMON_FLAGS,
    epsilon: { type: 'number', valueName: 'e', description: 'relative error bound ε (default 0.01)' },
    data: { ...DATA_FLAGS.data, description: `measure dead units on this data (TF.js layers models): ${DATA_FLAGS.data.description.replace(/^the data: /, '')}` },
    'label-column': DATA_FLAGS['label-column'],
    limit: DATA_FLAGS.limit,
    'batch-size': DATA_FLAGS['batch-size'],
    backend: DATA_FLAGS.backend,
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('hints takes exactly one model file');
    const epsilon = (args.flags.epsilon as number | undefined) ?? 0.01;
    if (!(epsilon > 0 && epsilon < 1)) throw new UsageError(`--epsilon must be between 0 and 1, got ${epsilon}`);
    const d = dataOptions(args, io.cwd);
    if (d.data === undefined && (d.limit !== undefined || d.labelColumn !== undefined || d.batchSize !== undefined)) throw new UsageError('--limit, --label-column and --batch-size go with --data');
    const data: HintDataOptions | undefined =
      d.data === undefined
        ? undefined
        : {
            data: d.data,
            cwd: io.cwd,
            ...(d.limit !== undefined ? { limit: d.limit } : {}),
            ...(d.labelColumn !== undefined ? { labelColumn: d.labelColumn } : {}),
            ...(d.batchSize !== undefined ? { batchSize: d.batchSize } : {}),
            ...(d.backend !== undefined ? { backend: d.backend } : {}),
          };
    const doc = await openModel(path.resolve(io.cwd, file));
    const result = await computeHints(doc, { epsilon }, { onProgress: (f, m) => io.progress.report(f, m), isCancelled: isCancelRequested }, data);
    io.progress.done();
    if (io.json) {
      io.stdout(
        JSON.stringify(
          {
            file: result.file,
            epsilon,
            hints: result.hints.map((h) => ({
              layer: h.layer,
              tensor: h.tensor,
              kind: h.kind,
              savingsParams: h.savingsParams,
              savingsBytes: h.savingsBytes,
              error: h.error,
              detail: h.detail,
              message: h.message,
            })),
            skipped: result.skipped,
            basis: result.basis,
            data: result.data,
            notes: result.notes,
          },
          null,
          2,
        ) + '\n',
      );
      return EXIT.ok;
    }
    const basis = result.data ? `; dead units measured on ${result.data.dataset} (${formatCount(result.data.samples)} samples, ${result.data.layers} layers)` : '';
    io.stdout(`${result.file}\n${result.hints.length} hints at ε = ${epsilon}${basis}\n\n`);
    if (result.hints.length) {
      io.stdout(
        renderTable(
          ['layer', 'kind', 'saves params', 'saves bytes', 'error', 'finding'],
          result.hints.map((h) => [h.layer, h.kind, formatCount(h.savingsParams), formatBytes(h.savingsBytes), `${(h.error * 100).toFixed(2)}%`, h.message]),
          new Set([2, 3, 4]),
        ) + '\n',
      );
    }
    for (const s of result.skipped) io.stdout(`skipped ${s.tensor}: ${s.reason}\n`);
    for (const n of result.notes) io.stdout(`note: ${n}\n`);
    return EXIT.ok;
  },
};
