import { ModelFormatError } from '../../errors';
import type { FileAccess } from '../../io/fileAccess';
import type { LayerInfo, TensorInfo } from '../../model';
import { tensorInfo, type PlacedWeight } from './manifest';

/**
 * TF.js graph models: a TensorFlow GraphDef as JSON. Weights are Const nodes;
 * a "layer" here is the first real op that consumes a weight (Conv2D,
 * _FusedMatMul, …), found by following Identity nodes from the Const.
 */

type Shape = (number | null)[];

interface GraphNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, unknown>;
}

const PASS_THROUGH = new Set(['Identity', 'IdentityN', 'StopGradient', 'Snapshot']);
const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64', 'complex64']);
const SAME_SHAPE_OPS = new Set([
  'BiasAdd', 'Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Identity', 'Add', 'AddV2', 'Mul', 'Sub', 'RealDiv',
  'Maximum', 'Minimum', 'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3', 'Prelu', 'LeakyRelu', 'Softmax',
  'Swish', 'Neg', 'Square', 'Sqrt', 'Rsqrt', 'Exp', 'Log', 'Abs', 'HardSigmoid', 'Relu1',
]);
/** Small int32 constants worth reading at open time so Reshape/Pad/ConcatV2 shapes can flow. */
const MAX_SHAPE_CONST_ELEMENTS = 64;

export async function layersFromGraph(
  topology: Record<string, unknown>,
  weights: PlacedWeight[],
  fs: FileAccess,
  maxDepth: number,
  signatureInput: Shape | null,
): Promise<{ layers: LayerInfo[]; warnings: string[]; inputShape: Shape | null }> {
  const nodes = parseNodes(topology.node);
  const warnings: string[] = [];
  const nodeIndex = new Map<string, number>();
  nodes.forEach((n, i) => nodeIndex.set(n.name, i));
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const raw of n.input) {
      if (raw.startsWith('^')) continue; // control dependency: no data flows
      const src = stripPort(raw);
      const list = consumers.get(src);
      if (list) list.push(i);
      else consumers.set(src, [i]);
    }
  });

  // Values of small int32 constants (shapes, paddings, axes) for shape inference.
  const weightByName = new Map(weights.map((w) => [w.spec.name, w] as const));
  const constValues = new Map<string, number[]>();
  for (const w of weights) {
    if (w.spec.dtype === 'int32' && w.count <= MAX_SHAPE_CONST_ELEMENTS && !w.spec.quantization) {
      const info = tensorInfo(fs, w, false);
      constValues.set(w.spec.name, Array.from(await info.read!()));
    }
  }

  // Owner of each weight: the first non-pass-through consumer in node order.
  const tensorsByNode = new Map<number, TensorInfo[]>();
  const orphans = new Map<string, TensorInfo[]>();
  for (const w of weights) {
    const isParameter = FLOAT_DTYPES.has(w.spec.dtype);
    const info = tensorInfo(fs, w, isParameter);
    const owner = firstConsumer(w.spec.name, consumers, nodes, maxDepth);
    if (owner !== null) {
      const list = tensorsByNode.get(owner);
      if (list) list.push(info);
      else tensorsByNode.set(owner, [info]);
    } else {
      const name = w.spec.name;
      const prefix = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : name;
      orphans.set(prefix, [...(orphans.get(prefix) ?? []), info]);
    }
  }

  const shapes = inferShapes(nodes, weightByName, constValues, signatureInput);
  const layers: LayerInfo[] = [];
  for (const [i, n] of nodes.entries()) {
    const tensors = tensorsByNode.get(i);
    if (!tensors) continue;
    const dataInputs = n.input.filter((x) => !x.startsWith('^')).map(stripPort).filter((x) => !weightByName.has(x));
    layers.push({
      name: n.name,
      type: n.op,
      tensors,
      outputShape: shapes.get(n.name) ?? null,
      macs: countOrNull(macsOf(n, shapes)),
      inputs: dataInputs,
      config: { attr: n.attr },
    });
  }
  for (const [prefix, tensors] of orphans) {
    layers.push({ name: prefix, type: 'tensor group', tensors, outputShape: null, macs: null, notes: ['no graph node consumes these weights directly'] });
  }
  if (orphans.size > 0) warnings.push(`${orphans.size} weight group(s) are not consumed by any node of the main graph (used inside functions?)`);
  const placeholder = nodes.find((n) => n.op === 'Placeholder');
  return { layers, warnings, inputShape: placeholder ? (shapes.get(placeholder.name) ?? null) : signatureInput };
}

function parseNodes(value: unknown): GraphNode[] {
  if (!Array.isArray(value)) throw new ModelFormatError('not-a-model', 'graph model topology has no node list');
  return value.map((raw, i) => {
    const n = raw as Partial<GraphNode> | null;
    if (!n || typeof n !== 'object' || typeof n.name !== 'string' || typeof n.op !== 'string') {
      throw new ModelFormatError('not-a-model', `graph node ${i} has no name/op`);
    }
    const input = Array.isArray(n.input) ? n.input.filter((x): x is string => typeof x === 'string') : [];
    const attr = n.attr && typeof n.attr === 'object' ? (n.attr as Record<string, unknown>) : {};
    return { name: n.name, op: n.op, input, attr };
  });
}

function stripPort(input: string): string {
  const s = input.startsWith('^') ? input.slice(1) : input;
  const colon = s.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(s.slice(colon + 1)) ? s.slice(0, colon) : s;
}

function firstConsumer(name: string, consumers: Map<string, number[]>, nodes: GraphNode[], maxDepth: number): number | null {
  let best: number | null = null;
  const seen = new Set<string>([name]);
  let frontier = [name];
  for (let depth = 0; frontier.length > 0 && depth <= maxDepth; depth++) {
    const next: string[] = [];
    for (const f of frontier) {
      for (const c of consumers.get(f) ?? []) {
        const node = nodes[c]!;
        if (PASS_THROUGH.has(node.op) || node.op === 'Const') {
          if (!seen.has(node.name)) {
            seen.add(node.name);
            next.push(node.name);
          }
        } else if (best === null || c < best) best = c;
      }
    }
    if (best !== null) return best;
    frontier = next;
  }
  return best;
}

// ---------------------------------------------------------------------------
// Static shapes, where they are clear.

function attrString(attr: Record<string, unknown>, key: string): string | null {
  const v = attr[key] as { s?: unknown } | undefined;
  if (!v || typeof v.s !== 'string') return null;
  return Buffer.from(v.s, 'base64').toString('utf8');
}

function attrInts(attr: Record<string, unknown>, key: string): number[] | null {
  const v = attr[key] as { list?: { i?: unknown } } | undefined;
  const list = v?.list?.i;
  if (!Array.isArray(list)) return null;
  const out = list.map((x) => Number(x));
  return out.every((x) => Number.isSafeInteger(x)) ? out : null;
}

function attrBool(attr: Record<string, unknown>, key: string): boolean {
  const v = attr[key] as { b?: unknown } | undefined;
  return v?.b === true;
}

function placeholderShape(attr: Record<string, unknown>): Shape | null {
  const s = attr.shape as { shape?: { dim?: { size?: unknown }[]; unknownRank?: boolean } } | undefined;
  const dims = s?.shape?.dim;
  if (!Array.isArray(dims) || s?.shape?.unknownRank) return null;
  return dims.map((d) => {
    const n = Number(d?.size ?? -1);
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  });
}

function inferShapes(nodes: GraphNode[], weights: Map<string, PlacedWeight>, constValues: Map<string, number[]>, signatureInput: Shape | null): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const [name, w] of weights) shapes.set(name, [...w.spec.shape]);
  // Nodes are usually in topological order; one pass, unknown stays unknown.
  for (const n of nodes) {
    if (shapes.has(n.name)) continue;
    const ins = n.input.filter((x) => !x.startsWith('^')).map((x) => shapes.get(stripPort(x)) ?? null);
    const first = ins[0] ?? null;
    let out: Shape | null = null;
    if (n.op === 'Placeholder') out = placeholderShape(n.attr) ?? signatureInput;
    else if (SAME_SHAPE_OPS.has(n.op)) out = first ? broadcast(ins) : null;
    else if (first) out = opShape(n, first, ins, constValues);
    // Values from the file (a Reshape target, pads, strides) can make any dimension nonsense: then it is unknown.
    if (out && out.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0))) shapes.set(n.name, out);
  }
  return shapes;
}

function broadcast(ins: (Shape | null)[]): Shape | null {
  const known = ins.filter((s): s is Shape => s !== null);
  if (known.length !== ins.length) return ins[0] ?? null;
  const rank = Math.max(...known.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < rank; k++) {
    let d: number | null = 1;
    for (const s of known) {
      const v = s[s.length - rank + k];
      if (v === undefined || v === 1) continue;
      d = v;
    }
    out.push(d);
  }
  return out;
}

function opShape(n: GraphNode, input: Shape, ins: (Shape | null)[], constValues: Map<string, number[]>): Shape | null {
  const second = ins[1] ?? null;
  const constOf = (i: number) => {
    const raw = n.input.filter((x) => !x.startsWith('^'))[i];
    return raw ? constValues.get(stripPort(raw)) : undefined;
  };
  switch (n.op) {
    case 'Conv2D':
    case '_FusedConv2D':
    case 'FusedConv2D':
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative': {
      if (!second || second.length !== 4 || input.length !== 4) return null;
      const nchw = attrString(n.attr, 'data_format') === 'NCHW';
      const strides = attrInts(n.attr, 'strides') ?? [1, 1, 1, 1];
      const dilations = attrInts(n.attr, 'dilations') ?? [1, 1, 1, 1];
      const padding = attrString(n.attr, 'padding') ?? 'VALID';
      if (padding === 'EXPLICIT') return null;
      const [kh, kw, inC, mult] = second as number[];
      const hAxis = nchw ? 2 : 1;
      const spatial = [input[hAxis] ?? null, input[hAxis + 1] ?? null].map((d, k) => {
        if (d === null) return null;
        const s = strides[hAxis + k] ?? 1;
        const dilated = ((k === 0 ? kh! : kw!) - 1) * (dilations[hAxis + k] ?? 1) + 1;
        return padding === 'SAME' ? Math.ceil(d / s) : Math.max(0, Math.ceil((d - dilated + 1) / s));
      });
      const depthwise = n.op.includes('Depthwise');
      const channels = depthwise ? inC! * mult! : mult!;
      return nchw ? [input[0] ?? null, channels, ...spatial] : [input[0] ?? null, ...spatial, channels];
    }
    case 'MatMul':
    case '_FusedMatMul': {
      if (!second || second.length !== 2 || input.length !== 2) return null;
      const rows = attrBool(n.attr, 'transpose_a') ? input[1] : input[0];
      const cols = attrBool(n.attr, 'transpose_b') ? second[0] : second[1];
      return [rows ?? null, cols ?? null];
    }
    case 'MaxPool':
    case 'AvgPool': {
      if (input.length !== 4) return null;
      const nchw = attrString(n.attr, 'data_format') === 'NCHW';
      const ksize = attrInts(n.attr, 'ksize');
      const strides = attrInts(n.attr, 'strides');
      const padding = attrString(n.attr, 'padding') ?? 'VALID';
      if (!ksize || !strides) return null;
      const hAxis = nchw ? 2 : 1;
      const out = [...input];
      for (const a of [hAxis, hAxis + 1]) {
        const d = input[a] ?? null;
        out[a] = d === null ? null : padding === 'SAME' ? Math.ceil(d / strides[a]!) : Math.floor((d - ksize[a]!) / strides[a]!) + 1;
      }
      return out;
    }
    case 'Pad':
    case 'MirrorPad':
    case 'PadV2': {
      const pads = constOf(1);
      if (!pads || pads.length !== input.length * 2) return null;
      return input.map((d, k) => (d === null ? null : d + pads[2 * k]! + pads[2 * k + 1]!));
    }
    case 'Reshape': {
      const target = constOf(1);
      if (!target) return null;
      const total = input.every((d) => d !== null) ? input.reduce<number>((a, b) => a * (b as number), 1) : null;
      const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const unknownCount = target.filter((d) => d === -1).length;
      if (unknownCount === 0) return target;
      if (unknownCount === 1 && total !== null && known > 0) return target.map((d) => (d === -1 ? total / known : d));
      // Batch unknown, the rest fixed: [-1, …] keeps the batch dimension.
      if (unknownCount === 1 && target[0] === -1 && input[0] === null) return [null, ...target.slice(1)];
      return null;
    }
    case 'ConcatV2': {
      const dataIns = ins.slice(0, -1);
      const axisValue = constOf(ins.length - 1);
      if (!axisValue || dataIns.some((s) => s === null)) return null;
      const rank = input.length;
      const axis = axisValue[0]! < 0 ? axisValue[0]! + rank : axisValue[0]!;
      const out = [...input];
      let sum: number | null = 0;
      for (const s of dataIns) sum = sum === null || s![axis] === null || s![axis] === undefined ? null : sum + (s![axis] as number);
      out[axis] = sum;
      return out;
    }
    case 'Mean':
    case 'Max': {
      const axes = constOf(1);
      if (!axes) return null;
      const keep = attrBool(n.attr, 'keep_dims');
      const norm = axes.map((a) => (a < 0 ? a + input.length : a));
      return keep ? input.map((d, k) => (norm.includes(k) ? 1 : d)) : input.filter((_, k) => !norm.includes(k));
    }
    default:
      return null;
  }
}

const SCALE_OPS = new Set(['Mul', 'Prelu', 'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']);
const ADD_OPS = new Set(['BiasAdd', 'Add', 'AddV2', 'Sub']);
const SHAPE_OPS = new Set(['Reshape', 'Pad', 'PadV2', 'MirrorPad', 'ConcatV2', 'Transpose', 'Mean', 'Max']);

/** An unknown cost rather than a wrong one when corrupt values make the arithmetic overflow. */
function countOrNull(n: number | null): number | null {
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** MACs per sample for the ops whose cost is clear from static shapes; null otherwise. */
function macsOf(n: GraphNode, shapes: Map<string, Shape>): number | null {
  const data = n.input.filter((x) => !x.startsWith('^')).map(stripPort);
  const input = shapes.get(data[0] ?? '');
  const filter = shapes.get(data[1] ?? '');
  const out = shapes.get(n.name);
  const elements = out && out.slice(1).every((d) => d !== null) ? out.slice(1).reduce<number>((a, b) => a * (b as number), 1) : null;
  // Element-wise ops on a weight: one multiply-add per output element for scale-like ops, none for adds.
  if (SCALE_OPS.has(n.op)) return elements;
  if (ADD_OPS.has(n.op) || SHAPE_OPS.has(n.op)) return out ? 0 : null;
  if (!input || !filter || !out) return null;
  switch (n.op) {
    case 'Conv2D':
    case '_FusedConv2D':
    case 'FusedConv2D':
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative': {
      const nchw = attrString(n.attr, 'data_format') === 'NCHW';
      const spatial = nchw ? out.slice(2) : out.slice(1, 3);
      if (spatial.some((d) => d === null) || filter.some((d) => d === null)) return null;
      const [kh, kw, inC, last] = filter as number[];
      return (spatial[0] as number) * (spatial[1] as number) * kh! * kw! * inC! * last!;
    }
    case 'MatMul':
    case '_FusedMatMul': {
      // Per sample = one row, when the row dimension is the (unknown or 1) batch.
      const rows = out[0];
      if (rows !== null && rows !== 1) return null;
      const [a, b] = filter as number[];
      return a! * b!;
    }
    default:
      return null;
  }
}
