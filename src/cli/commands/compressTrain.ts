import * as path from 'node:path';
import type { CompressResult } from '../../core/compress/pipeline';
import type { TrainMethodId, TrainOptions } from '../../core/train/types';
import { UsageError, type FlagSpecs, type ParsedArgs } from '../args';
import { isCancelRequested } from '../cancel';
import { EXIT, type CliIo } from '../command';
import { beforeAfterTable, renderTable } from '../table';

/** Flags of the training-based methods (finetune, distill, binary-train, separable, early-exit). */
export const TRAIN_FLAGS: FlagSpecs = {
  data: { type: 'string', valueName: 'dataset', description: 'training methods: training data (mnist, mnist:train:N, .npz/.npy/.csv/.json, image folder)' },
  'eval-data': { type: 'string', valueName: 'dataset', description: 'training methods: held-out data for accuracies (default: MNIST test split, else 20% of --data)' },
  epochs: { type: 'number', valueName: 'n', description: 'training methods: epochs (default sized to the data: 2–5; distill 3–15; early-exit heads 3–10)' },
  'batch-size': { type: 'number', valueName: 'n', description: 'training methods: batch size (default 64)' },
  'learning-rate': { type: 'number', valueName: 'lr', description: 'training methods: Adam learning rate (default 5e-4 for finetune and separable, 2e-3 for distill, 1e-3 otherwise)' },
  seed: { type: 'number', valueName: 'n', description: 'training methods: seed for data order and new weights (default 1)' },
  schedule: { type: 'string', valueName: 'polynomial|constant', description: 'finetune: sparsity schedule (default polynomial)' },
  'initial-sparsity': { type: 'number', valueName: 's', description: 'finetune: sparsity at the start of the polynomial schedule (default 0)' },
  rewind: { type: 'boolean', description: 'finetune: lottery ticket — rewind surviving weights to --initial and retrain' },
  initial: { type: 'string', valueName: 'model.json', description: 'finetune --rewind: the model before training (same architecture)' },
  scratch: { type: 'boolean', description: 'finetune: also train the pruned architecture from a new random init' },
  teacher: { type: 'string', valueName: 'a,b', description: 'distill: more teacher models (probabilities averaged with the model’s)' },
  'student-width': { type: 'number', valueName: 'w', description: 'distill: student = the model with hidden widths × w (default 0.5)' },
  student: { type: 'string', valueName: 'model.json', description: 'distill: the student model to train' },
  temperature: { type: 'number', valueName: 'T', description: 'distill, separable: softmax temperature (default 4)' },
  alpha: { type: 'number', valueName: 'a', description: 'distill: weight of the soft targets (default 0.9); separable: > 0 recovers by distillation' },
  baseline: { type: 'boolean', description: 'distill: also train the student on labels only, for comparison' },
  bits: { type: 'number', valueName: 'k', description: 'binary-train: k-bit weights (2–8) instead of binary' },
  exits: { type: 'string', valueName: 'a,b', description: 'early-exit: layers to attach exits after (default: after each conv block)' },
  'max-accuracy-drop': { type: 'number', valueName: 'd', description: 'early-exit: accuracy the thresholds may cost on held-out data (default 0.005)' },
};

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

export function trainOptionsFrom(f: ParsedArgs['flags'], cwd: string): TrainOptions {
  if (typeof f.data !== 'string') throw new UsageError('training methods need --data (e.g. --data mnist)');
  const o: TrainOptions = { data: f.data };
  const num = (name: string) => (f[name] !== undefined ? (f[name] as number) : undefined);
  const file = (name: string) => (typeof f[name] === 'string' ? path.resolve(cwd, f[name] as string) : undefined);
  if (typeof f['eval-data'] === 'string') o.evalData = f['eval-data'];
  const set = <K extends keyof TrainOptions>(key: K, value: TrainOptions[K] | undefined) => {
    if (value !== undefined) o[key] = value;
  };
  set('epochs', num('epochs'));
  set('batchSize', num('batch-size'));
  set('learningRate', num('learning-rate'));
  set('seed', num('seed'));
  set('sparsity', num('sparsity'));
  set('initialSparsity', num('initial-sparsity'));
  if (f.schedule !== undefined) {
    if (f.schedule !== 'polynomial' && f.schedule !== 'constant') throw new UsageError(`--schedule must be polynomial or constant, got '${String(f.schedule)}'`);
    o.schedule = f.schedule;
  }
  if (f.scope !== undefined) {
    if (f.scope !== 'global' && f.scope !== 'layer') throw new UsageError(`--scope must be global or layer, got '${String(f.scope)}'`);
    o.scope = f.scope;
  }
  if (f.rewind) o.rewind = true;
  set('initial', file('initial'));
  if (f.scratch) o.scratch = true;
  set('teachers', list(f.teacher)?.map((t) => path.resolve(cwd, t)));
  set('studentWidth', num('student-width'));
  set('student', file('student'));
  set('temperature', num('temperature'));
  set('alpha', num('alpha'));
  if (f.baseline) o.baseline = true;
  if (f.ternary) o.ternary = true;
  set('bits', num('bits'));
  set('layers', list(f.layers));
  set('exits', list(f.exits));
  set('maxAccuracyDrop', num('max-accuracy-drop'));
  return o;
}

/** `parsimony compress <model> --method <training method> --data …`: trains, writes, prints the compress summary plus accuracies. */
export async function runTrainMethod(file: string, method: TrainMethodId, args: ParsedArgs, io: CliIo): Promise<number> {
  const f = args.flags;
  const options = trainOptionsFrom(f, io.cwd);
  const { trainModel } = await import('../../core/train');
  const started = new Date().toISOString();
  const source = path.resolve(io.cwd, file);
  const result = await trainModel(source, method, options, {
    ...(typeof f.out === 'string' ? { out: path.resolve(io.cwd, f.out) } : {}),
    cwd: io.cwd,
    onProgress: (fraction, message) => io.progress.report(fraction, message),
    isCancelled: isCancelRequested,
  });
  io.progress.done();
  let runId: string | null = null;
  if (!f['no-record']) {
    const { recordCompressRun } = await import('../../core/evaluate/runs');
    const workspace = typeof f.workspace === 'string' ? path.resolve(io.cwd, f.workspace) : undefined;
    const asCompress = { ...result, steps: [] } as unknown as CompressResult;
    const { trainRunMetrics } = await import('../../core/train');
    runId = (await recordCompressRun(source, asCompress, { ...(workspace ? { workspace } : {}), started, metrics: trainRunMetrics(result), dataset: options.data })).id;
  }
  if (io.json) {
    io.stdout(
      JSON.stringify(
        {
          runId,
          output: result.output,
          method: result.method,
          options: result.options,
          before: result.before,
          after: result.after,
          files: result.files,
          sidecar: result.sidecar,
          notes: result.notes,
          metrics: result.metrics,
          verification: result.verification,
        },
        null,
        2,
      ) + '\n',
    );
    return EXIT.ok;
  }
  io.stdout(`wrote ${result.output}\n\n${beforeAfterTable(result.before, result.after)}\n\n`);
  const accuracies = Object.entries(result.metrics).filter(([k, v]) => /Accuracy$/.test(k) && typeof v === 'number');
  if (accuracies.length) {
    io.stdout(renderTable(['accuracy', ''], accuracies.map(([k, v]) => [k.replace(/Accuracy$/, ''), `${((v as number) * 100).toFixed(2)}%`]), new Set([1])) + '\n\n');
  }
  for (const n of result.notes) io.stdout(`- ${n}\n`);
  return EXIT.ok;
}
