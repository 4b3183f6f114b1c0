import { rankForEnergy, spectrum, truncationError } from '../../numeric/lowRank';
import type { HintRule } from './types';

/** Smallest rank K keeping ≥ 1−ε² of the spectral energy; saving M·N − (M+N)·K. */
export const lowRankHint: HintRule = (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if (kind !== 'dense' && kind !== 'conv') return null;
  if (Math.min(units, fanIn) < 4) return null;
  const s = spectrum(ctx.rows(), units, fanIn);
  const eps = ctx.options.epsilon;
  const rank = rankForEnergy(s, 1 - eps * eps);
  if (rank === null) return null;
  const savingsParams = units * fanIn - (units + fanIn) * rank;
  if (savingsParams <= 0) return null;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'low-rank',
    savingsParams,
    savingsBytes: Math.round(savingsParams * ctx.bytesPerElement),
    error: truncationError(s, rank),
    detail: { rank, fullRank: Math.min(units, fanIn), rows: fanIn, cols: units, exact: s.exact },
    message: `rank ${rank} of ${Math.min(units, fanIn)} keeps ${((1 - eps * eps) * 100).toFixed(2)}% of the energy`,
  };
};
