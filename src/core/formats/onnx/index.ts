import { ModelFormatError } from '../../errors';
import { resolveSibling } from '../../io/fileAccess';
import type { ProtoBuffer } from '../../io/protobuf';
import { skimProtobuf } from '../../io/protobufSkim';
import { elementCount, type LayerInfo, type ModelDoc, type TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { isFloatDtype, onnxDtype, storageBytes, type OnnxDtype } from './dtypes';
import { generatedConstants } from './generatedWeights';
import { COMPUTE_OPS, nodeMacs } from './macs';
import {
  freeVariables,
  ONNX_SKIM_SCHEMA,
  ATTR_GRAPH,
  ATTR_GRAPHS,
  parseModel,
  type GraphRecord,
  type ModelRecord,
  type NodeRecord,
  type SparseRecord,
  type TensorRecord,
  type ValueInfo,
} from './proto';
import { constantTensor, isConstantNode, listGraphs, nodeNames, tensorNames } from './naming';
import { propagateShapes, type GraphFacts, type IntValues, type Shape, type ShapeState } from './shapes';
import { checkTensorData, decodeSpan, readSpan, spanOf } from './tensorData';

/**
 * ONNX reader. The .onnx is walked through windowed reads that step over large
 * tensor payloads (protobufSkim.ts: a model is mostly raw_data, and reading it
 * all would cost more than the analysis), decoded into plain records that keep
 * tensor data as file offsets, and dropped: tensor values are read from disk
 * only in read().
 *
 * Accounting choices (they match the fixture generator's independent count):
 * - Weights are initializers and sparse initializers of every graph (subgraphs of
 *   If/Loop/Scan included), plus the values of Constant nodes; each is counted once,
 *   and an initializer shadowed by a subgraph is a different tensor.
 * - The float output of a ConstantOfShape node with a constant shape is a weight the
 *   file describes but doesn't store (weight-stripped models; see generatedWeights.ts):
 *   it counts, with 0 bytes on disk, its memory, no read(), and a model warning.
 * - Not parameters: scales and zero points of QuantizeLinear/DequantizeLinear (and the
 *   QLinear and Integer ops), and integer/bool/string tensors that aren't quantized
 *   weights (DequantizeLinear input 0, ConvInteger/MatMulInteger/QLinear* weight inputs).
 *   These are shapes, axes, indices — they don't learn.
 * - A weight belongs to the first node that consumes it, looking through Identity,
 *   Cast, Transpose, DequantizeLinear and reshaping/slicing/concatenating ops (so
 *   QDQ int8 weights, fp16→fp32 casts and gate-sliced LSTM weights group under the
 *   real Conv/Gemm/MatMul/LSTM), and a bias added right after a MatMul/Conv joins it.
 * - Unconsumed float initializers go to an "(unused initializers)" group.
 * - Layers are the nodes that own parameters plus the compute ops (Conv, Gemm,
 *   MatMul, …) even when they own none; non-parameter constants of other nodes are
 *   collected in one "(constants)" group so hundreds of Reshape nodes stay out of
 *   the list. Op counts go to metadata.
 */

const MAX_MODEL_BYTES = 2 ** 31 + 2 ** 20;

/**
 * Ops looked through when finding the layer a weight belongs to: 'any' input, or
 * only the data input 0 (a Reshape's shape constant stays with the Reshape).
 * Slice/Split/Concat/Squeeze/Unsqueeze/Reshape cover exporters that cut one stored
 * matrix into gates (LSTM weights in silero-vad v5).
 */
const PASS_THROUGH = new Map<string, 'any' | 'data'>([
  ['Identity', 'any'],
  ['Cast', 'any'],
  ['DequantizeLinear', 'any'],
  ['Transpose', 'data'],
  ['Reshape', 'data'],
  ['Flatten', 'data'],
  ['Squeeze', 'data'],
  ['Unsqueeze', 'data'],
  ['Slice', 'data'],
  ['Split', 'data'],
  ['Concat', 'any'],
]);
/** Ops whose bias add joins them. */
const BIAS_HOSTS = new Set(['MatMul', 'MatMulInteger', 'QLinearMatMul', 'Conv', 'ConvTranspose', 'Gemm']);

/** [field, wire type] of ModelProto fields, for match(). */
const MODEL_FIELDS = new Map<number, number>([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2],
]);

export const onnx: FormatFactory = {
  id: 'onnx',
  produces: ['onnx'],
  label: 'ONNX',
  extensions: ['.onnx'],
  match,
  open,
};

/**
 * ONNX has no magic number: a file matches when its first fields are valid
 * ModelProto fields (ir_version first, as every writer puts it, for files not
 * named .onnx). Structural errors further in are left for open() to report.
 */
function match(probe: Probe): boolean {
  const head = probe.head;
  let pos = 0;
  let fields = 0;
  let sawIrVersion = false;
  while (pos < head.length && fields < 16) {
    const key = peekVarint(head, pos);
    if (!key) break;
    const field = Math.floor(key[0] / 8);
    const wire = key[0] % 8;
    if (MODEL_FIELDS.get(field) !== wire) return fields > 0 && probe.name.endsWith('.onnx');
    pos = key[1];
    const value = peekVarint(head, pos);
    if (!value) {
      // A valid ModelProto key whose value we can't peek (cut by the head, or an
      // overlong varint): let open() say exactly what is wrong.
      fields++;
      break;
    }
    if (wire === 0) {
      if (field === 1) {
        if (value[0] < 1 || value[0] > 100) return false;
        sawIrVersion = fields === 0;
      }
      pos = value[1];
    } else {
      pos = value[1] + value[0];
    }
    fields++;
  }
  if (fields === 0) return false;
  return probe.name.endsWith('.onnx') || (sawIrVersion && fields >= 2);
}

function peekVarint(bytes: Uint8Array, pos: number): [number, number] | null {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 8 && pos + i < bytes.length; i++) {
    const b = bytes[pos + i]!;
    v += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [v, pos + i + 1];
    scale *= 128;
  }
  return null;
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  if (ctx.size > MAX_MODEL_BYTES) {
    throw new ModelFormatError(
      'too-large',
      `the file is ${ctx.size} bytes; a protobuf model is limited to 2 GiB (larger weights belong in external data files)`,
    );
  }
  const { buffer } = await skimProtobuf(ctx.source, ONNX_SKIM_SCHEMA, { root: 'model', maxDepth: ctx.limits.maxDepth });
  const model = parseModel(buffer.root());
  if (!model.graph) {
    throw new ModelFormatError('not-a-model', 'the protobuf has no ONNX graph (ModelProto.graph is missing)');
  }
  return new OnnxBuilder(ctx, buffer, model, model.graph).build();
}

// ---------------------------------------------------------------------------

type WeightSource = 'initializer' | 'Constant' | 'sparse initializer' | 'ConstantOfShape';

interface Weight {
  /** Name in its graph's scope. */
  valueName: string;
  record: TensorRecord;
  graph: GraphRecord;
  /** '' for the main graph, else "nodeName/attr" path. */
  graphPath: string;
  source: WeightSource;
  constantNode?: NodeRecord;
  sparse?: SparseRecord;
  /** Set for a ConstantOfShape output: no stored bytes, every element the node's fill value. */
  generatedBy?: NodeRecord;
  dtype: OnnxDtype;
  count: number;
  /** Assigned consumer node (the layer), or null. */
  owner: NodeRecord | null;
  ownerGraph: GraphRecord | null;
  uses: { node: NodeRecord; index: number }[];
  /** Joined its owner through the Add that follows it (a bias). */
  viaBiasAdd: boolean;
}

interface Consumer {
  node: NodeRecord;
  graph: GraphRecord;
}

class OnnxBuilder {
  private readonly weights: Weight[] = [];
  private readonly graphs: { graph: GraphRecord; path: string; parent: GraphRecord | null }[] = [];
  private readonly freeVarCache = new Map<GraphRecord, Set<string>>();
  private readonly consumerIndex = new Map<GraphRecord, Map<string, number[]>>();
  private readonly producerIndex = new Map<GraphRecord, Map<string, NodeRecord>>();
  private readonly warnings: string[] = [];
  private readonly files: string[];
  private readonly externalSizes = new Map<string, number>();
  private readonly roles = new Map<Weight, string | null>();

  constructor(
    private readonly ctx: OpenContext,
    private readonly buffer: ProtoBuffer,
    private readonly model: ModelRecord,
    private readonly main: GraphRecord,
  ) {
    this.files = [ctx.path];
  }

  async build(): Promise<ModelDoc> {
    this.graphs.push(...listGraphs(this.main));
    for (const g of this.graphs) this.collectWeights(g.graph, g.path);
    await this.checkExternalFiles();
    // Generated weights are float fills, so they never add to the small integer constants.
    const ints = await this.smallIntValues();
    this.collectGeneratedWeights(ints);
    for (const w of this.weights) this.assignOwner(w);

    const states = this.propagate(ints);
    const layers = this.buildLayers(states);
    return {
      file: this.ctx.path,
      format: 'onnx',
      files: this.files,
      layers,
      metadata: this.metadata(),
      warnings: this.warnings,
      inputShape: this.graphInputs(this.main)[0]?.shape ?? null,
      raw: {
        irVersion: this.model.irVersion,
        opsets: this.model.opsets,
        graphName: this.main.name,
        inputs: this.graphInputs(this.main).map((v) => ({ name: v.name, shape: v.shape })),
        outputs: this.main.outputs.map((v) => ({ name: v.name, shape: v.shape })),
      },
    };
  }

  // -- graphs and weights -------------------------------------------------

  private collectWeights(graph: GraphRecord, path: string): void {
    const add = (valueName: string, record: TensorRecord, source: WeightSource, extra: Partial<Weight> = {}): void => {
      const dtype = onnxDtype(record.dataType);
      const label = valueName || record.name || '(unnamed)';
      if (!dtype) {
        throw new ModelFormatError('unsupported-dtype', `tensor '${label}' has ONNX data type ${record.dataType}, which Parsimony doesn't know`, {
          offset: record.at,
        });
      }
      if (record.dims.some((d) => d < 0)) {
        throw new ModelFormatError('not-a-model', `tensor '${label}' has a negative dimension [${record.dims.join(', ')}]`, { offset: record.at });
      }
      const count = elementCount(record.dims);
      if (!Number.isFinite(count) || count > this.ctx.limits.maxTensorElements) {
        throw new ModelFormatError('too-large', `tensor '${label}' has too many elements [${record.dims.join(', ')}]`, { offset: record.at });
      }
      if (record.hasSegment) this.warnings.push(`tensor '${label}' is stored in segments, which Parsimony reads as one piece`);
      this.weights.push({ valueName, record, graph, graphPath: path, source, dtype, count, owner: null, ownerGraph: null, uses: [], viaBiasAdd: false, ...extra });
    };

    for (const t of graph.initializers) add(t.name, t, 'initializer');
    for (const s of graph.sparseInitializers) {
      if (!s.values) throw new ModelFormatError('not-a-model', 'a sparse initializer has no values tensor', { offset: s.at });
      add(s.values.name, s.values, 'sparse initializer', { sparse: s });
    }
    for (const node of graph.nodes) {
      if (!isConstantNode(node)) continue;
      const out = node.outputs[0] ?? '';
      for (const a of node.attributes) {
        const record = constantTensor(a, out);
        if (record) add(out, record, 'Constant', a.name === 'sparse_value' ? { constantNode: node, sparse: a.sparse } : { constantNode: node });
      }
    }
  }

  /** ConstantOfShape outputs with constant shapes, in every graph (after the stored weights are checked, whose values give the shapes). */
  private collectGeneratedWeights(ints: Map<Weight, IntValues>): void {
    const parentOf = new Map(this.graphs.map((g) => [g.graph, g.parent]));
    let elements = 0;
    let tensors = 0;
    for (const { graph, path } of this.graphs) {
      const intValues = (name: string): IntValues | null => {
        for (let g: GraphRecord | null | undefined = graph; g; g = parentOf.get(g)) {
          const w = this.weights.find((x) => x.graph === g && x.valueName === name && !x.generatedBy);
          if (w) return ints.get(w) ?? null;
          if (g.nodes.some((n) => n.outputs.includes(name)) || g.inputs.some((v) => v.name === name)) return null;
        }
        return null;
      };
      for (const c of generatedConstants(graph, intValues)) {
        const dtype = onnxDtype(c.dataType);
        const count = elementCount(c.dims);
        // Integer fills are paddings and index buffers (silero-vad v5 pads its STFT with int64 zeros), not weights.
        if (!dtype || !isFloatDtype(dtype.name) || !Number.isFinite(count) || count > this.ctx.limits.maxTensorElements) continue;
        const record: TensorRecord = { name: c.valueName, dims: c.dims, dataType: c.dataType, data: { kind: 'none' }, at: 0, hasSegment: false };
        this.weights.push({
          valueName: c.valueName, record, graph, graphPath: path, source: 'ConstantOfShape', generatedBy: c.node, dtype, count,
          owner: null, ownerGraph: null, uses: [], viaBiasAdd: false,
        });
        tensors++;
        elements += count;
      }
    }
    if (tensors) {
      this.warnings.push(
        `${tensors} float tensor${tensors > 1 ? 's' : ''} (${elements.toLocaleString('en-US')} elements) ${tensors > 1 ? 'are' : 'is'} generated when the model runs by ConstantOfShape nodes with constant shapes: ` +
          'the file stores their shapes, not their values (a weight-stripped model?). They count as parameters and memory, with 0 bytes on disk; hints and compression skip them.',
      );
    }
  }

  /** Resolves external data files (refusing escapes), records their sizes, and checks every tensor's data. */
  private async checkExternalFiles(): Promise<void> {
    for (const w of this.weights) {
      const data = w.record.data;
      let size: number | undefined;
      let file: string | undefined;
      if (data.kind === 'external') {
        file = resolveSibling(this.ctx.path, data.location);
        size = this.externalSizes.get(file);
        if (size === undefined) {
          try {
            size = (await this.ctx.fs.stat(file)).size;
          } catch (e) {
            if (e instanceof ModelFormatError && e.code === 'not-found') {
              throw new ModelFormatError('not-found', `external data file '${data.location}' of tensor '${w.valueName}' was not found beside the model`, {
                file,
              });
            }
            throw e;
          }
          this.externalSizes.set(file, size);
          this.files.push(file);
        }
      }
      checkTensorData(w.record, w.dtype, w.count, size, file);
    }
  }

  // -- ownership ------------------------------------------------------------

  private assignOwner(w: Weight): void {
    // Record every direct use (by name, in the weight's own graph and the subgraphs that see it).
    this.collectUses(w, w.graph);
    const first = this.firstConsumer(w.graph, w.valueName, 0);
    if (!first) return;
    let owner = first;
    // A bias added right after a MatMul/Conv joins it.
    if (owner.node.opType === 'Add' && owner.node.inputs.length === 2) {
      const other = owner.node.inputs[0] === w.valueName ? owner.node.inputs[1] : owner.node.inputs[0];
      const producer = other ? this.producers(owner.graph).get(other) : undefined;
      if (producer && BIAS_HOSTS.has(producer.opType) && (this.consumers(owner.graph).get(other!)?.length ?? 0) === 1) {
        owner = { node: producer, graph: owner.graph };
        w.viaBiasAdd = true;
      }
    }
    w.owner = owner.node;
    w.ownerGraph = owner.graph;
  }

  private collectUses(w: Weight, graph: GraphRecord): void {
    // The consumer index lists the nodes that read the name, in graph order; '' (an
    // unnamed tensor) is not indexed, as it also stands for an absent optional input.
    const readers = w.valueName ? (this.consumers(graph).get(w.valueName) ?? []).map((i) => graph.nodes[i]!) : graph.nodes;
    for (const node of readers) {
      node.inputs.forEach((name, index) => {
        if (name === w.valueName) w.uses.push({ node, index });
      });
      for (const a of node.attributes) {
        for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) {
          if (this.freeVars(sub).has(w.valueName)) this.collectUses(w, sub);
        }
      }
    }
  }

  /** The first node (in graph order, descending into subgraphs) that reads `name`, looking through pass-through ops. */
  private firstConsumer(graph: GraphRecord, name: string, hops: number): Consumer | null {
    const idx = this.consumers(graph).get(name);
    if (!idx || idx.length === 0) return null;
    const node = graph.nodes[idx[0]!]!;
    if (node.inputs.includes(name)) {
      const through = PASS_THROUGH.get(node.opType);
      if (through && (through === 'any' || node.inputs[0] === name) && hops < 16 && node.outputs[0]) {
        return this.firstConsumer(graph, node.outputs[0], hops + 1) ?? { node, graph };
      }
      return { node, graph };
    }
    // Used implicitly by a subgraph of this node (If/Loop/Scan capture outer values).
    for (const a of node.attributes) {
      for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) {
        if (!this.freeVars(sub).has(name)) continue;
        const inner = this.firstConsumer(sub, name, hops);
        if (inner) return inner;
      }
    }
    return { node, graph };
  }

  /** name → indices of the nodes that read it, explicitly or through their subgraphs. */
  private consumers(graph: GraphRecord): Map<string, number[]> {
    let map = this.consumerIndex.get(graph);
    if (map) return map;
    map = new Map();
    const add = (name: string, i: number): void => {
      if (!name) return;
      const list = map!.get(name);
      if (!list) map!.set(name, [i]);
      else if (list[list.length - 1] !== i) list.push(i);
    };
    graph.nodes.forEach((node, i) => {
      for (const name of node.inputs) add(name, i);
      for (const a of node.attributes) {
        for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) for (const name of this.freeVars(sub)) add(name, i);
      }
    });
    this.consumerIndex.set(graph, map);
    return map;
  }

  private producers(graph: GraphRecord): Map<string, NodeRecord> {
    let map = this.producerIndex.get(graph);
    if (map) return map;
    map = new Map();
    for (const node of graph.nodes) for (const o of node.outputs) if (o) map.set(o, node);
    this.producerIndex.set(graph, map);
    return map;
  }

  /** Names a (sub)graph reads but doesn't define: the outer values it captures. */
  private freeVars(graph: GraphRecord): Set<string> {
    return freeVariables(graph, this.freeVarCache);
  }

  // -- roles ----------------------------------------------------------------

  /** Why a tensor is not a learned parameter, or null when it is one. */
  private nonParameterRole(w: Weight): string | null {
    // Asked for every weight from several places (layers, inputs of every node, tensor rows): decided once.
    let role = this.roles.get(w);
    if (role === undefined) this.roles.set(w, (role = this.decideRole(w)));
    return role;
  }

  private decideRole(w: Weight): string | null {
    const quantParam = w.uses.some(
      ({ node, index }) =>
        ((node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') && (index === 1 || index === 2)) ||
        (node.opType === 'QLinearConv' && [1, 2, 4, 5, 6, 7].includes(index)) ||
        (node.opType === 'QLinearMatMul' && [1, 2, 4, 5, 6, 7].includes(index)) ||
        ((node.opType === 'ConvInteger' || node.opType === 'MatMulInteger') && (index === 2 || index === 3)),
    );
    if (quantParam) return 'quantization scale/zero point';
    if (isFloatDtype(w.dtype.name)) return null;
    const quantizedWeight = w.uses.some(
      ({ node, index }) =>
        (node.opType === 'DequantizeLinear' && index === 0) ||
        ((node.opType === 'QLinearConv' || node.opType === 'QLinearMatMul') && (index === 3 || index === 8)) ||
        ((node.opType === 'ConvInteger' || node.opType === 'MatMulInteger') && index === 1),
    );
    if (quantizedWeight) return null;
    return w.dtype.name === 'string' ? 'string constant' : w.dtype.name === 'bool' ? 'boolean constant' : 'integer constant (shape/index)';
  }

  // -- shapes -----------------------------------------------------------------

  private readonly inputsOf = new Map<GraphRecord, ValueInfo[]>();

  /** The graph's inputs that are not initializers (old exporters list initializers as inputs too). */
  private graphInputs(graph: GraphRecord): ValueInfo[] {
    let inputs = this.inputsOf.get(graph);
    if (!inputs) {
      const inits = new Set(graph.initializers.map((t) => t.name));
      inputs = graph.inputs.filter((v) => !inits.has(v.name));
      this.inputsOf.set(graph, inputs);
    }
    return inputs;
  }

  /** Shape propagation for every graph; a subgraph sees its parent's shapes. */
  private propagate(intValues: Map<Weight, IntValues>): Map<GraphRecord, ShapeState> {
    const states = new Map<GraphRecord, ShapeState>();
    const weightsByGraph = new Map<GraphRecord, Weight[]>();
    for (const w of this.weights) {
      const list = weightsByGraph.get(w.graph) ?? [];
      list.push(w);
      weightsByGraph.set(w.graph, list);
    }
    for (const { graph, parent } of this.graphs) {
      const base = parent ? states.get(parent) : undefined;
      const facts: GraphFacts = {
        shapes: new Map(base?.shapes),
        values: new Map(base?.values),
        declared: new Map(),
      };
      for (const v of graph.inputs) if (v.shape) facts.shapes.set(v.name, v.shape);
      for (const v of [...graph.valueInfo, ...graph.outputs]) if (v.shape) facts.declared.set(v.name, v.shape);
      for (const w of weightsByGraph.get(graph) ?? []) {
        facts.shapes.set(w.valueName, w.sparse ? w.sparse.dims : w.record.dims);
        const values = intValues.get(w);
        if (values) facts.values.set(w.valueName, values);
      }
      states.set(graph, propagateShapes(graph, facts));
    }
    return states;
  }

  /**
   * Values of small integer constants (shape targets, axes), for shape propagation:
   * from the bytes the walk loaded, or read when they were among the skipped ones.
   */
  private async smallIntValues(): Promise<Map<Weight, IntValues>> {
    const out = new Map<Weight, IntValues>();
    for (const w of this.weights) {
      if (w.count > 64 || w.sparse || !['int64', 'int32'].includes(w.dtype.name)) continue;
      const data = w.record.data;
      if (data.kind !== 'raw' && data.kind !== 'field' && data.kind !== 'attr') continue;
      const span = spanOf(data, this.ctx.path, undefined, w.count, w.dtype)!;
      const end = span.offset + span.length;
      const bytes = this.buffer.has(span.offset, end) ? this.buffer.slice(span.offset, end) : await this.ctx.source.read(span.offset, span.length);
      try {
        out.set(w, Array.from(decodeSpan(data, w.dtype, w.count, bytes, span.offset)));
      } catch {
        // Not decodable: propagation goes on without these values.
      }
    }
    return out;
  }

  // -- layers -----------------------------------------------------------------

  private buildLayers(states: Map<GraphRecord, ShapeState>): LayerInfo[] {
    const owned = new Map<NodeRecord, Weight[]>();
    const unused: Weight[] = [];
    const constants: Weight[] = [];
    for (const w of this.weights) {
      if (!w.owner) {
        (this.nonParameterRole(w) ? constants : unused).push(w);
        continue;
      }
      const list = owned.get(w.owner) ?? [];
      list.push(w);
      owned.set(w.owner, list);
    }
    const layerNodes = new Map<NodeRecord, boolean>();
    const isLayer = (node: NodeRecord): boolean => {
      let layer = layerNodes.get(node);
      if (layer === undefined) {
        layer = COMPUTE_OPS.has(node.opType) || (owned.get(node) ?? []).some((w) => this.nonParameterRole(w) === null);
        layerNodes.set(node, layer);
      }
      return layer;
    };

    const names = nodeNames(this.graphs);
    const displayNames = tensorNames(this.weights);
    const layers: LayerInfo[] = [];
    const visit = (graph: GraphRecord, graphPath: string): void => {
      const state = states.get(graph)!;
      const feeding = this.feedingLayers(graph, isLayer, names);
      for (const node of graph.nodes) {
        if (isLayer(node)) {
          const mine = owned.get(node) ?? [];
          const tensors = mine.map((w) => this.tensorInfo(w, displayNames.get(w)!));
          const outShape = node.outputs[0] ? (state.shapes.get(node.outputs[0]) ?? null) : null;
          const notes: string[] = [];
          if (graphPath) notes.push(`inside subgraph ${graphPath}`);
          const bias = mine.find((w) => w.viaBiasAdd);
          if (bias) notes.push(`'${displayNames.get(bias)}' is added by the Add node that follows`);
          layers.push({
            name: names.get(node)!,
            type: node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType,
            tensors,
            outputShape: outShape,
            macs: nodeMacs(node, state),
            inputs: feeding.get(node) ?? [],
            config: nodeConfig(node),
            ...(notes.length ? { notes } : {}),
          });
        } else {
          for (const w of owned.get(node) ?? []) constants.push(w);
        }
        for (const a of node.attributes) {
          const prefix = `${graphPath ? `${graphPath}/` : ''}${names.get(node)}/${a.name}`;
          if (a.g) visit(a.g, prefix);
          a.graphs.forEach((g, j) => visit(g, `${prefix}[${j}]`));
        }
      }
    };
    visit(this.main, '');

    if (unused.length) {
      layers.push({
        name: '(unused initializers)',
        type: 'Initializer',
        tensors: unused.map((w) => this.tensorInfo(w, displayNames.get(w)!)),
        outputShape: null,
        macs: 0,
        notes: ['initializers no node reads (graph outputs or leftovers); they still take space in the file'],
      });
    }
    if (constants.length) {
      layers.push({
        name: '(constants)',
        type: 'Constants',
        tensors: constants.map((w) => this.tensorInfo(w, displayNames.get(w)!)),
        outputShape: null,
        macs: 0,
        notes: ['non-parameter constants (shapes, axes, indices, quantization scales) of nodes that are not layers'],
      });
    }
    return layers;
  }

  /** For each layer node, the layers whose outputs reach it through non-layer nodes (graph order is topological). */
  private feedingLayers(graph: GraphRecord, isLayer: (n: NodeRecord) => boolean, names: Map<NodeRecord, string>): Map<NodeRecord, string[]> {
    const producers = this.producers(graph);
    const reach = new Map<NodeRecord, string[]>();
    for (const node of graph.nodes) {
      const set = new Set<string>();
      for (const input of node.inputs) {
        const p = producers.get(input);
        if (!p || p === node) continue;
        if (isLayer(p)) set.add(names.get(p)!);
        else for (const n of reach.get(p) ?? []) set.add(n);
        if (set.size >= 16) break;
      }
      reach.set(node, [...set]);
    }
    return reach;
  }

  private tensorInfo(w: Weight, name: string): TensorInfo {
    const role = this.nonParameterRole(w);
    if (w.generatedBy) {
      const detail: Record<string, unknown> = { source: w.source, node: w.generatedBy.name || null, valuesUnavailable: 'generated by ConstantOfShape when the model runs; the file stores no values' };
      if (w.graphPath) detail.graph = w.graphPath;
      if (role) detail.role = role;
      return { name, shape: [...w.record.dims], dtype: w.dtype.name, count: w.count, bytes: 0, memoryBytes: storageBytes(w.dtype, w.count), isParameter: role === null, detail };
    }
    const data = w.record.data;
    let externalFile: string | undefined;
    if (data.kind === 'external') externalFile = resolveSibling(this.ctx.path, data.location);
    const bytes = checkTensorData(w.record, w.dtype, w.count, externalFile ? this.externalSizes.get(externalFile) : undefined, externalFile);
    const memoryBytes = w.dtype.name === 'string' ? bytes : storageBytes(w.dtype, w.count);
    const detail: Record<string, unknown> = { source: w.source };
    if (w.graphPath) detail.graph = w.graphPath;
    if (role) detail.role = role;
    if (data.kind === 'field') detail.storage = 'typed field';
    if (data.kind === 'external') detail.externalData = { location: data.location, offset: data.offset, length: bytes };
    if (w.sparse) {
      detail.sparse = { denseShape: w.sparse.dims, indices: w.sparse.indices?.name ?? null, indicesShape: w.sparse.indices?.dims ?? null };
    }
    const dq = w.uses.find((u) => u.node.opType === 'DequantizeLinear' && u.index === 0);
    let quant: { scale: Weight | undefined; zeroPoint: Weight | undefined; axis: number } | null = null;
    if (dq) {
      const scale = this.weightNamed(dq.node.inputs[1], w.graph);
      const zeroPoint = this.weightNamed(dq.node.inputs[2], w.graph);
      const axisAttr = dq.node.attributes.find((a) => a.name === 'axis');
      quant = { scale, zeroPoint, axis: axisAttr?.i ?? 1 };
      detail.quantization = {
        scheme: 'QDQ',
        scale: dq.node.inputs[1] ?? null,
        zeroPoint: dq.node.inputs[2] || null,
        axis: scale && scale.count > 1 ? quant.axis : null,
        scaleValues: scale?.count ?? null,
        note: 'onnxruntime keeps the stored integers; read() returns dequantized values',
      };
    }
    const span = spanOf(data, this.ctx.path, externalFile, w.count, w.dtype);
    const info: TensorInfo = {
      name,
      shape: [...w.record.dims],
      dtype: w.dtype.name,
      count: w.count,
      bytes,
      memoryBytes,
      isParameter: role === null,
      detail,
    };
    if (span && (data.kind === 'raw' || data.kind === 'external')) info.location = { ...span };
    if (span && w.dtype.decodable) {
      const fs = this.ctx.fs;
      const dtype = w.dtype;
      const count = w.count;
      const readRaw = async (): Promise<Float32Array> => decodeSpan(data, dtype, count, await readSpan(fs, span), span.offset);
      const readScale = quant?.scale ? this.reader(quant.scale) : undefined;
      const readZero = quant?.zeroPoint ? this.reader(quant.zeroPoint) : undefined;
      const dims = w.record.dims;
      const axis = quant?.axis ?? 1;
      info.read = readScale
        ? async () => dequantize(await readRaw(), dims, await readScale(), readZero ? await readZero() : null, axis)
        : readRaw;
    }
    return info;
  }

  private reader(w: Weight): (() => Promise<Float32Array>) | undefined {
    const data = w.record.data;
    const externalFile = data.kind === 'external' ? resolveSibling(this.ctx.path, data.location) : undefined;
    const span = spanOf(data, this.ctx.path, externalFile, w.count, w.dtype);
    if (!span || !w.dtype.decodable) return undefined;
    const fs = this.ctx.fs;
    return async () => decodeSpan(data, w.dtype, w.count, await readSpan(fs, span), span.offset);
  }

  private weightNamed(name: string | undefined, graph: GraphRecord): Weight | undefined {
    if (!name) return undefined;
    return this.weights.find((w) => w.valueName === name && w.graph === graph) ?? this.weights.find((w) => w.valueName === name);
  }

  // -- metadata ---------------------------------------------------------------

  /**
   * ONNX-ML operators (scikit-learn exports: LinearClassifier, TreeEnsemble…, SVM…)
   * keep their learned values in float attributes, not tensors. They are not counted,
   * but the model says so rather than showing a silent 0.
   */
  private warnAboutMlAttributes(): void {
    const ops = new Map<string, number>();
    let values = 0;
    for (const { graph } of this.graphs) {
      for (const node of graph.nodes) {
        if (node.domain !== 'ai.onnx.ml') continue;
        let n = 0;
        for (const a of node.attributes) n += a.floatsCount + (a.t ? elementCount(a.t.dims) : 0);
        if (!Number.isFinite(n) || n === 0) continue;
        values += n;
        ops.set(node.opType, (ops.get(node.opType) ?? 0) + 1);
      }
    }
    if (values === 0) return;
    const list = [...ops].map(([op, k]) => `${op}×${k}`).join(', ');
    this.warnings.push(
      `${list} (ai.onnx.ml) keep ${values.toLocaleString('en-US')} learned values in node attributes (coefficients, thresholds, weights); ` +
        'Parsimony counts tensors only, so they are not in the parameter total',
    );
  }

  private metadata(): Record<string, string> {
    const m = this.model;
    const meta: Record<string, string> = {};
    if (m.irVersion !== null) meta.irVersion = String(m.irVersion);
    if (m.opsets.length) meta.opset = m.opsets.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(', ');
    const producer = [m.producerName, m.producerVersion].filter(Boolean).join(' ');
    if (producer) meta.producer = producer;
    if (m.domain) meta.domain = m.domain;
    if (m.modelVersion !== null) meta.modelVersion = String(m.modelVersion);
    if (m.docString) meta.docString = m.docString.length > 200 ? `${m.docString.slice(0, 200)}…` : m.docString;
    if (this.main.name) meta.graph = this.main.name;
    let nodes = 0;
    const ops = new Map<string, number>();
    for (const { graph } of this.graphs) {
      nodes += graph.nodes.length;
      for (const n of graph.nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    }
    meta.nodes = String(nodes);
    meta.ops = [...ops].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}×${n}`).join(', ');
    if (this.graphs.length > 1) meta.subgraphs = String(this.graphs.length - 1);
    meta.inputs = this.graphInputs(this.main).map((v) => `${v.name} ${formatShape(v.shape)}`).join('; ');
    meta.outputs = this.main.outputs.map((v) => `${v.name} ${formatShape(v.shape)}`).join('; ');
    for (const [k, v] of m.metadataProps) meta[`meta.${k}`] = v;
    this.warnAboutMlAttributes();
    if (m.functionCount) {
      meta.functions = String(m.functionCount);
      this.warnings.push(`the model defines ${m.functionCount} local function(s); constants inside function bodies are not counted`);
    }
    if (m.trainingInfoCount) this.warnings.push('the model carries training_info graphs; their initializers are not counted');
    if (m.irVersion !== null && m.irVersion > 11) this.warnings.push(`IR version ${m.irVersion} is newer than Parsimony knows (11)`);
    return meta;
  }
}

function formatShape(shape: Shape | null): string {
  return shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '[?]';
}

/** The node's attributes as JSON-safe data (tensors and graphs summarised). */
function nodeConfig(node: NodeRecord): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const a of node.attributes) {
    if (a.type === ATTR_GRAPH || a.type === ATTR_GRAPHS) config[a.name] = `(graph${a.graphs.length > 1 ? 's' : ''})`;
    else if (a.t) config[a.name] = `(tensor [${a.t.dims.join(', ')}])`;
    else if (a.intsCount) config[a.name] = a.intsCount <= 64 ? a.ints : `(${a.intsCount} ints)`;
    else if (a.floatsCount) config[a.name] = a.floatsCount <= 64 ? a.floats : `(${a.floatsCount} floats)`;
    else if (a.strings.length) config[a.name] = a.strings.slice(0, 64);
    else if (a.s !== undefined) config[a.name] = a.s;
    else if (a.f !== undefined) config[a.name] = a.f;
    else if (a.i !== undefined) config[a.name] = a.i;
  }
  if (node.domain) config.domain = node.domain;
  return config;
}

/** (q - zeroPoint) * scale, per tensor or along `axis`. */
function dequantize(q: Float32Array, dims: number[], scale: Float32Array, zero: Float32Array | null, axis: number): Float32Array {
  const out = new Float32Array(q.length);
  if (scale.length <= 1) {
    const s = scale[0] ?? 1;
    const z = zero?.[0] ?? 0;
    for (let i = 0; i < q.length; i++) out[i] = (q[i]! - z) * s;
    return out;
  }
  const a = axis < 0 ? axis + dims.length : axis;
  const channels = dims[a] ?? 0;
  if (channels !== scale.length) return q; // blocked quantization: leave the stored values
  let inner = 1;
  for (let i = a + 1; i < dims.length; i++) inner *= dims[i]!;
  for (let i = 0; i < q.length; i++) {
    const c = Math.floor(i / inner) % channels;
    out[i] = (q[i]! - (zero?.[c] ?? 0)) * scale[c]!;
  }
  return out;
}
