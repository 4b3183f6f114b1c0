import { ModelFormatError } from '../errors';
import { accuracyReport, heldOutAccuracy, layerClasses, type MethodOutput, type TrainContext, type TrainMethod } from './context';
import { buildWithWeights, kernelRefs, type KernelRef } from './graph';
import { kernelVariables } from './loop';
import { supervisedPhases } from './supervised';

type Tensor = import('@tensorflow/tfjs').Tensor;
type Variable = import('@tensorflow/tfjs').Variable;
type LayersModel = import('@tensorflow/tfjs').LayersModel;
type Tf = TrainContext['tf'];

export type WeightCode = { kind: 'binary' } | { kind: 'ternary' } | { kind: 'bits'; bits: number };

export function describeCode(code: WeightCode): string {
  switch (code.kind) {
    case 'binary':
      return 'binary {−α, +α}';
    case 'ternary':
      return 'ternary {−α, 0, +α}';
    case 'bits':
      return `${code.bits}-bit symmetric (${2 ** code.bits - 1} levels)`;
  }
}

/** Most distinct values one output channel may hold under the code. */
export function levelsOf(code: WeightCode): number {
  return code.kind === 'binary' ? 2 : code.kind === 'ternary' ? 3 : 2 ** code.bits - 1;
}

/**
 * Quantizes a kernel per output channel (columns of the [rows, channels] view):
 * - binary: sign(w)·α, α = mean|w| of the channel (XNOR-Net scaling; w = 0 counts as +);
 * - ternary: {−α, 0, +α} with Δ = 0.7·mean|w| and α = mean of |w| above Δ (TWN);
 * - k bits: round(w/s)·s clipped to ±(2^(k−1) − 1) levels, s = max|w| / (2^(k−1) − 1).
 */
export function quantizeKernel(tf: Tf, w: Tensor, channels: number, code: WeightCode): Tensor {
  return tf.tidy(() => {
    const m = w.reshape([w.size / channels, channels]);
    const a = m.abs();
    let q: Tensor;
    if (code.kind === 'binary') {
      const alpha = a.mean(0, true);
      q = m.greaterEqual(0).toFloat().mul(2).sub(1).mul(alpha);
    } else if (code.kind === 'ternary') {
      const delta = a.mean(0, true).mul(0.7);
      const keep = a.greater(delta).toFloat();
      const alpha = a.mul(keep).sum(0, true).div(keep.sum(0, true).maximum(1));
      q = m.sign().mul(keep).mul(alpha);
    } else {
      const levels = 2 ** (code.bits - 1) - 1;
      const max = a.max(0, true);
      const scale = max.div(levels).add(max.equal(0).toFloat());
      q = m.div(scale).round().clipByValue(-levels, levels).mul(scale);
    }
    return q.reshape(w.shape);
  });
}

let shadowCounter = 0;

/**
 * BinaryConnect (Courbariaux et al. 2015): every forward pass uses quantized
 * kernels, the gradients (taken at the quantized weights: the straight-through
 * estimator) update real-valued shadow kernels, which are clipped to
 * [−H, H] (H = the layer's largest initial |w|) so they cannot drift where the
 * sign no longer moves. The exported model holds the quantized kernels.
 */
export const binaryTrain: TrainMethod = {
  id: 'binary-train',
  label: 'Binary-weight training (BinaryConnect)',
  defaultLearningRate: 1e-3,
  validate(o) {
    const problems: string[] = [];
    if (o.bits !== undefined && !(Number.isInteger(o.bits) && o.bits >= 1 && o.bits <= 8)) problems.push(`bits must be an integer from 1 to 8, got ${o.bits}`);
    if (o.bits !== undefined && o.ternary) problems.push('give --ternary or --bits, not both');
    return problems;
  },
  gradientClasses: (model) => layerClasses(model),
  async run(ctx) {
    return runBinaryTrain(ctx);
  },
};

export function codeFor(o: { ternary?: boolean; bits?: number }): WeightCode {
  if (o.ternary) return { kind: 'ternary' };
  if (o.bits !== undefined && o.bits > 1) return { kind: 'bits', bits: o.bits };
  return { kind: 'binary' };
}

async function runBinaryTrain(ctx: TrainContext): Promise<MethodOutput> {
  const { tf, options: o, data } = ctx;
  if (!data.train.y) throw new ModelFormatError('invalid-option', 'binary-weight training needs labelled training data');
  const code = codeFor(o);
  const created: LayersModel[] = [];
  const shadows: Variable[] = [];
  try {
    const work = await buildWithWeights(tf, ctx.split.logits, ctx.model);
    created.push(work);
    const refs = kernelRefs(work, o.layers);
    if (refs.length === 0) throw new ModelFormatError('invalid-option', 'no Dense or Conv kernels to quantize');
    const targets = kernelVariables(work, refs);
    const quantizeInto = (sources: Tensor[]) =>
      refs.forEach((r, i) => {
        const q = quantizeKernel(tf, sources[i]!, r.channels, code);
        targets[i]!.assign(q);
        q.dispose();
      });

    // Post-hoc: quantize the trained float kernels, no training.
    const float = targets.map((v) => v.clone());
    quantizeInto(float);
    const posthoc = heldOutAccuracy(ctx, work);

    // Shadow weights start from the float kernels.
    const id = ++shadowCounter;
    for (const [i, r] of refs.entries()) shadows.push(tf.variable(float[i]!, true, `parsimony_shadow_${id}/${r.weight}`));
    const bounds = float.map((t) => tf.tidy(() => t.abs().max().dataSync()[0]!));
    tf.dispose(float);
    const redirect = new Map<string, Variable>(targets.map((v, i) => [v.name, shadows[i]!]));
    const trainPhase = supervisedPhases(ctx, 1);
    await trainPhase({
      model: work,
      phase: `${code.kind === 'bits' ? `${code.bits}-bit` : code.kind} training`,
      beforeStep: () => quantizeInto(shadows),
      redirect,
      afterStep: () =>
        tf.tidy(() => {
          shadows.forEach((s, i) => s.assign(s.clipByValue(-bounds[i]!, bounds[i]!)));
        }),
    });
    quantizeInto(shadows);
    const trained = heldOutAccuracy(ctx, work);

    const out = await buildWithWeights(tf, ctx.arch, work);
    const outKernels = kernelVariables(out, refs);
    const maxLevels = Math.max(...refs.map((r, i) => maxDistinctPerChannel(outKernels[i]!.dataSync() as Float32Array, r)));
    const accuracies = accuracyReport([
      ['floatAccuracy', 'float', ctx.sourceAccuracy],
      ['posthocAccuracy', 'quantized after training (post hoc)', posthoc],
      ['trainedAccuracy', 'quantized during training', trained],
    ]);
    const metrics = {
      ...accuracies.metrics,
      code: code.kind === 'bits' ? `${code.bits}-bit` : code.kind,
      quantizedTensors: refs.map((r) => r.weight),
      maxValuesPerChannel: maxLevels,
      epochs: o.epochs,
    };
    const bitsPerWeight = code.kind === 'binary' ? 1 : code.kind === 'ternary' ? Math.log2(3) : code.bits;
    const notes = [
      `${refs.length} kernels trained as ${describeCode(code)} with one scale per output channel (straight-through gradients on real-valued shadow weights, clipped to each layer's initial range); biases stay float.`,
      accuracies.note,
      `Stored as float32 so stock TF.js loads it; the kernels hold at most ${maxLevels} distinct values per channel (${bitsPerWeight.toFixed(bitsPerWeight % 1 ? 2 : 0)} bit${bitsPerWeight === 1 ? '' : 's'} per weight in a packed format, and gzip shrinks the file strongly).`,
    ];
    return { model: out, notes, metrics, dispose: created };
  } catch (e) {
    for (const m of created) m.dispose();
    throw e;
  } finally {
    tf.dispose(shadows);
  }
}

function maxDistinctPerChannel(values: Float32Array, ref: KernelRef): number {
  const rows = values.length / ref.channels;
  let max = 0;
  for (let c = 0; c < ref.channels; c++) {
    const seen = new Set<number>();
    for (let r = 0; r < rows; r++) seen.add(values[r * ref.channels + c]!);
    max = Math.max(max, seen.size);
  }
  return max;
}
