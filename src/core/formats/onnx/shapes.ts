import type { AttrRecord, GraphRecord, NodeRecord } from './proto';

/**
 * A small static shape propagation over one ONNX graph, enough to cost the
 * layers that hold weights: Conv/ConvTranspose/Gemm/MatMul (and their integer
 * and QLinear forms), recurrent layers, plus the shape-only ops that sit between
 * them in common exports. Symbolic dimensions (dim_param) are null. Where an op
 * is unknown or an input shape is missing the output is unknown, and a layer's
 * MACs become null rather than a guess.
 *
 * Small integer tensors (shape constants, and values computed by Shape → Gather
 * → Concat chains as PyTorch exports them) are tracked too, so Reshape targets
 * can be resolved.
 */
export type Dim = number | null;
export type Shape = Dim[];
/** Known integer tensor values; null elements are unknown (e.g. a dynamic batch size). */
export type IntValues = (number | null)[];

/** Integer vectors longer than this are not tracked as values. */
const MAX_TRACKED_VALUES = 64;

export interface ShapeState {
  shapes: Map<string, Shape>;
  values: Map<string, IntValues>;
}

export interface GraphFacts {
  /** Shapes of initializers, Constant outputs and graph inputs. */
  shapes: Map<string, Shape>;
  /** Values of small integer constants. */
  values: Map<string, IntValues>;
  /** Shapes declared in value_info/outputs, used where propagation can't compute one. */
  declared: Map<string, Shape>;
}

/**
 * Shapes (and small integer values) of every value of the graph. The maps of
 * `facts.shapes` and `facts.values` become the state's (a model has thousands
 * of entries; the caller builds them for this call).
 */
export function propagateShapes(graph: GraphRecord, facts: GraphFacts): ShapeState {
  const shapes = facts.shapes;
  shapes.forEach((shape, name) => {
    if (!sound(shape)) shapes.delete(name);
  });
  const state: ShapeState = { shapes, values: facts.values };
  for (let n = 0; n < graph.nodes.length; n++) {
    const node = graph.nodes[n]!;
    let outs: readonly (Shape | null)[];
    try {
      outs = inferNode(node, state);
    } catch {
      // A malformed attribute (negative axis out of range, …) only loses the shape.
      outs = NO_SHAPES;
    }
    for (let i = 0; i < node.outputs.length; i++) {
      const name = node.outputs[i]!;
      if (!name) continue;
      const computed = sound(outs[i]);
      const shape = computed ?? sound(facts.declared.get(name)) ?? null;
      if (shape) shapes.set(name, shape);
    }
  }
  return state;
}

const NO_SHAPES: readonly (Shape | null)[] = [];

/**
 * A shape whose dimensions are all unknown or non-negative safe integers; any
 * other dimension (a zero stride's Infinity, NaN, an overflow) makes it unknown.
 */
function sound(shape: Shape | null | undefined): Shape | null {
  if (!shape) return null;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d !== null && !(Number.isSafeInteger(d) && d >= 0)) return null;
  }
  return shape;
}

// ---------------------------------------------------------------------------
// Attribute helpers.

export function attr(node: NodeRecord, name: string): AttrRecord | undefined {
  return node.attributes.find((a) => a.name === name);
}
function attrInt(node: NodeRecord, name: string, dflt: number): number {
  return attr(node, name)?.i ?? dflt;
}
function attrInts(node: NodeRecord, name: string): number[] | null {
  const a = attr(node, name);
  return a && a.intsCount > 0 && a.ints.length === a.intsCount ? a.ints : null;
}
function attrString(node: NodeRecord, name: string, dflt: string): string {
  return attr(node, name)?.s ?? dflt;
}


/** Elements of one sample: the leading (batch) dimension counts as 1 when unknown. */
export function perSampleElements(shape: Shape | null | undefined): number | null {
  if (!shape) return null;
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (d === null || d === undefined) {
      if (i === 0) continue;
      return null;
    }
    n *= d;
  }
  return n;
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank) throw new Error('axis out of range');
  return a;
}

function broadcast(shapes: (Shape | null | undefined)[]): Shape | null {
  let rank = -Infinity;
  for (let j = 0; j < shapes.length; j++) {
    const s = shapes[j];
    if (!s) return null;
    rank = Math.max(rank, s.length);
  }
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (let j = 0; j < shapes.length; j++) dim = broadcastDim(dim, shapes[j]!, shapes[j]!.length, rank, i);
    dimsBuilt[i] = dim;
  }
  // The usual broadcast (a bias add) keeps an input's shape: shared, not copied.
  for (let j = 0; j < shapes.length; j++) if (isBuilt(shapes[j]!, rank)) return shapes[j]!;
  return dimsBuilt.slice(0, Math.max(0, rank));
}

/**
 * Where broadcast() and matmulOutput() work out a shape's dimensions, to hand
 * out an input's shape when it has exactly these (shapes are shared and never
 * changed, as same-shape ops already share them), else a copy of exactly their
 * number: a shape built by push keeps room for 16 more, and every value's
 * shape lives as long as the model is being read.
 */
const dimsBuilt: Dim[] = [];

/** Whether `shape` has exactly the dimensions dimsBuilt[0, rank). */
function isBuilt(shape: Shape, rank: number): boolean {
  if (shape.length !== rank) return false;
  for (let i = 0; i < rank; i++) if (shape[i] !== dimsBuilt[i]) return false;
  return true;
}

/**
 * `dim` (dimension i of a broadcast of rank `rank`, so far) combined with the
 * first `length` dimensions of `shape`, aligned to the right.
 */
function broadcastDim(dim: Dim, shape: Shape, length: number, rank: number, i: number): Dim {
  const d = shape[length - rank + i];
  if (d === undefined || d === 1) return dim;
  if (d === null) return dim === 1 ? null : dim;
  return d;
}

// ---------------------------------------------------------------------------
// Per-op inference.

const SAME_SHAPE = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax', 'Hardmax', 'Dropout', 'Identity', 'QuantizeLinear',
  'DequantizeLinear', 'Cast', 'CastLike', 'BatchNormalization', 'LeakyRelu', 'Clip', 'Erf', 'Gelu', 'HardSigmoid',
  'HardSwish', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'Sqrt', 'Exp', 'Log', 'Neg', 'Abs', 'Reciprocal', 'LRN',
  'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'PRelu', 'Not', 'Floor', 'Ceil', 'Round', 'Sin',
  'Cos', 'Mish', 'Sign', 'ThresholdedRelu', 'Shrink', 'IsNaN', 'IsInf', 'LpNormalization', 'MeanVarianceNormalization',
]);
const BROADCAST = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'LessOrEqual', 'Greater',
  'GreaterOrEqual', 'And', 'Or', 'Xor', 'Where', 'Mod', 'BitShift',
]);

/** The known shape of input `i`, or null. */
export function inputShape(node: NodeRecord, st: ShapeState, i: number): Shape | null {
  const n = node.inputs[i];
  return n ? (st.shapes.get(n) ?? null) : null;
}

/** The known shapes of every input (null where unknown). */
function inputShapes(node: NodeRecord, st: ShapeState): (Shape | null)[] {
  // Sized up front: push would make room for 16 (one such list per node).
  const out = new Array<Shape | null>(node.inputs.length);
  for (let i = 0; i < node.inputs.length; i++) out[i] = inputShape(node, st, i);
  return out;
}

/** The known values of input `i` (a small integer tensor), or null. */
function inputValues(node: NodeRecord, st: ShapeState, i: number): IntValues | null {
  const n = node.inputs[i];
  return n ? (st.values.get(n) ?? null) : null;
}

/** Records the values of the node's first output, when short enough to track. */
function setOutputValues(node: NodeRecord, st: ShapeState, v: IntValues | null): void {
  const out = node.outputs[0];
  if (out && v && v.length <= MAX_TRACKED_VALUES) st.values.set(out, v);
}

function inferNode(node: NodeRecord, st: ShapeState): (Shape | null)[] {
  const op = node.opType;
  const x = inputShape(node, st, 0);

  if (SAME_SHAPE.has(op)) {
    if ((op === 'Identity' || op === 'Cast' || op === 'CastLike') && inputValues(node, st, 0)) setOutputValues(node, st, inputValues(node, st, 0));
    return [x];
  }
  if (BROADCAST.has(op)) {
    const ins = inputShapes(node, st);
    const out = broadcast(ins);
    if (out && out.length <= 1 && node.inputs.length === 2) {
      const a = inputValues(node, st, 0);
      const b = inputValues(node, st, 1);
      if (a && b) setOutputValues(node, st, elementwise(op, a, b));
    }
    return [out];
  }
  switch (op) {
    case 'Conv':
    case 'ConvInteger':
      return [convOutput(node, x, inputShape(node, st, 1))];
    case 'QLinearConv':
      return [convOutput(node, x, inputShape(node, st, 3))];
    case 'ConvTranspose':
      return [convTransposeOutput(node, x, inputShape(node, st, 1))];
    case 'Gemm': {
      const a = x;
      const b = inputShape(node, st, 1);
      if (!a || !b || a.length !== 2 || b.length !== 2) return [null];
      const m = attrInt(node, 'transA', 0) ? a[1]! : a[0]!;
      const n = attrInt(node, 'transB', 0) ? b[0]! : b[1]!;
      return [[m, n]];
    }
    case 'MatMul':
    case 'MatMulInteger':
      return [matmulOutput(x, inputShape(node, st, 1))];
    case 'QLinearMatMul':
      return [matmulOutput(x, inputShape(node, st, 3))];
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const k = attrInts(node, 'kernel_shape');
      if (!x || !k) return [null];
      return [poolOutput(node, x, k)];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
      return [x ? [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] : null];
    case 'Flatten': {
      if (!x) return [null];
      const axis = normAxis(attrInt(node, 'axis', 1), x.length);
      return [[product(x.slice(0, axis)), product(x.slice(axis))]];
    }
    case 'Reshape':
      return [reshapeOutput(x, inputValues(node, st, 1), attrInt(node, 'allowzero', 0) === 1)];
    case 'Transpose': {
      if (!x) return [null];
      const perm = attrInts(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
      return [perm.map((p) => x[p] ?? null)];
    }
    case 'Concat': {
      const ins = inputShapes(node, st);
      if (ins.some((s) => !s) || ins.length === 0) return [null];
      const rank = ins[0]!.length;
      const axis = normAxis(attrInt(node, 'axis', 0), rank);
      const out = [...ins[0]!];
      let sum: Dim = 0;
      for (const s of ins) {
        const d = s![axis];
        sum = sum === null || d === null || d === undefined ? null : sum + d;
      }
      out[axis] = sum;
      const vals = node.inputs.map((_, i) => inputValues(node, st, i));
      if (rank === 1 && vals.every((v) => v)) setOutputValues(node, st, vals.flatMap((v) => v!));
      return [out];
    }
    case 'Shape': {
      if (!x) return [null];
      const start = attr(node, 'start')?.i ?? 0;
      const end = attr(node, 'end')?.i ?? x.length;
      const s = start < 0 ? Math.max(0, start + x.length) : Math.min(start, x.length);
      const e = end < 0 ? Math.max(0, end + x.length) : Math.min(end, x.length);
      const v = x.slice(s, Math.max(s, e));
      setOutputValues(node, st, v);
      return [[v.length]];
    }
    case 'Gather': {
      const idx = inputShape(node, st, 1);
      if (!x || !idx) return [null];
      const axis = normAxis(attrInt(node, 'axis', 0), x.length);
      const v = inputValues(node, st, 0);
      const iv = inputValues(node, st, 1);
      if (v && iv && x.length === 1) setOutputValues(node, st, iv.map((i) => (i === null ? null : (v[i < 0 ? i + v.length : i] ?? null))));
      return [[...x.slice(0, axis), ...idx, ...x.slice(axis + 1)]];
    }
    case 'Unsqueeze': {
      const axes = attrInts(node, 'axes') ?? toKnown(inputValues(node, st, 1));
      if (!x || !axes) return [null];
      const rank = x.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
      const out: Shape = [...x];
      for (const a of norm) out.splice(a, 0, 1);
      if (inputValues(node, st, 0)) setOutputValues(node, st, inputValues(node, st, 0));
      return [out];
    }
    case 'Squeeze': {
      const axes = attrInts(node, 'axes') ?? toKnown(inputValues(node, st, 1));
      if (!x) return [null];
      if (inputValues(node, st, 0)) setOutputValues(node, st, inputValues(node, st, 0));
      if (!axes) return [x.every((d) => d !== null) ? x.filter((d) => d !== 1) : null];
      const drop = new Set(axes.map((a) => normAxis(a, x.length)));
      return [x.filter((_, i) => !drop.has(i))];
    }
    case 'Slice':
      return [sliceOutput(node, x, inputValues(node, st, 0), inputValues(node, st, 1), inputValues(node, st, 2), inputValues(node, st, 3), inputValues(node, st, 4), (v) => setOutputValues(node, st, v))];
    case 'ReduceMean':
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceProd':
    case 'ReduceL2': {
      if (!x) return [null];
      const axes = attrInts(node, 'axes') ?? toKnown(inputValues(node, st, 1));
      const keep = attrInt(node, 'keepdims', 1) === 1;
      if (!axes) return [attrInt(node, 'noop_with_empty_axes', 0) ? x : keep ? x.map(() => 1) : []];
      const set = new Set(axes.map((a) => normAxis(a, x.length)));
      return [keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i))];
    }
    case 'Pad': {
      const pads = attrInts(node, 'pads') ?? toKnown(inputValues(node, st, 1));
      if (!x || !pads || pads.length !== 2 * x.length) return [null];
      return [x.map((d, i) => (d === null ? null : d + pads[i]! + pads[i + x.length]!))];
    }
    case 'Expand': {
      const target = inputValues(node, st, 1);
      return [x && target ? broadcast([x, target.map((d) => (d === null ? null : d))]) : null];
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      const w = inputShape(node, st, 1);
      const r = inputShape(node, st, 2);
      if (!x || !w || !r || x.length !== 3) return [null, null, null];
      const layout = attrInt(node, 'layout', 0);
      const dirs = w[0] ?? null;
      const hidden = r[2] ?? null;
      const [seq, batch] = layout ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
      const y: Shape = layout ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden];
      const h: Shape = layout ? [batch, dirs, hidden] : [dirs, batch, hidden];
      return [y, h, h];
    }
    case 'ConstantOfShape': {
      // The output shape is the input's values (null entries stay unknown dimensions).
      const dims = inputValues(node, st, 0);
      return [dims && dims.length <= MAX_TRACKED_VALUES ? [...dims] : null];
    }
    case 'Constant':
    default:
      return [];
  }
}

function toKnown(v: IntValues | null): number[] | null {
  return v && v.every((d) => d !== null) ? (v as number[]) : null;
}

function product(dims: Shape): Dim {
  let n = 1;
  for (const d of dims) {
    if (d === null) return null;
    n *= d;
  }
  return n;
}

function elementwise(op: string, a: IntValues, b: IntValues): IntValues | null {
  const n = Math.max(a.length, b.length);
  if (a.length !== n && a.length !== 1) return null;
  if (b.length !== n && b.length !== 1) return null;
  const out: IntValues = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length === 1 ? 0 : i] ?? null;
    const y = b[b.length === 1 ? 0 : i] ?? null;
    if (x === null || y === null) {
      out.push(null);
      continue;
    }
    switch (op) {
      case 'Add':
        out.push(x + y);
        break;
      case 'Sub':
        out.push(x - y);
        break;
      case 'Mul':
        out.push(x * y);
        break;
      case 'Div':
        out.push(y === 0 ? null : Math.trunc(x / y));
        break;
      default:
        return null;
    }
  }
  return out;
}

/** Output spatial size for one axis of a convolution or pooling window. */
function windowOut(
  input: number,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceil: boolean,
): number {
  const effective = (kernel - 1) * dilation + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(input / stride);
  if (autoPad === 'VALID') return Math.floor((input - effective) / stride) + 1;
  const span = input + padBegin + padEnd - effective;
  return (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
}

function spatialOut(node: NodeRecord, x: Shape, kernel: number[], ceil: boolean): Shape | null {
  const n = kernel.length;
  const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
  const dilations = attrInts(node, 'dilations') ?? kernel.map(() => 1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const d = x[2 + i];
    if (d === null || d === undefined) {
      out.push(null);
      continue;
    }
    const o = windowOut(d, kernel[i]!, strides[i] ?? 1, dilations[i] ?? 1, pads[i] ?? 0, pads[i + n] ?? 0, autoPad, ceil);
    if (!(o > 0)) return null;
    out.push(o);
  }
  return out;
}

function convOutput(node: NodeRecord, x: Shape | null, w: Shape | null): Shape | null {
  if (!x || !w || w.length < 3 || x.length !== w.length) return null;
  const kernel = attrInts(node, 'kernel_shape') ?? toKnown(w.slice(2));
  if (!kernel) return null;
  const sp = spatialOut(node, x, kernel, false);
  return sp ? [x[0]!, w[0]!, ...sp] : null;
}

function convTransposeOutput(node: NodeRecord, x: Shape | null, w: Shape | null): Shape | null {
  if (!x || !w || w.length < 3 || x.length !== w.length) return null;
  const group = attrInt(node, 'group', 1);
  const m = w[1] === null ? null : w[1]! * group;
  const explicit = attrInts(node, 'output_shape');
  if (explicit) return [x[0]!, m, ...explicit.slice(-(x.length - 2))];
  const kernel = attrInts(node, 'kernel_shape') ?? toKnown(w.slice(2));
  if (!kernel) return null;
  const n = kernel.length;
  const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
  const dilations = attrInts(node, 'dilations') ?? kernel.map(() => 1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const outPad = attrInts(node, 'output_padding') ?? kernel.map(() => 0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const sp: Shape = [];
  for (let i = 0; i < n; i++) {
    const d = x[2 + i];
    if (d === null || d === undefined) {
      sp.push(null);
      continue;
    }
    const s = strides[i] ?? 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') sp.push(d * s);
    else sp.push(s * (d - 1) + (outPad[i] ?? 0) + ((kernel[i]! - 1) * (dilations[i] ?? 1) + 1) - (pads[i] ?? 0) - (pads[i + n] ?? 0));
  }
  return [x[0]!, m, ...sp];
}

function poolOutput(node: NodeRecord, x: Shape, kernel: number[]): Shape | null {
  const sp = spatialOut(node, x, kernel, attrInt(node, 'ceil_mode', 0) === 1);
  return sp ? [x[0]!, x[1]!, ...sp] : null;
}

function matmulOutput(a: Shape | null, b: Shape | null): Shape | null {
  if (!a || !b || a.length === 0 || b.length === 0) return null;
  // The batch dimensions (all but the last two; none for a vector) broadcast; then a's rows and b's columns.
  const aBatch = Math.max(0, a.length - 2);
  const bBatch = Math.max(0, b.length - 2);
  const batch = Math.max(aBatch, bBatch);
  let rank = 0;
  for (let i = 0; i < batch; i++) dimsBuilt[rank++] = broadcastDim(broadcastDim(1, a, aBatch, batch, i), b, bBatch, batch, i);
  if (a.length > 1) dimsBuilt[rank++] = a[a.length - 2]!;
  if (b.length > 1) dimsBuilt[rank++] = b[b.length - 1]!;
  // A layer that keeps the width returns its input's shape: shared, not copied.
  if (isBuilt(a, rank)) return a;
  if (isBuilt(b, rank)) return b;
  return dimsBuilt.slice(0, rank);
}

function reshapeOutput(x: Shape | null, target: IntValues | null, allowZero: boolean): Shape | null {
  if (!target) return null;
  const out: Shape = target.map((t, i) => {
    if (t === null) return null;
    if (t === 0 && !allowZero) return x ? (x[i] ?? null) : null;
    return t;
  });
  const inferAt = out.indexOf(-1);
  if (inferAt < 0) return out;
  out[inferAt] = null;
  if (!x) return out;
  // Solve for -1: known input elements / known target elements; a leading unknown
  // (the batch) on both sides cancels.
  const xs = [...x];
  const ts = [...out];
  if (xs[0] === null && target[0] === null) {
    xs[0] = 1;
    ts[0] = 1;
  } else if (xs[0] === null && target[0] === 0 && !allowZero) {
    xs[0] = 1;
    ts[0] = 1;
  }
  ts[inferAt] = 1;
  const inTotal = product(xs);
  const outTotal = product(ts);
  if (inTotal !== null && outTotal !== null && outTotal > 0 && inTotal % outTotal === 0) out[inferAt] = inTotal / outTotal;
  return out;
}

function sliceOutput(
  node: NodeRecord,
  x: Shape | null,
  data: IntValues | null,
  startsV: IntValues | null,
  endsV: IntValues | null,
  axesV: IntValues | null,
  stepsV: IntValues | null,
  setValues: (v: IntValues | null) => void,
): Shape | null {
  if (!x) return null;
  const starts = attrInts(node, 'starts') ?? toKnown(startsV);
  const ends = attrInts(node, 'ends') ?? toKnown(endsV);
  if (!starts || !ends) return null;
  const axes = attrInts(node, 'axes') ?? toKnown(axesV) ?? starts.map((_, i) => i);
  const steps = toKnown(stepsV) ?? starts.map(() => 1);
  const out: Shape = [...x];
  let sliced1d: [number, number, number] | null = null;
  for (let k = 0; k < axes.length; k++) {
    const axis = normAxis(axes[k]!, x.length);
    const d = x[axis];
    if (d === null || d === undefined) {
      out[axis] = null;
      continue;
    }
    const step = steps[k] ?? 1;
    if (step === 0) return null;
    const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
    let s = starts[k]!;
    let e = ends[k]!;
    s = s < 0 ? s + d : s;
    e = e < 0 ? e + d : e;
    let len: number;
    if (step > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
      len = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = clamp(s, -1, d - 1);
      e = clamp(e, -1, d - 1);
      len = Math.max(0, Math.ceil((s - e) / -step));
    }
    out[axis] = len;
    if (axis === 0) sliced1d = [s, len, step];
  }
  if (data && x.length === 1 && sliced1d) {
    const [s, len, step] = sliced1d;
    const v: IntValues = [];
    for (let i = 0; i < len; i++) v.push(data[s + i * step] ?? null);
    setValues(v);
  }
  return out;
}
