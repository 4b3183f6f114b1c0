import type { HintRule } from './types';

/**
 * The largest fraction of weights magnitude pruning can remove while the removed
 * weights' squared sum stays under ε² of the total: the smallest magnitudes are
 * taken first until the next would exceed the budget. Exact without sorting:
 * two histogram passes over the magnitude bits (15 high bits, then the 16 low
 * bits of the one bucket the budget runs out in, where every value is equal),
 * each bucket holding its count and sum of squares. A full sort of a 16M-weight
 * layer costs seconds of scattered writes to fresh memory on a busy machine.
 */
export function prunableFraction(values: Float32Array, epsilon: number): { fraction: number; error: number; count: number } {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const count1 = new Float64Array(1 << 15);
  const sum1 = new Float64Array(1 << 15);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const e = v * v;
    total += e;
    const b = (bits[i]! & 0x7fffffff) >>> 16;
    count1[b]! += 1;
    sum1[b]! += e;
  }
  const budget = epsilon * epsilon * total;
  // NaN or ±Infinity anywhere: nothing can be said about magnitudes then.
  if (!Number.isFinite(total)) return { fraction: 0, error: 0, count: 0 };
  let removed = 0;
  let count = 0;
  let boundary = -1;
  for (let b = 0; b < count1.length; b++) {
    if (count1[b] === 0) continue;
    if (removed + sum1[b]! <= budget) {
      removed += sum1[b]!;
      count += count1[b]!;
    } else {
      boundary = b;
      break;
    }
  }
  if (boundary >= 0) {
    const count2 = new Float64Array(1 << 16);
    for (let i = 0; i < n; i++) {
      const key = bits[i]! & 0x7fffffff;
      if (key >>> 16 === boundary) count2[key & 0xffff]! += 1;
    }
    const one = new Uint32Array(1);
    const asFloat = new Float32Array(one.buffer);
    for (let low = 0; low < count2.length; low++) {
      const c = count2[low]!;
      if (c === 0) continue;
      one[0] = (boundary << 16) | low;
      const e = asFloat[0]! * asFloat[0]!;
      // All c values here are equal: take as many as still fit.
      let take = e > 0 ? Math.min(c, Math.floor((budget - removed) / e)) : c;
      while (take > 0 && removed + take * e > budget) take--;
      removed += take * e;
      count += take;
      if (take < c) break;
    }
  }
  return { fraction: count / Math.max(1, n), error: total > 0 ? Math.sqrt(removed / total) : 0, count };
}

export const prunableHint: HintRule = (ctx) => {
  const { fraction, error, count } = prunableFraction(ctx.values, ctx.options.epsilon);
  if (fraction < 0.1) return null;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'prunable',
    savingsParams: count,
    savingsBytes: Math.round(count * ctx.bytesPerElement),
    error,
    detail: { fraction, params: ctx.values.length },
    message: `${(fraction * 100).toFixed(0)}% of weights can be pruned within ${(ctx.options.epsilon * 100).toFixed(1)}% error`,
  };
};
