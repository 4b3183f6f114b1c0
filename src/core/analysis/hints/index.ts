import { unitRemovalEffect } from '../../compress/unitRemoval';
import { CancelledError } from '../../errors';
import type { ModelDoc, TensorInfo } from '../../model';
import { SortedValues } from '../../numeric/kmeans1d';
import { storageOrder, unitMajor, unitMaxAbs, weightLayout } from '../weightLayout';
import { clusterableHint } from './clusterable';
import { deadUnitsHint } from './deadUnits';
import { duplicateUnitsHint } from './duplicateUnits';
import { lowRankHint } from './lowRank';
import { twoFourHint } from './nm';
import { prunableHint } from './prunable';
import { quantizableHint } from './quantizable';
import { separableHint } from './separable';
import { sparseHint } from './sparse';
import { DEFAULT_HINT_OPTIONS, type Hint, type HintOptions, type HintRule, type TensorContext } from './types';

import type { DataHintOptions } from './deadUnitsOnData';

type Tf = typeof import('@tensorflow/tfjs');

export type { Hint, HintKind, HintOptions } from './types';
export type HintDataOptions = Omit<DataHintOptions, 'onProgress' | 'isCancelled'>;

const RULES: HintRule[] = [
  sparseHint,
  prunableHint,
  lowRankHint,
  clusterableHint,
  quantizableHint,
  duplicateUnitsHint,
  deadUnitsHint,
  separableHint,
  twoFourHint,
];

export interface HintProgress {
  onProgress?: (fraction: number, message: string) => void;
  /** Checked between tensors; a cancelled run throws CancelledError. */
  isCancelled?: () => boolean;
}

export interface HintsResult {
  file: string;
  hints: Hint[];
  /** Tensors that could not be decoded (format without a value reader, unsupported block type). */
  skipped: { tensor: string; reason: string }[];
  /** 'data' when dead units were measured on a dataset (the other hints always come from the weights). */
  basis: 'weights' | 'data';
  /** The dataset dead units were measured on, when one was given and the model could run it. */
  data: { dataset: string; samples: number; layers: number } | null;
  /** What the user should know about how the hints were found. */
  notes: string[];
}

/**
 * Hints for every weight tensor of the model, biggest byte saving first. With
 * `data` (TF.js layers models), dead units are measured on the dataset instead
 * of guessed from the weights.
 */
export async function computeHints(doc: ModelDoc, options: Partial<HintOptions> = {}, progress: HintProgress = {}, data?: HintDataOptions): Promise<HintsResult> {
  const opts = { ...DEFAULT_HINT_OPTIONS, ...options };
  const hints: Hint[] = [];
  const skipped: HintsResult['skipped'] = [];
  const notes: string[] = [];
  let measured = new Set<string>();
  let dataInfo: HintsResult['data'] = null;
  // Running the data costs about as much as the weight rules on small models: half the bar each.
  let base = 0;
  let span = 1;
  if (data) {
    if (doc.format !== 'tfjs-layers') {
      notes.push(`data-driven dead units need a TF.js layers model (the model is run layer by layer); ${doc.format} hints come from the weights alone`);
    } else {
      const { deadUnitsOnData } = await import('./deadUnitsOnData');
      const found = await deadUnitsOnData(doc, {
        ...data,
        onProgress: (f, m) => progress.onProgress?.(0.5 * f, `data: ${m}`),
        ...(progress.isCancelled ? { isCancelled: progress.isCancelled } : {}),
      });
      hints.push(...found.hints);
      notes.push(...found.notes);
      measured = found.measured;
      dataInfo = { dataset: found.dataset, samples: found.samples, layers: found.measured.size };
      base = 0.5;
      span = 0.5;
    }
  }
  const work = doc.layers.flatMap((layer) => layer.tensors.filter((t) => t.isParameter && t.count >= opts.minParams && t.shape.length >= 2).map((tensor) => ({ layer, tensor })));
  const totalElements = work.reduce((s, w) => s + w.tensor.count, 0) || 1;
  // The copies every tensor needs (unit-major rows, sorted values) reuse one buffer each across tensors:
  // fresh pages cost more than the work on some machines (see the bench's page-fault figure).
  const pool = new BufferPool(work.reduce((m, w) => Math.max(m, w.tensor.count), 0));
  let tf: Promise<Tf | null> | undefined;
  const linearAlgebra = () =>
    (tf ??= import('../../runtime/tfjs').then(
      (m) => m.loadTf('auto').then((rt) => rt.tf),
      () => null,
    ).catch(() => null));
  let done = 0;
  for (const { layer, tensor } of work) {
    if (progress.isCancelled?.()) throw new CancelledError();
    progress.onProgress?.(base + (span * done) / totalElements, `${layer.name} ${tensor.name}`);
    const layout = weightLayout(doc.format, layer, tensor);
    if (!layout || !tensor.read) {
      skipped.push({ tensor: tensor.name, reason: !tensor.read ? (typeof tensor.detail?.valuesUnavailable === 'string' ? tensor.detail.valuesUnavailable : `values of ${tensor.dtype} tensors cannot be decoded yet`) : 'unknown weight layout' });
      done += tensor.count;
      continue;
    }
    const values = await tensor.read();
    let energy = 0;
    for (let i = 0; i < values.length; i++) energy += values[i]! * values[i]!;
    let rowsCache: Float32Array | undefined;
    let sortedCache: SortedValues | undefined;
    let unitMaxCache: Float64Array | undefined;
    const ctx: TensorContext = {
      format: doc.format,
      layer,
      tensor,
      values,
      layout,
      // Stored unit-major already (PyTorch/ONNX [out, in]): the values are the rows (rules only read them).
      rows: () => (rowsCache ??= storageOrder(layout) === 'unit-major' ? values : unitMajor(values, layout, pool.float32('rows', values.length))),
      unitMaxAbs: () => (unitMaxCache ??= unitMaxAbs(values, layout)),
      sorted: () => (sortedCache ??= new SortedValues(values, { sorted: pool.float32('sorted', values.length), scratch: pool.int32('radix', values.length) })),
      energy,
      bytesPerElement: tensor.bytes / Math.max(1, tensor.count),
      options: opts,
      bias: await biasOf(layer.tensors, tensor, layout.units),
      linearAlgebra,
    };
    for (const rule of RULES) {
      // A layer measured on data has its dead units from there.
      if (rule === deadUnitsHint && measured.has(layer.name)) continue;
      const hint = await rule(ctx);
      if (hint) hints.push(hint);
      // Yield so a host event loop (the extension host) stays responsive.
      await new Promise((resolve) => setImmediate(resolve));
      if (progress.isCancelled?.()) throw new CancelledError();
    }
    done += tensor.count;
  }
  const kept: Hint[] = [];
  for (const h of hints) {
    if (progress.isCancelled?.()) throw new CancelledError();
    if ((h.kind === 'dead-units' && h.detail.basis !== 'data') || h.kind === 'duplicate-units') {
      if (!(await countRemoval(doc, h, notes))) continue;
    }
    kept.push(h);
  }
  progress.onProgress?.(1, 'done');
  kept.sort((a, b) => b.savingsBytes - a.savingsBytes || b.savingsParams - a.savingsParams);
  return { file: doc.file, hints: kept, skipped, basis: dataInfo ? 'data' : 'weights', data: dataInfo, notes };
}

/**
 * Replaces a unit hint's own-layer estimate by what removing the units really
 * takes out (the format writer's plan: the layer's columns and bias, batch-norm
 * and depthwise slices on the way, the consumer's input rows). Returns false
 * when the hint should go: units with zero weights that feed a batch norm are
 * not dead (the norm turns them into a constant), which only data can settle.
 */
async function countRemoval(doc: ModelDoc, h: Hint, notes: string[]): Promise<boolean> {
  const total = h.detail.totalUnits as number;
  const units = h.kind === 'dead-units' ? (h.detail.units as number[]) : (h.detail.pairs as [number, number][]).map((p) => p[1]);
  const effect = await unitRemovalEffect(doc, h.layer, total, units);
  if (!effect) return true; // no writer: the layer's own parameters are the estimate
  if ('problem' in effect) {
    h.savingsParams = 0;
    h.savingsBytes = 0;
    h.detail.removable = false;
    h.detail.reason = effect.problem;
    h.message += ` (cannot be removed: ${effect.problem})`;
    return true;
  }
  const types = new Map(doc.layers.map((l) => [l.name, l.type]));
  if (h.kind === 'dead-units' && effect.through.some((n) => types.get(n) === 'BatchNormalization')) {
    notes.push(`${h.layer}: ${units.length} unit(s) with all-zero weights feed batch normalization, which turns them into a constant rather than zero; give --data to see whether they are dead`);
    return false;
  }
  h.savingsParams = effect.params;
  h.savingsBytes = effect.bytes;
  h.detail.removable = true;
  h.detail.consumer = effect.consumer;
  h.detail.through = effect.through;
  return true;
}

/** Reused scratch arrays by name, each allocated once at the largest tensor's size on first use. */
class BufferPool {
  private readonly f32 = new Map<string, Float32Array>();
  private readonly i32 = new Map<string, Int32Array>();

  constructor(private readonly largest: number) {}

  float32(name: string, n: number): Float32Array {
    let b = this.f32.get(name);
    if (!b || b.length < n) this.f32.set(name, (b = new Float32Array(Math.max(n, this.largest))));
    return b;
  }

  int32(name: string, n: number): Int32Array {
    let b = this.i32.get(name);
    if (!b || b.length < n) this.i32.set(name, (b = new Int32Array(Math.max(n, this.largest))));
    return b;
  }
}

async function biasOf(tensors: TensorInfo[], weight: TensorInfo, units: number): Promise<Float32Array | undefined> {
  const bias = tensors.find((t) => t !== weight && t.shape.length === 1 && t.shape[0] === units && /bias/i.test(t.name));
  return bias?.read ? bias.read() : undefined;
}
