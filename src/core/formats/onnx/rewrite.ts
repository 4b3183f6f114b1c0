import { ModelFormatError } from '../../errors';
import { readFileRange } from '../../io/decodeElements';
import { nodeFileAccess, resolveSibling } from '../../io/fileAccess';
import { ProtoBuffer, type ProtoField, type ProtoMessage } from '../../io/protobuf';
import { ProtoWriter } from '../../io/protobufWriter';
import { constantTensor, isConstantNode, listGraphs, nodeNames, tensorNames, type GraphEntry } from './naming';
import { freeVariables, parseModel, type GraphRecord, type ModelRecord, type NodeRecord, type TensorRecord } from './proto';

/**
 * The streaming half of the ONNX writer: an index that names graphs, nodes and
 * weights exactly as the reader (index.ts) does, and a rewrite that copies every
 * field of the source ModelProto byte for byte (unknown fields and field order
 * included) except what a plan says to change.
 */

// ---------------------------------------------------------------------------
// Index: the reader's names for nodes (layers) and weights (tensors).

export interface NodeEntry {
  node: NodeRecord;
  graph: GraphRecord;
  index: number;
}

export interface WeightEntry {
  displayName: string;
  valueName: string;
  graph: GraphRecord;
  graphPath: string;
  source: 'initializer' | 'sparse initializer' | 'Constant';
  record: TensorRecord;
  /** Ordinal among graph.initializers (initializers only). */
  initIndex?: number;
  /** The Constant node, its ordinal and attribute (value, sparse_value, value_float…) for Constant weights. */
  node?: NodeRecord;
  nodeIndex?: number;
  attrName?: string;
}

export class OnnxIndex {
  readonly model: ModelRecord;
  readonly main: GraphRecord;
  readonly graphs: GraphEntry[] = [];
  readonly nodes = new Map<string, NodeEntry>();
  readonly weights: WeightEntry[] = [];
  readonly byDisplay = new Map<string, WeightEntry>();
  /** Every value and node name in any graph (new names must avoid them). */
  readonly names = new Set<string>();

  constructor(
    readonly file: string,
    readonly bytes: Uint8Array,
    maxDepth = 100,
  ) {
    this.model = parseModel(new ProtoBuffer(bytes, { maxDepth }).root());
    if (!this.model.graph) throw new ModelFormatError('not-a-model', 'the protobuf has no ONNX graph', { file });
    this.main = this.model.graph;
    this.graphs.push(...listGraphs(this.main));
    for (const { graph } of this.graphs) this.collectNames(graph);
    this.nameNodes();
    for (const g of this.graphs) this.collectWeights(g);
    this.nameWeights();
  }

  /** The default-domain opset version (0 when the model imports none). */
  get opset(): number {
    return this.model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  }

  get irVersion(): number {
    return this.model.irVersion ?? 0;
  }

  /** Nodes of `graph` reading `name` directly, and nodes whose subgraphs capture it. */
  uses(graph: GraphRecord, name: string): { node: NodeRecord; index: number; input: number }[] {
    const out: { node: NodeRecord; index: number; input: number }[] = [];
    graph.nodes.forEach((node, index) => {
      node.inputs.forEach((n, input) => {
        if (n === name) out.push({ node, index, input });
      });
      for (const a of node.attributes) {
        for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) {
          if (this.freeVars(sub).has(name)) out.push({ node, index, input: -1 });
        }
      }
    });
    return out;
  }

  isGraphOutput(graph: GraphRecord, name: string): boolean {
    return graph.outputs.some((o) => o.name === name);
  }

  private readonly freeVarCache = new Map<GraphRecord, Set<string>>();
  freeVars(graph: GraphRecord): Set<string> {
    return freeVariables(graph, this.freeVarCache);
  }

  private collectNames(graph: GraphRecord): void {
    for (const t of graph.initializers) this.names.add(t.name);
    for (const s of graph.sparseInitializers) if (s.values) this.names.add(s.values.name);
    for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) this.names.add(v.name);
    for (const node of graph.nodes) {
      for (const n of [...node.inputs, ...node.outputs]) this.names.add(n);
      if (node.name) this.names.add(node.name);
    }
  }

  /** The reader's layer names (naming.ts). */
  private nameNodes(): void {
    const names = nodeNames(this.graphs);
    for (const { graph } of this.graphs) graph.nodes.forEach((node, index) => this.nodes.set(names.get(graph)![index]!, { node, graph, index }));
  }

  private collectWeights({ graph, path }: GraphEntry): void {
    const base = { graph, graphPath: path, displayName: '' };
    graph.initializers.forEach((t, initIndex) => this.weights.push({ ...base, valueName: t.name, source: 'initializer', record: t, initIndex }));
    for (const s of graph.sparseInitializers) {
      if (s.values) this.weights.push({ ...base, valueName: s.values.name, source: 'sparse initializer', record: s.values });
    }
    graph.nodes.forEach((node, nodeIndex) => {
      if (!isConstantNode(node)) return;
      const out = node.outputs[0] ?? '';
      for (const a of node.attributes) {
        const record = constantTensor(a, out);
        if (record) this.weights.push({ ...base, valueName: out, source: 'Constant', record, node, nodeIndex, attrName: a.name });
      }
    });
  }

  /** The reader's tensor names (naming.ts). */
  private nameWeights(): void {
    const names = tensorNames(this.weights);
    this.weights.forEach((w, i) => {
      w.displayName = names[i]!;
      this.byDisplay.set(names[i]!, w);
    });
  }
}

// ---------------------------------------------------------------------------
// Plans.

/** Tensor bytes: in memory, or a range of a file to copy. */
export type DataSpec = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'file'; file: string; offset: number; length: number };

export interface TensorChange {
  name?: string;
  dataType?: number;
  dims?: number[];
  data?: DataSpec;
}

/** A new TensorProto. */
export interface NewTensor {
  name: string;
  dataType: number;
  dims: number[];
  data: DataSpec;
}

export interface NodeChange {
  /** Replace the node by these (empty: remove it). */
  replace?: ProtoWriter[];
  /** Rename outputs (old → new). */
  outputs?: Map<string, string>;
  /** Constant nodes: the new value (rewrites a `value` tensor, or replaces value_float(s)). */
  constantValue?: TensorChange & { dataType: number; dims: number[]; data: DataSpec };
  /** Nodes inserted right after this one. */
  after?: ProtoWriter[];
}

export class GraphPlan {
  readonly initializers = new Map<number, TensorChange | null>();
  readonly appendInitializers: NewTensor[] = [];
  readonly prependNodes: ProtoWriter[] = [];
  readonly nodes = new Map<number, NodeChange>();
  readonly dropInputs = new Set<string>();
  readonly addInputs: ProtoWriter[] = [];
  readonly dropValueInfo = new Set<string>();

  node(index: number): NodeChange {
    let c = this.nodes.get(index);
    if (!c) this.nodes.set(index, (c = {}));
    return c;
  }
}

export interface ExternalOutput {
  /** The location written into external_data (the data file's base name). */
  location: string;
  /** Tensors at least this large go to the data file. */
  threshold: number;
}

// ---------------------------------------------------------------------------
// Encoding helpers.

export const DT_FLOAT = 1;
export const DT_UINT8 = 2;
export const DT_INT8 = 3;
export const DT_FLOAT16 = 10;
export const DT_DOUBLE = 11;
export const DT_BFLOAT16 = 16;

export function encodeTensor(t: { name: string; dataType: number; dims: readonly number[]; raw: Uint8Array }): ProtoWriter {
  const w = new ProtoWriter();
  w.repeatedVarint(1, t.dims);
  w.varint(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

export type AttrValue = { int: number } | { ints: readonly number[] } | { float: number } | { string: string } | { tensor: ProtoWriter };

export function encodeAttribute(name: string, value: AttrValue): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name);
  if ('int' in value) w.varint(3, value.int).varint(20, 2);
  else if ('ints' in value) w.repeatedVarint(8, value.ints).varint(20, 7);
  else if ('float' in value) w.float(2, value.float).varint(20, 1);
  else if ('string' in value) w.string(4, value.string).varint(20, 3);
  else w.message(5, value.tensor).varint(20, 4);
  return w;
}

export function encodeNode(n: { name: string; opType: string; inputs: readonly string[]; outputs: readonly string[]; attributes?: ProtoWriter[]; domain?: string }): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, a);
  if (n.domain) w.string(7, n.domain);
  return w;
}

export function encodeValueInfo(name: string, elemType: number, dims: readonly number[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, new ProtoWriter().varint(1, d));
  const tensorType = new ProtoWriter().varint(1, elemType).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

// ---------------------------------------------------------------------------
// The rewrite.

/** Where tensors of the output are stored: collected data-file parts. */
export class ExternalSink {
  readonly parts: DataSpec[] = [];
  size = 0;

  constructor(readonly out: ExternalOutput) {}

  /** Appends data (aligned), returns its offset. */
  add(data: DataSpec, length: number): number {
    const align = length >= 4096 ? 4096 : 64;
    const pad = (align - (this.size % align)) % align;
    if (pad) {
      this.parts.push({ kind: 'bytes', bytes: new Uint8Array(pad) });
      this.size += pad;
    }
    const offset = this.size;
    this.parts.push(data);
    this.size += length;
    return offset;
  }

  async *stream(): AsyncIterable<Uint8Array> {
    const CHUNK = 64 << 20;
    for (const p of this.parts) {
      if (p.kind === 'bytes') {
        yield p.bytes;
        continue;
      }
      for (let o = 0; o < p.length; o += CHUNK) {
        yield await readFileRange(nodeFileAccess, p.file, p.offset + o, Math.min(CHUNK, p.length - o));
      }
    }
  }
}

const TENSOR_DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11, 13, 14]);

export class Rewriter {
  private readonly buf: ProtoBuffer;

  constructor(
    private readonly index: OnnxIndex,
    private readonly plans: Map<GraphRecord, GraphPlan>,
    private readonly metadata: [string, string],
    private readonly sink: ExternalSink | null,
  ) {
    this.buf = new ProtoBuffer(index.bytes, { maxDepth: 1000 });
  }

  async model(): Promise<ProtoWriter> {
    const msg = this.buf.root();
    const w = new ProtoWriter();
    const entries = this.index.model.metadataProps.length;
    let entry = 0;
    let metaDone = false;
    const [key, value] = this.metadata;
    const existing = this.index.model.metadataProps.find(([k]) => k === key);
    for (const f of msg.fields()) {
      if (f.field === 7) {
        w.message(7, await this.graph(msg.message(f), this.index.main));
      } else if (f.field === 14) {
        const [k, v] = this.index.model.metadataProps[entry++]!;
        if (k === key) {
          if (!metaDone) w.message(14, new ProtoWriter().string(1, key).string(2, `${v},${value}`));
          metaDone = true;
        } else w.raw(this.fieldBytes(f));
        if (entry === entries && !metaDone && !existing) {
          w.message(14, new ProtoWriter().string(1, key).string(2, value));
          metaDone = true;
        }
      } else w.raw(this.fieldBytes(f));
    }
    if (!metaDone) w.message(14, new ProtoWriter().string(1, key).string(2, value));
    return w;
  }

  private fieldBytes(f: ProtoField): Uint8Array {
    return this.buf.slice(f.keyAt, f.end);
  }

  private async graph(msg: ProtoMessage, graph: GraphRecord): Promise<ProtoWriter> {
    const plan = this.plans.get(graph) ?? new GraphPlan();
    const w = new ProtoWriter();
    let node = 0;
    let init = 0;
    let input = 0;
    let valueInfo = 0;
    let prepended = false;
    let appended = false;
    let inputsAdded = false;
    const prepend = () => {
      if (prepended) return;
      prepended = true;
      for (const n of plan.prependNodes) w.message(1, n);
    };
    const append = () => {
      if (appended) return;
      appended = true;
      for (const t of plan.appendInitializers) w.message(5, this.newTensor(t, true));
    };
    const addInputs = () => {
      if (inputsAdded) return;
      inputsAdded = true;
      for (const v of plan.addInputs) w.message(11, v);
    };
    for (const f of msg.fields()) {
      switch (f.field) {
        case 1: {
          prepend();
          const i = node++;
          const change = plan.nodes.get(i);
          const record = graph.nodes[i]!;
          if (change?.replace) for (const n of change.replace) w.message(1, n);
          else if (change || this.nodeNeedsRewrite(record)) w.message(1, await this.node(msg.message(f), record, change));
          else w.raw(this.fieldBytes(f));
          for (const n of change?.after ?? []) w.message(1, n);
          break;
        }
        case 5: {
          const i = init++;
          const change = plan.initializers.get(i);
          if (change !== null) {
            const out = await this.tensor(msg.message(f), graph.initializers[i]!, change, true);
            if (out) w.message(5, out);
            else w.raw(this.fieldBytes(f));
          }
          if (init === graph.initializers.length) append();
          break;
        }
        case 11: {
          const v = graph.inputs[input++]!;
          if (!plan.dropInputs.has(v.name)) w.raw(this.fieldBytes(f));
          if (input === graph.inputs.length) addInputs();
          break;
        }
        case 13: {
          const v = graph.valueInfo[valueInfo++]!;
          if (!plan.dropValueInfo.has(v.name)) w.raw(this.fieldBytes(f));
          break;
        }
        default:
          w.raw(this.fieldBytes(f));
      }
    }
    prepend();
    append();
    addInputs();
    return w;
  }

  /** Nodes with subgraphs are re-encoded (their graphs may change); Constants with external data are inlined. */
  private nodeNeedsRewrite(node: NodeRecord): boolean {
    return node.attributes.some((a) => a.g || a.graphs.length || (a.t && a.t.data.kind === 'external'));
  }

  private async node(msg: ProtoMessage, record: NodeRecord, change: NodeChange | undefined): Promise<ProtoWriter> {
    const w = new ProtoWriter();
    let attr = 0;
    let valueDone = false;
    for (const f of msg.fields()) {
      if (f.field === 2 && change?.outputs) {
        const name = msg.string(f);
        w.string(2, change.outputs.get(name) ?? name);
      } else if (f.field === 5) {
        const a = record.attributes[attr++]!;
        const am = msg.message(f);
        if (change?.constantValue && /^value(_float|_floats)?$/.test(a.name)) {
          if (valueDone) continue;
          valueDone = true;
          const cv = change.constantValue;
          if (a.name === 'value' && a.t) {
            w.message(5, await this.attribute(am, a.t, cv));
          } else {
            w.message(5, encodeAttribute('value', { tensor: this.newTensor({ name: '', ...cv }, false) }));
          }
        } else if (a.g || a.graphs.length || (a.t && a.t.data.kind === 'external')) {
          w.message(5, await this.attribute(am, a.t, undefined, a.g, a.graphs));
        } else w.raw(this.fieldBytes(f));
      } else w.raw(this.fieldBytes(f));
    }
    return w;
  }

  private async attribute(msg: ProtoMessage, t: TensorRecord | undefined, change: TensorChange | undefined, g?: GraphRecord, graphs: GraphRecord[] = []): Promise<ProtoWriter> {
    const w = new ProtoWriter();
    let gi = 0;
    for (const f of msg.fields()) {
      if (f.field === 5 && t) {
        const out = await this.tensor(msg.message(f), t, change, false);
        if (out) w.message(5, out);
        else w.raw(this.fieldBytes(f));
      } else if (f.field === 6 && g) {
        w.message(6, await this.graph(msg.message(f), g));
      } else if (f.field === 11 && graphs[gi]) {
        w.message(11, await this.graph(msg.message(f), graphs[gi++]!));
      } else w.raw(this.fieldBytes(f));
    }
    return w;
  }

  /**
   * A TensorProto with `change` applied, or null when it can be copied as is.
   * External source data is inlined (or moved to the output's data file).
   */
  private async tensor(msg: ProtoMessage, record: TensorRecord, change: TensorChange | undefined, initializer: boolean): Promise<ProtoWriter | null> {
    let data = change?.data;
    if (!data && record.data.kind === 'external') {
      const d = record.data;
      const file = resolveSibling(this.index.file, d.location);
      const length = d.length ?? (await nodeFileAccess.stat(file)).size - d.offset;
      data = { kind: 'file', file, offset: d.offset, length };
    }
    if (!data && initializer && this.sink && record.data.kind === 'raw' && record.data.length >= this.sink.out.threshold) {
      data = { kind: 'bytes', bytes: this.buf.slice(record.data.offset, record.data.offset + record.data.length) };
    }
    if (!change && !data) return null;
    const w = new ProtoWriter();
    let dimsDone = false;
    let dataDone = false;
    const writeData = async () => {
      if (dataDone || !data) return;
      dataDone = true;
      await this.writeData(w, data, initializer);
    };
    for (const f of msg.fields()) {
      if (f.field === 1 && change?.dims) {
        if (!dimsDone) w.repeatedVarint(1, change.dims);
        dimsDone = true;
      } else if (f.field === 2 && change?.dataType !== undefined) {
        w.varint(2, change.dataType);
      } else if (f.field === 8 && change?.name !== undefined) {
        w.string(8, change.name);
      } else if (data && (TENSOR_DATA_FIELDS.has(f.field) || f.field === 3)) {
        if (f.field !== 3) await writeData();
      } else w.raw(this.fieldBytes(f));
    }
    if (change?.dims && !dimsDone) w.repeatedVarint(1, change.dims);
    await writeData();
    return w;
  }

  private newTensor(t: NewTensor, initializer: boolean): ProtoWriter {
    const w = new ProtoWriter();
    w.repeatedVarint(1, t.dims);
    w.varint(2, t.dataType);
    if (t.name) w.string(8, t.name);
    if (t.data.kind === 'file') throw new Error('new tensors hold their bytes');
    this.writeDataSync(w, t.data, initializer);
    return w;
  }

  private async writeData(w: ProtoWriter, data: DataSpec, initializer: boolean): Promise<void> {
    const length = data.kind === 'bytes' ? data.bytes.length : data.length;
    if (initializer && this.sink && length >= this.sink.out.threshold) {
      this.external(w, data, length);
      return;
    }
    const bytes = data.kind === 'bytes' ? data.bytes : await readFileRange(nodeFileAccess, data.file, data.offset, data.length);
    w.bytes(9, bytes);
  }

  private writeDataSync(w: ProtoWriter, data: DataSpec & { kind: 'bytes' }, initializer: boolean): void {
    if (initializer && this.sink && data.bytes.length >= this.sink.out.threshold) this.external(w, data, data.bytes.length);
    else w.bytes(9, data.bytes);
  }

  private external(w: ProtoWriter, data: DataSpec, length: number): void {
    const offset = this.sink!.add(data, length);
    const entry = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
    w.message(13, entry('location', this.sink!.out.location));
    w.message(13, entry('offset', String(offset)));
    w.message(13, entry('length', String(length)));
    w.varint(14, 1);
  }
}
