import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { METHODS } from '../compress/methods';
import { compressModel } from '../compress/pipeline';
import { sizeStats, type SizeStats } from '../compress/stats';
import { weightTargets } from '../compress/targets';
import type { CompressOptions, QuantDtype } from '../compress/types';
import { CancelledError, isCancelled, isModelFormatError, ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { writerFor, WRITABLE_FORMATS } from '../formats/writer';
import { contentHash } from '../io/contentHash';
import type { FormatId, ModelDoc } from '../model';
import type { Dataset } from './datasets';
import {
  loadDatasetFor,
  measureRunnerLatency,
  pickSizes,
  runMetrics,
  scoreDataset,
  type EvaluateOptions,
} from './evaluate';
import { checkLabels, computeMetrics, type OutputMetrics, type Scored } from './metrics';
import { paretoFrontier } from './pareto';
import { openRunner, runnableReason, type Runner } from './runners';
import { workspaceRelative, workspaceRoot, writeRun } from './runs';

/**
 * `parsimony sweep`: compress a model at a series of settings, evaluate each
 * compressed copy on the same data, and find the Pareto frontier of size
 * (and compute) against accuracy — or against agreement with the original when
 * the data has no labels. Point 0 is always the original model (setting null).
 */
export type SweepMethod = 'prune' | 'quantize' | 'cluster' | 'low-rank';
export const SWEEP_METHODS: readonly SweepMethod[] = ['prune', 'quantize', 'cluster', 'low-rank'];

/** The compression option each method sweeps. */
export const SWEEP_PARAMETER: Record<SweepMethod, 'sparsity' | 'dtype' | 'clusters' | 'rank'> = {
  prune: 'sparsity',
  quantize: 'dtype',
  cluster: 'clusters',
  'low-rank': 'rank',
};

export type Setting = number | string;

export interface SweepOptions extends Omit<EvaluateOptions, 'reference' | 'latency'> {
  method: SweepMethod;
  /** How many settings of the method's ladder (spread evenly over it, the strongest included). */
  points?: number;
  /** Exactly these settings instead of the ladder. */
  settings?: Setting[];
  /** prune: global threshold (default) or per layer. */
  scope?: 'global' | 'layer';
  /** prune: also prune the first and last weighted layers (skipped by default, as `compress` does). */
  includeEnds?: boolean;
  /** Keep the compressed models (in a temp folder, reported per point) instead of deleting them. */
  keep?: boolean;
  /** Also measure latency of every point (default false). */
  latency?: boolean;
}

/** The `parsimony sweep --json` point contract (keys are an interface: keep them). */
export interface SweepPoint {
  setting: Setting | null;
  options: CompressOptions;
  /** Sizes are null only for a point that failed (see `error`). */
  params: number | null;
  nonzeroParams: number | null;
  bytesOnDisk: number | null;
  bytesGzip: number | null;
  bytesInMemory: number | null;
  macs: number | null;
  accuracy: number | null;
  top5: number | null;
  loss: number | null;
  agreement: number | null;
  klDivergence: number | null;
  mse: number | null;
  latencyMs?: { batch1: number; batch32: number };
  /** The compressed model when kept (--keep), else null. */
  output: string | null;
  runId: string | null;
  /** Why this point has no figures (the method or writer refused the setting). */
  error?: string;
  notes: string[];
}

export interface SweepResult {
  model: string;
  format: FormatId;
  method: SweepMethod;
  /** The compression option that was swept (sparsity, dtype, clusters, rank). */
  parameter: string;
  dataset: string | null;
  samples: number | null;
  /** What the frontier trades against size: accuracy with labels, else agreement with the original. */
  metric: 'accuracy' | 'agreement' | null;
  backend: string | null;
  points: SweepPoint[];
  /** Indices of points on the (bytesOnDisk, metric) frontier, by increasing size. */
  pareto: number[];
  /** Indices of points on the (bytesGzip, metric) frontier: what pruning and clustering save over the wire. */
  paretoGzip: number[];
  /** Indices of points on the (macs, metric) frontier, by increasing MACs. */
  paretoMacs: number[];
  sweepId: string;
  /** Where kept models are (--keep), else null. */
  keptIn: string | null;
  notes: string[];
}

export const PRUNE_LADDER = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
export const CLUSTER_LADDER = [256, 64, 16, 8, 4, 2];

/** The quantization dtypes each format's stock runtime loads, mildest first. */
export function quantizeLadder(format: FormatId): QuantDtype[] {
  if (format.startsWith('tfjs')) return ['float16', 'uint16', 'uint8'];
  if (format === 'onnx') return ['float16', 'int8'];
  return ['float16', 'bfloat16', 'int8'];
}

/** Ranks D/2, D/4, … 1, where D is the largest min(units, fan-in) of the model's dense/conv kernels. */
export function rankLadder(doc: ModelDoc): number[] {
  const targets = weightTargets(doc, {}, { kernelsOnly: true }).filter((t) => t.layout.kind === 'dense' || t.layout.kind === 'conv');
  const d = Math.max(0, ...targets.map((t) => Math.min(t.layout.units, t.layout.fanIn)));
  const out: number[] = [];
  for (let r = Math.floor(d / 2); r >= 1; r = Math.floor(r / 2)) out.push(r);
  if (out.length && out[out.length - 1] !== 1) out.push(1);
  return out;
}

/** The settings a method tries, mildest first. */
export function sweepLadder(method: SweepMethod, doc: ModelDoc): Setting[] {
  switch (method) {
    case 'prune':
      return PRUNE_LADDER;
    case 'cluster':
      return CLUSTER_LADDER;
    case 'quantize':
      return quantizeLadder(doc.format);
    case 'low-rank':
      return rankLadder(doc);
  }
}

/** n items spread evenly over the ladder, always ending with its strongest setting. */
export function pickEvenly<T>(ladder: readonly T[], n: number): T[] {
  if (n >= ladder.length) return [...ladder];
  if (n <= 0) return [];
  if (n === 1) return [ladder[ladder.length - 1]!];
  const out: T[] = [];
  for (let j = 0; j < n; j++) {
    const v = ladder[Math.floor((j * (ladder.length - 1)) / (n - 1))]!;
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

export function settingOptions(method: SweepMethod, setting: Setting, scope?: 'global' | 'layer', includeEnds?: boolean): CompressOptions {
  switch (method) {
    case 'prune':
      return { sparsity: Number(setting), scope: scope ?? 'global', ...(includeEnds ? { includeEnds: true } : {}) };
    case 'cluster':
      return { clusters: Number(setting) };
    case 'quantize':
      return { dtype: String(setting) as QuantDtype };
    case 'low-rank':
      return { rank: Number(setting) };
  }
}

type Figures = OutputMetrics & { samples: number | null };

export async function sweepModel(file: string, options: SweepOptions): Promise<SweepResult> {
  const started = new Date().toISOString();
  const progress = options.onProgress ?? (() => {});
  const method = options.method;
  if (!SWEEP_METHODS.includes(method)) {
    throw new ModelFormatError('invalid-option', `unknown sweep method '${String(method)}' (methods: ${SWEEP_METHODS.join(', ')})`);
  }
  const source = path.resolve(options.cwd ?? process.cwd(), file);
  const doc = await openModel(source);
  if (!(await writerFor(doc.format))) {
    throw new ModelFormatError('unsupported-format', `compressed ${doc.format} models cannot be written yet (writable: ${WRITABLE_FORMATS.join(', ')}), so there is nothing to sweep`, { file: source });
  }
  const settings = options.settings ?? pickEvenly(sweepLadder(method, doc), options.points ?? Number.POSITIVE_INFINITY);
  if (settings.length === 0) throw new ModelFormatError('invalid-option', `no ${method} settings to try for this model`, { file: source });
  for (const s of settings) {
    const problems = METHODS[method].validate(settingOptions(method, s, options.scope, options.includeEnds), doc.format);
    if (problems.length) throw new ModelFormatError('invalid-option', `${method} setting ${JSON.stringify(s)}: ${problems.join('; ')}`, { file: source });
  }

  const notes: string[] = [];
  const batchOptions = {
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
  };
  const steps = settings.length + 1;
  const stepProgress = (i: number, f: number, message: string) => progress((i + f) / steps, message);

  // Point 0: the original.
  let dataset: Dataset | null = null;
  let original: Scored | null = null;
  let backend: string | null = null;
  const originalRunner = await openRunner(doc, options.backend ?? 'auto');
  let first: SweepPoint;
  try {
    if (!originalRunner) notes.push(runnableReason(doc.format) ?? `${doc.format} models cannot be run`);
    else notes.push(...originalRunner.notes);
    if (originalRunner && options.data !== undefined) {
      stepProgress(0, 0, 'loading data');
      dataset = await loadDatasetFor(originalRunner, options);
      notes.push(...dataset.notes);
    }
    backend = originalRunner?.backend ?? null;
    stepProgress(0, 0.2, 'original model');
    const sizes = await sizeStats(doc);
    const r = await scorePoint(originalRunner, dataset, null, batchOptions, options.latency === true, options.latencyBudgetMs);
    original = r.scored;
    if (r.note) notes.push(r.note);
    first = pointFrom(null, {}, sizes, r.figures, r.latency);
  } finally {
    await originalRunner?.dispose();
  }
  if (originalRunner && options.data === undefined) notes.push('no dataset given: only sizes are compared');

  const workspace = options.record === false ? null : await workspaceRoot(source, options.workspace);
  const sourceHash = await contentHash(doc.files);
  const sweepId = `${started.replace(/[:.]/g, '-')}-${method}-${sourceHash.slice(0, 8)}`;
  const points: SweepPoint[] = [first];
  const record = async (point: SweepPoint, outputHash: string | null, pointStarted: string) => {
    if (!workspace) return;
    try {
      const rec = await writeRun(workspace, {
        kind: 'sweep',
        method,
        model: workspaceRelative(workspace, source),
        modelHash: sourceHash,
        format: doc.format,
        output: point.output ? workspaceRelative(workspace, point.output) : null,
        outputHash,
        options: { ...point.options, ...(typeof options.data === 'string' ? { data: options.data } : {}) },
        dataset: dataset?.name ?? null,
        sweepId,
        setting: point.setting,
        metrics: runMetrics({ samples: dataset?.count ?? null, ...point }),
        sizes: point.error ? null : pickSizes(point as SizeStats & SweepPoint),
        sizesBefore: pickSizes(first as SizeStats & SweepPoint),
        latencyMs: point.latencyMs ?? null,
        backend,
        notes: point.error ? [point.error, ...point.notes] : point.notes,
        started: pointStarted,
        finished: new Date().toISOString(),
      });
      point.runId = rec.id;
    } catch (e) {
      if (!notes.some((n) => n.startsWith('run records could not be written'))) notes.push(`run records could not be written: ${(e as Error).message}`);
    }
  };
  await record(first, sourceHash, started);

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'parsimony-sweep-'));
  try {
    for (const [n, setting] of settings.entries()) {
      const i = n + 1;
      if (options.isCancelled?.()) throw new CancelledError();
      const pointStarted = new Date().toISOString();
      const compressOptions = settingOptions(method, setting, options.scope, options.includeEnds);
      const dir = path.join(tmp, `point-${i}`);
      await mkdir(dir, { recursive: true });
      const label = `${SWEEP_PARAMETER[method]} ${String(setting)}`;
      let point: SweepPoint;
      let outputHash: string | null = null;
      try {
        stepProgress(i, 0, `${label}: compressing`);
        const compressed = await compressModel(source, [{ method, options: compressOptions }], {
          out: path.join(dir, path.basename(source)),
          ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
        });
        const outDoc = await openModel(compressed.output);
        outputHash = await contentHash(outDoc.files);
        const runner = original ? await openRunner(outDoc, options.backend ?? 'auto') : null;
        try {
          stepProgress(i, 0.4, `${label}: evaluating`);
          const r = await scorePoint(runner, dataset, original, batchOptions, options.latency === true, options.latencyBudgetMs);
          point = pointFrom(setting, compressOptions, compressed.after, r.figures, r.latency);
          point.notes.push(...compressed.notes);
        } finally {
          await runner?.dispose();
        }
        point.output = options.keep ? compressed.output : null;
      } catch (e) {
        if (isCancelled(e)) throw e;
        if (!isModelFormatError(e)) throw e;
        point = pointFrom(setting, compressOptions, null, null, null);
        point.error = e.describe();
      }
      if (!options.keep) await rm(dir, { recursive: true, force: true });
      points.push(point);
      await record(point, outputHash, pointStarted);
      stepProgress(i, 1, `${label}: done`);
    }
  } finally {
    if (!options.keep) await rm(tmp, { recursive: true, force: true });
  }

  const metric: SweepResult['metric'] = dataset ? (dataset.y ? 'accuracy' : 'agreement') : null;
  const value = (p: SweepPoint) => (metric ? p[metric] : null);
  const usable = (p: SweepPoint) => !p.error;
  return {
    model: source,
    format: doc.format,
    method,
    parameter: SWEEP_PARAMETER[method],
    dataset: dataset?.name ?? null,
    samples: dataset?.count ?? null,
    metric,
    backend,
    points,
    pareto: paretoFrontier(points, (p) => (usable(p) ? p.bytesOnDisk : null), value),
    paretoGzip: paretoFrontier(points, (p) => (usable(p) ? p.bytesGzip : null), value),
    paretoMacs: paretoFrontier(points, (p) => (usable(p) ? p.macs : null), value),
    sweepId,
    keptIn: options.keep ? tmp : null,
    notes,
  };
}

async function scorePoint(
  runner: Runner | null,
  dataset: Dataset | null,
  reference: Scored | null,
  batchOptions: { batchSize?: number; isCancelled?: () => boolean },
  latency: boolean,
  budgetMs?: number,
): Promise<{ scored: Scored | null; figures: Figures | null; latency: { batch1: number; batch32: number } | null; note?: string }> {
  if (!runner || !dataset) return { scored: null, figures: null, latency: null };
  const r = await scoreDataset(runner, dataset, batchOptions);
  if (dataset.y) checkLabels(dataset.y, r.scored.width, dataset.classes);
  const m = computeMetrics(r.scored, dataset.y, reference ?? r.scored);
  const lat = latency ? await measureRunnerLatency(runner, r.x, dataset.count, r.shape, budgetMs) : null;
  return { scored: r.scored, figures: { samples: dataset.count, ...m }, latency: lat, ...(r.note ? { note: r.note } : {}) };
}

function pointFrom(
  setting: Setting | null,
  options: CompressOptions,
  sizes: SizeStats | null,
  figures: Figures | null,
  latency: { batch1: number; batch32: number } | null,
): SweepPoint {
  return {
    setting,
    options,
    params: sizes?.params ?? null,
    nonzeroParams: sizes?.nonzeroParams ?? null,
    bytesOnDisk: sizes?.bytesOnDisk ?? null,
    bytesGzip: sizes?.bytesGzip ?? null,
    bytesInMemory: sizes?.bytesInMemory ?? null,
    macs: sizes?.macs ?? null,
    accuracy: figures?.accuracy ?? null,
    top5: figures?.top5 ?? null,
    loss: figures?.loss ?? null,
    agreement: figures?.agreement ?? null,
    klDivergence: figures?.klDivergence ?? null,
    mse: figures?.mse ?? null,
    ...(latency ? { latencyMs: latency } : {}),
    output: null,
    runId: null,
    notes: [],
  };
}
