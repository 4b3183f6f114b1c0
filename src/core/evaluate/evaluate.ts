import * as path from 'node:path';
import { sizeStats, type SizeStats } from '../compress/stats';
import { CancelledError, ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { contentHash } from '../io/contentHash';
import type { FormatId } from '../model';
import type { BackendPreference } from '../runtime/tfjs';
import { adaptSamples, imageTargetFor, planInput } from './adapt';
import { loadDataset, type Dataset } from './datasets';
import { measureLatency } from './latency';
import { checkLabels, computeMetrics, type OutputKind, type Scored } from './metrics';
import { kerasNotRunnable, looksLikeKeras, openRunner, runnableReason, type Runner } from './runners';
import { workspaceRelative, workspaceRoot, writeRun, type RunMetrics } from './runs';

/**
 * `parsimony evaluate`: a model's accuracy on a dataset (and agreement with a
 * reference model), its sizes and its latency, from the format's stock runtime.
 */
export interface EvaluateOptions {
  /** A dataset spec (see DATASET_HELP) or an already loaded dataset. */
  data?: string | Dataset;
  /** A reference model (e.g. the uncompressed original): agreement, KL divergence and MSE against it. */
  reference?: string;
  /** CSV: the label column. */
  labelColumn?: string;
  /** Use only the first N samples. */
  limit?: number;
  /** Samples per inference call (default 256). */
  batchSize?: number;
  /** Measure latency at batch 1 and 32 (default true). */
  latency?: boolean;
  /** Time spent timing each batch size, after warm-up (default 500 ms). */
  latencyBudgetMs?: number;
  backend?: BackendPreference;
  /** Resolves relative dataset paths (default: process.cwd()). */
  cwd?: string;
  /** Write a run record (default true). */
  record?: boolean;
  /** Workspace root for the run record (default: see workspaceRoot). */
  workspace?: string;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

/** The `parsimony evaluate --json` contract (keys are an interface: keep them). */
export interface EvaluateResult {
  model: string;
  format: FormatId;
  dataset: string | null;
  samples: number | null;
  accuracy: number | null;
  top5: number | null;
  loss: number | null;
  agreement: number | null;
  klDivergence: number | null;
  mse: number | null;
  params: number;
  nonzeroParams: number;
  bytesOnDisk: number;
  bytesGzip: number;
  bytesInMemory: number;
  macs: number | null;
  latencyMs: { batch1: number | null; batch32: number | null };
  backend: string | null;
  /** How the runtime ran batches, where it has a choice: TF.js layers models run through an 'inference plan (…)' (fused kernel calls) or 'model.predict'. */
  inference: string | null;
  /** Whether the model's outputs were read as probabilities or as logits (softmax applied). */
  outputKind: OutputKind | null;
  reference: string | null;
  notes: string[];
  runId: string | null;
}

export const DEFAULT_BATCH = 256;

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function checkCancelled(isCancelled?: () => boolean): void {
  if (isCancelled?.()) throw new CancelledError();
}

/**
 * Runs `n` samples through the runner, honouring a fixed batch dimension
 * (split into runs of that size, the last one padded with zeros).
 */
export async function runBatch(runner: Runner, x: Float32Array, n: number, shape: readonly number[]): Promise<{ values: Float32Array; width: number }> {
  const fixed = runner.fixedBatch;
  if (!fixed || fixed === n) return runner.run(x.length === n * product(shape) ? x : x.subarray(0, n * product(shape)), n, shape);
  const per = product(shape);
  const parts: Float32Array[] = [];
  let width = -1;
  for (let i = 0; i < n; i += fixed) {
    const m = Math.min(fixed, n - i);
    const chunk = new Float32Array(fixed * per);
    chunk.set(x.subarray(i * per, (i + m) * per));
    const r = await runner.run(chunk, fixed, shape);
    width = r.width;
    parts.push(r.values.subarray(0, m * r.width));
  }
  const values = new Float32Array(n * Math.max(width, 0));
  let o = 0;
  for (const p of parts) {
    values.set(p, o);
    o += p.length;
  }
  return { values, width };
}

export interface PredictOptions {
  batchSize?: number;
  onProgress?: (fraction: number) => void;
  isCancelled?: () => boolean;
}

/** Runs every sample in batches; returns the outputs (count × width). */
export async function predictAll(runner: Runner, x: Float32Array, count: number, shape: readonly number[], options: PredictOptions = {}): Promise<Scored> {
  const per = product(shape);
  const step = Math.max(1, options.batchSize ?? DEFAULT_BATCH);
  let width = -1;
  let values = new Float32Array(0);
  for (let i = 0; i < count; i += step) {
    checkCancelled(options.isCancelled);
    const n = Math.min(step, count - i);
    const r = await runBatch(runner, x.slice(i * per, (i + n) * per), n, shape);
    if (width < 0) {
      width = r.width;
      values = new Float32Array(count * width);
    } else if (r.width !== width) {
      throw new ModelFormatError('not-a-model', `the model's output size changed between batches (${width} then ${r.width} per sample)`);
    }
    if (!Number.isInteger(width) || width <= 0) throw new ModelFormatError('not-a-model', `the model's output does not split into ${n} samples`);
    values.set(r.values.subarray(0, n * width), i * width);
    options.onProgress?.(Math.min(1, (i + n) / count));
  }
  return { values, width: Math.max(width, 0), n: count };
}

/** Feeds a dataset to a runner: shape adaptation (reshape/transpose) then inference. */
export async function scoreDataset(runner: Runner, dataset: Dataset, options: PredictOptions = {}): Promise<{ scored: Scored; shape: number[]; x: Float32Array; note?: string }> {
  const plan = planInput(dataset.sampleShape, runner.inputShape);
  const x = adaptSamples(dataset, plan);
  const scored = await predictAll(runner, x, dataset.count, plan.shape, options);
  return { scored, shape: plan.shape, x, ...(plan.note ? { note: plan.note } : {}) };
}

/** Latency per sample at batch 1 and 32, from the given samples (repeated when there are fewer than 32). */
export async function measureRunnerLatency(
  runner: Runner,
  x: Float32Array,
  count: number,
  shape: readonly number[],
  budgetMs = 500,
): Promise<{ batch1: number; batch32: number }> {
  const per = product(shape);
  const pick = (n: number) => {
    const out = new Float32Array(n * per);
    for (let i = 0; i < n; i++) out.set(x.subarray((i % count) * per, ((i % count) + 1) * per), i * per);
    return out;
  };
  const one = pick(1);
  const many = pick(32);
  const batch1 = await measureLatency(() => runBatch(runner, one, 1, shape), 1, { budgetMs });
  const batch32 = await measureLatency(() => runBatch(runner, many, 32, shape), 32, { budgetMs });
  return { batch1, batch32 };
}

/** Loads the dataset for a runner: image folders are decoded to the model's input size. */
export async function loadDatasetFor(runner: Runner | null, options: EvaluateOptions): Promise<Dataset> {
  if (options.data === undefined) throw new ModelFormatError('invalid-option', 'no dataset given');
  if (typeof options.data !== 'string') return options.data;
  const image = imageTargetFor(runner?.inputShape ?? null);
  return loadDataset(options.data, {
    ...(options.labelColumn !== undefined ? { labelColumn: options.labelColumn } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(image ? { image } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
}

const emptyMetrics = { accuracy: null, top5: null, loss: null, agreement: null, klDivergence: null, mse: null } as const;

export async function evaluateModel(file: string, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const started = new Date().toISOString();
  const progress = options.onProgress ?? (() => {});
  const absolute = path.resolve(options.cwd ?? process.cwd(), file);
  if (looksLikeKeras(absolute)) throw kerasNotRunnable(absolute);
  const doc = await openModel(absolute);
  const notes: string[] = [];
  progress(0.02, 'measuring sizes');
  const sizes = await sizeStats(doc);
  const reason = runnableReason(doc.format);
  let runner: Runner | null = null;
  let refRunner: Runner | null = null;
  let dataset: Dataset | null = null;
  let metrics: Omit<EvaluateResult, 'model'> | null = null;
  try {
    runner = await openRunner(doc, options.backend ?? 'auto');
    if (!runner) {
      notes.push(reason ?? `${doc.format} models cannot be run`);
    } else {
      notes.push(...runner.notes);
      let outputKind: OutputKind | null = null;
      let m: ReturnType<typeof computeMetrics> | null = null;
      let latencyMs: EvaluateResult['latencyMs'] = { batch1: null, batch32: null };
      if (options.data !== undefined) {
        progress(0.05, 'loading data');
        dataset = await loadDatasetFor(runner, options);
        notes.push(...dataset.notes);
        checkCancelled(options.isCancelled);
        const span = options.reference ? 0.4 : 0.8;
        const main = await scoreDataset(runner, dataset, {
          ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
          onProgress: (f) => progress(0.05 + f * span, `running ${dataset!.count} samples`),
          ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
        });
        if (main.note) notes.push(main.note);
        let reference: Scored | null = null;
        if (options.reference) {
          const refFile = path.resolve(options.cwd ?? process.cwd(), options.reference);
          if (looksLikeKeras(refFile)) throw kerasNotRunnable(refFile);
          const refDoc = await openModel(refFile);
          refRunner = await openRunner(refDoc, options.backend ?? 'auto');
          if (!refRunner) {
            throw new ModelFormatError('unsupported-format', `the reference model cannot be run: ${runnableReason(refDoc.format)}`, { file: refDoc.file });
          }
          const ref = await scoreDataset(refRunner, dataset, {
            ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
            onProgress: (f) => progress(0.45 + f * 0.4, `running the reference on ${dataset!.count} samples`),
            ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
          });
          reference = ref.scored;
        }
        if (dataset.y) checkLabels(dataset.y, main.scored.width, dataset.classes);
        m = computeMetrics(main.scored, dataset.y, reference);
        outputKind = m.outputKind;
        if (!dataset.y && !reference) notes.push('the dataset has no labels and no --reference was given: only sizes and latency are measured');
        if (options.latency !== false) {
          progress(0.88, 'timing');
          latencyMs = await measureRunnerLatency(runner, main.x, dataset.count, main.shape, options.latencyBudgetMs);
        }
      } else if (options.latency !== false && runner.inputShape && runner.inputShape.slice(1).every((d) => d !== null)) {
        // No data: time the model on zeros of its input shape.
        const shape = runner.inputShape.slice(1) as number[];
        progress(0.5, 'timing');
        latencyMs = await measureRunnerLatency(runner, new Float32Array(product(shape)), 1, shape, options.latencyBudgetMs);
        notes.push('no dataset given: latency measured on zeros; no accuracy');
      }
      metrics = {
        format: doc.format,
        dataset: dataset?.name ?? null,
        samples: dataset?.count ?? null,
        ...(m ? { accuracy: m.accuracy, top5: m.top5, loss: m.loss, agreement: m.agreement, klDivergence: m.klDivergence, mse: m.mse } : emptyMetrics),
        ...sizes,
        latencyMs,
        backend: runner.backend,
        inference: runner.inference ?? null,
        outputKind,
        reference: options.reference ? path.resolve(options.cwd ?? process.cwd(), options.reference) : null,
        notes,
        runId: null,
      };
    }
  } finally {
    await runner?.dispose();
    await refRunner?.dispose();
  }
  const result: EvaluateResult = {
    model: doc.file,
    ...(metrics ?? {
      format: doc.format,
      dataset: null,
      samples: null,
      ...emptyMetrics,
      ...sizes,
      latencyMs: { batch1: null, batch32: null },
      backend: null,
      inference: null,
      outputKind: null,
      reference: null,
      notes,
      runId: null,
    }),
  };
  if (options.record !== false) {
    progress(0.98, 'recording the run');
    try {
      const workspace = await workspaceRoot(doc.file, options.workspace);
      const record = await writeRun(workspace, {
        kind: 'evaluate',
        method: 'evaluate',
        model: workspaceRelative(workspace, doc.file),
        modelHash: await contentHash(doc.files),
        format: doc.format,
        output: null,
        outputHash: null,
        options: recordOptions(options, workspace),
        dataset: result.dataset ?? (typeof options.data === 'string' ? options.data : null),
        sweepId: null,
        setting: null,
        metrics: runMetrics(result),
        sizes: pickSizes(result),
        sizesBefore: null,
        latencyMs: result.latencyMs,
        backend: result.backend,
        notes: result.notes,
        started,
        finished: new Date().toISOString(),
      });
      result.runId = record.id;
    } catch (e) {
      result.notes.push(`the run record could not be written: ${(e as Error).message}`);
    }
  }
  progress(1, 'done');
  return result;
}

function recordOptions(options: EvaluateOptions, workspace: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof options.data === 'string') out.data = options.data;
  if (options.reference) out.reference = workspaceRelative(workspace, path.resolve(options.cwd ?? process.cwd(), options.reference));
  if (options.labelColumn) out.labelColumn = options.labelColumn;
  if (options.limit !== undefined) out.limit = options.limit;
  out.batchSize = options.batchSize ?? DEFAULT_BATCH;
  if (options.backend) out.backend = options.backend;
  return out;
}

export function runMetrics(r: { samples: number | null } & Record<keyof Omit<RunMetrics, 'samples'>, number | null>): RunMetrics {
  return { samples: r.samples, accuracy: r.accuracy, top5: r.top5, loss: r.loss, agreement: r.agreement, klDivergence: r.klDivergence, mse: r.mse };
}

export function pickSizes(r: SizeStats): SizeStats {
  return { params: r.params, nonzeroParams: r.nonzeroParams, bytesOnDisk: r.bytesOnDisk, bytesGzip: r.bytesGzip, bytesInMemory: r.bytesInMemory, macs: r.macs };
}
