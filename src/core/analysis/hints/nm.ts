import type { HintRule } from './types';

/** Error of keeping the 2 largest of every 4 consecutive fan-in weights (NVIDIA 2:4 sparsity). */
export function twoFourError(rows: Float32Array, units: number, fanIn: number): { error: number; removed: number } {
  let total = 0;
  let removedEnergy = 0;
  let removed = 0;
  const group = new Float64Array(4);
  for (let u = 0; u < units; u++) {
    for (let p = 0; p + 4 <= fanIn; p += 4) {
      for (let j = 0; j < 4; j++) {
        const w = rows[u * fanIn + p + j]!;
        group[j] = w * w;
        total += w * w;
      }
      group.sort();
      removedEnergy += group[0]! + group[1]!;
      removed += 2;
    }
    for (let p = fanIn - (fanIn % 4); p < fanIn; p++) total += rows[u * fanIn + p]! ** 2;
  }
  return { error: total > 0 ? Math.sqrt(removedEnergy / total) : 0, removed };
}

export const twoFourHint: HintRule = (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if ((kind !== 'dense' && kind !== 'conv') || fanIn < 4) return null;
  const { error, removed } = twoFourError(ctx.rows(), units, fanIn);
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
