import type { Tf } from '../tfjs';
import { opInputs, type BatchNormOp, type ConvOp, type DenseOp, type LoweredGraph, type PadOp, type PlanOp, type Ref } from './planOps';

/**
 * Fewer, bigger kernels: what a layer does after a product or convolution is
 * folded into it when nothing else reads the intermediate value.
 *  - BatchNormalization after Dense/Conv2D/DepthwiseConv2D (no activation in
 *    between) becomes new weights: W·s and (b − mean)·s + β, s = γ/√(var + ε),
 *    computed once in float64.
 *  - Relu / Relu6 after them becomes the kernel's fused activation (an exact clamp).
 *  - ZeroPadding2D before a 'valid' convolution becomes its explicit padding.
 * Results equal the unfused ops up to float rounding (the folded weights round once).
 */
type Tensor = import('@tensorflow/tfjs').Tensor;

export interface FusionCounts {
  batchNorms: number;
  activations: number;
  paddings: number;
}

export function fusePlan(tf: Tf, graph: LoweredGraph, made: Tensor[]): { graph: LoweredGraph; fused: FusionCounts } {
  const uses = new Map<Ref, number>();
  for (const op of graph.ops) for (const r of opInputs(op)) uses.set(r, (uses.get(r) ?? 0) + 1);
  uses.set(graph.output, (uses.get(graph.output) ?? 0) + 1);
  const onlyUse = (r: Ref) => uses.get(r) === 1;

  const producer = new Map<Ref, PlanOp>();
  const removed = new Set<PlanOp>();
  const fused: FusionCounts = { batchNorms: 0, activations: 0, paddings: 0 };
  const linearProducer = (x: Ref): DenseOp | ConvOp | null => {
    const p = producer.get(x);
    if (!p || !onlyUse(x)) return null;
    if ((p.kind === 'dense' || p.kind === 'conv2d' || p.kind === 'depthwiseConv2d') && p.activation === 'linear') return p;
    return null;
  };

  for (const op of graph.ops) {
    if (op.kind === 'batchNorm') {
      const p = linearProducer(op.x);
      if (p && foldBatchNorm(tf, p, op, made)) {
        p.out = op.out;
        producer.set(op.out, p);
        removed.add(op);
        fused.batchNorms++;
        continue;
      }
    } else if (op.kind === 'unary' && (op.kernel === 'Relu' || op.kernel === 'Relu6')) {
      const p = linearProducer(op.x);
      if (p) {
        p.activation = op.kernel === 'Relu' ? 'relu' : 'relu6';
        p.out = op.out;
        producer.set(op.out, p);
        removed.add(op);
        fused.activations++;
        continue;
      }
    } else if ((op.kind === 'conv2d' || op.kind === 'depthwiseConv2d') && op.pad === 'valid') {
      const p = producer.get(op.x);
      if (p?.kind === 'pad' && onlyUse(op.x) && spatialOnly(p)) {
        const [, h, w] = p.paddings;
        op.pad = [[0, 0], [h![0], h![1]], [w![0], w![1]], [0, 0]];
        op.x = p.x;
        removed.add(p);
        fused.paddings++;
      }
    }
    producer.set(op.out, op);
  }
  return { graph: { ...graph, ops: graph.ops.filter((op) => !removed.has(op)) }, fused };
}

function spatialOnly(p: PadOp): boolean {
  const [n, , , c] = p.paddings;
  return p.paddings.length === 4 && n![0] === 0 && n![1] === 0 && c![0] === 0 && c![1] === 0;
}

/** Rewrites `p`'s weights so that it also applies `bn`; false when the channel counts do not line up. */
function foldBatchNorm(tf: Tf, p: DenseOp | ConvOp, bn: BatchNormOp, made: Tensor[]): boolean {
  const weights = p.kind === 'dense' ? p.kernel : p.filter;
  const shape = weights.shape;
  const channels = p.kind === 'depthwiseConv2d' ? shape[2]! * shape[3]! : shape[shape.length - 1]!;
  if (bn.mean.size !== channels) return false;
  const mean = bn.mean.dataSync();
  const variance = bn.variance.dataSync();
  const gamma = bn.scale?.dataSync();
  const beta = bn.offset?.dataSync();
  const bias = p.bias?.dataSync();
  const scale = new Float64Array(channels);
  const newBias = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + bn.epsilon);
    newBias[c] = ((bias ? bias[c]! : 0) - mean[c]!) * scale[c]! + (beta ? beta[c]! : 0);
  }
  // Output channel c is the fastest-varying index of the weights' last one (two, for depthwise) axes.
  const w = weights.dataSync();
  const newWeights = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) newWeights[i] = w[i]! * scale[i % channels]!;
  const kernel = tf.tensor(newWeights, shape, 'float32');
  const b = tf.tensor1d(newBias, 'float32');
  made.push(kernel, b);
  if (p.kind === 'dense') p.kernel = kernel;
  else p.filter = kernel;
  p.bias = b;
  return true;
}
