import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { sizeStats } from '../compress/stats';
import { CancelledError, ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { AtomicFileSet, createMissingFolders, freeName, removeCreatedFolders, writeFileAtomic } from '../io/atomicWrite';
import type { RunMetrics } from '../evaluate/runs';
import { contentHash } from '../io/contentHash';
import { loadTf } from '../runtime/tfjs';
import { trainingBackend } from './backend';
import { heldOutAccuracy, type ResolvedOptions, type TrainContext, type TrainMethod } from './context';
import { checkLabels, loadTrainingData } from './data';
import { modelConfig, splitSoftmax } from './graph';
import { ProgressTracker } from './loop';
import { loadLayersModelFile, outputNameFor, saveLayersModel, stemOf, verifyWritten } from './modelIo';
import type { TrainMethodId, TrainOptions, TrainResult, TrainRun } from './types';

export { TRAIN_METHOD_IDS, isTrainMethod } from './types';
export type { TrainMethodId, TrainOptions, TrainResult, TrainRun, TrainProgress } from './types';

const METHODS: Record<TrainMethodId, () => Promise<TrainMethod>> = {
  finetune: async () => (await import('./finetune')).finetune,
  distill: async () => (await import('./distill')).distill,
  'binary-train': async () => (await import('./binaryTrain')).binaryTrain,
  separable: async () => (await import('./separable')).separable,
  'early-exit': async () => (await import('./earlyExit')).earlyExit,
};

/** Epochs sized to the data: ~24k sample passes, between 2 and 5 epochs. */
export function defaultEpochs(count: number): number {
  return Math.max(2, Math.min(5, Math.round(24000 / Math.max(1, count))));
}

async function methodDef(method: TrainMethodId): Promise<TrainMethod> {
  const load = METHODS[method];
  if (!load) throw new ModelFormatError('invalid-option', `unknown training method '${String(method)}' (methods: ${Object.keys(METHODS).join(', ')})`);
  return load();
}

/** The problems with a training method's options (empty when fine), checked before anything is loaded. */
export async function validateTrainOptions(method: TrainMethodId, options: TrainOptions): Promise<string[]> {
  const def = await methodDef(method);
  const common: string[] = [];
  if (options.epochs !== undefined && !(Number.isInteger(options.epochs) && options.epochs >= 1)) common.push(`epochs must be a positive integer, got ${options.epochs}`);
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1)) common.push(`batch size must be a positive integer, got ${options.batchSize}`);
  if (options.learningRate !== undefined && !(options.learningRate > 0)) common.push(`learning rate must be above 0, got ${options.learningRate}`);
  return [...common, ...def.validate(options)];
}

/** The accuracy of the model a training method wrote (on its evaluation data), for run records. */
export function writtenAccuracy(result: Pick<TrainResult, 'method' | 'metrics' | 'options'>): number | null {
  const m = result.metrics as Record<string, unknown>;
  const pick = (...keys: string[]) => {
    for (const k of keys) if (typeof m[k] === 'number') return m[k] as number;
    return null;
  };
  switch (result.method) {
    case 'finetune':
      return result.options.rewind ? pick('rewoundAccuracy', 'finetunedAccuracy') : pick('finetunedAccuracy');
    case 'distill':
      return pick('studentAccuracy');
    case 'binary-train':
      return pick('trainedAccuracy');
    case 'separable':
      return pick('recoveredAccuracy');
    case 'early-exit': {
      const policy = m.policy as { accuracy?: unknown } | undefined;
      return typeof policy?.accuracy === 'number' ? policy.accuracy : null;
    }
  }
}

/** Run-record metrics of a training run: the written model's accuracy on the evaluation data. */
export function trainRunMetrics(result: Pick<TrainResult, 'method' | 'metrics' | 'options'>): RunMetrics {
  return { samples: result.metrics.evalSamples, accuracy: writtenAccuracy(result), top5: null, loss: null, agreement: null, klDivergence: null, mse: null };
}

/**
 * Runs one training-based method on a TF.js layers model and writes the result
 * next to it (`model.<method>.json` + `model.<method>.weights.bin`, plus a
 * `*.parsimony.json` sidecar). The source is only read. Nothing is written until
 * training finished; a cancelled or failed run leaves no files. The written
 * model is reloaded with stock TF.js and must predict what the trained one did.
 */
export async function trainModel(file: string, method: TrainMethodId, options: TrainOptions, run: TrainRun = {}): Promise<TrainResult> {
  const def = await methodDef(method);
  if (!options.data) throw new ModelFormatError('invalid-option', `${method} needs training data (--data mnist, a .npz/.csv/.json file or an image folder)`);
  const problems = await validateTrainOptions(method, options);
  if (problems.length) throw new ModelFormatError('invalid-option', `${method}: ${problems.join('; ')}`, { file });

  const source = path.resolve(file);
  const doc = await openModel(source);
  if (doc.format !== 'tfjs-layers') {
    throw new ModelFormatError(
      'unsupported-format',
      `${method} trains TF.js layers models (model.json with a Keras topology); this file is ${doc.format}. Convert it to a TF.js layers model first.`,
      { file: source },
    );
  }
  const sourceHash = await contentHash(doc.files);
  const before = await sizeStats(doc);
  const preference = run.backend ?? 'auto';
  const { tf } = await loadTf(preference);
  const model = await loadLayersModelFile(tf, source);
  const toDispose = [model];
  let written: string[] = [];
  // Folders --out named that did not exist: created like `mkdir -p`, removed again if the run fails (as compressModel does).
  let createdFolders: string[] = [];
  try {
    if (model.inputs.length !== 1) throw new ModelFormatError('unsupported-format', `the model has ${model.inputs.length} inputs; training methods need one`, { file: source });
    const arch = modelConfig(model);
    const split = splitSoftmax(arch);
    const outShape = model.outputs[0]!.shape;
    const classes = outShape[outShape.length - 1] ?? 0;
    if (outShape.length !== 2 || !(classes >= 2)) {
      throw new ModelFormatError('unsupported-format', `the model's output has shape [${outShape.map((d) => d ?? 'N').join(', ')}]; training methods need a classifier with output [N, classes ≥ 2]`, { file: source });
    }
    const data = await loadTrainingData(options.data, options.evalData, model.inputs[0]!.shape, run.cwd);
    checkLabels(data.train, classes, options.data);
    checkLabels(data.eval, classes, options.evalData ?? options.data);
    const resolved: ResolvedOptions = {
      ...options,
      epochs: options.epochs ?? (def.defaultEpochs ?? defaultEpochs)(data.train.count),
      batchSize: options.batchSize ?? 64,
      learningRate: options.learningRate ?? def.defaultLearningRate,
      seed: options.seed ?? 1,
    };
    const tb = await trainingBackend(def.gradientClasses(model, options), preference);
    try {
      const ctx: TrainContext = {
        tf: tb.tf,
        backend: tb.backend,
        source,
        model,
        arch,
        split,
        classes,
        data,
        options: resolved,
        run,
        tracker: (total) => new ProgressTracker(total, run.onProgress, run.isCancelled),
        sourceAccuracy: heldOutAccuracy({ tf: tb.tf, data, classes }, model),
      };
      const out = await def.run(ctx);
      // The written model first: it may share layers with the source (early exits), and a
      // shared layer's weights go with the first model disposed.
      toDispose.unshift(out.model, ...(out.dispose ?? []));
      if (run.isCancelled?.()) throw new CancelledError();

      const target = run.out ? path.resolve(run.out) : await freeName(outputNameFor(source, method));
      if (run.out) createdFolders = await createMissingFolders(path.dirname(target));
      const files = new AtomicFileSet();
      try {
        await saveLayersModel(tb.tf, out.model, target, files);
        for (const extra of out.extraFiles ?? []) await files.write(stemOf(target) + extra.suffix, extra.content);
        if (run.isCancelled?.()) throw new CancelledError();
        await files.commit();
      } catch (e) {
        await files.abort();
        throw e;
      }
      written = files.files;
      const verification = await verifyWritten(tb.tf, out.model, target, data.eval);
      await run.inspect?.(out.model);
      const after = await sizeStats(await openModel(target));
      const notes = [data.description + '.', ...data.notes, ...out.notes];
      if (tb.backend !== 'wasm' && tb.backend !== 'tensorflow') notes.push(tb.reason + '.');
      const metrics = {
        ...out.metrics,
        evalSamples: data.eval.count,
        trainSamples: data.train.count,
        backend: tb.backend,
      };
      const sidecar = stemOf(target) + '.parsimony.json';
      const result: TrainResult = {
        output: target,
        files: written,
        sidecar,
        method,
        options: resolved,
        before,
        after,
        notes,
        sourceHash,
        metrics,
        verification,
      };
      await writeFileAtomic(
        sidecar,
        JSON.stringify(
          {
            tool: 'parsimony',
            source,
            sourceHash,
            created: new Date().toISOString(),
            output: path.basename(target),
            files: written.map((f) => path.basename(f)),
            method,
            options: resolved,
            before,
            after,
            notes,
            metrics,
          },
          null,
          2,
        ) + '\n',
        false,
      );
      run.onProgress?.(1, `${def.label}: written`);
      return result;
    } finally {
      await tb.restore();
    }
  } catch (e) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    await removeCreatedFolders(createdFolders);
    throw e;
  } finally {
    for (const m of new Set(toDispose)) {
      try {
        m.dispose();
      } catch {
        // already disposed
      }
    }
  }
}
