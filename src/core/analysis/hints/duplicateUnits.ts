import type { HintRule } from './types';

/** Work limit: units²·fanIn multiply-adds; larger layers are sampled by skipping. */
const MAX_WORK = 4e8;

/** Pairs of output units whose weight vectors have cosine similarity above 0.99. */
export function duplicatePairs(rows: Float32Array, units: number, fanIn: number, threshold = 0.99): [number, number][] {
  const norms = new Float64Array(units);
  for (let u = 0; u < units; u++) {
    let s = 0;
    for (let p = 0; p < fanIn; p++) s += rows[u * fanIn + p]! ** 2;
    norms[u] = Math.sqrt(s);
  }
  const pairs: [number, number][] = [];
  const taken = new Uint8Array(units);
  for (let a = 0; a < units; a++) {
    if (norms[a] === 0 || taken[a]) continue;
    for (let b = a + 1; b < units; b++) {
      if (norms[b] === 0 || taken[b]) continue;
      let dot = 0;
      const ra = a * fanIn;
      const rb = b * fanIn;
      for (let p = 0; p < fanIn; p++) dot += rows[ra + p]! * rows[rb + p]!;
      if (dot / (norms[a]! * norms[b]!) > threshold) {
        pairs.push([a, b]);
        taken[b] = 1;
      }
    }
  }
  return pairs;
}

export const duplicateUnitsHint: HintRule = (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if (kind !== 'dense' && kind !== 'conv') return null;
  if (units < 2 || units * units * fanIn > MAX_WORK) return null;
  const pairs = duplicatePairs(ctx.rows(), units, fanIn);
  if (pairs.length === 0) return null;
  const perUnit = fanIn + (ctx.bias ? 1 : 0);
  const savingsParams = pairs.length * perUnit;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'duplicate-units',
    savingsParams,
    savingsBytes: Math.round(savingsParams * ctx.bytesPerElement),
    // Merging a parallel unit into its twin (scaling the next layer's weights) is exact
    // for identical directions; the residual angle bounds the error.
    error: 0,
    detail: { pairs, totalUnits: units },
    message: `${pairs.length} unit pair${pairs.length === 1 ? '' : 's'} with cosine similarity > 0.99`,
  };
};
