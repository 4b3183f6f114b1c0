import type { Tf } from '../tfjs';
import type { ConvPad, LoweredGraph, PlanOp, Ref } from './planOps';

/**
 * Turns a TF.js LayersModel's graph into plan ops, one layer call at a time,
 * following the model's symbolic tensors from its first output back to its
 * input (so Sequential, functional and nested models all lower the same way,
 * and layers the output does not need are skipped). Each layer reproduces
 * what tfjs-layers computes at inference (training = false); a layer, option
 * or shape it does not know throws PlanUnsupported naming it, and the caller
 * keeps model.predict.
 */
type Tensor = import('@tensorflow/tfjs').Tensor;
type LayersModel = import('@tensorflow/tfjs').LayersModel;

export class PlanUnsupported extends Error {}

/** An op before it is given its output ref (Omit distributed over the union). */
type WithoutOut<T> = T extends unknown ? Omit<T, 'out'> : never;

/** The parts of tfjs-layers' SymbolicTensor, Node and Layer the lowering reads (public in tfjs-layers' JS). */
interface SymbolicTensorLike {
  id: number;
  shape: (number | null)[];
  sourceLayer: LayerLike;
  nodeIndex: number;
  tensorIndex: number;
}
interface NodeLike {
  inputTensors: SymbolicTensorLike[];
}
interface VariableLike {
  read(): Tensor;
}
interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  inboundNodes: NodeLike[];
}
interface GraphLike {
  inputs: SymbolicTensorLike[];
  outputs: SymbolicTensorLike[];
}

/** Layers that are the identity at inference. */
const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/** Activation names (tfjs-layers' serialized class names) and the kernel that computes each. */
const ACTIVATION_KERNELS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
  selu: 'Selu',
  softplus: 'Softplus',
};

export interface Lowering {
  graph: LoweredGraph;
  /** Tensors the lowering made (constants); the plan disposes them. */
  made: Tensor[];
}

export function lowerModel(tf: Tf, model: LayersModel): Lowering {
  const root = model as unknown as GraphLike;
  if (root.inputs.length !== 1) throw new PlanUnsupported(`the model has ${root.inputs.length} inputs`);
  const ops: PlanOp[] = [];
  const made: Tensor[] = [];
  let refCount = 0;
  let layers = 0;
  const newRef = (): Ref => refCount++;
  const input = newRef();

  const emit = (op: WithoutOut<PlanOp>): Ref => {
    const out = newRef();
    ops.push({ ...op, out } as PlanOp);
    return out;
  };

  /** Emits the ops of an activation by name (tfjs-layers semantics); 'linear' emits nothing. */
  const activation = (name: unknown, x: Ref, layer: string): Ref => {
    if (name === undefined || name === null || name === 'linear') return x;
    if (name === 'softmax') return emit({ kind: 'softmax', x, layer });
    const kernel = typeof name === 'string' ? ACTIVATION_KERNELS[name] : undefined;
    if (!kernel) throw new PlanUnsupported(`layer '${layer}' uses activation '${String(name)}'`);
    return emit({ kind: 'unary', x, kernel, attrs: {}, layer });
  };

  /** Lowers `graph` with its single input bound to `inputRef`; returns the ref of `graph.outputs[outputIndex]`. */
  const lowerGraph = (graph: GraphLike, inputRef: Ref, outputIndex: number): Ref => {
    const values = new Map<number, Ref>();
    values.set(graph.inputs[0]!.id, inputRef);
    const valueOf = (t: SymbolicTensorLike): Ref => {
      const known = values.get(t.id);
      if (known !== undefined) return known;
      const layer = t.sourceLayer;
      const node = layer.inboundNodes[t.nodeIndex];
      if (!node) throw new PlanUnsupported(`layer '${layer.name}' has no call node ${t.nodeIndex}`);
      const inputs = node.inputTensors.map(valueOf);
      const ref = lowerLayer(layer, node, inputs, t.tensorIndex);
      values.set(t.id, ref);
      return ref;
    };
    const output = graph.outputs[outputIndex];
    if (!output) throw new PlanUnsupported(`no output ${outputIndex}`);
    return valueOf(output);
  };

  const lowerLayer = (layer: LayerLike, node: NodeLike, inputs: Ref[], tensorIndex: number): Ref => {
    const cls = layer.getClassName();
    const name = layer.name;
    const c = layer.getConfig();
    const w = layer as unknown as Record<string, VariableLike | null | undefined>;
    const read = (key: string): Tensor => {
      const v = w[key];
      if (!v) throw new PlanUnsupported(`layer '${name}' (${cls}) has no ${key}`);
      return v.read();
    };
    const optional = (key: string, when: unknown): Tensor | null => (when === false || !w[key] ? null : read(key));
    const inRank = (i = 0): number => node.inputTensors[i]!.shape.length;
    const one = (): Ref => {
      if (inputs.length !== 1) throw new PlanUnsupported(`layer '${name}' (${cls}) has ${inputs.length} inputs`);
      return inputs[0]!;
    };
    const channelsLast = () => {
      if (c['dataFormat'] !== undefined && c['dataFormat'] !== 'channelsLast') throw new PlanUnsupported(`layer '${name}' (${cls}) is ${String(c['dataFormat'])}`);
    };
    if (layer instanceof tf.LayersModel) {
      // A nested model (a Sequential inside a functional model, a base network): inline its graph.
      const nested = layer as unknown as GraphLike;
      if (nested.inputs.length !== 1) throw new PlanUnsupported(`nested model '${name}' has ${nested.inputs.length} inputs`);
      return lowerGraph(nested, one(), tensorIndex);
    }
    if (tensorIndex !== 0) throw new PlanUnsupported(`layer '${name}' (${cls}) has several outputs`);
    layers++;
    if (IDENTITY_LAYERS.has(cls)) return one();
    switch (cls) {
      case 'InputLayer':
        throw new PlanUnsupported(`input layer '${name}' is not the model's input`);
      case 'Dense': {
        if (inRank() < 2) throw new PlanUnsupported(`layer '${name}' (Dense) has a rank-${inRank()} input`);
        const x = emit({ kind: 'dense', x: one(), kernel: read('kernel'), bias: optional('bias', c['useBias']), activation: 'linear', layer: name });
        return activation(c['activation'], x, name);
      }
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        channelsLast();
        if (inRank() !== 4) throw new PlanUnsupported(`layer '${name}' (${cls}) has a rank-${inRank()} input`);
        const strides = pair(c['strides'], name);
        const dilations = pair(c['dilationRate'] ?? 1, name);
        const pad = padding(c['padding'], name);
        let x = one();
        if (cls === 'Conv2D') {
          x = emit({ kind: 'conv2d', x, filter: read('kernel'), bias: optional('bias', c['useBias']), activation: 'linear', strides, pad, dilations, layer: name });
        } else if (cls === 'DepthwiseConv2D') {
          // tfjs-layers runs DepthwiseConv2D without its dilation rate; rather than copy that, leave such layers to model.predict.
          if (dilations[0] !== 1 || dilations[1] !== 1) throw new PlanUnsupported(`layer '${name}' (DepthwiseConv2D) has a dilation rate, which tfjs-layers ignores`);
          x = emit({ kind: 'depthwiseConv2d', x, filter: read('depthwiseKernel'), bias: optional('bias', c['useBias']), activation: 'linear', strides, pad, dilations, layer: name });
        } else {
          // tf.separableConv2d: a depthwise convolution, then a 1×1 convolution (where the bias goes).
          x = emit({ kind: 'depthwiseConv2d', x, filter: read('depthwiseKernel'), bias: null, activation: 'linear', strides, pad, dilations, layer: name });
          x = emit({ kind: 'conv2d', x, filter: read('pointwiseKernel'), bias: optional('bias', c['useBias']), activation: 'linear', strides: [1, 1], pad: 'valid', dilations: [1, 1], layer: name });
        }
        return activation(c['activation'], x, name);
      }
      case 'BatchNormalization': {
        const axis = c['axis'];
        if (axis !== -1 && axis !== inRank() - 1) throw new PlanUnsupported(`layer '${name}' (BatchNormalization) normalizes axis ${String(axis)}, not the last`);
        return emit({
          kind: 'batchNorm',
          x: one(),
          mean: read('movingMean'),
          variance: read('movingVariance'),
          offset: optional('beta', c['center']),
          scale: optional('gamma', c['scale']),
          epsilon: Number(c['epsilon']),
          layer: name,
        });
      }
      case 'Activation':
        return activation(c['activation'], one(), name);
      case 'ReLU': {
        const max = c['maxValue'];
        if (max === undefined || max === null) return emit({ kind: 'unary', x: one(), kernel: 'Relu', attrs: {}, layer: name });
        // relu then clip to [0, max]; for max 6 that is exactly Relu6 (which convolutions can fuse).
        if (max === 6) return emit({ kind: 'unary', x: one(), kernel: 'Relu6', attrs: {}, layer: name });
        const r = emit({ kind: 'unary', x: one(), kernel: 'Relu', attrs: {}, layer: name });
        return emit({ kind: 'unary', x: r, kernel: 'ClipByValue', attrs: { clipValueMin: 0, clipValueMax: Number(max) }, layer: name });
      }
      case 'LeakyReLU':
        return emit({ kind: 'unary', x: one(), kernel: 'LeakyRelu', attrs: { alpha: Number(c['alpha'] ?? 0.3) }, layer: name });
      case 'ELU':
        if (c['alpha'] !== undefined && c['alpha'] !== 1) throw new PlanUnsupported(`layer '${name}' (ELU) has alpha ${String(c['alpha'])}`);
        return emit({ kind: 'unary', x: one(), kernel: 'Elu', attrs: {}, layer: name });
      case 'Softmax': {
        const axis = Array.isArray(c['axis']) && c['axis'].length === 1 ? c['axis'][0] : (c['axis'] ?? -1);
        if (axis !== -1 && axis !== inRank() - 1) throw new PlanUnsupported(`layer '${name}' (Softmax) is over axis ${String(c['axis'])}, not the last`);
        return emit({ kind: 'softmax', x: one(), layer: name });
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        channelsLast();
        const filterSize = pair(c['poolSize'], name);
        const strides = c['strides'] === null || c['strides'] === undefined ? filterSize : pair(c['strides'], name);
        const pad = padding(c['padding'], name);
        if (typeof pad !== 'string') throw new PlanUnsupported(`layer '${name}' (${cls}) has explicit padding`);
        return emit({ kind: 'pool', kernel: cls === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool', x: one(), filterSize, strides, pad, layer: name });
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
        channelsLast();
        if (c['keepDims']) throw new PlanUnsupported(`layer '${name}' (${cls}) keeps dimensions`);
        return emit({ kind: 'reduce', kernel: cls === 'GlobalMaxPooling2D' ? 'Max' : 'Mean', x: one(), axes: [1, 2], layer: name });
      case 'GlobalAveragePooling1D':
      case 'GlobalMaxPooling1D':
        return emit({ kind: 'reduce', kernel: cls === 'GlobalMaxPooling1D' ? 'Max' : 'Mean', x: one(), axes: [1], layer: name });
      case 'Flatten':
        if (c['dataFormat'] === 'channelsFirst' && inRank() > 2) throw new PlanUnsupported(`layer '${name}' (Flatten) is channelsFirst`);
        return emit({ kind: 'reshape', x: one(), sampleShape: [-1], layer: name });
      case 'Reshape': {
        const target = c['targetShape'];
        if (!Array.isArray(target) || !target.every((d) => Number.isInteger(d))) throw new PlanUnsupported(`layer '${name}' (Reshape) has target ${JSON.stringify(target)}`);
        return emit({ kind: 'reshape', x: one(), sampleShape: target as number[], layer: name });
      }
      case 'Permute': {
        const dims = c['dims'];
        if (!Array.isArray(dims)) throw new PlanUnsupported(`layer '${name}' (Permute) has dims ${JSON.stringify(dims)}`);
        return emit({ kind: 'transpose', x: one(), perm: [0, ...(dims as number[])], layer: name });
      }
      case 'ZeroPadding2D': {
        channelsLast();
        const p = c['padding'] as [[number, number], [number, number]] | undefined;
        if (!Array.isArray(p) || p.length !== 2 || !p.every((q) => Array.isArray(q) && q.length === 2)) throw new PlanUnsupported(`layer '${name}' (ZeroPadding2D) has padding ${JSON.stringify(p)}`);
        return emit({ kind: 'pad', x: one(), paddings: [[0, 0], [p[0][0], p[0][1]], [p[1][0], p[1][1]], [0, 0]], layer: name });
      }
      case 'Add':
      case 'Multiply':
      case 'Average':
      case 'Maximum':
      case 'Minimum': {
        if (inputs.length < 2) throw new PlanUnsupported(`layer '${name}' (${cls}) has ${inputs.length} input`);
        const ranks = new Set(node.inputTensors.map((t) => t.shape.length));
        // Inputs of different ranks are reshaped by tfjs-layers before broadcasting; not covered here.
        if (ranks.size !== 1) throw new PlanUnsupported(`layer '${name}' (${cls}) merges inputs of different ranks`);
        const kernel = cls === 'Multiply' ? 'Multiply' : cls === 'Maximum' ? 'Maximum' : cls === 'Minimum' ? 'Minimum' : 'Add';
        let acc = inputs[0]!;
        for (let i = 1; i < inputs.length; i++) acc = emit({ kind: 'binary', kernel, a: acc, b: inputs[i]!, layer: name });
        if (cls === 'Average') {
          const factor = tf.scalar(1 / inputs.length);
          made.push(factor);
          acc = emit({ kind: 'binary', kernel: 'Multiply', a: factor, b: acc, layer: name });
        }
        return acc;
      }
      case 'Concatenate': {
        if (inputs.length < 2) throw new PlanUnsupported(`layer '${name}' (Concatenate) has ${inputs.length} input`);
        return emit({ kind: 'concat', xs: inputs, axis: Number(c['axis'] ?? -1), layer: name });
      }
      default:
        throw new PlanUnsupported(`layer '${name}' (${cls}) is not one the inference plan runs`);
    }
  };

  const output = lowerGraph(root, input, 0);
  return { graph: { ops, input, output, refCount, layers }, made };
}

function pair(v: unknown, layer: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((d) => Number.isInteger(d))) return [v[0], v[1]];
  if (Array.isArray(v) && v.length === 1 && Number.isInteger(v[0])) return [v[0], v[0]];
  throw new PlanUnsupported(`layer '${layer}' has a window/stride of ${JSON.stringify(v)}`);
}

function padding(v: unknown, layer: string): ConvPad {
  if (v === 'same' || v === 'valid') return v;
  throw new PlanUnsupported(`layer '${layer}' has padding '${String(v)}'`);
}
