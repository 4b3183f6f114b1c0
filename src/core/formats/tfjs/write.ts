import * as path from 'node:path';
import type { ArchitectureEdit, FactorizeEdit, ModelChange, RemoveUnitsEdit, Storage, TensorEdit } from '../../compress/types';
import { ModelFormatError } from '../../errors';
import type { AtomicFileSet } from '../../io/atomicWrite';
import { nodeFileAccess } from '../../io/fileAccess';
import { floatToHalf, halfToFloat } from '../../io/halfFloat';
import type { LayerInfo, ModelDoc } from '../../model';
import { DEFAULT_LIMITS, type OpenContext } from '../format';
import type { FormatWriter } from '../writer';
import { layoutManifest, readStream, type PlacedWeight, type WeightSpec } from './manifest';

/**
 * Writes compressed TF.js models that stock `tf.loadLayersModel` /
 * `tf.loadGraphModel` load: model.json keeps every key of the source and gets a
 * new weightsManifest (one group, 4 MiB shards like tensorflowjs_converter);
 * storage uses the converter's own encodings (float32, float16 and per-tensor
 * affine uint8/uint16 `quantization` entries). Weights no edit touches are
 * copied byte for byte, in their original encoding.
 *
 * Architecture edits (layers models only) rewrite the Keras topology:
 * a factorized Dense/Conv2D becomes `<name>_lowrank` (rank K, no bias, linear)
 * followed by `<name>` (the original activation and bias), so downstream
 * references keep working; removed units are sliced out of the layer, through
 * channel-preserving layers (activations, dropout, batch norm, pooling,
 * Flatten) and out of the input axis of the next Dense/Conv.
 */
export const tfjsWriter: FormatWriter = {
  formats: ['tfjs-layers', 'tfjs-graph', 'tfjs-weights'],
  outputName(doc, tag) {
    return `${stripJson(doc.file)}.${tag}.json`;
  },
  check(doc, change) {
    return plan(doc, change).problems;
  },
  async write(doc, change, out, files) {
    const p = plan(doc, change);
    if (p.problems.length) throw new ModelFormatError('invalid-option', p.problems.join('; '), { file: doc.file });
    await writeModel(doc, change, p, out, files);
  },
  planArchitecture(doc, change) {
    const p = plan(doc, change);
    const shapes = new Map<string, number[]>();
    for (const w of p.weights) {
      if (!w.slices.length) continue;
      let shape = [...w.shape];
      for (const s of w.slices) shape = shape.map((d, i) => (i === s.axis ? s.keep.length : d));
      shapes.set(w.name, shape);
    }
    return { problems: p.problems, shapes, paths: p.paths ?? new Map() };
  },
};

/** Weight bytes go into shards of this size, as tensorflowjs_converter does. */
export const SHARD_BYTES = 4 * 1024 * 1024;

/** Bytes per element of each storage dtype a manifest can hold (strings have none). */
const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

type Json = Record<string, unknown>;

function stripJson(file: string): string {
  return file.toLowerCase().endsWith('.json') ? file.slice(0, -'.json'.length) : file;
}

// ---------------------------------------------------------------------------
// Planning: everything check() needs, computed without reading weight bytes.

interface Slice {
  axis: number;
  keep: number[];
}

/** One weight of the output manifest, in order. */
interface OutWeight {
  name: string;
  /** The source manifest entry (absent for weights created by a factorization). */
  source?: { spec: WeightSpec; index: number };
  /** New values and storage from a TensorEdit, or values of a new/replaced float32 weight. */
  edit?: { values: Float32Array; storage: Storage };
  /** Shape of `edit.values` (the source shape unless the weight was replaced). */
  shape: number[];
  slices: Slice[];
}

interface Plan {
  problems: string[];
  weights: OutWeight[];
  /** The rewritten model topology, when architecture edits changed it. */
  topology?: Json;
  /** Per layer losing units: the layers its units pass through and their consumer. */
  paths?: Map<string, { through: string[]; consumer: string }>;
}

interface SourceManifest {
  specs: WeightSpec[];
  /** Container the manifest came from: a model.json object, or a bare manifest array. */
  container: Json | null;
  topology: Json | null;
}

function sourceManifest(doc: ModelDoc): SourceManifest | string {
  const raw = doc.raw;
  let groups: unknown;
  let container: Json | null = null;
  if (Array.isArray(raw)) groups = raw;
  else if (raw && typeof raw === 'object') {
    container = raw as Json;
    groups = container.weightsManifest;
  }
  if (!Array.isArray(groups)) return `${path.basename(doc.file)}: the TF.js reader kept no weightsManifest (doc.raw), so the model cannot be rewritten`;
  const specs: WeightSpec[] = [];
  for (const g of groups) {
    const weights = (g as { weights?: unknown })?.weights;
    if (!Array.isArray(weights)) return 'a weightsManifest group has no weights list';
    specs.push(...(weights as WeightSpec[]));
  }
  const topology = container && container.modelTopology && typeof container.modelTopology === 'object' ? (container.modelTopology as Json) : null;
  return { specs, container, topology };
}

function plan(doc: ModelDoc, change: ModelChange): Plan {
  const problems: string[] = [];
  const src = sourceManifest(doc);
  if (typeof src === 'string') return { problems: [src], weights: [] };
  const weights: OutWeight[] = src.specs.map((spec, index) => ({ name: spec.name, source: { spec, index }, shape: [...spec.shape], slices: [] }));
  const byName = new Map<string, OutWeight>();
  for (const w of weights) if (!byName.has(w.name)) byName.set(w.name, w);

  for (const edit of change.tensors) {
    const w = byName.get(edit.tensor);
    if (!w) {
      problems.push(`${edit.layer}: tensor '${edit.tensor}' is not in the weights manifest`);
      continue;
    }
    const why = storageProblem(edit, w.source!.spec);
    if (why) {
      problems.push(`${edit.tensor}: ${why}`);
      continue;
    }
    if (edit.values.length !== count(w.shape)) {
      problems.push(`${edit.tensor}: ${edit.values.length} new values for shape [${w.shape}]`);
      continue;
    }
    w.edit = { values: edit.values, storage: edit.storage };
  }

  let topology: Json | undefined;
  let paths: Plan['paths'];
  if (change.architecture.length) {
    if (doc.format !== 'tfjs-layers' || !src.topology) {
      problems.push(
        `${doc.format === 'tfjs-graph' ? 'TF.js graph models' : 'weights-only TF.js manifests'} have no Keras layers to rebuild: ` +
          `${change.architecture.map((a) => a.kind).filter((k, i, all) => all.indexOf(k) === i).join(' and ')} needs a layers model (a Keras model converted with --output_format=tfjs_layers_model)`,
      );
    } else {
      topology = structuredClone(src.topology);
      const editor = new TopologyEditor(doc, topology, weights, byName);
      editor.apply(change.architecture);
      problems.push(...editor.problems);
      paths = editor.paths;
    }
  }
  return topology ? { problems, weights, topology, ...(paths ? { paths } : {}) } : { problems, weights };
}

/** Why TF.js cannot store this edit, or null. */
function storageProblem(edit: TensorEdit, spec: WeightSpec): string | null {
  const s = edit.storage;
  if (spec.dtype === 'int32' && s.kind !== 'float32') return `an int32 weight takes plain values (written as int32), not ${s.kind} storage`;
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') return `${spec.dtype} weights cannot be rewritten`;
  switch (s.kind) {
    case 'float32':
    case 'float16':
    case 'clustered':
      return null;
    case 'bfloat16':
      return 'TF.js weight manifests have no bfloat16 encoding (tf.loadLayersModel cannot load it); use float16';
    case 'affine':
      if (s.dtype === 'int8') return 'TF.js weight manifests have no int8 encoding (only uint8/uint16 with min and scale); use uint8';
      if (s.axisUnits || s.scale.length !== 1) return 'TF.js weight manifests hold one scale per tensor; per-channel scales cannot be loaded';
      return null;
  }
}

// ---------------------------------------------------------------------------
// Topology editing (Keras-style layers models, as TF.js serializes them).

/** Layers whose output keeps the input's last (channel) axis unit for unit. */
const CHANNEL_PRESERVING = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D',
  'SpatialDropout3D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout', 'ActivityRegularization', 'Identity',
  'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D',
  'MaxPool1D', 'MaxPool2D', 'MaxPool3D', 'AvgPool1D', 'AvgPool2D', 'AvgPool3D', 'GlobalAveragePooling1D',
  'GlobalAveragePooling2D', 'GlobalAveragePooling3D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling3D',
  'GlobalAvgPool1D', 'GlobalAvgPool2D', 'GlobalMaxPool1D', 'GlobalMaxPool2D', 'ZeroPadding1D', 'ZeroPadding2D',
  'ZeroPadding3D', 'Cropping1D', 'Cropping2D', 'Cropping3D', 'UpSampling1D', 'UpSampling2D', 'UpSampling3D',
]);
const UNIT_LAYERS: Record<string, 'units' | 'filters'> = { Dense: 'units', Conv1D: 'filters', Conv2D: 'filters', Conv3D: 'filters' };
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot']);
/** Config keys that give the model's input shape; they belong on the first layer. */
const INPUT_KEYS = ['batch_input_shape', 'batch_shape', 'input_shape', 'input_dim', 'batch_size'];

interface LayerRef {
  entry: Json;
  config: Json;
  className: string;
  name: string;
}

class TopologyEditor {
  readonly problems: string[] = [];
  readonly paths = new Map<string, { through: string[]; consumer: string }>();
  private readonly list: Json[];
  private readonly functional: boolean;
  private readonly outputs: Set<string>;
  private readonly docLayers: Map<string, LayerInfo>;
  private readonly usedNames: Set<string>;

  constructor(
    doc: ModelDoc,
    topology: Json,
    private readonly weights: OutWeight[],
    private readonly byName: Map<string, OutWeight>,
  ) {
    const root = (obj(topology.model_config) ?? topology) as Json;
    let config = root.config as unknown;
    if (Array.isArray(config)) {
      // Keras ≤ 2.2 Sequential: the config is the bare list of layers; give it the modern shape.
      root.config = { layers: config };
      config = root.config;
    }
    const layers = obj(config)?.layers;
    this.list = Array.isArray(layers) ? (layers as Json[]) : [];
    if (!this.list.length) this.problems.push('the model topology lists no layers');
    const c = obj(config) ?? {};
    this.functional = root.class_name !== 'Sequential' && (Array.isArray(c.input_layers) || this.list.some((l) => l.inbound_nodes !== undefined));
    this.outputs = new Set(refNames(c.output_layers));
    this.docLayers = new Map(doc.layers.map((l) => [l.name, l]));
    this.usedNames = new Set([...doc.layers.map((l) => l.name), ...this.list.map((e) => layerRef(e).name), ...byName.keys()]);
  }

  apply(edits: ArchitectureEdit[]): void {
    const seen = new Set<string>();
    for (const e of edits) {
      if (seen.has(e.layer)) {
        this.problems.push(`${e.layer}: more than one architecture edit on the same layer`);
        continue;
      }
      seen.add(e.layer);
    }
    if (this.problems.length) return;
    // Removals first: they are all computed on the original topology (consumers found by name).
    for (const e of edits) if (e.kind === 'remove-units') this.removeUnits(e);
    for (const e of edits) if (e.kind === 'factorize') this.factorize(e);
  }

  private find(name: string): LayerRef | null {
    const entry = this.list.find((e) => layerRef(e).name === name);
    return entry ? layerRef(entry) : null;
  }

  private missing(name: string): void {
    this.problems.push(
      this.docLayers.has(name)
        ? `${name}: layer is inside a nested model; architecture edits only rebuild top-level layers`
        : `${name}: no such layer in the model topology`,
    );
  }

  /** Tensors of a layer as the reader assigned them, looked up in the output manifest. */
  private tensorsOf(name: string): OutWeight[] {
    const info = this.docLayers.get(name);
    if (!info) return [];
    return info.tensors.map((t) => this.byName.get(t.name)).filter((w): w is OutWeight => w !== undefined);
  }

  private kernelAndBias(layer: LayerRef): { kernel: OutWeight | null; bias: OutWeight[] } {
    const tensors = this.tensorsOf(layer.name);
    const kernels = tensors.filter((w) => w.shape.length >= 2);
    return { kernel: kernels.length === 1 ? kernels[0]! : null, bias: tensors.filter((w) => w.shape.length === 1) };
  }

  /** The layers that consume `name`'s output, or 'output' when it is (also) a model output. */
  private consumers(name: string): LayerRef[] | 'output' {
    if (!this.functional) {
      const i = this.list.findIndex((e) => layerRef(e).name === name);
      const next = this.list[i + 1];
      return next ? [layerRef(next)] : 'output';
    }
    if (this.outputs.has(name)) return 'output';
    const found: LayerRef[] = [];
    for (const e of this.list) {
      const calls = Array.isArray(e.inbound_nodes) ? e.inbound_nodes : [];
      for (const call of calls) {
        if (!Array.isArray(call)) continue;
        for (const ref of call) if (Array.isArray(ref) && ref[0] === name) found.push(layerRef(e));
      }
    }
    return found;
  }

  private inboundFormatOk(layer: LayerRef): boolean {
    if (!this.functional) return true;
    const calls = layer.entry.inbound_nodes;
    return Array.isArray(calls) && calls.every((c) => Array.isArray(c) && c.every((r) => Array.isArray(r) && typeof r[0] === 'string'));
  }

  private slice(w: OutWeight, axis: number, keep: number[]): void {
    if (!w.source && !w.edit) return;
    const spec = w.source?.spec;
    if (spec && (spec.quantization?.dtype ?? spec.dtype) === 'string') {
      this.problems.push(`${w.name}: string weights cannot be sliced`);
      return;
    }
    w.slices.push({ axis, keep });
  }

  // --- Removing output units -------------------------------------------------

  private removeUnits(e: RemoveUnitsEdit): void {
    const layer = this.find(e.layer);
    if (!layer) return this.missing(e.layer);
    const key = UNIT_LAYERS[layer.className];
    if (!key) {
      this.problems.push(`${e.layer}: removing units of a ${layer.className} layer is not supported (Dense and Conv1D/2D/3D are)`);
      return;
    }
    if (Number(layer.config.groups ?? 1) !== 1) {
      this.problems.push(`${e.layer}: grouped convolutions cannot lose filters independently of their groups`);
      return;
    }
    if (layer.config.data_format === 'channels_first') {
      this.problems.push(`${e.layer}: channels_first convolutions are not supported for unit removal`);
      return;
    }
    if (/softmax/.test(String(layer.config.activation))) {
      this.problems.push(`${e.layer}: its softmax activation spans all units; removing some would renormalize the rest`);
      return;
    }
    const units = Number(layer.config[key]);
    if (units !== e.units) {
      this.problems.push(`${e.layer}: the edit expects ${e.units} units but the layer has ${units}`);
      return;
    }
    const keep = [...e.keep];
    if (!keep.length || keep.some((u, i) => !Number.isInteger(u) || u < 0 || u >= units || (i > 0 && u <= keep[i - 1]!))) {
      this.problems.push(`${e.layer}: kept units must be increasing indices below ${units}, at least one`);
      return;
    }
    const { kernel, bias } = this.kernelAndBias(layer);
    if (!kernel) {
      this.problems.push(`${e.layer}: cannot tell which weight is the kernel`);
      return;
    }
    if (!this.inboundFormatOk(layer) || (this.functional && (layer.entry.inbound_nodes as unknown[]).length > 1)) {
      this.problems.push(`${e.layer}: the layer is called more than once (shared) or its inbound nodes are not in Keras 2 form`);
      return;
    }
    // Follow the output to the next layer with weights, checking every step first.
    const steps: { layer: LayerRef; keep: number[]; width: number }[] = [];
    let current = layer;
    let cur = { keep, width: units };
    let shape: (number | null)[] | null = this.docLayers.get(layer.name)?.outputShape ?? null;
    let target: { layer: LayerRef; keep: number[]; width: number } | null = null;
    for (let hops = 0; hops < this.list.length + 1; hops++) {
      const next = this.consumers(current.name);
      if (next === 'output') {
        this.problems.push(`${e.layer}: ${current === layer ? 'its units are' : `'${current.name}' (fed by it) is`} a model output; removing units would change the output shape`);
        return;
      }
      if (next.length !== 1) {
        this.problems.push(`${e.layer}: '${current.name}' feeds ${next.length === 0 ? 'no layer' : `${next.length} consumers (${next.map((n) => n.name).join(', ')})`}; only a single chain can be shrunk`);
        return;
      }
      const n = next[0]!;
      if (MERGES.has(n.className)) {
        this.problems.push(`${e.layer}: its output reaches the merge layer '${n.name}' (${n.className}); the other branch would have to shrink too`);
        return;
      }
      if (!this.inboundFormatOk(n) || (this.functional && (n.entry.inbound_nodes as unknown[]).length > 1)) {
        this.problems.push(`${e.layer}: '${n.name}' is called more than once (shared) or its inbound nodes are not in Keras 2 form`);
        return;
      }
      if (UNIT_LAYERS[n.className]) {
        if (n.config.data_format === 'channels_first' || Number(n.config.groups ?? 1) !== 1) {
          this.problems.push(`${e.layer}: consumer '${n.name}' is ${n.config.data_format === 'channels_first' ? 'channels_first' : 'a grouped convolution'}; its inputs cannot be sliced`);
          return;
        }
        target = { layer: n, ...cur };
        break;
      }
      if (n.className === 'Flatten') {
        if (n.config.data_format === 'channels_first') {
          this.problems.push(`${e.layer}: '${n.name}' flattens channels_first`);
          return;
        }
        const spatialDims = shape ? shape.slice(1, -1) : null;
        if (!shape || shape[shape.length - 1] !== cur.width || !spatialDims || spatialDims.some((d) => d === null)) {
          this.problems.push(`${e.layer}: the spatial shape flowing into '${n.name}' is unknown, so flattened rows cannot be mapped`);
          return;
        }
        const positions = (spatialDims as number[]).reduce((a, b) => a * b, 1);
        const rows: number[] = [];
        for (let s = 0; s < positions; s++) for (const c of cur.keep) rows.push(s * cur.width + c);
        steps.push({ layer: n, ...cur });
        cur = { keep: rows, width: positions * cur.width };
      } else if (n.className === 'BatchNormalization') {
        const axis = Array.isArray(n.config.axis) ? n.config.axis : [n.config.axis ?? -1];
        const rank = this.docLayers.get(n.name)?.outputShape?.length;
        if (axis.length !== 1 || !(axis[0] === -1 || (rank !== undefined && axis[0] === rank - 1))) {
          this.problems.push(`${e.layer}: '${n.name}' normalizes over axis ${JSON.stringify(n.config.axis)}, not the channel axis`);
          return;
        }
        steps.push({ layer: n, ...cur });
      } else if (n.className === 'DepthwiseConv2D' && Number(n.config.depth_multiplier ?? 1) === 1 && n.config.data_format !== 'channels_first') {
        steps.push({ layer: n, ...cur });
      } else if (CHANNEL_PRESERVING.has(n.className)) {
        if (n.className === 'Activation' && /softmax/.test(String(n.config.activation))) {
          this.problems.push(`${e.layer}: '${n.name}' applies softmax across the units; removing some would renormalize the rest`);
          return;
        }
        if (n.config.data_format === 'channels_first') {
          this.problems.push(`${e.layer}: '${n.name}' is channels_first`);
          return;
        }
        steps.push({ layer: n, ...cur });
      } else {
        this.problems.push(`${e.layer}: its output flows into '${n.name}' (${n.className}), which Parsimony cannot shrink to match`);
        return;
      }
      current = n;
      shape = this.docLayers.get(n.name)?.outputShape ?? null;
    }
    if (!target) {
      this.problems.push(`${e.layer}: no consumer with weights found`);
      return;
    }
    const consumer = this.kernelAndBias(target.layer);
    if (!consumer.kernel) {
      this.problems.push(`${e.layer}: cannot tell which weight of '${target.layer.name}' is the kernel`);
      return;
    }
    const inAxis = consumer.kernel.shape.length - 2;
    if (consumer.kernel.shape[inAxis] !== target.width) {
      this.problems.push(`${e.layer}: '${target.layer.name}' expects ${consumer.kernel.shape[inAxis]} inputs, but ${target.width} flow in`);
      return;
    }
    // Everything checks out: record the slices and the new unit count.
    this.slice(kernel, kernel.shape.length - 1, keep);
    for (const b of bias) this.slice(b, 0, keep);
    layer.config[key] = keep.length;
    for (const step of steps) {
      if (step.layer.className === 'BatchNormalization' || step.layer.className === 'DepthwiseConv2D') {
        for (const w of this.tensorsOf(step.layer.name)) this.slice(w, w.shape.length === 1 ? 0 : w.shape.length - 2, step.keep);
      }
    }
    this.slice(consumer.kernel, inAxis, target.keep);
    this.paths.set(e.layer, { through: steps.map((s) => s.layer.name), consumer: target.layer.name });
  }

  // --- Factorizing -----------------------------------------------------------

  private factorize(e: FactorizeEdit): void {
    const layer = this.find(e.layer);
    if (!layer) return this.missing(e.layer);
    if (layer.className !== 'Dense' && layer.className !== 'Conv2D') {
      this.problems.push(`${e.layer}: factorizing a ${layer.className} layer is not supported (Dense and Conv2D are)`);
      return;
    }
    const kernel = this.byName.get(e.tensor);
    if (!kernel || kernel.shape.length !== (layer.className === 'Dense' ? 2 : 4)) {
      this.problems.push(`${e.layer}: '${e.tensor}' is not the layer's kernel`);
      return;
    }
    if (kernel.slices.length) {
      this.problems.push(`${e.layer}: the kernel is also being sliced`);
      return;
    }
    if (layer.className === 'Conv2D' && Number(layer.config.groups ?? 1) !== 1) {
      this.problems.push(`${e.layer}: grouped convolutions cannot be factorized`);
      return;
    }
    if (!this.inboundFormatOk(layer)) {
      this.problems.push(`${e.layer}: inbound nodes are not in Keras 2 form ([[["layer", 0, 0, {}]]])`);
      return;
    }
    const shape = kernel.shape;
    const units = shape[shape.length - 1]!;
    const fanIn = count(shape) / units;
    const k = e.rank;
    if (!(Number.isInteger(k) && k >= 1) || e.a.length !== units * k || e.b.length !== k * fanIn) {
      this.problems.push(`${e.layer}: factors of sizes ${e.a.length} and ${e.b.length} do not fit rank ${k} of a ${units}×${fanIn} kernel`);
      return;
    }
    const lowName = this.freshName(`${layer.name}_lowrank`);
    // First factor: kernel[p, r] = B[r, p] (p runs over the fan-in in storage order, so this holds for
    // Dense [in, K] and Conv2D [kh, kw, in, K] alike). Second: kernel[r, u] = A[u, r].
    const first = new Float32Array(fanIn * k);
    for (let r = 0; r < k; r++) for (let p = 0; p < fanIn; p++) first[p * k + r] = e.b[r * fanIn + p]!;
    const second = new Float32Array(k * units);
    for (let u = 0; u < units; u++) for (let r = 0; r < k; r++) second[r * units + u] = e.a[u * k + r]!;

    const lowConfig: Json = { ...layer.config, name: lowName, use_bias: false, activation: 'linear', activity_regularizer: null };
    const mainConfig: Json = { ...layer.config };
    for (const key of INPUT_KEYS) delete mainConfig[key];
    if (layer.className === 'Dense') {
      lowConfig.units = k;
    } else {
      lowConfig.filters = k;
      Object.assign(mainConfig, { kernel_size: [1, 1], strides: [1, 1], padding: 'valid', dilation_rate: [1, 1] });
    }
    const lowEntry: Json = { ...layer.entry, config: lowConfig };
    if (typeof layer.entry.name === 'string') lowEntry.name = lowName;
    layer.entry.config = mainConfig;
    if (this.functional) {
      const calls = layer.entry.inbound_nodes as unknown[][];
      lowEntry.inbound_nodes = structuredClone(calls);
      layer.entry.inbound_nodes = calls.map((_, i) => [[lowName, i, 0, {}]]);
    }
    this.list.splice(this.list.indexOf(layer.entry), 0, lowEntry);

    const lowWeightName = renameLayerInWeight(e.tensor, layer.name, lowName);
    kernel.edit = { values: second, storage: { kind: 'float32' } };
    kernel.shape = layer.className === 'Dense' ? [k, units] : [1, 1, k, units];
    const newWeight: OutWeight = { name: lowWeightName, edit: { values: first, storage: { kind: 'float32' } }, shape: [...shape.slice(0, -1), k], slices: [] };
    this.weights.splice(this.weights.indexOf(kernel), 0, newWeight);
    this.usedNames.add(lowWeightName);
  }

  private freshName(base: string): string {
    let name = base;
    for (let i = 2; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }
}

function layerRef(entry: Json): LayerRef {
  const config = obj(entry.config) ?? {};
  if (!obj(entry.config)) entry.config = config;
  const name = typeof entry.name === 'string' ? entry.name : typeof config.name === 'string' ? config.name : String(entry.class_name);
  return { entry, config, className: String(entry.class_name), name };
}

/** `dense_1/kernel` → `dense_1_lowrank/kernel`, keeping any scope before the layer name. */
function renameLayerInWeight(weight: string, layer: string, to: string): string {
  const at = weight.lastIndexOf(`${layer}/`);
  if (at >= 0 && (at === 0 || weight[at - 1] === '/')) return weight.slice(0, at) + to + weight.slice(at + layer.length);
  return `${to}/kernel`;
}

function refNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [value[0]];
  return value.flatMap((v) => (Array.isArray(v) && typeof v[0] === 'string' ? [v[0]] : []));
}

function obj(v: unknown): Json | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------
// Writing.

async function writeModel(doc: ModelDoc, change: ModelChange, p: Plan, out: string, files: AtomicFileSet): Promise<void> {
  const src = sourceManifest(doc) as SourceManifest;
  const placed = await placeSourceWeights(doc);
  const chunks: Uint8Array[] = [];
  const specs: WeightSpec[] = [];
  const requantized = new RequantizeReport();
  for (const w of p.weights) {
    let spec: WeightSpec;
    let bytes: Uint8Array;
    let elementBytes: number;
    if (w.edit) {
      const storage = keptSourceStorage(w.edit, w.source?.spec, requantized) ?? w.edit.storage;
      const encoded = encode(w.edit.values, storage, w.source?.spec.dtype === 'int32' ? 'int32' : 'float32');
      spec = { ...(w.source?.spec ?? {}), name: w.name, shape: [...w.shape], dtype: encoded.dtype };
      delete spec.quantization;
      if (encoded.quantization) spec.quantization = encoded.quantization;
      bytes = encoded.bytes;
      elementBytes = encoded.elementBytes;
    } else {
      const from = placed[w.source!.index]!;
      spec = structuredClone(w.source!.spec);
      bytes = await readStream(nodeFileAccess, from.shards, from.start, from.length);
      elementBytes = ELEMENT_BYTES[from.storageDtype] ?? 0;
    }
    let shape = [...w.shape];
    for (const s of w.slices) {
      bytes = sliceAxis(bytes, shape, elementBytes, s.axis, s.keep);
      shape = shape.map((d, i) => (i === s.axis ? s.keep.length : d));
    }
    spec.shape = shape;
    specs.push(spec);
    chunks.push(bytes);
  }

  const note = requantized.note();
  if (note) change.notes.push(note);

  const stem = path.basename(stripJson(out));
  const dir = path.dirname(out);
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const shards = Math.max(1, Math.ceil(total / SHARD_BYTES));
  const names = shards === 1 ? [`${stem}.weights.bin`] : Array.from({ length: shards }, (_, i) => `${stem}.weights.group1-shard${i + 1}of${shards}.bin`);
  const stream = new ChunkStream(chunks);
  for (const name of names) await files.write(path.join(dir, name), stream.take(Math.min(SHARD_BYTES, stream.remaining)));

  const manifest = [{ paths: names, weights: specs }];
  let json: unknown;
  if (!src.container) json = manifest;
  else {
    const o: Json = { ...src.container };
    if (p.topology) o.modelTopology = p.topology;
    o.weightsManifest = manifest;
    // tf.loadLayersModel/loadGraphModel hand userDefinedMetadata to the model untouched (any plain
    // object); convertedBy keeps naming the original converter. A model compressed again (or a later
    // step of a chain) extends the method list and keeps the first source.
    const meta = obj(o.userDefinedMetadata) ?? {};
    const previous = obj(meta.parsimony);
    const method = typeof previous?.method === 'string' ? `${previous.method},${change.method}` : change.method;
    const source = typeof previous?.source === 'string' ? previous.source : path.basename(doc.file);
    o.userDefinedMetadata = { ...meta, parsimony: { method, source } };
    json = o;
  }
  await files.write(out, JSON.stringify(json));
}

/** The source manifest laid out over its shards (the reader's own placement, so strings and straddling weights work). */
async function placeSourceWeights(doc: ModelDoc): Promise<PlacedWeight[]> {
  const raw = doc.raw as Json | unknown[];
  const manifest = Array.isArray(raw) ? raw : (raw as Json).weightsManifest;
  const ctx: OpenContext = {
    path: doc.file,
    name: path.basename(doc.file).toLowerCase(),
    size: 0,
    head: new Uint8Array(0),
    fs: nodeFileAccess,
    limits: DEFAULT_LIMITS,
    source: {
      path: doc.file,
      size: 0,
      read: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    },
  };
  return (await layoutManifest(ctx, manifest)).weights;
}

/**
 * A weight the source stored quantized (uint8/uint16 affine or float16) and a
 * method rewrote without asking for a dtype (pruning, clustering) goes back in
 * the same storage dtype: written as float32 it would make the output larger
 * than the input (a uint8 MobileNet grows four times). Returns null to keep the
 * edit's own storage.
 *
 * The affine range always contains 0 and is nudged so 0 is a code (min =
 * −zeroPoint·scale, like tensorflowjs_converter's quantization), so pruned
 * zeros dequantize to exactly 0 under TF.js's `q·scale + min`.
 */
function keptSourceStorage(edit: { values: Float32Array; storage: Storage }, spec: WeightSpec | undefined, report: RequantizeReport): Storage | null {
  const kept = spec?.quantization?.dtype;
  if (!spec || spec.dtype !== 'float32' || (kept !== 'uint8' && kept !== 'uint16' && kept !== 'float16')) return null;
  if (edit.storage.kind !== 'float32' && edit.storage.kind !== 'clustered') return null;
  let storage: Storage;
  if (kept === 'float16') storage = { kind: 'float16' };
  else {
    const qmax = kept === 'uint16' ? 65535 : 255;
    let lo = 0;
    let hi = 0;
    for (const v of edit.values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const scale = hi > lo ? (hi - lo) / qmax : 1;
    const zeroPoint = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
    storage = { kind: 'affine', dtype: kept, scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zeroPoint), axisUnits: false };
  }
  report.add(edit.values, storage, kept, edit.storage.kind === 'clustered' ? edit.storage.centroids : null);
  return storage;
}

/** Sums up, for the run's notes, how much re-quantizing edited weights to their source dtype cost. */
class RequantizeReport {
  private readonly dtypes = new Map<string, number>();
  private signal = 0;
  private noise = 0;
  private maxError = 0;
  private mergedCentroids = 0;
  private clusteredTensors = 0;

  add(values: Float32Array, storage: Storage, dtype: string, centroids: Float32Array | null): void {
    this.dtypes.set(dtype, (this.dtypes.get(dtype) ?? 0) + 1);
    const back = dequantized(values, storage);
    for (let i = 0; i < values.length; i++) {
      const e = back[i]! - values[i]!;
      this.signal += values[i]! * values[i]!;
      this.noise += e * e;
      if (Math.abs(e) > this.maxError) this.maxError = Math.abs(e);
    }
    if (centroids) {
      this.clusteredTensors++;
      const codes = dequantized(centroids, storage);
      this.mergedCentroids += centroids.length - new Set(codes).size;
    }
  }

  note(): string | null {
    if (!this.dtypes.size) return null;
    const counts = [...this.dtypes].map(([d, n]) => `${n} as ${d}`).join(', ');
    const error =
      this.noise > 0
        ? `${(10 * Math.log10(this.signal / this.noise)).toFixed(1)} dB SNR, max error ${this.maxError.toPrecision(3)} against the unre-quantized values`
        : 'every value was already representable, so nothing changed';
    const merged = this.clusteredTensors
      ? this.mergedCentroids
        ? `; ${this.mergedCentroids} cluster value(s) in ${this.clusteredTensors} tensors fell on the same code as a neighbour and merged`
        : `; every cluster value kept its own code`
      : '';
    return (
      `edited weights the source stored quantized were re-quantized to the source's storage (${counts}; zero stays exactly 0) so the output is not larger than the input: ` +
      `${error}${merged}`
    );
  }
}

/** What TF.js will load for `values` written with `storage` (float16 or per-tensor affine). */
function dequantized(values: Float32Array, storage: Storage): Float32Array {
  const out = new Float32Array(values.length);
  if (storage.kind === 'float16') {
    for (let i = 0; i < values.length; i++) out[i] = halfToFloat(floatToHalf(values[i]!));
    return out;
  }
  if (storage.kind !== 'affine') return Float32Array.from(values);
  const scale = storage.scale[0]!;
  const zp = storage.zeroPoint[0]!;
  const qmax = storage.dtype === 'uint16' ? 65535 : 255;
  const min = -zp * scale;
  for (let i = 0; i < values.length; i++) out[i] = Math.max(0, Math.min(qmax, Math.round(values[i]! / scale) + zp)) * scale + min;
  return out;
}

interface Encoded {
  bytes: Uint8Array;
  elementBytes: number;
  dtype: string;
  quantization?: WeightSpec['quantization'];
}

/** The manifest encodings tensorflowjs_converter writes and tf.io.decodeWeights reads. */
function encode(values: Float32Array, storage: Storage, loadedDtype: 'float32' | 'int32'): Encoded {
  const n = values.length;
  switch (storage.kind) {
    case 'float16': {
      const bytes = new Uint8Array(n * 2);
      const dv = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, floatToHalf(values[i]!), true);
      return { bytes, elementBytes: 2, dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } };
    }
    case 'affine': {
      // value = (q − zeroPoint)·scale = q·scale + min with min = −zeroPoint·scale: TF.js dequantizes `q * scale + min`.
      const scale = storage.scale[0]!;
      const zp = storage.zeroPoint[0]!;
      const wide = storage.dtype === 'uint16';
      const qmax = wide ? 65535 : 255;
      const bytes = new Uint8Array(n * (wide ? 2 : 1));
      const dv = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) {
        const q = Math.max(0, Math.min(qmax, Math.round(values[i]! / scale) + zp));
        if (wide) dv.setUint16(i * 2, q, true);
        else bytes[i] = q;
      }
      return { bytes, elementBytes: wide ? 2 : 1, dtype: 'float32', quantization: { dtype: storage.dtype, min: -zp * scale, scale, original_dtype: 'float32' } };
    }
    case 'clustered':
    // Stock TF.js has no codebook/index encoding: shared values are stored as ordinary float32
    // weights (gzip shrinks them well); the pipeline reports the index-coded size separately.
    case 'float32':
    default: {
      const bytes = new Uint8Array(n * 4);
      const dv = new DataView(bytes.buffer);
      if (loadedDtype === 'int32') for (let i = 0; i < n; i++) dv.setInt32(i * 4, Math.round(values[i]!), true);
      else for (let i = 0; i < n; i++) dv.setFloat32(i * 4, values[i]!, true);
      return { bytes, elementBytes: 4, dtype: loadedDtype };
    }
  }
}

/** Keeps the entries `keep` of one axis of a row-major tensor of fixed-size elements. */
export function sliceAxis(bytes: Uint8Array, shape: readonly number[], elementBytes: number, axis: number, keep: readonly number[]): Uint8Array {
  const outer = count(shape.slice(0, axis));
  const dim = shape[axis]!;
  const inner = count(shape.slice(axis + 1)) * elementBytes;
  const out = new Uint8Array(outer * keep.length * inner);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const base = a * dim * inner;
    for (const k of keep) {
      out.set(bytes.subarray(base + k * inner, base + (k + 1) * inner), o);
      o += inner;
    }
  }
  return out;
}

/** Reads consecutive byte ranges across a list of chunks. */
class ChunkStream {
  private index = 0;
  private offset = 0;
  remaining: number;

  constructor(private readonly chunks: Uint8Array[]) {
    this.remaining = chunks.reduce((s, c) => s + c.length, 0);
  }

  take(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const chunk = this.chunks[this.index]!;
      const n = Math.min(chunk.length - this.offset, length - done);
      out.set(chunk.subarray(this.offset, this.offset + n), done);
      done += n;
      this.offset += n;
      if (this.offset === chunk.length) {
        this.index++;
        this.offset = 0;
      }
    }
    this.remaining -= length;
    return out;
  }
}
