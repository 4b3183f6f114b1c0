import { SortedValues } from '../../numeric/kmeans1d';
import type { HintRule } from './types';

/**
 * The largest fraction of weights magnitude pruning can remove while the removed
 * weights' squared sum stays under ε² of the total. Works on the signed values
 * sorted once (shared with the clustering rule): the magnitudes come out in
 * ascending order by walking outwards from zero, so no second sort is needed.
 */
export function prunableFraction(values: Float32Array | SortedValues, epsilon: number): { fraction: number; error: number; count: number } {
  const data = values instanceof SortedValues ? values : new SortedValues(values);
  const n = data.length;
  const total = data.sumSq(0, n);
  const budget = epsilon * epsilon * total;
  let right = data.lowerBound(0);
  let left = right - 1;
  let removed = 0;
  let count = 0;
  while (count < n) {
    let m: number;
    if (left < 0) m = data.at(right++);
    else if (right >= n) m = -data.at(left--);
    else {
      const a = -data.at(left);
      const b = data.at(right);
      if (a <= b) {
        m = a;
        left--;
      } else {
        m = b;
        right++;
      }
    }
    if (m !== m) break; // NaN: nothing beyond it is prunable by magnitude
    const e = m * m;
    if (removed + e > budget) break;
    removed += e;
    count++;
  }
  return { fraction: count / Math.max(1, n), error: total > 0 ? Math.sqrt(removed / total) : 0, count };
}

export const prunableHint: HintRule = (ctx) => {
  const { fraction, error, count } = prunableFraction(ctx.sorted(), ctx.options.epsilon);
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
