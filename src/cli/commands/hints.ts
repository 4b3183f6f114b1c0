import * as path from 'node:path';
import { computeHints } from '../../core/analysis/hints';
import { formatBytes, formatCount } from '../../core/format';
import { openModel } from '../../core/formats/registry';
import { UsageError } from '../args';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { isCancelRequested } from '../cancel';
import { renderTable } from '../table';

export const hintsCommand: CliCommand = {
  name: 'hints',
  summary: 'redundancy hints: what can be pruned, factorized, clustered or quantized, and what it saves',
  usage: 'parsimony hints <model> [--epsilon e] [--json]',
  flags: {
    ...COMMON_FLAGS,
    epsilon: { type: 'number', valueName: 'e', description: 'relative error bound ε (default 0.01)' },
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('hints takes exactly one model file');
    const epsilon = (args.flags.epsilon as number | undefined) ?? 0.01;
    if (!(epsilon > 0 && epsilon < 1)) throw new UsageError(`--epsilon must be between 0 and 1, got ${epsilon}`);
    const doc = await openModel(path.resolve(io.cwd, file));
    const result = await computeHints(doc, { epsilon }, { onProgress: (f, m) => io.progress.report(f, m), isCancelled: isCancelRequested });
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
          },
          null,
          2,
        ) + '\n',
      );
      return EXIT.ok;
    }
    io.stdout(`${result.file}\n${result.hints.length} hints at ε = ${epsilon}\n\n`);
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
    return EXIT.ok;
  },
};
