import * as path from 'node:path';
import { diffModels, formatSnr, netronAttachment, type SnrSource } from '../../core/analysis/diff';
import { DATASET_HELP } from '../../core/evaluate/datasets';
import type { BackendPreference } from '../../core/runtime/tfjs';
import { formatBytes, formatCount } from '../../core/format';
import { writeFileAtomic } from '../../core/io/atomicWrite';
import { UsageError } from '../args';
import { isCancelRequested } from '../cancel';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';

export const diffCommand: CliCommand = {
  name: 'diff',
  summary: 'compare two models layer by layer (params, non-zero, dtype, distinct values, bytes; output SNR with --data)',
  usage: 'parsimony diff <a> <b> [--data <dataset> [--limit n]] [--netron out.json] [--json]',
  flags: {
    ...COMMON_FLAGS,
    netron: { type: 'string', valueName: 'file', description: "write b's per-layer figures as a Netron attachment (JSON Netron loads beside a model)" },
    data: { type: 'string', valueName: 'dataset', description: `TF.js layers models: run these samples through both and report each layer's output SNR (b against a, dB); ${DATASET_HELP}` },
    limit: { type: 'number', valueName: 'n', description: 'with --data: use only the first n samples' },
    'batch-size': { type: 'number', valueName: 'n', description: 'with --data: samples per inference call (default 128)' },
    backend: { type: 'string', valueName: 'auto|tensorflow|wasm|cpu', description: 'with --data: TF.js backend (default auto)' },
  },
  async run(args, io) {
    const [a, b] = args.positionals;
    if (!a || !b || args.positionals.length > 2) throw new UsageError('diff takes two model files');
    const f = args.flags;
    const fileA = path.resolve(io.cwd, a);
    const fileB = path.resolve(io.cwd, b);
    let snr: SnrSource | undefined;
    if (f.data !== undefined) {
      const limit = f.limit as number | undefined;
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UsageError(`--limit must be a positive integer, got ${limit}`);
      const batchSize = f['batch-size'] as number | undefined;
      if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`--batch-size must be a positive integer, got ${batchSize}`);
      if (f.backend !== undefined && !['auto', 'tensorflow', 'wasm', 'cpu'].includes(String(f.backend))) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${String(f.backend)}'`);
      const { layerOutputSnr } = await import('../../core/analysis/outputSnr');
      snr = (layers) =>
        layerOutputSnr(fileA, fileB, layers, {
          data: String(f.data),
          cwd: io.cwd,
          ...(limit !== undefined ? { limit } : {}),
          ...(batchSize !== undefined ? { batchSize } : {}),
          ...(f.backend !== undefined ? { backend: f.backend as BackendPreference } : {}),
          onProgress: (fraction, message) => io.progress.report(fraction, message),
          isCancelled: isCancelRequested,
        });
    } else if (f.limit !== undefined) throw new UsageError('--limit needs --data');
    const diff = await diffModels(fileA, fileB, snr);
    io.progress.done();
    if (typeof args.flags.netron === 'string') await writeFileAtomic(path.resolve(io.cwd, args.flags.netron), netronAttachment(diff, 'b'));
    if (io.json) {
      io.stdout(JSON.stringify(diff, null, 2) + '\n');
      return EXIT.ok;
    }
    const pct = (s: number | undefined) => (s === undefined ? '—' : `${(s * 100).toFixed(1)}%`);
    io.stdout(`a: ${diff.a}\nb: ${diff.b}\n`);
    if (diff.snrData) {
      io.stdout(`output SNR (b against a) on ${diff.snrData.samples} samples of ${diff.snrData.dataset}\n`);
      if (diff.snrData.shapeMismatch.length) io.stdout(`no SNR where the output changed shape (units removed): ${diff.snrData.shapeMismatch.join(', ')}\n`);
    }
    io.stdout('\n');
    const withSnr = diff.snrData !== null;
    io.stdout(
      renderTable(
        ['layer', 'params a', 'params b', 'sparsity a', 'sparsity b', 'dtype a', 'dtype b', 'distinct a', 'distinct b', 'bytes a', 'bytes b', ...(withSnr ? ['SNR dB'] : [])],
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
          ...(withSnr ? [formatSnr(r)] : []),
        ]),
        new Set([1, 2, 3, 4, 7, 8, 9, 10, 11]),
      ) + '\n',
    );
    return EXIT.ok;
  },
};

