import { ModelFormatError } from '../errors';

/**
 * Layer order, wiring, output shapes and MACs for Keras-style topologies: the
 * `model_config` of a Keras 2 .h5, the `config.json` of a Keras 3 .keras file and
 * the `modelTopology` of a TF.js layers model all use this serialization.
 *
 * Nothing here runs a layer: shapes come from the configuration alone, so a
 * Lambda or custom layer gets an unknown (null) shape and MACs, never a guess.
 */

export type Shape = (number | null)[];
type Json = Record<string, unknown>;

export interface KerasLayerNode {
  /** Name as the model config states it. */
  name: string;
  /** Name qualified by the enclosing models ("outer/inner"), unique across the tree. */
  qualifiedName: string;
  className: string;
  config: Json;
  /** Qualified names of the layers that feed this one (first call). */
  inbound: string[];
  /** Input shape of the first call (batch dimension first), when known. */
  inputShape: Shape | null;
  outputShape: Shape | null;
  /** MACs per sample summed over all calls inside the enclosing model; null when unknown. */
  macs: number | null;
  /** False for classes this module does not know (custom layers, Lambda). */
  known: boolean;
  /** Effective trainability: false if this layer or an enclosing model says trainable: false. */
  trainable: boolean;
  /** Nested models keep their own layers; leaf layers have none. */
  children?: KerasLayerNode[];
}

export interface KerasTopology {
  className: string;
  name: string;
  /** Top-level layers in config order; nested models carry `children`. */
  layers: KerasLayerNode[];
  inputShape: Shape | null;
  outputShape: Shape | null;
  warnings: string[];
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

export function isModelClass(className: string): boolean {
  return MODEL_CLASSES.has(className);
}

/** Every leaf layer in order, nested models flattened depth-first. */
export function flattenLayers(layers: readonly KerasLayerNode[]): KerasLayerNode[] {
  const out: KerasLayerNode[] = [];
  const walk = (list: readonly KerasLayerNode[]) => {
    for (const l of list) {
      if (l.children) walk(l.children);
      else out.push(l);
    }
  };
  walk(layers);
  return out;
}

/** Keras 3's `naming.to_snake_case`, used to name layers inside model.weights.h5. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * Accepts a model config in any of its wrappings: `{class_name, config}`,
 * `{model_config: …}` (TF.js), or Keras 3's `{module, class_name, config, build_config}`.
 */
export function analyzeKerasTopology(topology: unknown, maxDepth = 200): KerasTopology {
  let root = asObject(topology);
  if (root && asObject(root.model_config)) root = asObject(root.model_config);
  if (!root || typeof root.class_name !== 'string') {
    throw new ModelFormatError('not-a-model', 'model topology has no class_name');
  }
  const warnings: string[] = [];
  const analyzer = new TopologyAnalyzer(maxDepth, warnings);
  const model = analyzer.model(root, null, '', true, 0);
  if (!model) {
    throw new ModelFormatError('not-a-model', `model topology of class '${root.class_name}' has no layers`);
  }
  return {
    className: root.class_name,
    name: typeof asObject(root.config)?.name === 'string' ? (asObject(root.config)!.name as string) : 'model',
    layers: model.layers,
    inputShape: model.inputShape,
    outputShape: model.outputShape,
    warnings,
  };
}

interface ModelResult {
  layers: KerasLayerNode[];
  inputShape: Shape | null;
  outputShape: Shape | null;
  /** Qualified names of the output layers, so an outer model can wire to them. */
  outputs: string[];
  macs: number | null;
}

class TopologyAnalyzer {
  constructor(
    private readonly maxDepth: number,
    private readonly warnings: string[],
  ) {}

  /** Analyzes a Sequential/Functional config; returns null when `entry` isn't a model. */
  model(entry: Json, givenInput: Shape | null, prefix: string, parentTrainable: boolean, depth: number): ModelResult | null {
    if (depth > this.maxDepth) {
      throw new ModelFormatError('too-large', `models nested more than ${this.maxDepth} deep`);
    }
    const className = String(entry.class_name);
    const rawConfig = entry.config;
    // Keras ≤ 2.2 wrote a Sequential's config as the bare list of layers.
    const config: Json | null = Array.isArray(rawConfig) ? { layers: rawConfig } : asObject(rawConfig);
    if (!config || !Array.isArray(config.layers)) return null;
    const trainable = parentTrainable && config.trainable !== false;
    const buildInput = shapeFrom(asObject(entry.build_config)?.input_shape) ?? shapeFrom(config.build_input_shape);
    const layerEntries = config.layers.map((l, i) => {
      const o = asObject(l);
      if (!o || typeof o.class_name !== 'string') {
        throw new ModelFormatError('not-a-model', `layer ${i} of model '${prefix || 'model'}' has no class_name`);
      }
      return o;
    });
    const sequential = className === 'Sequential' || (!config.input_layers && !layerEntries.some((l) => l.inbound_nodes));
    return sequential
      ? this.sequential(layerEntries, givenInput ?? buildInput, prefix, trainable, depth)
      : this.functional(config, layerEntries, givenInput, prefix, trainable, depth);
  }

  private sequential(entries: Json[], input: Shape | null, prefix: string, trainable: boolean, depth: number): ModelResult {
    const layers: KerasLayerNode[] = [];
    let shape = input;
    let previous: string[] = [];
    let macs: number | null = 0;
    let modelInput: Shape | null = input;
    for (const entry of entries) {
      const node = this.layer(entry, shape === null ? [] : [shape], previous, prefix, trainable, depth);
      if (layers.length === 0 && node.inputShape) modelInput = node.inputShape;
      layers.push(node.node);
      shape = node.node.outputShape;
      previous = node.outputs;
      macs = addMacs(macs, node.node);
    }
    return { layers, inputShape: modelInput, outputShape: shape, outputs: previous, macs };
  }

  private functional(config: Json, entries: Json[], givenInput: Shape | null, prefix: string, trainable: boolean, depth: number): ModelResult {
    const byName = new Map<string, Json>();
    for (const e of entries) byName.set(layerName(e), e);
    const done = new Map<string, { node: KerasLayerNode; outputs: string[] }>();
    const inProgress = new Set<string>();
    const inputNames = refNames(config.input_layers);
    const outputNames = refNames(config.output_layers);

    const visit = (name: string, level: number): { node: KerasLayerNode; outputs: string[] } | null => {
      const finished = done.get(name);
      if (finished) return finished;
      const entry = byName.get(name);
      if (!entry || inProgress.has(name)) return null;
      if (level > this.maxDepth) throw new ModelFormatError('too-large', `layer graph deeper than ${this.maxDepth} at '${name}'`);
      inProgress.add(name);
      const calls = inboundCalls(entry.inbound_nodes, this.maxDepth);
      const callShapes: Shape[][] = [];
      let firstInbound: string[] = [];
      for (const [i, call] of calls.entries()) {
        const shapes: Shape[] = [];
        const names: string[] = [];
        for (const ref of call) {
          const upstream = visit(ref, level + 1);
          if (upstream) names.push(...upstream.outputs);
          else names.push(qualify(prefix, ref));
          shapes.push(upstream?.node.outputShape ?? (null as unknown as Shape));
        }
        if (i === 0) firstInbound = names;
        callShapes.push(shapes);
      }
      // A model input given by the enclosing model replaces the stored input shape.
      const isModelInput = calls.length === 0 && givenInput !== null && (inputNames.length <= 1 || inputNames[0] === name);
      const first = (callShapes[0] ?? (isModelInput ? [givenInput] : [])).filter((s): s is Shape => s !== null);
      const complete = callShapes[0] === undefined || callShapes[0].every((s) => s !== null);
      const result = this.layer(entry, complete ? first : [], firstInbound, prefix, trainable, depth);
      // A layer called more than once (shared weights) costs MACs on every call.
      if (callShapes.length > 1 && result.node.macs !== null && !result.node.children) {
        let total: number | null = result.node.macs;
        for (const shapes of callShapes.slice(1)) {
          const again = shapes.every((s) => s !== null) ? layerShapeAndMacs(result.node.className, result.node.config, shapes, this.warnings, result.node.qualifiedName) : null;
          total = again && again.macs !== null && total !== null ? total + again.macs : null;
        }
        result.node.macs = total;
      }
      inProgress.delete(name);
      const value = { node: result.node, outputs: result.outputs };
      done.set(name, value);
      return value;
    };

    const layers: KerasLayerNode[] = [];
    let macs: number | null = 0;
    for (const entry of entries) {
      const v = visit(layerName(entry), 0);
      if (!v) continue;
      layers.push(v.node);
      macs = addMacs(macs, v.node);
    }
    const outputs = outputNames.flatMap((n) => done.get(n)?.outputs ?? [qualify(prefix, n)]);
    const inputLayer = inputNames.length > 0 ? done.get(inputNames[0]!) : undefined;
    const outputLayer = outputNames.length === 1 ? done.get(outputNames[0]!) : undefined;
    return {
      layers,
      inputShape: inputLayer?.node.outputShape ?? givenInput,
      outputShape: outputLayer?.node.outputShape ?? (outputNames.length === 0 ? (layers.at(-1)?.outputShape ?? null) : null),
      outputs: outputs.length > 0 ? outputs : layers.length > 0 ? [layers.at(-1)!.qualifiedName] : [],
      macs,
    };
  }

  /** One layer entry (which may itself be a model) given the shapes flowing into it. */
  private layer(
    entry: Json,
    inputShapes: Shape[],
    inbound: string[],
    prefix: string,
    parentTrainable: boolean,
    depth: number,
  ): { node: KerasLayerNode; outputs: string[]; inputShape: Shape | null } {
    const className = String(entry.class_name);
    const config = asObject(entry.config) ?? {};
    const name = layerName(entry);
    const qualifiedName = qualify(prefix, name);
    const trainable = parentTrainable && config.trainable !== false;
    // An explicit input shape in the layer's own config wins when nothing flows in.
    let inputs = inputShapes;
    if (inputs.length === 0) {
      const own = declaredInputShape(entry, config);
      if (own) inputs = [own];
    }
    if (isModelClass(className) || (Array.isArray(config.layers) && asObject(entry)?.class_name !== 'Bidirectional')) {
      const nested = this.model(entry, inputs[0] ?? null, qualifiedName, trainable, depth + 1);
      if (nested) {
        const node: KerasLayerNode = {
          name,
          qualifiedName,
          className,
          config,
          inbound,
          inputShape: nested.inputShape,
          outputShape: nested.outputShape,
          macs: nested.macs,
          known: true,
          trainable,
          children: nested.layers,
        };
        // The nested model's first layers are fed by whatever feeds the container.
        for (const child of nested.layers) if (child.inbound.length === 0) child.inbound = inbound;
        return { node, outputs: nested.outputs, inputShape: nested.inputShape };
      }
    }
    const { outputShape, macs, known } = layerShapeAndMacs(className, config, inputs, this.warnings, qualifiedName);
    const node: KerasLayerNode = {
      name,
      qualifiedName,
      className,
      config,
      inbound,
      inputShape: inputs[0] ?? null,
      outputShape,
      macs,
      known,
      trainable,
    };
    return { node, outputs: [qualifiedName], inputShape: className === 'InputLayer' ? outputShape : (inputs[0] ?? null) };
  }
}

function addMacs(total: number | null, node: KerasLayerNode): number | null {
  if (total === null) return null;
  if (node.macs === null) return node.known && !hasWeights(node) ? total : null;
  return total + node.macs;
}

/** Layers without weights (pooling, activation) may have unknown cost without making the total unknown. */
function hasWeights(node: KerasLayerNode): boolean {
  return !WEIGHTLESS.has(node.className);
}

function layerName(entry: Json): string {
  const config = asObject(entry.config);
  if (typeof entry.name === 'string') return entry.name;
  if (config && typeof config.name === 'string') return config.name;
  return String(entry.class_name);
}

function qualify(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}

/** The shape when every dimension is unknown or a size (a non-negative safe integer); otherwise unknown. */
function sizes(shape: Shape | null): Shape | null {
  return shape && shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0)) ? shape : null;
}

function declaredInputShape(entry: Json, config: Json): Shape | null {
  return sizes(declaredInputShapeAsWritten(entry, config));
}

function declaredInputShapeAsWritten(entry: Json, config: Json): Shape | null {
  const batch = shapeFrom(config.batch_input_shape) ?? shapeFrom(config.batch_shape);
  if (batch) return batch;
  const noBatch = shapeFrom(config.input_shape);
  if (noBatch) return [null, ...noBatch];
  if (typeof config.input_dim === 'number') {
    const length = typeof config.input_length === 'number' ? config.input_length : null;
    // Dense(input_dim=…) means [batch, input_dim]; Embedding's input_dim is the vocabulary.
    if (entry.class_name !== 'Embedding') return [null, config.input_dim];
    return [null, length];
  }
  return shapeFrom(asObject(entry.build_config)?.input_shape);
}

/** `[["input_1", 0, 0]]`, `["input_1", 0, 0]` (Keras 3 single input) or `[]`. */
function refNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [value[0]];
  return value.flatMap((v) => (Array.isArray(v) && typeof v[0] === 'string' ? [v[0]] : []));
}

/**
 * The layers each call of a layer consumes. Keras 2 / TF.js: a list of calls,
 * each a list of `[layer, node, tensor, kwargs]`. Keras 3: a list of
 * `{args, kwargs}` with `__keras_tensor__` objects somewhere inside.
 */
function inboundCalls(value: unknown, maxDepth: number): string[][] {
  if (!Array.isArray(value)) return [];
  return value.map((call) => {
    if (Array.isArray(call)) {
      return call.flatMap((ref) => (Array.isArray(ref) && typeof ref[0] === 'string' ? [ref[0]] : findKerasTensors(ref, maxDepth)));
    }
    return findKerasTensors(asObject(call)?.args ?? call, maxDepth);
  });
}

function findKerasTensors(value: unknown, maxDepth: number): string[] {
  const found: string[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > maxDepth) throw new ModelFormatError('too-large', `inbound node nested more than ${maxDepth} deep`);
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    const o = asObject(v);
    if (!o) return;
    if (o.class_name === '__keras_tensor__') {
      const history = asObject(o.config)?.keras_history;
      if (Array.isArray(history) && typeof history[0] === 'string') found.push(history[0]);
      return;
    }
    for (const x of Object.values(o)) walk(x, depth + 1);
  };
  walk(value, 0);
  return found;
}

// ---------------------------------------------------------------------------
// Per-class shape and MAC rules.

export interface ShapeAndMacs {
  outputShape: Shape | null;
  macs: number | null;
  /** False when the class is unknown to these rules. */
  known: boolean;
}

const WEIGHTLESS = new Set([
  'InputLayer', 'Flatten', 'Reshape', 'Permute', 'RepeatVector', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D',
  'SpatialDropout3D', 'AlphaDropout', 'GaussianDropout', 'GaussianNoise', 'Activation', 'ReLU', 'LeakyReLU', 'ELU',
  'ThresholdedReLU', 'Softmax', 'ActivityRegularization', 'Masking', 'Add', 'Subtract', 'Multiply', 'Average',
  'Maximum', 'Minimum', 'Concatenate', 'Dot', 'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D',
  'AveragePooling2D', 'AveragePooling3D', 'MaxPool1D', 'MaxPool2D', 'MaxPool3D', 'AvgPool1D', 'AvgPool2D', 'AvgPool3D',
  'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalAveragePooling3D', 'GlobalMaxPooling1D',
  'GlobalMaxPooling2D', 'GlobalMaxPooling3D', 'GlobalAvgPool1D', 'GlobalAvgPool2D', 'GlobalMaxPool1D', 'GlobalMaxPool2D',
  'ZeroPadding1D', 'ZeroPadding2D', 'ZeroPadding3D', 'Cropping1D', 'Cropping2D', 'Cropping3D', 'UpSampling1D',
  'UpSampling2D', 'UpSampling3D', 'Rescaling', 'Identity', 'Lambda', 'TFOpLambda', 'SlicingOpLambda',
]);

const ELEMENTWISE_MERGE = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']);
const SAME_SHAPE = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'AlphaDropout', 'GaussianDropout',
  'GaussianNoise', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Softmax', 'ActivityRegularization',
  'Masking', 'Rescaling', 'Identity',
]);
const RNN_GATES: Record<string, number> = { LSTM: 4, GRU: 3, SimpleRNN: 1, CuDNNLSTM: 4, CuDNNGRU: 3 };

/**
 * Output shape and MACs per sample of one layer, given its input shapes
 * (batch dimension first). Unknown inputs give unknown outputs.
 */
export function layerShapeAndMacs(className: string, config: Json, inputs: Shape[], warnings: string[] = [], where = className): ShapeAndMacs {
  const unknown = (known: boolean): ShapeAndMacs => ({ outputShape: null, macs: null, known });
  const input = inputs[0] ?? null;
  if (className === 'InputLayer') {
    const shape = shapeFrom(config.batch_input_shape) ?? shapeFrom(config.batch_shape) ?? (shapeFrom(config.input_shape) ? [null, ...shapeFrom(config.input_shape)!] : null) ?? input;
    return { outputShape: sizes(shape), macs: 0, known: true };
  }
  if (className === 'Lambda' || className === 'TFOpLambda' || className === 'SlicingOpLambda') {
    warnings.push(`${where}: ${className} layer holds code; Parsimony reports it but never runs it (shape and MACs unknown)`);
    return unknown(true);
  }
  const rule = RULES[className];
  if (!rule) {
    warnings.push(`${where}: unknown layer class '${className}' — weights are counted, shape and MACs are unknown`);
    return unknown(false);
  }
  if (!input && className !== 'Concatenate') return unknown(true);
  try {
    const result = rule(config, inputs, input ?? [], warnings, where);
    if (result.outputShape && result.outputShape.some((d) => d !== null && (!Number.isSafeInteger(d) || d < 0))) {
      return unknown(true);
    }
    if (result.macs !== null && (!Number.isSafeInteger(result.macs) || result.macs < 0)) result.macs = null;
    return { ...result, known: true };
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    return unknown(true);
  }
}

type Rule = (config: Json, inputs: Shape[], input: Shape, warnings: string[], where: string) => { outputShape: Shape | null; macs: number | null };

const RULES: Record<string, Rule> = {};

function rule(names: string[], fn: Rule): void {
  for (const n of names) RULES[n] = fn;
}

rule([...SAME_SHAPE], (_c, _i, input) => ({ outputShape: [...input], macs: 0 }));

rule(['PReLU'], (_c, _i, input) => ({ outputShape: [...input], macs: product(input.slice(1)) }));

rule(['Dense'], (c, _i, input) => {
  const units = int(c.units);
  const features = input.at(-1) ?? null;
  const leading = product(input.slice(1, -1));
  return {
    outputShape: [...input.slice(0, -1), units],
    macs: units !== null && features !== null && leading !== null ? leading * features * units : null,
  };
});

rule(['EinsumDense'], (c, _i, input) => {
  const out = shapeFrom(c.output_shape);
  return { outputShape: out ? [input[0] ?? null, ...out] : null, macs: null };
});

rule(['BatchNormalization', 'LayerNormalization', 'GroupNormalization', 'UnitNormalization', 'Normalization'], (_c, _i, input) => ({
  outputShape: [...input],
  macs: product(input.slice(1)),
}));

rule(['Embedding'], (c, _i, input) => ({ outputShape: [...input, int(c.output_dim)], macs: 0 }));

// Flattening order (data_format) doesn't change the size.
rule(['Flatten'], (_c, _i, input) => ({ outputShape: [input[0] ?? null, product(input.slice(1))], macs: 0 }));

rule(['Reshape'], (c, _i, input) => {
  const target = shapeFrom(c.target_shape);
  if (!target) return { outputShape: null, macs: 0 };
  const total = product(input.slice(1));
  const known = target.filter((d) => d !== -1 && d !== null);
  const missing = target.length - known.length;
  const resolved = target.map((d) => {
    if (d !== -1 && d !== null) return d;
    const rest = product(known);
    return missing === 1 && total !== null && rest ? total / rest : null;
  });
  return { outputShape: [input[0] ?? null, ...resolved], macs: 0 };
});

rule(['Permute'], (c, _i, input) => {
  const dims = Array.isArray(c.dims) ? (c.dims as unknown[]).map(int) : null;
  if (!dims || dims.some((d) => d === null)) return { outputShape: null, macs: 0 };
  return { outputShape: [input[0] ?? null, ...dims.map((d) => input[d!] ?? null)], macs: 0 };
});

rule(['RepeatVector'], (c, _i, input) => ({ outputShape: [input[0] ?? null, int(c.n), ...input.slice(1)], macs: 0 }));

rule([...ELEMENTWISE_MERGE], (_c, inputs) => {
  const widest = inputs.reduce((a, b) => (b.length > a.length ? b : a), inputs[0] ?? []);
  const out = widest.map((_, k) => {
    for (const s of inputs) {
      const d = s[s.length - widest.length + k];
      if (d !== undefined && d !== null && d !== 1) return d;
    }
    return widest[k] ?? null;
  });
  return { outputShape: out, macs: 0 };
});

rule(['Concatenate'], (c, inputs) => {
  if (inputs.length === 0) return { outputShape: null, macs: 0 };
  const rank = inputs[0]!.length;
  let axis = int(c.axis) ?? -1;
  if (axis < 0) axis += rank;
  const out = [...inputs[0]!];
  let sum: number | null = 0;
  for (const s of inputs) {
    const d = s[axis] ?? null;
    sum = sum === null || d === null ? null : sum + d;
  }
  out[axis] = sum;
  return { outputShape: out, macs: 0 };
});

function convolution(kind: 'conv' | 'depthwise' | 'separable' | 'transpose', rank: number): Rule {
  return (c, _i, input) => {
    const channelsFirst = c.data_format === 'channels_first';
    if (input.length !== rank + 2) return { outputShape: null, macs: null };
    const spatialIn = channelsFirst ? input.slice(2) : input.slice(1, -1);
    const channels = channelsFirst ? input[1] ?? null : input.at(-1) ?? null;
    const kernel = tuple(c.kernel_size, rank);
    const strides = tuple(c.strides ?? 1, rank);
    const dilation = tuple(c.dilation_rate ?? 1, rank);
    const padding = String(c.padding ?? 'valid').toLowerCase();
    if (!kernel || !strides || !dilation) return { outputShape: null, macs: null };
    const spatialOut: (number | null)[] = spatialIn.map((d, k) => {
      if (d === null) return null;
      const dilated = (kernel[k]! - 1) * dilation[k]! + 1;
      if (kind === 'transpose') {
        const outputPadding = tuple(c.output_padding, rank);
        if (outputPadding) {
          const pad = padding === 'same' ? Math.floor(dilated / 2) : 0;
          return (d - 1) * strides[k]! + dilated - 2 * pad + outputPadding[k]!;
        }
        return padding === 'same' ? d * strides[k]! : d * strides[k]! + Math.max(dilated - strides[k]!, 0);
      }
      const length = padding === 'same' || padding === 'causal' ? d : d - dilated + 1;
      return Math.max(0, Math.ceil(length / strides[k]!));
    });
    const filters = int(c.filters);
    const multiplier = int(c.depth_multiplier) ?? 1;
    const groups = int(c.groups) ?? 1;
    const outChannels = kind === 'depthwise' ? (channels === null ? null : channels * multiplier) : filters;
    const outputShape: Shape = channelsFirst ? [input[0] ?? null, outChannels, ...spatialOut] : [input[0] ?? null, ...spatialOut, outChannels];
    const k = product(kernel);
    const outPositions = product(spatialOut);
    const inPositions = product(spatialIn);
    let macs: number | null = null;
    if (channels !== null && k !== null) {
      if (kind === 'conv' && outPositions !== null && filters !== null) macs = outPositions * k * (channels / groups) * filters;
      if (kind === 'depthwise' && outPositions !== null) macs = outPositions * k * channels * multiplier;
      if (kind === 'separable' && outPositions !== null && filters !== null) {
        macs = outPositions * k * channels * multiplier + outPositions * channels * multiplier * filters;
      }
      // Each input position scatters a k-sized patch into every output channel.
      if (kind === 'transpose' && inPositions !== null && filters !== null) macs = inPositions * k * channels * filters;
    }
    return { outputShape, macs };
  };
}

rule(['Conv1D', 'Convolution1D'], convolution('conv', 1));
rule(['Conv2D', 'Convolution2D'], convolution('conv', 2));
rule(['Conv3D', 'Convolution3D'], convolution('conv', 3));
rule(['DepthwiseConv1D'], convolution('depthwise', 1));
rule(['DepthwiseConv2D'], convolution('depthwise', 2));
rule(['SeparableConv1D', 'SeparableConvolution1D'], convolution('separable', 1));
rule(['SeparableConv2D', 'SeparableConvolution2D'], convolution('separable', 2));
rule(['Conv1DTranspose', 'Convolution1DTranspose'], convolution('transpose', 1));
rule(['Conv2DTranspose', 'Convolution2DTranspose', 'Deconvolution2D'], convolution('transpose', 2));
rule(['Conv3DTranspose', 'Convolution3DTranspose'], convolution('transpose', 3));

function pooling(rank: number, global: boolean): Rule {
  return (c, _i, input) => {
    const channelsFirst = c.data_format === 'channels_first';
    if (input.length !== rank + 2) return { outputShape: null, macs: 0 };
    const channels = channelsFirst ? input[1] ?? null : input.at(-1) ?? null;
    if (global) {
      const keep = c.keepdims === true || c.keep_dims === true;
      if (!keep) return { outputShape: [input[0] ?? null, channels], macs: 0 };
      const ones = new Array<number>(rank).fill(1);
      return { outputShape: channelsFirst ? [input[0] ?? null, channels, ...ones] : [input[0] ?? null, ...ones, channels], macs: 0 };
    }
    const pool = tuple(c.pool_size ?? 2, rank);
    const strides = tuple(c.strides ?? c.pool_size ?? 2, rank);
    const padding = String(c.padding ?? 'valid').toLowerCase();
    if (!pool || !strides) return { outputShape: null, macs: 0 };
    const spatialIn = channelsFirst ? input.slice(2) : input.slice(1, -1);
    const spatialOut = spatialIn.map((d, k) => {
      if (d === null) return null;
      return padding === 'same' ? Math.ceil(d / strides[k]!) : Math.max(0, Math.floor((d - pool[k]!) / strides[k]!) + 1);
    });
    return { outputShape: channelsFirst ? [input[0] ?? null, channels, ...spatialOut] : [input[0] ?? null, ...spatialOut, channels], macs: 0 };
  };
}

rule(['MaxPooling1D', 'AveragePooling1D', 'MaxPool1D', 'AvgPool1D'], pooling(1, false));
rule(['MaxPooling2D', 'AveragePooling2D', 'MaxPool2D', 'AvgPool2D'], pooling(2, false));
rule(['MaxPooling3D', 'AveragePooling3D', 'MaxPool3D', 'AvgPool3D'], pooling(3, false));
rule(['GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'GlobalAvgPool1D', 'GlobalMaxPool1D'], pooling(1, true));
rule(['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAvgPool2D', 'GlobalMaxPool2D'], pooling(2, true));
rule(['GlobalAveragePooling3D', 'GlobalMaxPooling3D'], pooling(3, true));

function spatialResize(rank: number, how: 'pad' | 'crop' | 'upsample'): Rule {
  return (c, _i, input) => {
    const channelsFirst = c.data_format === 'channels_first';
    if (input.length !== rank + 2) return { outputShape: null, macs: 0 };
    const spatial = channelsFirst ? input.slice(2) : input.slice(1, -1);
    const amounts = how === 'upsample' ? tuple(c.size ?? 2, rank)?.map((s) => [s, 0] as const) : pairs(how === 'pad' ? c.padding ?? 1 : c.cropping ?? 0, rank);
    if (!amounts) return { outputShape: null, macs: 0 };
    const out = spatial.map((d, k) => {
      if (d === null) return null;
      const [a, b] = amounts[k]!;
      if (how === 'upsample') return d * a;
      return how === 'pad' ? d + a + b : d - a - b;
    });
    return { outputShape: channelsFirst ? [input[0] ?? null, input[1] ?? null, ...out] : [input[0] ?? null, ...out, input.at(-1) ?? null], macs: 0 };
  };
}

rule(['ZeroPadding1D'], spatialResize(1, 'pad'));
rule(['ZeroPadding2D'], spatialResize(2, 'pad'));
rule(['ZeroPadding3D'], spatialResize(3, 'pad'));
rule(['Cropping1D'], spatialResize(1, 'crop'));
rule(['Cropping2D'], spatialResize(2, 'crop'));
rule(['Cropping3D'], spatialResize(3, 'crop'));
rule(['UpSampling1D'], (c, i, input) => spatialResize(1, 'upsample')({ ...c, size: c.size ?? 2 }, i, input, [], ''));
rule(['UpSampling2D'], spatialResize(2, 'upsample'));
rule(['UpSampling3D'], spatialResize(3, 'upsample'));

function recurrent(className: string, c: Json, input: Shape): { outputShape: Shape | null; macs: number | null } {
  const units = int(c.units);
  const gates = RNN_GATES[className]!;
  if (input.length !== 3) return { outputShape: null, macs: null };
  const steps = input[1] ?? null;
  const features = input[2] ?? null;
  const outputShape: Shape = c.return_sequences === true ? [input[0] ?? null, steps, units] : [input[0] ?? null, units];
  const perStep = units !== null && features !== null ? gates * (features * units + units * units) : null;
  return { outputShape, macs: perStep !== null && steps !== null ? perStep * steps : null };
}

for (const className of Object.keys(RNN_GATES)) RULES[className] = (c, _i, input) => recurrent(className, c, input);

rule(['Bidirectional'], (c, inputs, _input, warnings, where) => {
  const inner = asObject(c.layer);
  if (!inner || typeof inner.class_name !== 'string') return { outputShape: null, macs: null };
  const r = layerShapeAndMacs(inner.class_name, asObject(inner.config) ?? {}, inputs, warnings, where);
  if (!r.outputShape) return { outputShape: null, macs: r.macs === null ? null : r.macs * 2 };
  const mode = c.merge_mode === undefined ? 'concat' : c.merge_mode;
  const last = r.outputShape.at(-1) ?? null;
  const out = [...r.outputShape];
  if (mode === 'concat') out[out.length - 1] = last === null ? null : last * 2;
  return { outputShape: mode === null ? null : out, macs: r.macs === null ? null : r.macs * 2 };
});

rule(['TimeDistributed'], (c, _i, input, warnings, where) => {
  const inner = asObject(c.layer);
  if (!inner || typeof inner.class_name !== 'string' || input.length < 3) return { outputShape: null, macs: null };
  const r = layerShapeAndMacs(inner.class_name, asObject(inner.config) ?? {}, [[input[0] ?? null, ...input.slice(2)]], warnings, where);
  const steps = input[1] ?? null;
  return {
    outputShape: r.outputShape ? [input[0] ?? null, steps, ...r.outputShape.slice(1)] : null,
    macs: r.macs !== null && steps !== null ? r.macs * steps : null,
  };
});

// ---------------------------------------------------------------------------
// Variable names: Keras 3 stores a layer's variables as vars/0, vars/1, …; these
// give them their usual names and say which are not trained.

export interface VariableName {
  name: string;
  trainable: boolean;
}

export function kerasVariableNames(className: string, config: Json): VariableName[] | null {
  const t = (name: string): VariableName => ({ name, trainable: true });
  const bias = config.use_bias !== false ? [t('bias')] : [];
  switch (className) {
    case 'Dense':
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
    case 'Conv1DTranspose':
    case 'Conv2DTranspose':
    case 'Conv3DTranspose':
      return [t('kernel'), ...bias];
    case 'DepthwiseConv1D':
    case 'DepthwiseConv2D':
      return [t('depthwise_kernel'), ...bias];
    case 'SeparableConv1D':
    case 'SeparableConv2D':
      return [t('depthwise_kernel'), t('pointwise_kernel'), ...bias];
    case 'Embedding':
      return [t('embeddings')];
    case 'BatchNormalization':
      return [
        ...(config.scale !== false ? [t('gamma')] : []),
        ...(config.center !== false ? [t('beta')] : []),
        { name: 'moving_mean', trainable: false },
        { name: 'moving_variance', trainable: false },
      ];
    case 'LayerNormalization':
      return [...(config.scale !== false ? [t('gamma')] : []), ...(config.center !== false ? [t('beta')] : [])];
    case 'LSTM':
    case 'GRU':
      return [t('kernel'), t('recurrent_kernel'), ...bias];
    case 'SimpleRNN':
      return [t('kernel'), t('recurrent_kernel'), ...bias];
    case 'PReLU':
      return [t('alpha')];
    case 'Normalization':
      return [
        { name: 'mean', trainable: false },
        { name: 'variance', trainable: false },
        { name: 'count', trainable: false },
      ];
    default:
      return null;
  }
}

/** Weight names (the last path component) that Keras never trains. */
export function isNonTrainableWeightName(name: string): boolean {
  return /(^|\/)(moving_mean|moving_variance|running_mean|running_var|num_batches_tracked)(:\d+)?$/.test(name);
}

/**
 * Finds the layer a weight name belongs to (`dense_1/kernel`, `model/dense/kernel`,
 * `lstm/lstm_cell/kernel`): the longest qualified prefix, else the deepest path
 * component that names a layer.
 */
export class WeightOwnerIndex {
  private readonly byQualified = new Map<string, KerasLayerNode>();
  private readonly byShort = new Map<string, KerasLayerNode[]>();

  constructor(leaves: readonly KerasLayerNode[]) {
    for (const l of leaves) {
      this.byQualified.set(l.qualifiedName, l);
      const list = this.byShort.get(l.name);
      if (list) list.push(l);
      else this.byShort.set(l.name, [l]);
    }
  }

  ownerOf(weightName: string): KerasLayerNode | undefined {
    const parts = weightName.replace(/:\d+$/, '').split('/');
    for (let end = parts.length - 1; end >= 1; end--) {
      const hit = this.byQualified.get(parts.slice(0, end).join('/'));
      if (hit) return hit;
    }
    for (let i = parts.length - 2; i >= 0; i--) {
      const hits = this.byShort.get(parts[i]!);
      if (!hits) continue;
      if (hits.length === 1) return hits[0];
      // The same short name in two nested models: prefer the one whose enclosing names appear in the path.
      return hits.find((h) => h.qualifiedName.split('/').every((p) => parts.includes(p))) ?? hits[0];
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Small helpers.

function asObject(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function int(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}

/** A shape list from JSON: numbers and nulls only (Keras writes null for unknown). */
export function shapeFrom(v: unknown): Shape | null {
  if (!Array.isArray(v)) return null;
  // Keras 3 build_config.input_shape may be a list of shapes for multi-input layers: take the first.
  if (v.length > 0 && Array.isArray(v[0])) return shapeFrom(v[0]);
  const out: Shape = [];
  for (const d of v) {
    if (d === null) out.push(null);
    else if (typeof d === 'number' && Number.isSafeInteger(d)) out.push(d);
    else return null;
  }
  return out;
}

function tuple(v: unknown, rank: number): number[] | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return new Array<number>(rank).fill(v);
  if (Array.isArray(v) && v.length === rank && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    return v as number[];
  }
  return null;
}

function pairs(v: unknown, rank: number): [number, number][] | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return new Array(rank).fill([v, v]);
  if (!Array.isArray(v)) return null;
  if (rank === 1 && v.length === 2 && v.every((x) => typeof x === 'number')) return [[v[0] as number, v[1] as number]];
  if (v.length !== rank) return null;
  const out: [number, number][] = [];
  for (const x of v) {
    if (typeof x === 'number') out.push([x, x]);
    else if (Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === 'number')) out.push([x[0] as number, x[1] as number]);
    else return null;
  }
  return out;
}

function product(dims: readonly (number | null)[]): number | null {
  let n = 1;
  for (const d of dims) {
    if (d === null || d === undefined) return null;
    n *= d;
  }
  return n;
}
