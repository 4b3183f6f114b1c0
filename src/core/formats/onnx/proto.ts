import { ModelFormatError } from '../../errors';
import { countPackedVarints, ProtoMessage, WIRE_LEN, type ProtoField } from '../../io/protobuf';
import type { SkimSchema } from '../../io/protobufSkim';

/**
 * ONNX protobuf messages decoded into plain records. Field numbers are from
 * onnx.proto (checked against Debian's python3-onnx 1.12 copy and onnx main).
 * Tensor values are never decoded here: a TensorRecord says where they are.
 */

export interface Span {
  offset: number;
  length: number;
}

/** Where a tensor's values live. */
export type TensorData =
  /** raw_data bytes inside the .onnx file. */
  | { kind: 'raw'; offset: number; length: number }
  /** A typed repeated field (float_data, int32_data, …): re-parse `message` to collect it. */
  | { kind: 'field'; field: number; message: Span; payloadBytes: number; entries: number }
  /** Constant-node attributes value_float(s)/value_int(s): re-parse the AttributeProto. */
  | { kind: 'attr'; field: number; message: Span; payloadBytes: number; entries: number }
  /** external_data: a sibling file. */
  | { kind: 'external'; location: string; offset: number; length: number | null }
  | { kind: 'none' };

export interface TensorRecord {
  name: string;
  dims: number[];
  dataType: number;
  data: TensorData;
  /** Offset of the TensorProto in the file, for messages. */
  at: number;
  hasSegment: boolean;
}

export interface SparseRecord {
  values: TensorRecord | null;
  indices: TensorRecord | null;
  dims: number[];
  at: number;
}

export interface ValueInfo {
  name: string;
  elemType: number;
  /** null when the type has no shape; null entries are symbolic or missing dimensions. */
  shape: (number | null)[] | null;
}

export const ATTR_FLOAT = 1;
export const ATTR_INT = 2;
export const ATTR_STRING = 3;
export const ATTR_TENSOR = 4;
export const ATTR_GRAPH = 5;
export const ATTR_FLOATS = 6;
export const ATTR_INTS = 7;
export const ATTR_STRINGS = 8;
export const ATTR_TENSORS = 9;
export const ATTR_GRAPHS = 10;
export const ATTR_SPARSE_TENSOR = 11;

/** Lists longer than this are counted but not decoded at open time. */
const MAX_DECODED_LIST = 65536;

export interface AttrRecord {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: string;
  t?: TensorRecord;
  g?: GraphRecord;
  sparse?: SparseRecord;
  floats: number[];
  ints: number[];
  floatsCount: number;
  intsCount: number;
  strings: string[];
  tensors: TensorRecord[];
  graphs: GraphRecord[];
  span: Span;
  floatsBytes: number;
  intsBytes: number;
}

export interface NodeRecord {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: AttrRecord[];
}

export interface GraphRecord {
  name: string;
  nodes: NodeRecord[];
  initializers: TensorRecord[];
  sparseInitializers: SparseRecord[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
}

export interface ModelRecord {
  irVersion: number | null;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number | null;
  docString: string;
  graph: GraphRecord | null;
  metadataProps: [string, string][];
  functionCount: number;
  trainingInfoCount: number;
}

/**
 * What the parsers below walk into and what they only measure, for loading a
 * model without its tensor bytes (protobufSkim.ts). Opaque: TensorProto
 * float_data (4), string_data (6), raw_data (9) and double_data (10), whose
 * entries countEntries() derives from the payload length alone, and ModelProto
 * training_info (20) and functions (25), which parseModel only counts. The
 * varint-packed typed fields are not opaque: counting their entries reads them.
 */
export const ONNX_SKIM_SCHEMA: SkimSchema = {
  model: { messages: { 7: 'graph' }, opaque: [20, 25] },
  graph: { messages: { 1: 'node', 5: 'tensor', 15: 'sparse' } },
  node: { messages: { 5: 'attribute' } },
  attribute: { messages: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse' } },
  sparse: { messages: { 1: 'tensor', 2: 'tensor' } },
  tensor: { opaque: [4, 6, 9, 10] },
};

export function parseModel(msg: ProtoMessage): ModelRecord {
  const model: ModelRecord = {
    irVersion: null,
    opsets: [],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: null,
    docString: '',
    graph: null,
    metadataProps: [],
    functionCount: 0,
    trainingInfoCount: 0,
  };
  for (const f = msg.cursor(); f.next(); ) {
    switch (f.field) {
      case 1:
        model.irVersion = msg.int(f);
        break;
      case 2:
        model.producerName = msg.string(f);
        break;
      case 3:
        model.producerVersion = msg.string(f);
        break;
      case 4:
        model.domain = msg.string(f);
        break;
      case 5:
        model.modelVersion = msg.int(f);
        break;
      case 6:
        model.docString = msg.string(f);
        break;
      case 7:
        model.graph = parseGraph(msg.message(f));
        break;
      case 8:
        model.opsets.push(parseOpset(msg.message(f)));
        break;
      case 14:
        model.metadataProps.push(parseEntry(msg.message(f)));
        break;
      case 20:
        model.trainingInfoCount++;
        break;
      case 25:
        model.functionCount++;
        break;
    }
  }
  return model;
}

function parseOpset(msg: ProtoMessage): { domain: string; version: number } {
  let domain = '';
  let version = 0;
  for (const f = msg.cursor(); f.next(); ) {
    if (f.field === 1) domain = msg.string(f);
    else if (f.field === 2) version = msg.int(f);
  }
  return { domain, version };
}

function parseEntry(msg: ProtoMessage): [string, string] {
  let key = '';
  let value = '';
  for (const f = msg.cursor(); f.next(); ) {
    if (f.field === 1) key = msg.string(f);
    else if (f.field === 2) value = msg.string(f);
  }
  return [key, value];
}

export function parseGraph(msg: ProtoMessage): GraphRecord {
  const g: GraphRecord = { name: '', nodes: [], initializers: [], sparseInitializers: [], inputs: [], outputs: [], valueInfo: [] };
  for (const f = msg.cursor(); f.next(); ) {
    switch (f.field) {
      case 1:
        g.nodes.push(parseNode(msg.message(f)));
        break;
      case 2:
        g.name = msg.string(f);
        break;
      case 5:
        g.initializers.push(parseTensor(msg.message(f)));
        break;
      case 15:
        g.sparseInitializers.push(parseSparse(msg.message(f)));
        break;
      case 11:
        g.inputs.push(parseValueInfo(msg.message(f)));
        break;
      case 12:
        g.outputs.push(parseValueInfo(msg.message(f)));
        break;
      case 13:
        g.valueInfo.push(parseValueInfo(msg.message(f)));
        break;
    }
  }
  return g;
}

function parseNode(msg: ProtoMessage): NodeRecord {
  let name = '';
  let opType = '';
  let domain = '';
  const inputs = scratchAt(NODE_INPUTS, msg.depth);
  const outputs = scratchAt(NODE_OUTPUTS, msg.depth);
  const attributes = scratchAt(NODE_ATTRIBUTES, msg.depth);
  let inputCount = 0;
  let outputCount = 0;
  let attributeCount = 0;
  for (const f = msg.cursor(); f.next(); ) {
    switch (f.field) {
      case 1:
        inputs[inputCount++] = msg.string(f);
        break;
      case 2:
        outputs[outputCount++] = msg.string(f);
        break;
      case 3:
        name = msg.string(f);
        break;
      case 4:
        opType = msg.string(f);
        break;
      case 7:
        domain = msg.string(f);
        break;
      case 5:
        attributes[attributeCount++] = parseAttribute(msg.message(f));
        break;
    }
  }
  return {
    name,
    opType,
    domain,
    inputs: takeScratch(NODE_INPUTS, msg.depth, inputCount),
    outputs: takeScratch(NODE_OUTPUTS, msg.depth, outputCount),
    attributes: takeScratch(NODE_ATTRIBUTES, msg.depth, attributeCount),
  };
}

/*
 * Reused lists that collect a message's repeated values (a node's inputs,
 * outputs and attributes, a tensor's dims) before they are copied into an array of exactly
 * their number: an array grown by push keeps room for 16 more (184 bytes for
 * two names, against 64), and the records live, and are copied by the garbage
 * collector, for as long as a model is being read. One list per nesting depth,
 * since an attribute's subgraph is read while its node is. A list may hold
 * values of an earlier message past the count; they are never read.
 */
const NODE_INPUTS: string[][] = [];
const NODE_OUTPUTS: string[][] = [];
const NODE_ATTRIBUTES: AttrRecord[][] = [];
const TENSOR_DIMS: number[][] = [];
/** A scratch list longer than this is dropped after use rather than kept holding its values. */
const MAX_KEPT_SCRATCH = 256;

function scratchAt<T>(lists: T[][], depth: number): T[] {
  return (lists[depth] ??= []);
}

/** The first `count` values of the scratch list at `depth`, in an array of their own. */
function takeScratch<T>(lists: T[][], depth: number, count: number): T[] {
  const list = lists[depth]!;
  const out = count === 0 ? [] : list.slice(0, count);
  if (list.length > MAX_KEPT_SCRATCH) lists[depth] = [];
  return out;
}

function parseAttribute(msg: ProtoMessage): AttrRecord {
  const a: AttrRecord = {
    name: '',
    type: 0,
    floats: [],
    ints: [],
    floatsCount: 0,
    intsCount: 0,
    strings: [],
    tensors: [],
    graphs: [],
    span: { offset: msg.buf.base + msg.start, length: msg.length },
    floatsBytes: 0,
    intsBytes: 0,
  };
  for (const f = msg.cursor(); f.next(); ) {
    switch (f.field) {
      case 1:
        a.name = msg.string(f);
        break;
      case 20:
        a.type = msg.int(f);
        break;
      case 2:
        a.f = msg.float(f);
        break;
      case 3:
        a.i = msg.int(f);
        break;
      case 4:
        a.s = msg.string(f);
        break;
      case 5:
        a.t = parseTensor(msg.message(f));
        break;
      case 6:
        a.g = parseGraph(msg.message(f));
        break;
      case 22:
        a.sparse = parseSparse(msg.message(f));
        break;
      case 7: {
        const n = f.wire === WIRE_LEN ? (f.end - f.start) / 4 : 1;
        a.floatsCount += n;
        a.floatsBytes += f.wire === WIRE_LEN ? f.end - f.start : 4;
        if (a.floatsCount <= MAX_DECODED_LIST) msg.floats(f, a.floats);
        break;
      }
      case 8: {
        const n = f.wire === WIRE_LEN ? countPackedVarints(msg.buf.slice(f.start, f.end), 0, f.end - f.start) : 1;
        a.intsCount += n;
        a.intsBytes += f.end - f.start;
        if (a.intsCount <= MAX_DECODED_LIST) msg.ints(f, a.ints);
        break;
      }
      case 9:
        if (a.strings.length < MAX_DECODED_LIST) a.strings.push(msg.string(f));
        break;
      case 10:
        a.tensors.push(parseTensor(msg.message(f)));
        break;
      case 11:
        a.graphs.push(parseGraph(msg.message(f)));
        break;
    }
  }
  // Old writers leave `type` unset: infer it from the field that is present.
  if (a.type === 0) {
    if (a.g) a.type = ATTR_GRAPH;
    else if (a.graphs.length) a.type = ATTR_GRAPHS;
    else if (a.t) a.type = ATTR_TENSOR;
    else if (a.sparse) a.type = ATTR_SPARSE_TENSOR;
    else if (a.tensors.length) a.type = ATTR_TENSORS;
    else if (a.floatsCount) a.type = ATTR_FLOATS;
    else if (a.intsCount) a.type = ATTR_INTS;
    else if (a.strings.length) a.type = ATTR_STRINGS;
    else if (a.s !== undefined) a.type = ATTR_STRING;
    else if (a.f !== undefined) a.type = ATTR_FLOAT;
    else if (a.i !== undefined) a.type = ATTR_INT;
  }
  return a;
}

function parseValueInfo(msg: ProtoMessage): ValueInfo {
  const v: ValueInfo = { name: '', elemType: 0, shape: null };
  for (const f = msg.cursor(); f.next(); ) {
    if (f.field === 1) v.name = msg.string(f);
    else if (f.field === 2) {
      const type = msg.message(f);
      for (const tf = type.cursor(); tf.next(); ) {
        if (tf.field !== 1) continue; // tensor_type; sequences/maps have no static shape
        const tensor = type.message(tf);
        for (const ff = tensor.cursor(); ff.next(); ) {
          if (ff.field === 1) v.elemType = tensor.int(ff);
          else if (ff.field === 2) v.shape = parseShape(tensor.message(ff));
        }
      }
    }
  }
  return v;
}

function parseShape(msg: ProtoMessage): (number | null)[] {
  const dims: (number | null)[] = [];
  for (const f = msg.cursor(); f.next(); ) {
    if (f.field !== 1) continue;
    const dim = msg.message(f);
    let value: number | null = null;
    for (const df = dim.cursor(); df.next(); ) {
      if (df.field === 1) value = dim.int(df);
      else if (df.field === 2) value = null;
    }
    // Negative or beyond 2^53 (a varint can hold up to 2^64): not a size we can state.
    dims.push(value !== null && Number.isSafeInteger(value) && value >= 0 ? value : null);
  }
  return dims;
}

export function parseSparse(msg: ProtoMessage): SparseRecord {
  const s: SparseRecord = { values: null, indices: null, dims: [], at: msg.buf.base + msg.start };
  for (const f = msg.cursor(); f.next(); ) {
    if (f.field === 1) s.values = parseTensor(msg.message(f));
    else if (f.field === 2) s.indices = parseTensor(msg.message(f));
    else if (f.field === 3) msg.ints(f, s.dims, 64);
  }
  return s;
}

export function parseTensor(msg: ProtoMessage): TensorRecord {
  const at = msg.buf.base + msg.start;
  const dims = scratchAt(TENSOR_DIMS, msg.depth);
  let dimCount = 0;
  let name = '';
  let dataType = 0;
  let hasSegment = false;
  // raw_data's payload [rawStart, rawEnd), or rawStart -1 when there is none.
  let rawStart = -1;
  let rawEnd = -1;
  let external: [string, string][] | null = null;
  let dataLocation = 0;
  // Typed fields seen: field number → [payload bytes, entries] (made on the first; most tensors have raw_data).
  let typed: Map<number, [number, number]> | null = null;
  for (const f = msg.cursor(); f.next(); ) {
    switch (f.field) {
      case 1:
        dimCount = msg.intsAt(f, dims, dimCount, 64);
        break;
      case 2:
        dataType = msg.int(f);
        break;
      case 3:
        hasSegment = true;
        break;
      case 8:
        name = msg.string(f);
        break;
      case 9:
        rawStart = f.start;
        rawEnd = f.end;
        break;
      case 13:
        (external ??= []).push(parseEntry(msg.message(f)));
        break;
      case 14:
        dataLocation = msg.int(f);
        break;
      case 4:
      case 5:
      case 6:
      case 7:
      case 10:
      case 11: {
        typed ??= new Map();
        const prev = typed.get(f.field) ?? [0, 0];
        typed.set(f.field, [prev[0] + (f.end - f.start), prev[1] + countEntries(msg, f)]);
        break;
      }
    }
  }
  if (dimCount > 64) {
    throw new ModelFormatError('not-a-model', `tensor '${name}' has ${dimCount} dimensions`, { offset: at });
  }
  let data: TensorData = NO_DATA;
  if (dataLocation === 1 || external) {
    const kv = new Map(external);
    const location = kv.get('location');
    if (!location) {
      throw new ModelFormatError('not-a-model', `tensor '${name}' is marked EXTERNAL but has no 'location'`, { offset: at });
    }
    data = {
      kind: 'external',
      location,
      offset: parseDecimal(kv.get('offset') ?? '0', name, 'offset'),
      length: kv.has('length') ? parseDecimal(kv.get('length')!, name, 'length') : null,
    };
  } else if (rawStart >= 0) {
    data = { kind: 'raw', offset: msg.buf.base + rawStart, length: rawEnd - rawStart };
  } else if (typed) {
    // A writer uses one typed field; take the one with the most entries.
    let best: [number, [number, number]] | null = null;
    for (const e of typed) if (!best || e[1][1] > best[1][1]) best = e;
    data = {
      kind: 'field',
      field: best![0],
      message: { offset: msg.buf.base + msg.start, length: msg.length },
      payloadBytes: best![1][0],
      entries: best![1][1],
    };
  }
  return { name, dims: takeScratch(TENSOR_DIMS, msg.depth, dimCount), dataType, data, at, hasSegment };
}

/** The data of a tensor that has none: shared, as it holds nothing. */
const NO_DATA: TensorData = Object.freeze({ kind: 'none' });

function countEntries(msg: ProtoMessage, f: ProtoField): number {
  if (f.wire !== WIRE_LEN) return 1;
  switch (f.field) {
    case 4: // float_data: packed fixed32
      return Math.floor((f.end - f.start) / 4);
    case 10: // double_data: packed fixed64
      return Math.floor((f.end - f.start) / 8);
    case 6: // string_data: one LEN per string
      return 1;
    default: // int32/int64/uint64: packed varints
      return countPackedVarints(msg.buf.slice(f.start, f.end), 0, f.end - f.start);
  }
}

function parseDecimal(text: string, tensor: string, key: string): number {
  if (!/^\d{1,16}$/.test(text.trim())) {
    throw new ModelFormatError('not-a-model', `tensor '${tensor}' has an invalid external_data ${key} '${text}'`);
  }
  const v = Number(text.trim());
  if (!Number.isSafeInteger(v)) throw new ModelFormatError('too-large', `tensor '${tensor}' external_data ${key} ${text} is too large`);
  return v;
}

/**
 * Names a (sub)graph reads but doesn't define: the outer values it captures
 * (If/Loop/Scan bodies read the enclosing graph's values by name). Memoised per graph.
 */
export function freeVariables(graph: GraphRecord, cache: Map<GraphRecord, Set<string>>): Set<string> {
  const cached = cache.get(graph);
  if (cached) return cached;
  const defined = new Set<string>();
  for (const t of graph.initializers) defined.add(t.name);
  for (const s of graph.sparseInitializers) if (s.values) defined.add(s.values.name);
  for (const v of graph.inputs) defined.add(v.name);
  for (const n of graph.nodes) for (const o of n.outputs) defined.add(o);
  const free = new Set<string>();
  for (const n of graph.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) free.add(i);
    for (const a of n.attributes) {
      for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) for (const i of freeVariables(sub, cache)) if (!defined.has(i)) free.add(i);
    }
  }
  cache.set(graph, free);
  return free;
}
