import * as path from 'node:path';
import { diffModels, netronAttachment } from '../../core/analysis/diff';
import { formatBytes, formatCount } from '../../core/format';
import { writeFileAtomic } from '../../core/io/atomicWrite';
import { UsageError } from '../args';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';

export const diffCommand: CliCommand = {
  name: 'diff',
  summary: 'compare two models layer by layer (params, non-zero, dtype, distinct values, bytes)',
  usage: 'parsimony diff <a> <b> [--netron out.json] [--json]',
  flags: {
    ...COMMON_FLAGS,
    netron: { type: 'string', valueName: 'file', description: "write b's per-layer figures as a Netron attachment (JSON Netron loads beside a model)" },
  },
  async run(args, io) {
    const [a, b] = args.positionals;
    if (!a || !b || args.positionals.length > 2) throw new UsageError('diff takes two model files');
    const diff = await diffModels(path.resolve(io.cwd, a), path.resolve(io.cwd, b));
    if (typeof args.flags.netron === 'string') await writeFileAtomic(path.resolve(io.cwd, args.flags.netron), netronAttachment(diff, 'b'));
    if (io.json) {
      io.stdout(JSON.stringify(diff, null, 2) + '\n');
      return EXIT.ok;
    }
    const pct = (s: number | undefined) => (s === undefined ? '—' : `${(s * 100).toFixed(1)}%`);
    io.stdout(`a: ${diff.a}\nb: ${diff.b}\n\n`);
    io.stdout(
      renderTable(
        ['layer', 'params a', 'params b', 'sparsity a', 'sparsity b', 'dtype a', 'dtype b', 'distinct a', 'distinct b', 'bytes a', 'bytes b'],
        diff.layers.map((r) => [
          r.layer,
          formatCount(r.a?.params),
          formatCount(r.b?.params),
          pct(r.a?.sparsity),
          pct(r.b?.sparsity),
          r.a?.dtype ?? '—',
          r.b?.dtype ?? '—',
          r.a?.distinctValues?.toString() ?? '—',
          r.b?.distinctValues?.toString() ?? '—',
          formatBytes(r.a?.bytes),
          formatBytes(r.b?.bytes),
        ]),
        new Set([1, 2, 3, 4, 7, 8, 9, 10]),
      ) + '\n',
    );
    return EXIT.ok;
  },
};
