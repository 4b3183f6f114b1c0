import { CancelledError } from '../errors';
import { compileInferencePlan } from '../runtime/plan/inferencePlan';
import type { Tf } from '../runtime/tfjs';
import type { Samples } from './data';
import type { TrainProgress } from './types';

type Tensor = import('@tensorflow/tfjs').Tensor;
type Scalar = import('@tensorflow/tfjs').Scalar;
type Variable = import('@tensorflow/tfjs').Variable;
type LayersModel = import('@tensorflow/tfjs').LayersModel;
type Optimizer = import('@tensorflow/tfjs').Optimizer;

export { mulberry32 } from '../numeric/random';
import { mulberry32 } from '../numeric/random';

/** Fisher–Yates permutation of 0..n−1. */
export function permutation(n: number, random: () => number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Copies rows `indices` of a row-major matrix (`width` values per row) into `out`. */
export function gatherRows(src: Float32Array, width: number, indices: ArrayLike<number>, out: Float32Array = new Float32Array(indices.length * width)): Float32Array {
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]! * width;
    out.set(src.subarray(from, from + width), i * width);
  }
  return out;
}

/**
 * Counts training steps across all phases of a method so progress is one
 * fraction over the whole run, and turns each batch into a message.
 */
export class ProgressTracker {
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly report?: (fraction: number, message: string, detail?: TrainProgress) => void,
    private readonly cancelled?: () => boolean,
  ) {}

  /** Throws CancelledError when the user asked to stop. */
  check(): void {
    if (this.cancelled?.()) throw new CancelledError();
  }

  step(detail: TrainProgress): void {
    this.done++;
    const acc = detail.accuracy === null ? '' : `, accuracy ${(detail.accuracy * 100).toFixed(1)}%`;
    this.report?.(
      Math.min(0.99, this.done / Math.max(1, this.total)),
      `${detail.phase}: epoch ${detail.epoch}/${detail.epochs}, batch ${detail.batch}/${detail.batches}, loss ${detail.loss.toFixed(4)}${acc}`,
      detail,
    );
    this.check();
  }

  message(fraction: number, message: string): void {
    this.report?.(fraction, message);
  }
}

export function batchesPerEpoch(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/** Optimizer steps of one training phase: `epochs` passes over `count` samples in batches. */
export function phaseSteps(count: number, o: { epochs: number; batchSize: number }): number {
  return o.epochs * batchesPerEpoch(count, o.batchSize);
}

export interface EpochLoop {
  phase: string;
  count: number;
  epochs: number;
  batchSize: number;
  seed: number;
  progress: ProgressTracker;
  /**
   * One optimizer step on the samples `indices`; returns the batch loss and,
   * when labels are known, how many of the batch were classified correctly.
   */
  step(indices: Uint32Array, stepIndex: number): { loss: number; correct: number | null };
  /** After each epoch (e.g. evaluation for the log). */
  afterEpoch?(epoch: number): void;
}

/**
 * How often a training loop lets the event loop run. Training steps are
 * synchronous, and a signal (the CLI's SIGINT/SIGTERM, which is how the editor's
 * Cancel button reaches a job) only reaches JavaScript through the event loop:
 * without these pauses a cancel waited for the whole training to finish.
 */
const YIELD_EVERY_MS = 50;

/** Seeded shuffles, mini-batches, progress after every batch and cancellation after every batch. */
export async function runEpochs(loop: EpochLoop): Promise<{ lastLoss: number; lastAccuracy: number | null }> {
  const random = mulberry32(loop.seed);
  const batches = batchesPerEpoch(loop.count, loop.batchSize);
  let stepIndex = 0;
  let lastLoss = NaN;
  let lastAccuracy: number | null = null;
  let lastYield = performance.now();
  for (let epoch = 1; epoch <= loop.epochs; epoch++) {
    const order = permutation(loop.count, random);
    let lossSum = 0;
    let seen = 0;
    let correct: number | null = 0;
    for (let b = 0; b < batches; b++) {
      const indices = order.subarray(b * loop.batchSize, Math.min(loop.count, (b + 1) * loop.batchSize));
      const r = loop.step(indices, stepIndex++);
      lossSum += r.loss * indices.length;
      seen += indices.length;
      correct = r.correct === null || correct === null ? null : correct + r.correct;
      lastLoss = lossSum / seen;
      lastAccuracy = correct === null ? null : correct / seen;
      loop.progress.step({ phase: loop.phase, epoch, epochs: loop.epochs, batch: b + 1, batches, loss: lastLoss, accuracy: lastAccuracy });
      if (performance.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
        loop.progress.check();
      }
    }
    loop.afterEpoch?.(epoch);
  }
  return { lastLoss, lastAccuracy };
}

/** The tf.Variables behind a layers model's trainable weights (what the optimizer updates). */
export function trainableVariables(model: LayersModel): Variable[] {
  return model.trainableWeights.map((w) => w.read() as Variable);
}

/** The variable of each named weight (`layer/kernel`), by its original (saved) name. */
export function variablesByName(model: LayersModel): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const w of model.weights) out.set(w.originalName, w.read() as Variable);
  return out;
}

/** The variables behind the kernels `refs` names (see kernelRefs), in that order. */
export function kernelVariables(model: LayersModel, refs: readonly { weight: string }[]): Variable[] {
  const byName = variablesByName(model);
  return refs.map((r) => byName.get(r.weight)!);
}

/**
 * One optimizer step: gradients of `loss` for `vars`, applied by `optimizer`.
 * `redirect` maps a variable's name to the variable the gradient is applied to
 * instead (BinaryConnect's real-valued shadow weights). Returns the loss value.
 */
export function optimizerStep(tf: Tf, optimizer: Optimizer, vars: Variable[], loss: () => Scalar, redirect?: Map<string, Variable>): number {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, vars);
    if (redirect) {
      for (const [from, to] of redirect) {
        const g = grads[from];
        if (g) {
          delete grads[from];
          grads[to.name] = g;
        }
      }
    }
    optimizer.applyGradients(grads);
    return value.dataSync()[0]!;
  });
}

/** Row-wise arg-max of a count × width matrix. */
export function argmaxRows(values: Float32Array, width: number): Int32Array {
  const count = values.length / width;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < width; c++) {
      const v = values[i * width + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

export function accuracyOf(outputs: Float32Array, width: number, labels: Int32Array): number {
  const predicted = argmaxRows(outputs, width);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return labels.length ? correct / labels.length : 0;
}

/**
 * Runs `model` (one input, output `outputIndex`) over all samples in batches; returns count × width values.
 * The first output goes through an inference plan when the model compiles to one (fused kernel calls,
 * compiled afresh so it sees the current weights: 1.5–3× faster than model.predict on the examples).
 */
export function predictAll(tf: Tf, model: LayersModel, data: Samples, batchSize = 256, outputIndex = 0): { values: Float32Array; width: number } {
  const per = data.shape.reduce((a, b) => a * b, 1);
  const plan = outputIndex === 0 ? compileInferencePlan(tf, model).plan : null;
  let out: Float32Array | null = null;
  let width = 0;
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const n = Math.min(batchSize, data.count - start);
      const x = data.x.subarray(start * per, (start + n) * per);
      const values = plan
        ? plan.run(x, [n, ...data.shape]).values
        : tf.tidy(() => {
            const y = model.predict(tf.tensor(x, [n, ...data.shape], 'float32'), { batchSize: n });
            const t = (Array.isArray(y) ? y[outputIndex] : y) as Tensor;
            return t.dataSync() as Float32Array;
          });
      if (!out) {
        width = values.length / n;
        out = new Float32Array(data.count * width);
      }
      out.set(values, start * width);
    }
  } finally {
    plan?.dispose();
  }
  return { values: out ?? new Float32Array(0), width };
}

/** All outputs of a multi-output model over the samples: one count × width matrix per output. */
export function predictAllOutputs(tf: Tf, model: LayersModel, data: Samples, batchSize = 256): { values: Float32Array; width: number }[] {
  const per = data.shape.reduce((a, b) => a * b, 1);
  let outs: { values: Float32Array; width: number }[] | null = null;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const parts = tf.tidy(() => {
      const x = tf.tensor(data.x.subarray(start * per, (start + n) * per), [n, ...data.shape], 'float32');
      const y = model.predict(x, { batchSize: n });
      return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array);
    });
    if (!outs) outs = parts.map((p) => ({ values: new Float32Array(data.count * (p.length / n)), width: p.length / n }));
    parts.forEach((p, i) => outs![i]!.values.set(p, start * outs![i]!.width));
  }
  return outs ?? [];
}

/** Softmax of each row of logits divided by `temperature` (float64 inside). */
export function softmaxRows(logits: Float32Array, width: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  const count = logits.length / width;
  for (let i = 0; i < count; i++) {
    let max = -Infinity;
    for (let c = 0; c < width; c++) max = Math.max(max, logits[i * width + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < width; c++) sum += Math.exp(logits[i * width + c]! / temperature - max);
    for (let c = 0; c < width; c++) out[i * width + c] = Math.exp(logits[i * width + c]! / temperature - max) / sum;
  }
  return out;
}
