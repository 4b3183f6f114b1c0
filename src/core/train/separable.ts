import { ModelFormatError } from '../errors';
import { factorize } from '../numeric/lowRank';
import { accuracyReport, checkRange, heldOutAccuracy, layerClasses, pct, type MethodOutput, type TrainContext, type TrainMethod } from './context';
import { teacherTargets } from './distill';
import { buildModel, buildWithWeights, cloneConfig, configLayers, copyWeights, copyWeightsByLayer, entryName, isSequential, splitSoftmax, type LayerEntry, type ModelConfig } from './graph';
import { supervisedPhases } from './supervised';

type LayersModel = import('@tensorflow/tfjs').LayersModel;

/**
 * Replaces standard convolutions by depthwise + pointwise pairs
 * (k·k·I + I·O weights instead of k·k·I·O), initialised from the original
 * kernel's best separable approximation, then recovers accuracy by training on
 * the labels or by distillation from the original (alpha > 0).
 */
export const separable: TrainMethod = {
  id: 'separable',
  label: 'Depthwise-separable replacement',
  defaultLearningRate: 5e-4,
  validate(o) {
    const problems: string[] = [];
    checkRange(problems, 'alpha', o.alpha, 0, 1);
    if (o.temperature !== undefined && !(o.temperature > 0)) problems.push(`temperature must be above 0, got ${o.temperature}`);
    return problems;
  },
  gradientClasses: (model) => [...layerClasses(model), 'DepthwiseConv2D', 'Conv2D'],
  async run(ctx) {
    return runSeparable(ctx);
  },
};

export interface ConvInfo {
  name: string;
  kh: number;
  kw: number;
  inChannels: number;
  outChannels: number;
  reason?: string;
}

/** Conv2D layers and whether each can be made separable (k×k with k ≥ 3, more than one input channel, channels-last). */
export function convCandidates(model: LayersModel): ConvInfo[] {
  const out: ConvInfo[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const kernel = layer.weights.find((w) => /\/kernel$/.test(w.originalName));
    if (!kernel) continue;
    const [kh, kw, inChannels, outChannels] = kernel.shape as [number, number, number, number];
    const cfg = layer.getConfig() as { dataFormat?: string; groups?: number };
    let reason: string | undefined;
    if (kh < 3 || kw < 3) reason = `${kh}×${kw} kernel (separable pays off from 3×3)`;
    else if (inChannels < 2) reason = 'one input channel: depthwise would not save anything';
    else if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') reason = 'channels-first data format';
    out.push({ name: layer.name, kh, kw, inChannels, outChannels, ...(reason ? { reason } : {}) });
  }
  return out;
}

/** The architecture with each named Conv2D split into `<name>_depthwise` (DepthwiseConv2D) and `<name>` (1×1 Conv2D). */
export function separableConfig(arch: ModelConfig, names: Set<string>): ModelConfig {
  const c = cloneConfig(arch);
  const layers = configLayers(c);
  for (let i = 0; i < layers.length; i++) {
    const entry = layers[i]!;
    const name = entryName(entry);
    if (!names.has(name)) continue;
    const conv = entry.config;
    const dwName = `${name}_depthwise`;
    const dwConfig: Record<string, unknown> = {
      name: dwName,
      trainable: conv.trainable ?? true,
      dtype: conv.dtype ?? 'float32',
      kernel_size: conv.kernel_size,
      strides: conv.strides,
      padding: conv.padding,
      data_format: conv.data_format ?? 'channels_last',
      dilation_rate: conv.dilation_rate,
      depth_multiplier: 1,
      activation: 'linear',
      use_bias: false,
      depthwise_initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } },
    };
    if (conv.batch_input_shape) dwConfig.batch_input_shape = conv.batch_input_shape;
    const dw: LayerEntry = { class_name: 'DepthwiseConv2D', config: dwConfig };
    const pwConfig: Record<string, unknown> = { ...conv, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', dilation_rate: [1, 1] };
    delete pwConfig.batch_input_shape;
    const pw: LayerEntry = { ...entry, config: pwConfig };
    if (!isSequential(c)) {
      dw.name = dwName;
      dw.inbound_nodes = entry.inbound_nodes ?? [];
      pw.inbound_nodes = [[[dwName, 0, 0, {}]]];
    }
    layers.splice(i, 1, dw, pw);
    i++;
  }
  return c;
}

/**
 * Best separable approximation of a k×k×I×O kernel: for each input channel i,
 * the k²×O slice M_i ≈ σ·u·vᵀ (rank-1 SVD), depthwise filter = σ·u, pointwise
 * row = v. Returns both kernels (TF.js layouts) and the relative Frobenius error.
 */
export function separableFactors(kernel: Float32Array, kh: number, kw: number, inChannels: number, outChannels: number): { depthwise: Float32Array; pointwise: Float32Array; relativeError: number } {
  const k2 = kh * kw;
  const depthwise = new Float32Array(k2 * inChannels); // [kh, kw, I, 1]
  const pointwise = new Float32Array(inChannels * outChannels); // [1, 1, I, O]
  const slice = new Float32Array(k2 * outChannels);
  let err = 0;
  let norm = 0;
  for (let i = 0; i < inChannels; i++) {
    for (let p = 0; p < k2; p++) for (let o = 0; o < outChannels; o++) slice[p * outChannels + o] = kernel[(p * inChannels + i) * outChannels + o]!;
    const f = factorize(slice, k2, outChannels, 1);
    let n = 0;
    for (let o = 0; o < outChannels; o++) n += f.right[o]! * f.right[o]!;
    n = Math.sqrt(n);
    for (let p = 0; p < k2; p++) depthwise[p * inChannels + i] = f.left[p]! * n;
    for (let o = 0; o < outChannels; o++) pointwise[i * outChannels + o] = n > 0 ? f.right[o]! / n : 0;
    for (let p = 0; p < k2; p++) {
      for (let o = 0; o < outChannels; o++) {
        const v = slice[p * outChannels + o]!;
        const d = v - depthwise[p * inChannels + i]! * pointwise[i * outChannels + o]!;
        err += d * d;
        norm += v * v;
      }
    }
  }
  return { depthwise, pointwise, relativeError: norm > 0 ? Math.sqrt(err / norm) : 0 };
}

async function runSeparable(ctx: TrainContext): Promise<MethodOutput> {
  const { tf, options: o, data, classes } = ctx;
  const candidates = convCandidates(ctx.model);
  let chosen: ConvInfo[];
  if (o.layers && o.layers.length) {
    chosen = o.layers.map((name) => {
      const c = candidates.find((x) => x.name === name);
      if (!c) throw new ModelFormatError('invalid-option', `'${name}' is not a Conv2D layer (Conv2D layers: ${candidates.map((x) => x.name).join(', ') || 'none'})`);
      if (c.reason) throw new ModelFormatError('invalid-option', `'${name}' cannot be made separable: ${c.reason}`);
      return c;
    });
  } else {
    chosen = candidates.filter((c) => !c.reason);
    if (chosen.length === 0) {
      throw new ModelFormatError(
        'invalid-option',
        `no Conv2D layer to replace${candidates.length ? ` (${candidates.map((c) => `${c.name}: ${c.reason}`).join('; ')})` : ': the model has no Conv2D layers'}`,
      );
    }
  }
  const labelled = data.train.y !== null;
  const alpha = labelled ? o.alpha ?? 0 : 1;
  const temperature = o.temperature ?? 4;
  const created: LayersModel[] = [];
  try {
    const arch = separableConfig(ctx.arch, new Set(chosen.map((c) => c.name)));
    const init = await buildModel(tf, arch);
    created.push(init);
    copyWeightsByLayer(ctx.model, init, new Set(chosen.map((c) => c.name)));
    const errors: Record<string, number> = {};
    for (const c of chosen) {
      const layer = ctx.model.getLayer(c.name);
      const [kernel, bias] = layer.getWeights();
      const f = separableFactors(kernel!.dataSync() as Float32Array, c.kh, c.kw, c.inChannels, c.outChannels);
      errors[c.name] = f.relativeError;
      const depthwise = tf.tensor(f.depthwise, [c.kh, c.kw, c.inChannels, 1]);
      const pointwise = tf.tensor(f.pointwise, [1, 1, c.inChannels, c.outChannels]);
      init.getLayer(`${c.name}_depthwise`).setWeights([depthwise]);
      init.getLayer(c.name).setWeights([pointwise, ...(bias ? [bias] : [])]);
      tf.dispose([depthwise, pointwise]);
    }
    const initAccuracy = heldOutAccuracy(ctx, init);
    const work = await buildWithWeights(tf, splitSoftmax(arch).logits, init);
    created.push(work);
    const soft = alpha > 0 ? teacherTargets(tf, [ctx.model], data.train, data.eval, classes, temperature).soft : null;
    const trainPhase = supervisedPhases(ctx, 1);
    await trainPhase({
      model: work,
      phase: alpha > 0 ? `recover by distillation (α=${alpha}, T=${temperature})` : 'recover by fine-tuning',
      soft,
      temperature,
      alpha,
    });
    copyWeights(work, init);
    const recovered = heldOutAccuracy(ctx, init);
    const before = chosen.reduce((s, c) => s + c.kh * c.kw * c.inChannels * c.outChannels, 0);
    const after = chosen.reduce((s, c) => s + c.kh * c.kw * c.inChannels + c.inChannels * c.outChannels, 0);
    const accuracies = accuracyReport([
      ['originalAccuracy', 'original', ctx.sourceAccuracy],
      ['initialAccuracy', 'separable at initialisation', initAccuracy],
      ['recoveredAccuracy', `after ${o.epochs} epochs of ${alpha > 0 ? `distillation from the original (α=${alpha}, T=${temperature})` : 'fine-tuning on the labels'}`, recovered],
    ]);
    const metrics = {
      ...accuracies.metrics,
      replaced: chosen.map((c) => ({ layer: c.name, kernel: `${c.kh}×${c.kw}`, in: c.inChannels, out: c.outChannels, relativeError: errors[c.name] })),
      kernelParamsBefore: before,
      kernelParamsAfter: after,
      recovery: alpha > 0 ? 'distillation' : 'fine-tuning',
      alpha,
      epochs: o.epochs,
    };
    const notes = [
      `Replaced ${chosen.map((c) => `${c.name} (${c.kh}×${c.kw}, ${c.inChannels}→${c.outChannels}; rank-1 error ${pct(errors[c.name]!)})`).join(', ')} by depthwise + 1×1 convolutions: ${before.toLocaleString('en-US')} → ${after.toLocaleString('en-US')} kernel weights.`,
      accuracies.note,
    ];
    const skipped = candidates.filter((c) => c.reason && !chosen.includes(c));
    if (skipped.length && !(o.layers && o.layers.length)) notes.push(`Kept: ${skipped.map((c) => `${c.name} (${c.reason})`).join(', ')}.`);
    created.splice(created.indexOf(init), 1);
    return { model: init, notes, metrics, dispose: created };
  } catch (e) {
    for (const m of created) m.dispose();
    throw e;
  }
}

