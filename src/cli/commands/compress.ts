import * as path from 'node:path';
import { compressModel, type CompressStep } from '../../core/compress/pipeline';
import { METHOD_IDS, type CompressOptions, type MethodId, type QuantDtype } from '../../core/compress/types';
import { UsageError } from '../args';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { isCancelRequested } from '../cancel';
import { beforeAfterTable } from '../table';
import { isTrainMethod, TRAIN_METHOD_IDS } from '../../core/train/types';
import { runTrainMethod, TRAIN_FLAGS } from './compressTrain';

export const compressCommand: CliCommand = {
  name: 'compress',
  summary: 'write a compressed copy of a model (pruning, quantization, clustering, binarization, low rank; training-based: fine-tuning, distillation, binary training, separable convs, early exits)',
  usage:
    'parsimony compress <model> --method prune|structured-prune|quantize|cluster|huffman|binarize|low-rank[,…] [--sparsity s | --pattern N:M] [--scope global|layer] [--dtype float16|bfloat16|int8|uint8|uint16] [--per-channel] [--clusters k] [--huffman] [--ternary] [--rank k | --energy e] [--units i,j | --merge i:j[,k:l] --layers a] [--layers a,b] [--out path] [--json]\n       parsimony compress <model> --method finetune|distill|binary-train|separable|early-exit --data <dataset> [--epochs n] [--sparsity s] [--temperature T] [--alpha a] [--student-width w] [--json]',
  flags: {
    ...COMMON_FLAGS,
    method: { type: 'string', valueName: 'm[,m…]', description: 'method, or a chain such as prune,cluster,huffman' },
    sparsity: { type: 'number', valueName: 's', description: 'prune: fraction of weights set to zero; structured-prune: fraction of units removed' },
    pattern: { type: 'string', valueName: 'N:M', description: 'prune: keep the N largest |w| of every M consecutive input weights of each unit (2:4 structured sparsity) instead of --sparsity' },
    scope: { type: 'string', valueName: 'global|layer', description: 'prune: one global threshold (default) or each layer to the sparsity' },
    dtype: { type: 'string', valueName: 'dtype', description: 'quantize: float16, bfloat16, int8, uint8 or uint16' },
    'per-channel': { type: 'boolean', description: 'quantize int8/uint8: one scale per output channel' },
    clusters: { type: 'number', valueName: 'k', description: 'cluster: shared values per tensor, 2–256 (default 16)' },
    huffman: { type: 'boolean', description: 'cluster: Huffman-code the indices' },
    ternary: { type: 'boolean', description: 'binarize: ternary {−α, 0, +α} weights' },
    rank: { type: 'number', valueName: 'k', description: 'low-rank: rank of each factorized layer' },
    energy: { type: 'number', valueName: 'e', description: 'low-rank: keep this share of spectral energy (e.g. 0.99)' },
    importance: { type: 'string', valueName: 'l1|l2', description: 'structured-prune: unit importance (default l1)' },
    units: { type: 'string', valueName: 'i,j', description: 'structured-prune: remove exactly these unit indices of the one layer given with --layers' },
    merge: { type: 'string', valueName: 'i:j[,k:l]', description: 'structured-prune: merge unit j into its duplicate i (outgoing weights added to i\'s in the next layer), in the one layer given with --layers' },
    layers: { type: 'string', valueName: 'a,b', description: 'only these layers' },
    'include-ends': { type: 'boolean', description: 'also prune/binarize the first and last layers' },
    out: { type: 'string', valueName: 'path', description: 'output file (default: next to the model, named for the method)' },
    workspace: { type: 'string', valueName: 'dir', description: 'workspace root for run records (default: nearest folder with .parsimony/ or .git/)' },
    'no-record': { type: 'boolean', description: 'do not write a run record under <workspace>/.parsimony/runs/' },
    ...TRAIN_FLAGS,
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('compress takes exactly one model file');
    const f = args.flags;
    if (typeof f.method !== 'string') throw new UsageError(`--method is required (${[...METHOD_IDS, ...TRAIN_METHOD_IDS].join(', ')})`);
    const methods = f.method.split(',').map((m) => m.trim()).filter(Boolean);
    const training = methods.filter(isTrainMethod);
    if (training.length) {
      if (methods.length > 1) throw new UsageError(`${training[0]} trains the model and runs alone, not in a chain`);
      return runTrainMethod(file, training[0]!, args, io);
    }
    for (const m of methods) if (!METHOD_IDS.includes(m as MethodId)) throw new UsageError(`unknown method '${m}' (methods: ${[...METHOD_IDS, ...TRAIN_METHOD_IDS].join(', ')})`);
    const options: CompressOptions = {};
    if (f.sparsity !== undefined) options.sparsity = f.sparsity as number;
    if (typeof f.pattern === 'string') {
      const m = /^(\d+):(\d+)$/.exec(f.pattern.trim());
      if (!m || !(Number(m[1]) >= 1 && Number(m[1]) < Number(m[2]))) throw new UsageError(`--pattern takes N:M with 1 ≤ N < M, such as 2:4, got '${f.pattern}'`);
      options.pattern = { keep: Number(m[1]), group: Number(m[2]) };
    }
    if (f.scope !== undefined) {
      if (f.scope !== 'global' && f.scope !== 'layer') throw new UsageError(`--scope must be global or layer, got '${String(f.scope)}'`);
      options.scope = f.scope;
    }
    if (f.dtype !== undefined) options.dtype = f.dtype as QuantDtype;
    if (f['per-channel']) options.perChannel = true;
    if (f.clusters !== undefined) options.clusters = f.clusters as number;
    if (f.huffman) options.huffman = true;
    if (f.ternary) options.ternary = true;
    if (f.rank !== undefined) options.rank = f.rank as number;
    if (f.energy !== undefined) options.energy = f.energy as number;
    if (f.importance !== undefined) options.importance = f.importance as 'l1' | 'l2';
    if (typeof f.layers === 'string') options.layers = f.layers.split(',').map((s) => s.trim()).filter(Boolean);
    if (f['include-ends']) options.includeEnds = true;
    if (typeof f.units === 'string') {
      const units = f.units.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
      if (!units.length || units.some((u) => !Number.isInteger(u) || u < 0)) throw new UsageError(`--units takes unit indices such as 3,17, got '${f.units}'`);
      if (options.layers?.length !== 1) throw new UsageError('--units needs exactly one layer: --layers <name>');
      options.units = units;
    }
    if (typeof f.merge === 'string') {
      const pairs = f.merge.split(',').map((s) => s.trim()).filter(Boolean).map((s) => /^(\d+):(\d+)$/.exec(s));
      if (!pairs.length || pairs.some((m) => !m)) throw new UsageError(`--merge takes unit pairs kept:removed such as 3:7,12:40, got '${f.merge}'`);
      if (options.layers?.length !== 1) throw new UsageError('--merge needs exactly one layer: --layers <name>');
      options.merge = pairs.map((m) => [Number(m![1]), Number(m![2])]);
    }
    if (methods.includes('prune') && options.sparsity === undefined && options.pattern === undefined) throw new UsageError('prune needs --sparsity or --pattern');
    if (options.pattern && options.sparsity !== undefined) throw new UsageError('give --pattern or --sparsity, not both');
    if (methods.includes('structured-prune') && options.sparsity === undefined && options.units === undefined && options.merge === undefined) throw new UsageError('structured-prune needs --sparsity, --units or --merge');
    if (methods.includes('quantize') && options.dtype === undefined) throw new UsageError('quantize needs --dtype');
    if (methods.includes('low-rank') && options.rank === undefined && options.energy === undefined) throw new UsageError('low-rank needs --rank or --energy');
    const steps: CompressStep[] = methods.map((method) => ({ method: method as MethodId, options }));
    const started = new Date().toISOString();
    const result = await compressModel(path.resolve(io.cwd, file), steps, {
      ...(typeof f.out === 'string' ? { out: path.resolve(io.cwd, f.out) } : {}),
      onProgress: (fraction, message) => io.progress.report(fraction, message),
      isCancelled: isCancelRequested,
    });
    io.progress.done();
    let runId: string | null = null;
    if (!f['no-record']) {
      const { recordCompressRun } = await import('../../core/evaluate/runs');
      const workspace = typeof f.workspace === 'string' ? path.resolve(io.cwd, f.workspace) : undefined;
      runId = (await recordCompressRun(path.resolve(io.cwd, file), result, { ...(workspace ? { workspace } : {}), started })).id;
    }
    if (io.json) {
      io.stdout(
        JSON.stringify(
          { runId, output: result.output, method: result.method, options: result.options, before: result.before, after: result.after, files: result.files, sidecar: result.sidecar, notes: result.notes },
          null,
          2,
        ) + '\n',
      );
      return EXIT.ok;
    }
    io.stdout(`wrote ${result.output}\n\n${beforeAfterTable(result.before, result.after)}\n\n`);
    for (const n of result.notes) io.stdout(`- ${n}\n`);
    return EXIT.ok;
  },
};

