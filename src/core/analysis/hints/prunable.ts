import { absolute } from '../../numeric/select';
import type { HintRule } from './types';

/**
 * The largest fraction of weights magnitude pruning can remove while the removed
 * weights' squared sum stays under ε² of the total.
 */
export function prunableFraction(values: Float32Array, epsilon: number): { fraction: number; error: number; count: number } {
  const mags = absolute(values).sort();
  let total = 0;
  for (let i = 0; i < mags.length; i++) total += mags[i]! * mags[i]!;
  const budget = epsilon * epsilon * total;
  let removed = 0;
  let count = 0;
  while (count < mags.length) {
    const e = mags[count]! * mags[count]!;
    if (removed + e > budget) break;
    removed += e;
    count++;
  }
  return { fraction: count / Math.max(1, mags.length), error: total > 0 ? Math.sqrt(removed / total) : 0, count };
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
