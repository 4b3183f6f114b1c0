import { storageOrder } from '../weightLayout';
import type { HintRule } from './types';

/** Error of keeping the 2 largest of every 4 consecutive fan-in weights (NVIDIA 2:4 sparsity). */
export function twoFourError(rows: Float32Array, units: number, fanIn: number): { error: number; removed: number } {
  let total = 0;
  let removedEnergy = 0;
  let removed = 0;
  for (let u = 0; u < units; u++) {
    for (let p = 0; p + 4 <= fanIn; p += 4) {
      const i = u * fanIn + p;
      const a = rows[i]! * rows[i]!;
      const b = rows[i + 1]! * rows[i + 1]!;
      const c = rows[i + 2]! * rows[i + 2]!;
      const d = rows[i + 3]! * rows[i + 3]!;
      total += a + b + c + d;
      // The two smallest of four: the smaller of each pair, then the smaller of the two larger vs the larger of the two smaller.
      const lo1 = a < b ? a : b;
      const hi1 = a < b ? b : a;
      const lo2 = c < d ? c : d;
      const hi2 = c < d ? d : c;
      const smallest = lo1 < lo2 ? lo1 : lo2;
      const other = lo1 < lo2 ? Math.min(hi1, lo2) : Math.min(hi2, lo1);
      removedEnergy += smallest + other;
      removed += 2;
    }
    for (let p = fanIn - (fanIn % 4); p < fanIn; p++) total += rows[u * fanIn + p]! ** 2;
  }
  return { error: total > 0 ? Math.sqrt(removedEnergy / total) : 0, removed };
}

/**
 * The same for Keras/TF storage ([fanIn, units]): the four weights of a group
 * are four consecutive rows of one column, so four rows are read side by side.
 */
export function twoFourErrorUnitsLast(values: Float32Array, units: number, fanIn: number): { error: number; removed: number } {
  let total = 0;
  let removedEnergy = 0;
  let removed = 0;
  for (let p = 0; p + 4 <= fanIn; p += 4) {
    const r0 = p * units;
    for (let u = 0; u < units; u++) {
      const i = r0 + u;
      const a = values[i]! * values[i]!;
      const b = values[i + units]! * values[i + units]!;
      const c = values[i + 2 * units]! * values[i + 2 * units]!;
      const d = values[i + 3 * units]! * values[i + 3 * units]!;
      total += a + b + c + d;
      const lo1 = a < b ? a : b;
      const hi1 = a < b ? b : a;
      const lo2 = c < d ? c : d;
      const hi2 = c < d ? d : c;
      removedEnergy += (lo1 < lo2 ? lo1 : lo2) + (lo1 < lo2 ? Math.min(hi1, lo2) : Math.min(hi2, lo1));
      removed += 2;
    }
  }
  for (let i = (fanIn - (fanIn % 4)) * units; i < fanIn * units; i++) total += values[i]! * values[i]!;
  return { error: total > 0 ? Math.sqrt(removedEnergy / total) : 0, removed };
}

export const twoFourHint: HintRule = (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if ((kind !== 'dense' && kind !== 'conv') || fanIn < 4) return null;
  const { error, removed } = storageOrder(ctx.layout) === 'units-last' ? twoFourErrorUnitsLast(ctx.values, units, fanIn) : twoFourError(ctx.rows(), units, fanIn);
  const reachable = error <= ctx.options.epsilon;
  if (!reachable) return null;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: '2:4',
    savingsParams: removed,
    savingsBytes: Math.round(removed * ctx.bytesPerElement),
    error,
    detail: { reachable, fraction: removed / (units * fanIn) },
    message: `2:4 structured sparsity within ${(error * 100).toFixed(2)}% error`,
  };
};
