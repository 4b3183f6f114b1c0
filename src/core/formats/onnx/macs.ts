import type { NodeRecord } from './proto';
import { attr, inputShape, perSampleElements, type Shape, type ShapeState } from './shapes';

/** Ops that cost multiply-accumulates by themselves (they become layers even without weights). */
export const COMPUTE_OPS = new Set([
  'Conv', 'ConvInteger', 'QLinearConv', 'ConvTranspose', 'Gemm', 'MatMul', 'MatMulInteger', 'QLinearMatMul',
  'LSTM', 'GRU', 'RNN', 'Einsum', 'Attention', 'MultiHeadAttention',
]);

/** Per-element ops whose cost is one multiply per output element (scale/normalise). */
const PER_ELEMENT_MUL = new Set([
  'Mul', 'Div', 'PRelu', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization',
]);
/** Ops that hold weights but multiply nothing (bias add, table lookup). */
const NO_MULTIPLY = new Set(['Add', 'Sub', 'Gather', 'GatherElements', 'Concat', 'Reshape', 'Pad', 'Expand', 'Where']);

/**
 * Multiply-accumulates for one sample (a null leading dimension counts as 1),
 * or null when shapes are unknown or the op's cost isn't modelled.
 */
export function nodeMacs(node: NodeRecord, st: ShapeState): number | null {
  const macs = rawMacs(node, st);
  // Corrupt attributes or dims can make the arithmetic overflow: an unknown cost, never a wrong one.
  return macs !== null && Number.isSafeInteger(macs) && macs >= 0 ? macs : null;
}

function rawMacs(node: NodeRecord, st: ShapeState): number | null {
  const out = node.outputs[0] ? (st.shapes.get(node.outputs[0]) ?? null) : null;
  const op = node.opType;
  switch (op) {
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = inputShape(node, st, op === 'QLinearConv' ? 3 : 1);
      const perOut = w ? productKnown(w.slice(1)) : null;
      const outs = perSampleElements(out);
      return perOut === null || outs === null ? null : outs * perOut;
    }
    case 'ConvTranspose': {
      const w = inputShape(node, st, 1);
      const perIn = w ? productKnown(w.slice(1)) : null;
      const ins = perSampleElements(inputShape(node, st, 0));
      return perIn === null || ins === null ? null : ins * perIn;
    }
    case 'Gemm': {
      const a = inputShape(node, st, 0);
      const b = inputShape(node, st, 1);
      let k: number | null = null;
      if (a && a.length === 2) k = (attr(node, 'transA')?.i ? a[0] : a[1]) ?? null;
      if (k === null && b && b.length === 2) k = (attr(node, 'transB')?.i ? b[1] : b[0]) ?? null;
      const outs = perSampleElements(out);
      return k === null || outs === null ? null : outs * k;
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul': {
      const a = inputShape(node, st, 0);
      const b = inputShape(node, st, op === 'QLinearMatMul' ? 3 : 1);
      let k: number | null = a && a.length > 0 ? (a[a.length - 1] ?? null) : null;
      if (k === null && b && b.length > 0) k = (b.length === 1 ? b[0] : b[b.length - 2]) ?? null;
      const outs = perSampleElements(out);
      return k === null || outs === null ? null : outs * k;
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      // Per time step and batch row: the input and recurrent matrices (all gates, all directions).
      const x = inputShape(node, st, 0);
      const w = inputShape(node, st, 1);
      const r = inputShape(node, st, 2);
      const layout = attr(node, 'layout')?.i ?? 0;
      const seq = x && x.length === 3 ? x[layout ? 1 : 0] : null;
      const wc = w ? productKnown(w) : null;
      const rc = r ? productKnown(r) : null;
      return seq === null || seq === undefined || wc === null || rc === null ? null : seq * (wc + rc);
    }
  }
  if (PER_ELEMENT_MUL.has(op)) return perSampleElements(out);
  if (NO_MULTIPLY.has(op)) return 0;
  return null;
}

function productKnown(dims: Shape): number | null {
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    if (d === null) return null;
    n *= d;
  }
  return n;
}
