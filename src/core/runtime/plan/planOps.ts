/**
 * The operations an inference plan is made of: one per layer call (before
 * fusion), each reading values by reference. A `Ref` names a value (a tensor
 * that exists only while a batch runs); weights are resident TF.js tensors
 * (the layer's variables, or tensors the plan made by folding).
 */
type Tensor = import('@tensorflow/tfjs').Tensor;

export type Ref = number;

/** Activations the wasm and cpu backends apply inside a fused product or convolution (an exact clamp). */
export type FusedActivation = 'linear' | 'relu' | 'relu6';

/** 'same', 'valid', or explicit NHWC padding (a folded ZeroPadding2D). */
export type ConvPad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

interface Base {
  out: Ref;
  /** The layer this came from (for messages and the plan's summary). */
  layer: string;
}

export interface DenseOp extends Base {
  kind: 'dense';
  x: Ref;
  /** [in, out] */
  kernel: Tensor;
  bias: Tensor | null;
  activation: FusedActivation;
}

export interface ConvOp extends Base {
  kind: 'conv2d' | 'depthwiseConv2d';
  x: Ref;
  /** conv2d: [kh, kw, in, out]; depthwise: [kh, kw, in, multiplier] */
  filter: Tensor;
  bias: Tensor | null;
  activation: FusedActivation;
  strides: [number, number];
  pad: ConvPad;
  dilations: [number, number];
}

/** Inference-mode batch normalization over the last axis. */
export interface BatchNormOp extends Base {
  kind: 'batchNorm';
  x: Ref;
  mean: Tensor;
  variance: Tensor;
  offset: Tensor | null;
  scale: Tensor | null;
  epsilon: number;
}

/** One elementwise kernel with fixed attributes (Relu, Sigmoid, LeakyRelu, ClipByValue, …). */
export interface UnaryOp extends Base {
  kind: 'unary';
  x: Ref;
  kernel: string;
  attrs: Record<string, number>;
}

/** Softmax over the last axis. */
export interface SoftmaxOp extends Base {
  kind: 'softmax';
  x: Ref;
}

export interface PoolOp extends Base {
  kind: 'pool';
  kernel: 'MaxPool' | 'AvgPool';
  x: Ref;
  filterSize: [number, number];
  strides: [number, number];
  pad: 'same' | 'valid';
}

/** Global pooling: a mean or max over `axes`, which are dropped. */
export interface ReduceOp extends Base {
  kind: 'reduce';
  kernel: 'Mean' | 'Max';
  x: Ref;
  axes: number[];
}

/** Same data, another shape: `sampleShape` is the shape after the batch axis (one entry may be -1). */
export interface ReshapeOp extends Base {
  kind: 'reshape';
  x: Ref;
  sampleShape: number[];
}

export interface TransposeOp extends Base {
  kind: 'transpose';
  x: Ref;
  perm: number[];
}

/** Zero padding, one [before, after] pair per axis. */
export interface PadOp extends Base {
  kind: 'pad';
  x: Ref;
  paddings: [number, number][];
}

/** Elementwise a ∘ b with broadcasting; `b` may be a resident tensor (Average's 1/n). */
export interface BinaryOp extends Base {
  kind: 'binary';
  kernel: 'Add' | 'Multiply' | 'Maximum' | 'Minimum';
  a: Ref | Tensor;
  b: Ref;
}

export interface ConcatOp extends Base {
  kind: 'concat';
  xs: Ref[];
  axis: number;
}

export type PlanOp = DenseOp | ConvOp | BatchNormOp | UnaryOp | SoftmaxOp | PoolOp | ReduceOp | ReshapeOp | TransposeOp | PadOp | BinaryOp | ConcatOp;

/** The refs an op reads. */
export function opInputs(op: PlanOp): Ref[] {
  switch (op.kind) {
    case 'concat':
      return op.xs;
    case 'binary':
      return typeof op.a === 'number' ? [op.a, op.b] : [op.b];
    default:
      return [op.x];
  }
}

/** A model lowered to ops: values are numbered 0…refCount−1, `input` is written by the caller. */
export interface LoweredGraph {
  ops: PlanOp[];
  input: Ref;
  output: Ref;
  refCount: number;
  /** Layers covered (identity layers such as Dropout included). */
  layers: number;
}
