import type { HintRule } from './types';

/** Share of exact zeros and of near-zeros (|w| < 10⁻³·max|w|). */
export const sparseHint: HintRule = (ctx) => {
  const v = ctx.values;
  let zeros = 0;
  let max = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a === 0) zeros++;
    if (a > max) max = a;
  }
  const threshold = 1e-3 * max;
  let near = 0;
  let nearEnergy = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a < threshold) {
      near++;
      nearEnergy += a * a;
    }
  }
  const zeroFraction = zeros / v.length;
  const nearZeroFraction = near / v.length;
  if (zeroFraction < 0.05 && nearZeroFraction < 0.05) return null;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'sparse',
    savingsParams: near,
    savingsBytes: Math.round(near * ctx.bytesPerElement),
    error: ctx.energy > 0 ? Math.sqrt(nearEnergy / ctx.energy) : 0,
    detail: { zeroFraction, nearZeroFraction, threshold, params: v.length },
    message: `${(zeroFraction * 100).toFixed(1)}% exact zeros, ${(nearZeroFraction * 100).toFixed(1)}% near zero`,
  };
};
