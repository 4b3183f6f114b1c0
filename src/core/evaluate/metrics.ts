import { ModelFormatError } from '../errors';

/**
 * Classification metrics over a model's outputs (n rows of `width` values).
 * Outputs may be probabilities or logits: rows that are all ≥ 0 and sum to 1
 * are taken as probabilities, anything else gets a softmax before loss and KL.
 */
export interface OutputMetrics {
  /** Top-1 accuracy against the labels. */
  accuracy: number | null;
  /** Top-5 accuracy (null with 5 or fewer classes, where it is trivially 1). */
  top5: number | null;
  /** Mean cross-entropy against the labels (natural log). */
  loss: number | null;
  /** Share of samples whose top-1 class equals the reference's. */
  agreement: number | null;
  /** Mean KL(reference ‖ model) of the output distributions (natural log). */
  klDivergence: number | null;
  /** Mean squared difference of the raw outputs from the reference's. */
  mse: number | null;
}

export type OutputKind = 'probabilities' | 'logits';

/** Probability floor for logs, as Keras clips (1e-7). */
const EPSILON = 1e-7;
const SUM_TOLERANCE = 2e-3;

export function outputKind(values: Float32Array, n: number, width: number): OutputKind {
  if (width < 2) return 'logits';
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let k = 0; k < width; k++) {
      const v = values[i * width + k]!;
      if (!(v >= -1e-6)) return 'logits';
      sum += v;
    }
    if (Math.abs(sum - 1) > SUM_TOLERANCE) return 'logits';
  }
  return 'probabilities';
}

/** Natural-log probabilities per row: log-softmax of logits, or log of (clipped) probabilities. */
export function logProbabilities(values: Float32Array, n: number, width: number, kind: OutputKind): Float64Array {
  const out = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    const o = i * width;
    if (kind === 'probabilities') {
      for (let k = 0; k < width; k++) out[o + k] = Math.log(Math.min(Math.max(values[o + k]!, EPSILON), 1));
      continue;
    }
    let max = -Infinity;
    for (let k = 0; k < width; k++) max = Math.max(max, values[o + k]!);
    let sum = 0;
    for (let k = 0; k < width; k++) sum += Math.exp(values[o + k]! - max);
    const logSum = max + Math.log(sum);
    for (let k = 0; k < width; k++) out[o + k] = values[o + k]! - logSum;
  }
  return out;
}

/** Index of the largest value per row (the first one on ties, as tf.argMax). */
export function argmaxRows(values: ArrayLike<number>, n: number, width: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = values[i * width]!;
    for (let k = 1; k < width; k++) {
      const v = values[i * width + k]!;
      if (v > bestValue) {
        best = k;
        bestValue = v;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Throws a clear error when a label names a class the model does not have. */
export function checkLabels(labels: Int32Array, width: number, classes?: readonly string[]): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= width) {
      const name = classes?.[y] !== undefined ? ` (class folder '${classes[y]}')` : '';
      throw new ModelFormatError(
        'invalid-option',
        `label ${y}${name} of sample ${i} is out of range: the model has ${width} output${width === 1 ? '' : 's'} (classes 0–${width - 1})`,
      );
    }
  }
  if (classes && classes.length > width) {
    throw new ModelFormatError('invalid-option', `the image folder has ${classes.length} class folders but the model has ${width} outputs`);
  }
}

export interface Scored {
  values: Float32Array;
  width: number;
  n: number;
}

/** All metrics that apply: label metrics when `labels` is given, reference metrics when `reference` is. */
export function computeMetrics(model: Scored, labels: Int32Array | null, reference: Scored | null): OutputMetrics & { outputKind: OutputKind } {
  const { values, width, n } = model;
  const kind = outputKind(values, n, width);
  const result: OutputMetrics & { outputKind: OutputKind } = {
    accuracy: null,
    top5: null,
    loss: null,
    agreement: null,
    klDivergence: null,
    mse: null,
    outputKind: kind,
  };
  if (n === 0) return result;
  const logp = logProbabilities(values, n, width, kind);
  const top1 = argmaxRows(values, n, width);
  if (labels) {
    if (labels.length !== n) throw new Error(`${labels.length} labels for ${n} outputs`);
    checkLabels(labels, width);
    let correct = 0;
    let inTop5 = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const y = labels[i]!;
      if (top1[i] === y) correct++;
      // In the top 5 when fewer than 5 classes score strictly higher (ties count in, as tf.math.in_top_k).
      const target = values[i * width + y]!;
      let higher = 0;
      for (let k = 0; k < width && higher < 5; k++) if (values[i * width + k]! > target) higher++;
      if (higher < 5) inTop5++;
      loss -= logp[i * width + y]!;
    }
    result.accuracy = correct / n;
    result.top5 = width > 5 ? inTop5 / n : null;
    result.loss = loss / n;
  }
  if (reference) {
    if (reference.n !== n || reference.width !== width) {
      throw new ModelFormatError(
        'invalid-option',
        `the reference model gives ${reference.width} outputs per sample but the model gives ${width}; they cannot be compared`,
      );
    }
    const refKind = outputKind(reference.values, n, width);
    const refLogp = logProbabilities(reference.values, n, width, refKind);
    const refTop1 = argmaxRows(reference.values, n, width);
    let agree = 0;
    let kl = 0;
    let se = 0;
    for (let i = 0; i < n; i++) {
      if (refTop1[i] === top1[i]) agree++;
      for (let k = 0; k < width; k++) {
        const lr = refLogp[i * width + k]!;
        kl += Math.exp(lr) * (lr - logp[i * width + k]!);
        const d = values[i * width + k]! - reference.values[i * width + k]!;
        se += d * d;
      }
    }
    result.agreement = agree / n;
    result.klDivergence = Math.max(0, kl / n);
    result.mse = se / (n * width);
  }
  return result;
}
