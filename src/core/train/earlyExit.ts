import { analyzeKerasTopology, flattenLayers, layerShapeAndMacs, type KerasLayerNode } from '../analysis/kerasLayers';
import { ModelFormatError } from '../errors';
import { checkRange, pct, type MethodOutput, type TrainContext, type TrainMethod } from './context';
import { holdOut, type Samples } from './data';
import { configLayers, entryName, inboundNames, outputWidthLayers, type ModelConfig } from './graph';
import { argmaxRows, gatherRows, mulberry32, optimizerStep, phaseSteps, predictAllOutputs, runEpochs, softmaxRows } from './loop';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;

/**
 * Early exits (BranchyNet / MSDNet style): small classifiers attached after
 * intermediate layers, trained on the frozen backbone's features, with
 * confidence thresholds chosen on held-out data. The written model has the
 * outputs [exit 1, …, exit n, final]; `<stem>.policy.json` says, per exit, the
 * confidence (max probability) at which a sample may stop there and what that
 * costs in MACs.
 */
export const earlyExit: TrainMethod = {
  id: 'early-exit',
  label: 'Early exits',
  defaultLearningRate: 1e-3,
  // Heads are small linear classifiers on cached features: epochs are cheap.
  defaultEpochs: (count) => Math.max(3, Math.min(10, Math.round(20000 / Math.max(1, count)))),
  validate(o) {
    const problems: string[] = [];
    checkRange(problems, 'max accuracy drop', o.maxAccuracyDrop, 0, 1, false);
    return problems;
  },
  // The backbone is frozen and its features are computed once: only the heads (dense) train.
  gradientClasses: () => ['Dense'],
  async run(ctx) {
    return runEarlyExit(ctx);
  },
};

const CONV_CLASSES = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv2D', 'SeparableConv2D']);
/** Layers that end a conv block when they follow the convolution directly. */
const BLOCK_TAIL = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'BatchNormalization', 'LayerNormalization', 'Dropout', 'SpatialDropout2D',
  'MaxPooling1D', 'MaxPooling2D', 'MaxPool2D', 'AveragePooling1D', 'AveragePooling2D', 'AvgPool2D',
]);

/**
 * The last layer of each conv block (the conv plus the activation/normalization/
 * pooling right after it), in order; for models without convolutions, each
 * hidden Dense layer except the one feeding the output.
 */
export function defaultExitLayers(arch: ModelConfig): string[] {
  const layers = configLayers(arch);
  const consumers = new Map<string, string[]>();
  for (const e of layers) for (const from of inboundNames(arch, e)) consumers.set(from, [...(consumers.get(from) ?? []), entryName(e)]);
  const byName = new Map(layers.map((e) => [entryName(e), e]));
  const ends: string[] = [];
  for (const e of layers) {
    if (!CONV_CLASSES.has(e.class_name)) continue;
    let end = entryName(e);
    for (;;) {
      const next = consumers.get(end) ?? [];
      const only = next.length === 1 ? byName.get(next[0]!) : undefined;
      if (!only || !BLOCK_TAIL.has(only.class_name)) break;
      end = entryName(only);
    }
    if (!ends.includes(end)) ends.push(end);
  }
  const outputs = new Set([...outputWidthLayers(arch)]);
  const blocks = ends.filter((n) => !outputs.has(n));
  if (blocks.length) return blocks;
  // No convolutions (an MLP): after each hidden Dense layer but the last one before the output.
  const dense = layers.filter((e) => e.class_name === 'Dense' && !outputs.has(entryName(e))).map(entryName);
  return dense.slice(0, -1);
}

export interface ExitCosts {
  /** Backbone MACs per sample up to and including each exit's layer. */
  backbone: number[];
  /** MACs of each exit's head. */
  head: number[];
  /** The whole model's MACs per sample. */
  total: number;
}

export interface ExitPredictions {
  /** Per exit: max probability and arg-max per sample. */
  confidence: Float32Array[];
  predicted: Int32Array[];
  final: Int32Array;
  labels: Int32Array;
}

export interface CurvePoint {
  threshold: number;
  accuracy: number;
  averageMacs: number;
  /** Share of samples leaving at each exit, the last entry being the final output. */
  exitShares: number[];
}

/**
 * Accuracy and average MACs when each sample stops at the first enabled exit
 * whose confidence reaches its threshold (null = exit not evaluated). A sample
 * pays the backbone up to where it stops plus every evaluated head on the way.
 */
export function simulateExits(p: ExitPredictions, thresholds: (number | null)[], costs: ExitCosts): Omit<CurvePoint, 'threshold'> {
  const n = p.labels.length;
  const k = thresholds.length;
  const shares = new Array<number>(k + 1).fill(0);
  let correct = 0;
  let macs = 0;
  for (let i = 0; i < n; i++) {
    let heads = 0;
    let stopped = -1;
    for (let e = 0; e < k; e++) {
      const t = thresholds[e];
      if (t === null || t === undefined) continue;
      heads += costs.head[e]!;
      if (p.confidence[e]![i]! >= t) {
        stopped = e;
        break;
      }
    }
    if (stopped >= 0) {
      macs += costs.backbone[stopped]! + heads;
      if (p.predicted[stopped]![i] === p.labels[i]) correct++;
      shares[stopped]!++;
    } else {
      macs += costs.total + heads;
      if (p.final[i] === p.labels[i]) correct++;
      shares[k]!++;
    }
  }
  return { accuracy: n ? correct / n : 0, averageMacs: n ? macs / n : 0, exitShares: shares.map((s) => (n ? s / n : 0)) };
}

export const THRESHOLD_GRID = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999];

/**
 * Per-exit thresholds on held-out data, greedily from the first exit: the
 * lowest threshold whose extra errors (samples the exit gets wrong that the
 * full model gets right, minus the reverse) keep the total within
 * `maxDrop`·N; an exit that would not lower the average MACs is disabled.
 */
export function chooseThresholds(p: ExitPredictions, costs: ExitCosts, maxDrop: number, grid = THRESHOLD_GRID): (number | null)[] {
  const n = p.labels.length;
  const budget = Math.floor(maxDrop * n + 1e-9);
  const k = p.confidence.length;
  const thresholds: (number | null)[] = new Array<number | null>(k).fill(null);
  const remaining = new Uint8Array(n).fill(1);
  let used = 0;
  for (let e = 0; e < k; e++) {
    let chosen: number | null = null;
    let chosenExtra = 0;
    for (const t of grid) {
      let extra = 0;
      for (let i = 0; i < n; i++) {
        if (!remaining[i] || p.confidence[e]![i]! < t) continue;
        const exitRight = p.predicted[e]![i] === p.labels[i];
        const finalRight = p.final[i] === p.labels[i];
        if (finalRight && !exitRight) extra++;
        else if (!finalRight && exitRight) extra--;
      }
      if (used + extra <= budget) {
        chosen = t;
        chosenExtra = extra;
        break;
      }
    }
    if (chosen === null) continue;
    const withExit = [...thresholds];
    withExit[e] = chosen;
    if (simulateExits(p, withExit, costs).averageMacs >= simulateExits(p, thresholds, costs).averageMacs) continue;
    thresholds[e] = chosen;
    used += chosenExtra;
    for (let i = 0; i < n; i++) if (remaining[i] && p.confidence[e]![i]! >= chosen) remaining[i] = 0;
  }
  return thresholds;
}

/** Backbone MACs up to each named layer (its ancestors and itself) and in total, from the topology's shape inference. */
export function backboneMacs(arch: ModelConfig, layers: string[]): { upTo: number[]; total: number; warnings: string[] } {
  const topology = analyzeKerasTopology(arch);
  const nodes = flattenLayers(topology.layers);
  const byName = new Map<string, KerasLayerNode>(nodes.map((n) => [n.qualifiedName, n]));
  const warnings = [...topology.warnings];
  let total = 0;
  for (const n of nodes) total += n.macs ?? 0;
  const upTo = layers.map((name) => {
    const seen = new Set<string>();
    const stack = [name];
    let sum = 0;
    while (stack.length) {
      const cur = stack.pop()!;
      if (seen.has(cur)) continue;
      seen.add(cur);
      const node = byName.get(cur);
      if (!node) continue;
      sum += node.macs ?? 0;
      stack.push(...node.inbound);
    }
    return sum;
  });
  return { upTo, total, warnings };
}

type HeadKind = 'flatten' | 'gap' | 'dense';

interface ExitPlan {
  layer: string;
  head: HeadKind;
  /** Feature values per sample fed to the head's Dense layer. */
  features: number;
  /** [H, W, C] (or [F]) of the exit layer's output. */
  shape: number[];
  headMacs: number;
}

async function runEarlyExit(ctx: TrainContext): Promise<MethodOutput> {
  const { tf, options: o, data, classes, model } = ctx;
  if (!data.train.y) throw new ModelFormatError('invalid-option', 'training exit classifiers needs labelled data');
  const names = o.exits && o.exits.length ? o.exits : defaultExitLayers(ctx.arch);
  if (names.length === 0) {
    throw new ModelFormatError('invalid-option', 'the model has no conv blocks or hidden layers to attach exits to; name the layers with --exits layer1,layer2');
  }
  const outputNames = new Set(model.outputLayers.map((l) => l.name));
  const { upTo, total, warnings } = backboneMacs(ctx.arch, names);
  const plans: ExitPlan[] = names.map((name) => {
    let layer;
    try {
      layer = model.getLayer(name);
    } catch {
      throw new ModelFormatError('invalid-option', `no layer named '${name}' (layers: ${model.layers.map((l) => l.name).join(', ')})`);
    }
    if (outputNames.has(name)) throw new ModelFormatError('invalid-option', `'${name}' is the model's output; exits go after intermediate layers`);
    const shape = (layer.outputShape as (number | null)[]).slice(1);
    if (shape.some((d) => d === null) || (shape.length !== 1 && shape.length !== 3)) {
      throw new ModelFormatError('invalid-option', `exit after '${name}': its output [N, ${shape.map((d) => d ?? '?').join(', ')}] is neither [N, features] nor [N, H, W, C]`);
    }
    const dims = shape as number[];
    const flat = dims.reduce((a, b) => a * b, 1);
    let head: HeadKind = 'dense';
    let features = flat;
    if (dims.length === 3) {
      // Flatten when its classifier costs at most 10% of the model, else pool globally.
      head = flat * classes <= 0.1 * total ? 'flatten' : 'gap';
      features = head === 'flatten' ? flat : dims[2]!;
    }
    const headMacs = layerShapeAndMacs('Dense', { units: classes, use_bias: true }, [[null, features]]).macs ?? features * classes;
    return { layer: name, head, features, shape: dims, headMacs };
  });
  const costs: ExitCosts = { backbone: upTo, head: plans.map((p) => p.headMacs), total };

  // Frozen backbone: its features at every exit (and its final output) are computed once.
  const extractor = tf.model({
    inputs: model.inputs,
    outputs: [...plans.map((p) => model.getLayer(p.layer).output as SymbolicTensor), model.outputs[0]!],
  });
  const { train: headTrain, held: validation } = holdOut(data.train);
  const featuresOf = (samples: Samples) => {
    const outs = predictAllOutputs(tf, extractor, samples);
    return {
      exits: plans.map((p, e) => reduceFeatures(outs[e]!.values, samples.count, p)),
      final: argmaxRows(outs[outs.length - 1]!.values, classes),
    };
  };
  const trainFeatures = featuresOf(headTrain);
  const valFeatures = featuresOf(validation);
  const evalFeatures = featuresOf(data.eval);

  // Train all heads together (one loss per head, summed) on the same batches.
  const random = mulberry32(o.seed);
  const weights = plans.map((p) => {
    const limit = Math.sqrt(6 / (p.features + classes));
    const w = new Float32Array(p.features * classes);
    for (let i = 0; i < w.length; i++) w[i] = (random() * 2 - 1) * limit;
    return tf.tidy(() => ({ w: tf.variable(tf.tensor2d(w, [p.features, classes])), b: tf.variable(tf.zeros([classes])) }));
  });
  const optimizer = tf.train.adam(o.learningRate);
  const labels = headTrain.y!;
  const progress = ctx.tracker(phaseSteps(headTrain.count, o));
  try {
    await runEpochs({
      phase: `train ${plans.length} exit head${plans.length > 1 ? 's' : ''}`,
      count: headTrain.count,
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      progress,
      step: (indices) => {
        const n = indices.length;
        const batchLabels = Int32Array.from(indices, (i) => labels[i]!);
        const xs = plans.map((p, e) => tf.tensor2d(gatherRows(trainFeatures.exits[e]!, p.features, indices), [n, p.features]));
        const y = tf.tidy(() => tf.oneHot(tf.tensor1d(batchLabels, 'int32'), classes).toFloat());
        let correct = 0;
        try {
          const loss = optimizerStep(
            tf,
            optimizer,
            weights.flatMap((v) => [v.w, v.b]),
            () => {
              const losses = xs.map((x, e) => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(x, weights[e]!.w), weights[e]!.b)));
              return tf.addN(losses).div(losses.length) as import('@tensorflow/tfjs').Scalar;
            },
          );
          // Report the first exit's batch accuracy.
          const first = tf.tidy(() => tf.add(tf.matMul(xs[0]!, weights[0]!.w), weights[0]!.b).argMax(-1).dataSync());
          for (let i = 0; i < n; i++) if (first[i] === batchLabels[i]) correct++;
          return { loss, correct };
        } finally {
          tf.dispose([...xs, y]);
        }
      },
    });
  } finally {
    optimizer.dispose();
  }

  const headOutputs = (f: Float32Array[], count: number) =>
    plans.map((p, e) => {
      const logits = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(f[e]!, [count, p.features]), weights[e]!.w), weights[e]!.b).dataSync() as Float32Array);
      const probs = softmaxRows(logits, classes);
      const confidence = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        let m = 0;
        for (let c = 0; c < classes; c++) m = Math.max(m, probs[i * classes + c]!);
        confidence[i] = m;
      }
      return { confidence, predicted: argmaxRows(probs, classes) };
    });
  const predictionsFor = (f: { exits: Float32Array[]; final: Int32Array }, samples: Samples): ExitPredictions => {
    const heads = headOutputs(f.exits, samples.count);
    return { confidence: heads.map((h) => h.confidence), predicted: heads.map((h) => h.predicted), final: f.final, labels: samples.y! };
  };
  const valPredictions = predictionsFor(valFeatures, validation);
  const evalPredictions = predictionsFor(evalFeatures, data.eval);
  const maxDrop = o.maxAccuracyDrop ?? 0.005;
  const thresholds = chooseThresholds(valPredictions, costs, maxDrop);
  const policyPoint = simulateExits(evalPredictions, thresholds, costs);
  const curve: CurvePoint[] = THRESHOLD_GRID.map((t) => ({ threshold: t, ...simulateExits(evalPredictions, plans.map(() => t), costs) }));
  const exitAccuracy = evalPredictions.predicted.map((pred) => {
    let c = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === evalPredictions.labels[i]) c++;
    return pred.length ? c / pred.length : 0;
  });

  // The exported model: heads attached to the same backbone layers, outputs [exits…, final].
  const taken = new Set(model.layers.map((l) => l.name));
  const unique = (base: string) => {
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const headTensors: SymbolicTensor[] = [];
  const denseLayers: { layer: import('@tensorflow/tfjs').layers.Layer; e: number }[] = [];
  const outputNamesOrdered: string[] = [];
  plans.forEach((p, e) => {
    let x = model.getLayer(p.layer).output as SymbolicTensor;
    if (p.head === 'flatten') x = tf.layers.flatten({ name: unique(`exit${e + 1}_flatten`) }).apply(x) as SymbolicTensor;
    if (p.head === 'gap') x = tf.layers.globalAveragePooling2d({ name: unique(`exit${e + 1}_pool`) }).apply(x) as SymbolicTensor;
    const dense = tf.layers.dense({ units: classes, activation: 'softmax', name: unique(`exit${e + 1}`) });
    headTensors.push(dense.apply(x) as SymbolicTensor);
    denseLayers.push({ layer: dense, e });
    outputNamesOrdered.push(dense.name);
  });
  const exported: LayersModel = tf.model({ inputs: model.inputs, outputs: [...headTensors, model.outputs[0]!], name: `${model.name}_early_exit` });
  for (const { layer, e } of denseLayers) layer.setWeights([weights[e]!.w, weights[e]!.b]);
  tf.dispose(weights.flatMap((v) => [v.w, v.b]));
  outputNamesOrdered.push(model.outputLayers[0]!.name);

  const enabledHeads = (upToExit: number) => plans.reduce((s, p, j) => s + (j <= upToExit && thresholds[j] !== null ? p.headMacs : 0), 0);
  const policy = {
    format: 'parsimony-early-exit',
    version: 1,
    confidence: 'max-probability',
    rule: 'Evaluate the outputs in order; stop at the first exit whose highest class probability is at least its threshold (null: skip that exit); otherwise use the final output.',
    outputs: outputNamesOrdered,
    exits: plans.map((p, e) => ({ layer: p.layer, output: e, head: p.head, threshold: thresholds[e], macs: costs.backbone[e]! + enabledHeads(e) })),
    finalMacs: total + enabledHeads(plans.length - 1),
    originalMacs: total,
    expected: { accuracy: policyPoint.accuracy, averageMacs: policyPoint.averageMacs, exitShares: policyPoint.exitShares, samples: data.eval.count },
  };
  const metrics = {
    originalAccuracy: ctx.sourceAccuracy,
    originalMacs: total,
    exits: plans.map((p, e) => ({
      layer: p.layer,
      head: p.head,
      backboneMacs: costs.backbone[e],
      headMacs: p.headMacs,
      accuracy: exitAccuracy[e],
      threshold: thresholds[e],
    })),
    policy: { ...policyPoint, thresholds, macsSaving: 1 - policyPoint.averageMacs / total },
    curve,
    maxAccuracyDrop: maxDrop,
    validationSamples: validation.count,
    epochs: o.epochs,
  };
  const notes = [
    `Exits after ${plans.map((p, e) => `${p.layer} (${p.head === 'flatten' ? 'flatten' : p.head === 'gap' ? 'global average pooling' : 'dense'} → ${classes}-way softmax, ${pct(exitAccuracy[e]!)} alone)`).join(', ')}; heads trained on the frozen backbone's features (${headTrain.count} samples), thresholds chosen on ${validation.count} held-out samples (at most ${pct(maxDrop)} accuracy drop there).`,
    `Policy on the evaluation data: accuracy ${pct(policyPoint.accuracy)} (original ${pct(ctx.sourceAccuracy)}) at ${Math.round(policyPoint.averageMacs).toLocaleString('en-US')} MACs per sample on average (original ${total.toLocaleString('en-US')}: ${pct(1 - policyPoint.averageMacs / total)} fewer); leaving at each exit: ${policyPoint.exitShares.map((s) => pct(s)).join(' / ')}.`,
    'Stock TF.js computes every output in one predict(); to save compute, run the model in stages (sub-models up to each exit) and stop as the policy file says.',
    ...warnings,
  ];
  return {
    model: exported,
    notes,
    metrics,
    extraFiles: [{ suffix: '.policy.json', content: JSON.stringify(policy, null, 2) + '\n' }],
    dispose: [extractor],
  };
}

/** Per-sample head inputs: the exit layer's output as is (flatten/dense) or averaged over positions (gap). */
function reduceFeatures(values: Float32Array, count: number, p: ExitPlan): Float32Array {
  if (p.head !== 'gap') return values;
  const [h, w, c] = p.shape as [number, number, number];
  const out = new Float32Array(count * c);
  const per = h * w * c;
  for (let i = 0; i < count; i++) {
    for (let pos = 0; pos < h * w; pos++) for (let ch = 0; ch < c; ch++) out[i * c + ch] = out[i * c + ch]! + values[i * per + pos * c + ch]!;
    for (let ch = 0; ch < c; ch++) out[i * c + ch] = out[i * c + ch]! / (h * w);
  }
  return out;
}

