import { ModelFormatError } from '../../errors';
import { resolveSibling, type FileAccess } from '../../io/fileAccess';
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
  type TensorData,
  type TensorRecord,
  type ValueInfo,
} from './proto';
import { constantTensor, isConstantNode, listGraphs, nodeNames, tensorNames, type GraphEntry } from './naming';
import { propagateShapes, type GraphFacts, type IntValues, type Shape, type ShapeState } from './shapes';
import { checkTensorData, decodeSpan, readSpan, spanOf, type ByteSpan } from './tensorData';

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
  constantNode: NodeRecord | undefined;
  sparse: SparseRecord | undefined;
  /** Set for a ConstantOfShape output: no stored bytes, every element the node's fill value. */
  generatedBy: NodeRecord | undefined;
  dtype: OnnxDtype;
  count: number;
  /** Bytes its data takes in the file (or its external file), once checkExternalFiles() has checked it. */
  storedBytes: number;
  /** Its name in the model's tensor list (naming.ts), once buildLayers() has named the weights. */
  displayName: string;
  /** The graph of the assigned consumer node (the layer), or null, and the node's position in it. */
  ownerGraph: GraphRecord | null;
  ownerIndex: number;
  uses: { node: NodeRecord; index: number }[];
  /** Joined its owner through the Add that follows it (a bias). */
  viaBiasAdd: boolean;
  /** Why it is not a learned parameter (null: it is one); undefined until nonParameterRole() decides. */
  role: string | null | undefined;
}

/** A node, by its graph and position in the graph's node list. */
interface NodeRef {
  graph: GraphRecord;
  index: number;
}

/**
 * Lookups by value name in one graph, built once per graph when first asked
 * for: the reader asks them for every weight and node, and a scan of the graph
 * per question made opening a model quadratic in its size.
 */
interface GraphIndex {
  /** Position of the node that outputs each (non-empty) name. */
  producers: Map<string, number>;
  /**
   * Position of the first node that reads each (non-empty) name, explicitly or
   * through its subgraphs; and, for the names more than one node reads, all of
   * them in graph order (most names have one reader: no list for them).
   */
  firstReader: Map<string, number>;
  readers: Map<string, number[]>;
}

class OnnxBuilder {
  private readonly weights: Weight[] = [];
  /**
   * The first weight of each name in each graph, and in any graph (in the order
   * of `weights`): built when first needed (ConstantOfShape shapes, QDQ scales),
   * then kept up to date.
   */
  private weightIndex: { byGraph: Map<GraphRecord, Map<string, Weight>>; byName: Map<string, Weight> } | null = null;
  private readonly graphs: GraphEntry[] = [];
  private readonly freeVarCache = new Map<GraphRecord, Set<string>>();
  private readonly indexes = new Map<GraphRecord, GraphIndex>();
  private readonly warnings: string[] = [];
  private readonly files: string[];
  private readonly externalSizes = new Map<string, number>();

  constructor(
    private readonly ctx: OpenContext,
    private readonly buffer: ProtoBuffer,
    private readonly model: ModelRecord,
    private readonly main: GraphRecord,
  ) {
    this.files = [ctx.path];
  }

  async build(): Promise<ModelDoc> {
    const graphs = listGraphs(this.main);
    for (let i = 0; i < graphs.length; i++) this.graphs.push(graphs[i]!);
    for (let i = 0; i < graphs.length; i++) this.collectWeights(graphs[i]!.graph, graphs[i]!.path);
    await this.checkExternalFiles();
    // Generated weights are float fills, so they never add to the small integer constants.
    const ints = await this.smallIntValues();
    this.collectGeneratedWeights(ints);
    for (let i = 0; i < this.weights.length; i++) this.assignOwner(this.weights[i]!);

    const states = this.propagate(ints);
    const layers = this.buildLayers(states);
    const inputs = this.graphInputs(this.main);
    return {
      file: this.ctx.path,
      format: 'onnx',
      files: this.files,
      layers,
      metadata: this.metadata(),
      warnings: this.warnings,
      inputShape: inputs[0]?.shape ?? null,
      raw: {
        irVersion: this.model.irVersion,
        opsets: this.model.opsets,
        graphName: this.main.name,
        inputs: inputs.map((v) => ({ name: v.name, shape: v.shape })),
        outputs: this.main.outputs.map((v) => ({ name: v.name, shape: v.shape })),
      },
    };
  }

  // -- graphs and weights -------------------------------------------------

  private collectWeights(graph: GraphRecord, path: string): void {
    for (let i = 0; i < graph.initializers.length; i++) {
      const t = graph.initializers[i]!;
      this.addWeight(graph, path, t.name, t, 'initializer', undefined, undefined);
    }
    for (let i = 0; i < graph.sparseInitializers.length; i++) {
      const s = graph.sparseInitializers[i]!;
      if (!s.values) throw new ModelFormatError('not-a-model', 'a sparse initializer has no values tensor', { offset: s.at });
      this.addWeight(graph, path, s.values.name, s.values, 'sparse initializer', undefined, s);
    }
    for (let i = 0; i < graph.nodes.length; i++) {
      const node = graph.nodes[i]!;
      if (!isConstantNode(node)) continue;
      const out = node.outputs[0] ?? '';
      for (let k = 0; k < node.attributes.length; k++) {
        const a = node.attributes[k]!;
        const record = constantTensor(a, out);
        if (record) this.addWeight(graph, path, out, record, 'Constant', node, a.name === 'sparse_value' ? a.sparse : undefined);
      }
    }
  }

  /** Checks a stored tensor's type and shape, and adds it to the weights. */
  private addWeight(
    graph: GraphRecord,
    path: string,
    valueName: string,
    record: TensorRecord,
    source: WeightSource,
    constantNode: NodeRecord | undefined,
    sparse: SparseRecord | undefined,
  ): void {
    const dtype = onnxDtype(record.dataType);
    const label = valueName || record.name || '(unnamed)';
    if (!dtype) {
      throw new ModelFormatError('unsupported-dtype', `tensor '${label}' has ONNX data type ${record.dataType}, which Parsimony doesn't know`, {
        offset: record.at,
      });
    }
    for (let i = 0; i < record.dims.length; i++) {
      if (record.dims[i]! < 0) {
        throw new ModelFormatError('not-a-model', `tensor '${label}' has a negative dimension [${record.dims.join(', ')}]`, { offset: record.at });
      }
    }
    const count = elementCount(record.dims);
    if (!Number.isFinite(count) || count > this.ctx.limits.maxTensorElements) {
      throw new ModelFormatError('too-large', `tensor '${label}' has too many elements [${record.dims.join(', ')}]`, { offset: record.at });
    }
    if (record.hasSegment) this.warnings.push(`tensor '${label}' is stored in segments, which Parsimony reads as one piece`);
    this.pushWeight({
      valueName, record, graph, graphPath: path, source, constantNode, sparse, generatedBy: undefined, dtype, count, storedBytes: 0,
      displayName: '', ownerGraph: null, ownerIndex: -1, uses: [], viaBiasAdd: false, role: undefined,
    });
  }

  private pushWeight(w: Weight): void {
    this.weights.push(w);
    if (this.weightIndex) indexWeight(this.weightIndex, w);
  }

  /** The first weight named `name` in `graph` (in the order of `weights`), or in any graph when `graph` is null. */
  private firstWeight(name: string, graph: GraphRecord | null): Weight | undefined {
    if (!this.weightIndex) {
      this.weightIndex = { byGraph: new Map(), byName: new Map() };
      for (let i = 0; i < this.weights.length; i++) indexWeight(this.weightIndex, this.weights[i]!);
    }
    return graph ? this.weightIndex.byGraph.get(graph)?.get(name) : this.weightIndex.byName.get(name);
  }

  /** ConstantOfShape outputs with constant shapes, in every graph (after the stored weights are checked, whose values give the shapes). */
  private collectGeneratedWeights(ints: Map<Weight, IntValues>): void {
    const parentOf = new Map<GraphRecord, GraphRecord | null>();
    for (let i = 0; i < this.graphs.length; i++) parentOf.set(this.graphs[i]!.graph, this.graphs[i]!.parent);
    let elements = 0;
    let tensors = 0;
    for (let i = 0; i < this.graphs.length; i++) {
      const { graph, path } = this.graphs[i]!;
      // The values of the stored integer constant `name` as this graph sees it: its own, else its parents' (unless it defines the name itself).
      const intValues = (name: string): IntValues | null => {
        for (let g: GraphRecord | null | undefined = graph; g; g = parentOf.get(g)) {
          const w = this.firstWeight(name, g);
          // Generated weights are listed after every stored one: a generated first weight means no stored one has the name.
          if (w && !w.generatedBy) return ints.get(w) ?? null;
          if (this.index(g).producers.has(name) || this.inputNames(g).has(name)) return null;
        }
        return null;
      };
      const generated = generatedConstants(graph, intValues);
      for (let k = 0; k < generated.length; k++) {
        const c = generated[k]!;
        const dtype = onnxDtype(c.dataType);
        const count = elementCount(c.dims);
        // Integer fills are paddings and index buffers (silero-vad v5 pads its STFT with int64 zeros), not weights.
        if (!dtype || !isFloatDtype(dtype.name) || !Number.isFinite(count) || count > this.ctx.limits.maxTensorElements) continue;
        const record: TensorRecord = { name: c.valueName, dims: c.dims, dataType: c.dataType, data: { kind: 'none' }, at: 0, hasSegment: false };
        this.pushWeight({
          valueName: c.valueName, record, graph, graphPath: path, source: 'ConstantOfShape', constantNode: undefined, sparse: undefined,
          generatedBy: c.node, dtype, count, storedBytes: 0, displayName: '', ownerGraph: null, ownerIndex: -1, uses: [], viaBiasAdd: false, role: undefined,
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
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
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
      w.storedBytes = checkTensorData(w.record, w.dtype, w.count, size, file);
    }
  }

  // -- ownership ------------------------------------------------------------

  private assignOwner(w: Weight): void {
    // Record every direct use (by name, in the weight's own graph and the subgraphs that see it).
    this.collectUses(w, w.graph);
    const first = this.firstConsumer(w.graph, w.valueName, 0);
    if (!first) return;
    w.ownerGraph = first.graph;
    w.ownerIndex = first.index;
    // A bias added right after a MatMul/Conv joins it.
    const node = first.graph.nodes[first.index]!;
    if (node.opType === 'Add' && node.inputs.length === 2) {
      const other = node.inputs[0] === w.valueName ? node.inputs[1] : node.inputs[0];
      const index = this.index(first.graph);
      const producer = other ? index.producers.get(other) : undefined;
      if (producer !== undefined && BIAS_HOSTS.has(first.graph.nodes[producer]!.opType) && readerCount(index, other!) === 1) {
        w.ownerIndex = producer;
        w.viaBiasAdd = true;
      }
    }
  }

  private collectUses(w: Weight, graph: GraphRecord): void {
    const name = w.valueName;
    // '' (an unnamed tensor) is not indexed, as it also stands for an absent optional input: every node is looked at.
    if (!name) {
      for (let i = 0; i < graph.nodes.length; i++) this.collectUsesBy(w, graph.nodes[i]!);
      return;
    }
    const index = this.index(graph);
    const readers = index.readers.get(name);
    if (readers) {
      for (let r = 0; r < readers.length; r++) this.collectUsesBy(w, graph.nodes[readers[r]!]!);
    } else {
      const first = index.firstReader.get(name);
      if (first !== undefined) this.collectUsesBy(w, graph.nodes[first]!);
    }
  }

  /** The uses of the weight by one node: its inputs, and the subgraphs that capture the name. */
  private collectUsesBy(w: Weight, node: NodeRecord): void {
    const name = w.valueName;
    for (let index = 0; index < node.inputs.length; index++) {
      if (node.inputs[index] !== name) continue;
      // Most weights have one use: a one-element array, where push would make room for 16.
      if (w.uses.length === 0) w.uses = [{ node, index }];
      else w.uses.push({ node, index });
    }
    for (let k = 0; k < node.attributes.length; k++) {
      const a = node.attributes[k]!;
      if (a.g && this.freeVars(a.g).has(name)) this.collectUses(w, a.g);
      for (let j = 0; j < a.graphs.length; j++) if (this.freeVars(a.graphs[j]!).has(name)) this.collectUses(w, a.graphs[j]!);
    }
  }

  /** The first node (in graph order, descending into subgraphs) that reads `name`, looking through pass-through ops. */
  private firstConsumer(graph: GraphRecord, name: string, hops: number): NodeRef | null {
    const index = this.index(graph).firstReader.get(name);
    if (index === undefined) return null;
    const node = graph.nodes[index]!;
    if (node.inputs.includes(name)) {
      const through = PASS_THROUGH.get(node.opType);
      if (through && (through === 'any' || node.inputs[0] === name) && hops < 16 && node.outputs[0]) {
        return this.firstConsumer(graph, node.outputs[0], hops + 1) ?? { graph, index };
      }
      return { graph, index };
    }
    // Used implicitly by a subgraph of this node (If/Loop/Scan capture outer values).
    for (let k = 0; k < node.attributes.length; k++) {
      const a = node.attributes[k]!;
      const subgraphs = a.g ? [a.g, ...a.graphs] : a.graphs;
      for (let j = 0; j < subgraphs.length; j++) {
        const sub = subgraphs[j]!;
        if (!this.freeVars(sub).has(name)) continue;
        const inner = this.firstConsumer(sub, name, hops);
        if (inner) return inner;
      }
    }
    return { graph, index };
  }

  /** The graph's producer and consumer lookups, built on first use. */
  private index(graph: GraphRecord): GraphIndex {
    let index = this.indexes.get(graph);
    if (index) return index;
    const producers = new Map<string, number>();
    const firstReader = new Map<string, number>();
    const readers = new Map<string, number[]>();
    const read = (name: string, i: number): void => {
      if (!name) return;
      const first = firstReader.get(name);
      if (first === undefined) firstReader.set(name, i);
      else if (first !== i) {
        const list = readers.get(name);
        if (!list) readers.set(name, [first, i]);
        else if (list[list.length - 1] !== i) list.push(i);
      }
    };
    for (let i = 0; i < graph.nodes.length; i++) {
      const node = graph.nodes[i]!;
      for (let k = 0; k < node.inputs.length; k++) read(node.inputs[k]!, i);
      for (let k = 0; k < node.attributes.length; k++) {
        const a = node.attributes[k]!;
        if (a.g) for (const name of this.freeVars(a.g)) read(name, i);
        for (let j = 0; j < a.graphs.length; j++) for (const name of this.freeVars(a.graphs[j]!)) read(name, i);
      }
      for (let k = 0; k < node.outputs.length; k++) if (node.outputs[k]) producers.set(node.outputs[k]!, i);
    }
    index = { producers, firstReader, readers };
    this.indexes.set(graph, index);
    return index;
  }

  /** Names a (sub)graph reads but doesn't define: the outer values it captures. */
  private freeVars(graph: GraphRecord): Set<string> {
    return freeVariables(graph, this.freeVarCache);
  }

  // -- roles ----------------------------------------------------------------

  /** Why a tensor is not a learned parameter, or null when it is one. */
  private nonParameterRole(w: Weight): string | null {
    // Asked for every weight from several places (layers, inputs of every node, tensor rows): decided once.
    if (w.role === undefined) w.role = this.decideRole(w);
    return w.role;
  }

  private decideRole(w: Weight): string | null {
    for (let i = 0; i < w.uses.length; i++) {
      if (isQuantizationParameterUse(w.uses[i]!.node.opType, w.uses[i]!.index)) return 'quantization scale/zero point';
    }
    if (isFloatDtype(w.dtype.name)) return null;
    for (let i = 0; i < w.uses.length; i++) {
      if (isQuantizedWeightUse(w.uses[i]!.node.opType, w.uses[i]!.index)) return null;
    }
    return w.dtype.name === 'string' ? 'string constant' : w.dtype.name === 'bool' ? 'boolean constant' : 'integer constant (shape/index)';
  }

  // -- shapes -----------------------------------------------------------------

  private readonly inputsOf = new Map<GraphRecord, ValueInfo[]>();
  private readonly inputNamesOf = new Map<GraphRecord, Set<string>>();

  /** The graph's inputs that are not initializers (old exporters list initializers as inputs too). */
  private graphInputs(graph: GraphRecord): ValueInfo[] {
    let inputs = this.inputsOf.get(graph);
    if (!inputs) {
      // A set of the inputs' names (usually a few), not of the initializers' (often thousands).
      const inputNames = this.inputNames(graph);
      const initialized = new Set<string>();
      for (let i = 0; i < graph.initializers.length; i++) {
        if (inputNames.has(graph.initializers[i]!.name)) initialized.add(graph.initializers[i]!.name);
      }
      inputs = graph.inputs.filter((v) => !initialized.has(v.name));
      this.inputsOf.set(graph, inputs);
    }
    return inputs;
  }

  /** Names of the graph's inputs (initializers listed as inputs included). */
  private inputNames(graph: GraphRecord): Set<string> {
    let names = this.inputNamesOf.get(graph);
    if (!names) {
      names = new Set();
      for (let i = 0; i < graph.inputs.length; i++) names.add(graph.inputs[i]!.name);
      this.inputNamesOf.set(graph, names);
    }
    return names;
  }

  /** Shape propagation for every graph; a subgraph sees its parent's shapes. */
  private propagate(intValues: Map<Weight, IntValues>): Map<GraphRecord, ShapeState> {
    const states = new Map<GraphRecord, ShapeState>();
    const weightsByGraph = new Map<GraphRecord, Weight[]>();
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      let list = weightsByGraph.get(w.graph);
      if (!list) weightsByGraph.set(w.graph, (list = []));
      list.push(w);
    }
    for (let i = 0; i < this.graphs.length; i++) {
      const { graph, parent } = this.graphs[i]!;
      const base = parent ? states.get(parent) : undefined;
      const facts: GraphFacts = {
        shapes: new Map(base?.shapes),
        values: new Map(base?.values),
        declared: new Map(),
      };
      for (let k = 0; k < graph.inputs.length; k++) {
        const v = graph.inputs[k]!;
        if (v.shape) facts.shapes.set(v.name, v.shape);
      }
      for (let k = 0; k < graph.valueInfo.length; k++) {
        const v = graph.valueInfo[k]!;
        if (v.shape) facts.declared.set(v.name, v.shape);
      }
      for (let k = 0; k < graph.outputs.length; k++) {
        const v = graph.outputs[k]!;
        if (v.shape) facts.declared.set(v.name, v.shape);
      }
      const weights = weightsByGraph.get(graph) ?? [];
      for (let k = 0; k < weights.length; k++) {
        const w = weights[k]!;
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
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      if (w.count > 64 || w.sparse || (w.dtype.name !== 'int64' && w.dtype.name !== 'int32')) continue;
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
    // The weights each node owns, per graph and by node position.
    const owned = new Map<GraphRecord, (Weight[] | undefined)[]>();
    const unused: Weight[] = [];
    const constants: Weight[] = [];
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      if (!w.ownerGraph) {
        (this.nonParameterRole(w) ? constants : unused).push(w);
        continue;
      }
      let byNode = owned.get(w.ownerGraph);
      if (!byNode) owned.set(w.ownerGraph, (byNode = new Array<Weight[] | undefined>(w.ownerGraph.nodes.length)));
      const list = byNode[w.ownerIndex];
      // Most nodes own one or two weights: arrays of their length, where push would make room for 16.
      byNode[w.ownerIndex] = !list ? [w] : list.length < 8 ? list.concat(w) : (list.push(w), list);
    }

    const names = nodeNames(this.graphs);
    const weightNames = tensorNames(this.weights);
    for (let i = 0; i < this.weights.length; i++) this.weights[i]!.displayName = weightNames[i]!;
    const layers: LayerInfo[] = [];
    const info = (w: Weight): TensorInfo => this.tensorInfo(w, w.displayName);
    const visit = (graph: GraphRecord, graphPath: string): void => {
      const state = states.get(graph)!;
      const nodes = graph.nodes;
      const ownedByNode = owned.get(graph);
      const nodeName = names.get(graph)!;
      // Layers: the nodes that own a parameter, and compute ops even without one.
      const isLayer = new Array<boolean>(nodes.length);
      for (let i = 0; i < nodes.length; i++) isLayer[i] = COMPUTE_OPS.has(nodes[i]!.opType) || this.ownsParameter(ownedByNode?.[i]);
      const feeding = this.feedingLayers(graph, isLayer, nodeName);
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i]!;
        const mine = ownedByNode?.[i];
        if (isLayer[i]) {
          const tensors = mine ? mine.map(info) : [];
          let bias: Weight | undefined;
          for (let k = 0; mine && k < mine.length && !bias; k++) if (mine[k]!.viaBiasAdd) bias = mine[k];
          const outShape = node.outputs[0] ? (state.shapes.get(node.outputs[0]) ?? null) : null;
          const subgraphNote = graphPath ? `inside subgraph ${graphPath}` : undefined;
          const biasNote = bias ? `'${bias.displayName}' is added by the Add node that follows` : undefined;
          // Array literals: push would make room for 16 notes in each layer.
          const notes = subgraphNote && biasNote ? [subgraphNote, biasNote] : subgraphNote ? [subgraphNote] : biasNote ? [biasNote] : undefined;
          const layer: LayerInfo = {
            name: nodeName[i]!,
            type: node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType,
            tensors,
            outputShape: outShape,
            macs: nodeMacs(node, state),
            inputs: feeding[i] ?? [],
            config: nodeConfig(node),
          };
          if (notes) layer.notes = notes;
          layers.push(layer);
        } else if (mine) {
          for (let k = 0; k < mine.length; k++) constants.push(mine[k]!);
        }
        for (let k = 0; k < node.attributes.length; k++) {
          const a = node.attributes[k]!;
          if (!a.g && a.graphs.length === 0) continue;
          const prefix = `${graphPath ? `${graphPath}/` : ''}${nodeName[i]}/${a.name}`;
          if (a.g) visit(a.g, prefix);
          for (let j = 0; j < a.graphs.length; j++) visit(a.graphs[j]!, `${prefix}[${j}]`);
        }
      }
    };
    visit(this.main, '');

    if (unused.length) {
      layers.push({
        name: '(unused initializers)',
        type: 'Initializer',
        tensors: unused.map(info),
        outputShape: null,
        macs: 0,
        notes: ['initializers no node reads (graph outputs or leftovers); they still take space in the file'],
      });
    }
    if (constants.length) {
      layers.push({
        name: '(constants)',
        type: 'Constants',
        tensors: constants.map(info),
        outputShape: null,
        macs: 0,
        notes: ['non-parameter constants (shapes, axes, indices, quantization scales) of nodes that are not layers'],
      });
    }
    return layers;
  }

  /** Whether any of a node's weights is a learned parameter. */
  private ownsParameter(weights: Weight[] | undefined): boolean {
    if (!weights) return false;
    for (let i = 0; i < weights.length; i++) if (this.nonParameterRole(weights[i]!) === null) return true;
    return false;
  }

  /**
   * For each layer node (by position), the layers whose outputs reach it through
   * non-layer nodes (graph order is topological); at most 16 are gathered, plus
   * what the input that reaches 16 brings. Undefined where nothing reaches.
   */
  private feedingLayers(graph: GraphRecord, isLayer: readonly boolean[], nodeName: readonly string[]): (string[] | undefined)[] {
    const producers = this.index(graph).producers;
    const reach = new Array<string[] | undefined>(graph.nodes.length);
    for (let i = 0; i < graph.nodes.length; i++) {
      const node = graph.nodes[i]!;
      // Few names each (at most about 16): a list with includes() beats a Set per node.
      let found: string[] | undefined;
      for (let k = 0; k < node.inputs.length; k++) {
        const p = producers.get(node.inputs[k]!);
        if (p === undefined || p === i) continue;
        if (isLayer[p]) {
          const name = nodeName[p]!;
          if (!found) found = [name];
          else if (!found.includes(name)) found.push(name);
        } else {
          const through = reach[p];
          if (!through) continue;
          if (!found) found = through.slice();
          else for (let j = 0; j < through.length; j++) if (!found.includes(through[j]!)) found.push(through[j]!);
        }
        if (found.length >= 16) break;
      }
      reach[i] = found;
    }
    return reach;
  }

  private tensorInfo(w: Weight, name: string): TensorInfo {
    const role = this.nonParameterRole(w);
    if (w.generatedBy) {
      const detail: Record<string, unknown> = { source: w.source, node: w.generatedBy.name || null, valuesUnavailable: 'generated by ConstantOfShape when the model runs; the file stores no values' };
      if (w.graphPath) detail.graph = w.graphPath;
      if (role) detail.role = role;
      return { name, shape: w.record.dims.slice(), dtype: w.dtype.name, count: w.count, bytes: 0, memoryBytes: storageBytes(w.dtype, w.count), isParameter: role === null, detail };
    }
    const data = w.record.data;
    let externalFile: string | undefined;
    if (data.kind === 'external') externalFile = resolveSibling(this.ctx.path, data.location);
    const bytes = w.storedBytes;
    const memoryBytes = w.dtype.name === 'string' ? bytes : storageBytes(w.dtype, w.count);
    const detail: Record<string, unknown> = { source: w.source };
    if (w.graphPath) detail.graph = w.graphPath;
    if (role) detail.role = role;
    if (data.kind === 'field') detail.storage = 'typed field';
    if (data.kind === 'external') detail.externalData = { location: data.location, offset: data.offset, length: bytes };
    if (w.sparse) {
      detail.sparse = { denseShape: w.sparse.dims, indices: w.sparse.indices?.name ?? null, indicesShape: w.sparse.indices?.dims ?? null };
    }
    let dq: NodeRecord | undefined;
    for (let i = 0; i < w.uses.length && !dq; i++) {
      if (w.uses[i]!.node.opType === 'DequantizeLinear' && w.uses[i]!.index === 0) dq = w.uses[i]!.node;
    }
    let quant: { scale: Weight | undefined; zeroPoint: Weight | undefined; axis: number } | null = null;
    if (dq) {
      const scale = this.weightNamed(dq.inputs[1], w.graph);
      const zeroPoint = this.weightNamed(dq.inputs[2], w.graph);
      const axisAttr = dq.attributes.find((a) => a.name === 'axis');
      quant = { scale, zeroPoint, axis: axisAttr?.i ?? 1 };
      detail.quantization = {
        scheme: 'QDQ',
        scale: dq.inputs[1] ?? null,
        zeroPoint: dq.inputs[2] || null,
        axis: scale && scale.count > 1 ? quant.axis : null,
        scaleValues: scale?.count ?? null,
        note: 'onnxruntime keeps the stored integers; read() returns dequantized values',
      };
    }
    // The span read() reads, which is also where the bytes are (location) when they are stored as they are.
    const span = spanOf(data, this.ctx.path, externalFile, w.count, w.dtype);
    const location = span && (data.kind === 'raw' || data.kind === 'external') ? span : undefined;
    let read: (() => Promise<Float32Array>) | undefined;
    if (span && w.dtype.decodable) {
      const readRaw = spanReader(this.ctx.fs, data, w.dtype, w.count, span);
      const readScale = quant?.scale ? this.reader(quant.scale) : undefined;
      const readZero = quant?.zeroPoint ? this.reader(quant.zeroPoint) : undefined;
      read = readScale ? dequantizingReader(readRaw, w.record.dims, readScale, readZero, quant!.axis) : readRaw;
    }
    const shape = w.record.dims.slice();
    const dtype = w.dtype.name;
    const isParameter = role === null;
    // The usual tensor (stored bytes, decodable) in one literal: properties added afterwards take a second block of memory.
    if (location && read) return { name, shape, dtype, count: w.count, bytes, memoryBytes, isParameter, detail, location, read };
    const info: TensorInfo = { name, shape, dtype, count: w.count, bytes, memoryBytes, isParameter, detail };
    if (location) info.location = location;
    if (read) info.read = read;
    return info;
  }

  private reader(w: Weight): (() => Promise<Float32Array>) | undefined {
    const data = w.record.data;
    const externalFile = data.kind === 'external' ? resolveSibling(this.ctx.path, data.location) : undefined;
    const span = spanOf(data, this.ctx.path, externalFile, w.count, w.dtype);
    if (!span || !w.dtype.decodable) return undefined;
    return spanReader(this.ctx.fs, data, w.dtype, w.count, span);
  }

  /** The weight named `name` in `graph`, else in any graph (the first in reading order). */
  private weightNamed(name: string | undefined, graph: GraphRecord): Weight | undefined {
    if (!name) return undefined;
    return this.firstWeight(name, graph) ?? this.firstWeight(name, null);
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
    for (let g = 0; g < this.graphs.length; g++) {
      const nodes = this.graphs[g]!.graph.nodes;
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i]!;
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
    for (let g = 0; g < this.graphs.length; g++) {
      const graphNodes = this.graphs[g]!.graph.nodes;
      nodes += graphNodes.length;
      for (let i = 0; i < graphNodes.length; i++) ops.set(graphNodes[i]!.opType, (ops.get(graphNodes[i]!.opType) ?? 0) + 1);
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
  for (let i = 0; i < node.attributes.length; i++) {
    const a = node.attributes[i]!;
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

/**
 * A tensor's read(): its span's bytes, decoded. Made here rather than inside
 * tensorInfo() so that each closure holds these five values only: one is kept
 * per tensor for as long as the model is open.
 */
function spanReader(fs: FileAccess, data: TensorData, dtype: OnnxDtype, count: number, span: ByteSpan): () => Promise<Float32Array> {
  return async () => decodeSpan(data, dtype, count, await readSpan(fs, span), span.offset);
}

/** read() of a QDQ-quantized tensor: the stored integers, dequantized with its scale and zero point. */
function dequantizingReader(
  readRaw: () => Promise<Float32Array>,
  dims: number[],
  readScale: () => Promise<Float32Array>,
  readZero: (() => Promise<Float32Array>) | undefined,
  axis: number,
): () => Promise<Float32Array> {
  return async () => dequantize(await readRaw(), dims, await readScale(), readZero ? await readZero() : null, axis);
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

/** How many nodes read `name`. */
function readerCount(index: GraphIndex, name: string): number {
  return index.readers.get(name)?.length ?? (index.firstReader.has(name) ? 1 : 0);
}

/** Adds a weight to the index unless an earlier one has its name (in its graph; in any graph). */
function indexWeight(index: { byGraph: Map<GraphRecord, Map<string, Weight>>; byName: Map<string, Weight> }, w: Weight): void {
  let inGraph = index.byGraph.get(w.graph);
  if (!inGraph) index.byGraph.set(w.graph, (inGraph = new Map()));
  if (!inGraph.has(w.valueName)) inGraph.set(w.valueName, w);
  if (!index.byName.has(w.valueName)) index.byName.set(w.valueName, w);
}

/** Whether input `index` of an `op` node is a quantization scale or zero point. */
function isQuantizationParameterUse(op: string, index: number): boolean {
  if (op === 'QuantizeLinear' || op === 'DequantizeLinear') return index === 1 || index === 2;
  if (op === 'QLinearConv' || op === 'QLinearMatMul') return index === 1 || index === 2 || (index >= 4 && index <= 7);
  if (op === 'ConvInteger' || op === 'MatMulInteger') return index === 2 || index === 3;
  return false;
}

/** Whether input `index` of an `op` node is a quantized (integer) weight. */
function isQuantizedWeightUse(op: string, index: number): boolean {
  if (op === 'DequantizeLinear') return index === 0;
  if (op === 'QLinearConv' || op === 'QLinearMatMul') return index === 3 || index === 8;
  if (op === 'ConvInteger' || op === 'MatMulInteger') return index === 1;
  return false;
}
