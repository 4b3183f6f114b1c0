import type { Tf } from '../runtime/tfjs';
import type { TrainContext } from './context';
import type { Samples } from './data';
import { gatherRows, optimizerStep, phaseSteps, runEpochs, trainableVariables, type ProgressTracker } from './loop';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type Tensor = import('@tensorflow/tfjs').Tensor;
type Scalar = import('@tensorflow/tfjs').Scalar;
type Variable = import('@tensorflow/tfjs').Variable;

/**
 * The training step shared by fine-tuning, distillation and recovery: the
 * model's logits against hard labels (cross-entropy) and/or soft targets
 *
 *   loss = α·T²·KL(q ‖ softmax(z/T)) + (1 − α)·CE(y, softmax(z))
 *
 * where q are the teacher's tempered probabilities (precomputed per sample).
 * T² keeps the soft term's gradients on the scale of the hard term's (Hinton
 * et al. 2015).
 */
export interface SupervisedSpec {
  tf: Tf;
  /** Outputs logits (see splitSoftmax). */
  model: LayersModel;
  data: Samples;
  classes: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  phase: string;
  progress: ProgressTracker;
  /** count × classes teacher probabilities at `temperature`, or null for labels only. */
  soft?: Float32Array | null;
  temperature?: number;
  /** Weight of the soft term (0 = labels only, 1 = soft targets only). */
  alpha?: number;
  /** Variables to update (default: all trainable weights). */
  variables?: Variable[];
  /** Before each step (e.g. pruning-mask updates), with the global step index. */
  beforeStep?: (step: number) => void;
  /** After each optimizer step (e.g. re-applying pruning masks). */
  afterStep?: (step: number) => void;
  /** Replaces the optimizer's target for some variables (BinaryConnect shadow weights). */
  redirect?: Map<string, Variable>;
}

export async function trainSupervised(spec: SupervisedSpec): Promise<{ loss: number; accuracy: number | null }> {
  const { tf, model, data, classes } = spec;
  const alpha = spec.soft ? spec.alpha ?? 1 : 0;
  const temperature = spec.temperature ?? 1;
  if (alpha < 1 && !data.y) throw new Error('labels are needed when alpha < 1');
  const per = data.shape.reduce((a, b) => a * b, 1);
  const xBuffer = new Float32Array(spec.batchSize * per);
  const softBuffer = spec.soft ? new Float32Array(spec.batchSize * classes) : null;
  const optimizer = tf.train.adam(spec.learningRate);
  const variables = spec.variables ?? trainableVariables(model);
  try {
    const r = await runEpochs({
      phase: spec.phase,
      count: data.count,
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      seed: spec.seed,
      progress: spec.progress,
      step: (indices, step) => {
        spec.beforeStep?.(step);
        const n = indices.length;
        const xs = gatherRows(data.x, per, indices, xBuffer.subarray(0, n * per));
        const labels = data.y ? Int32Array.from(indices, (i) => data.y![i]!) : null;
        const soft = softBuffer && spec.soft ? gatherRows(spec.soft, classes, indices, softBuffer.subarray(0, n * classes)) : null;
        let logitsOut: Tensor | null = null;
        const x = tf.tensor(xs, [n, ...data.shape], 'float32');
        const y = labels ? tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat()) : null;
        const q = soft ? tf.tensor2d(soft, [n, classes], 'float32') : null;
        let loss: number;
        try {
          loss = optimizerStep(
            tf,
            optimizer,
            variables,
            () => {
              const z = model.apply(x, { training: true }) as Tensor;
              logitsOut = tf.keep(z.clone());
              return lossOf(tf, z, y, q, alpha, temperature);
            },
            spec.redirect,
          );
        } finally {
          tf.dispose([x, ...(y ? [y] : []), ...(q ? [q] : [])]);
        }
        spec.afterStep?.(step);
        let correct: number | null = null;
        if (labels && logitsOut) {
          const predicted = (logitsOut as Tensor).argMax(-1);
          const p = predicted.dataSync();
          predicted.dispose();
          correct = 0;
          for (let i = 0; i < n; i++) if (p[i] === labels[i]) correct++;
        }
        if (logitsOut) (logitsOut as Tensor).dispose();
        return { loss, correct };
      },
    });
    return { loss: r.lastLoss, accuracy: r.lastAccuracy };
  } finally {
    optimizer.dispose();
  }
}

/** What one phase of a method chooses; the rest of a SupervisedSpec is the run's (see supervisedPhases). */
export type PhaseSpec = Omit<SupervisedSpec, 'tf' | 'data' | 'classes' | 'epochs' | 'batchSize' | 'learningRate' | 'seed' | 'progress'>;

/**
 * The trainer for a method's `phases` supervised phases (the trained model, a
 * baseline, a control…). Every phase trains on the run's training data with the
 * run's epochs, batch size, learning rate and seed, so phases that are compared
 * see the same batches in the same order; one progress tracker counts the steps
 * of all of them, so progress is one fraction over the whole run.
 */
export function supervisedPhases(ctx: TrainContext, phases: number): (spec: PhaseSpec) => Promise<{ loss: number; accuracy: number | null }> {
  const { tf, data, classes, options: o } = ctx;
  const progress = ctx.tracker(phases * phaseSteps(data.train.count, o));
  return (spec) =>
    trainSupervised({
      ...spec,
      tf,
      data: data.train,
      classes,
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      seed: o.seed,
      progress,
    });
}

/** α·T²·KL(q ‖ softmax(z/T)) + (1 − α)·CE(y, softmax(z)), averaged over the batch. */
export function lossOf(tf: Tf, logits: Tensor, labels: Tensor | null, soft: Tensor | null, alpha: number, temperature: number): Scalar {
  const terms: Scalar[] = [];
  if (soft && alpha > 0) {
    const logP = tf.logSoftmax(tf.div(logits, temperature));
    // Σ q·log q is constant for the student; kept so the loss reads as a KL divergence (≥ 0).
    const kl = tf.sum(tf.mul(soft, tf.sub(tf.log(tf.maximum(soft, 1e-12)), logP)), -1);
    terms.push(tf.mul(tf.mean(kl), alpha * temperature * temperature) as Scalar);
  }
  if (labels && alpha < 1) {
    terms.push(tf.mul(tf.losses.softmaxCrossEntropy(labels, logits), 1 - alpha) as Scalar);
  }
  return (terms.length === 1 ? terms[0]! : tf.addN(terms)) as Scalar;
}

/**
 * Logits of a classifier as stored: a softmax model's probabilities p give
 * logits log p (softmax(log p / T) is exactly the tempered distribution, since
 * softmax ignores the constant log-sum-exp), clamped so zeros stay finite.
 */
export function logitsFromOutputs(values: Float32Array, softmax: boolean): Float32Array {
  if (!softmax) return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.log(Math.max(values[i]!, 1e-30));
  return out;
}
