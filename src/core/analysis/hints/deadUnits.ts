import type { HintRule } from './types';

/**
 * Units whose incoming weights are all (near) zero. With a ReLU-like activation
 * and a bias ≤ 0 such a unit outputs 0 for every input: it is dead.
 */
export const deadUnitsHint: HintRule = (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if (kind !== 'dense' && kind !== 'conv') return null;
  const unitMax = ctx.unitMaxAbs();
  let max = 0;
  for (let u = 0; u < units; u++) max = Math.max(max, unitMax[u]!);
  const tiny = 1e-6 * max;
  const activation = String((ctx.layer.config as { activation?: unknown } | undefined)?.activation ?? '');
  const reluLike = /relu/i.test(activation);
  const dead: number[] = [];
  for (let u = 0; u < units; u++) {
    if (unitMax[u]! > tiny) continue;
    const b = ctx.bias?.[u] ?? 0;
    // Without ReLU the unit still outputs its constant bias (foldable, but not dead).
    if (b === 0 || (reluLike && b <= 0)) dead.push(u);
  }
  if (dead.length === 0) return null;
  const perUnit = fanIn + (ctx.bias ? 1 : 0);
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'dead-units',
    savingsParams: dead.length * perUnit,
    savingsBytes: Math.round(dead.length * perUnit * ctx.bytesPerElement),
    error: 0,
    detail: { units: dead, totalUnits: units, basis: 'weights' },
    message: `${dead.length} unit${dead.length === 1 ? '' : 's'} always output zero`,
  };
};
