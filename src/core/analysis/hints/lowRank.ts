import { rankForEnergy, spectrum, truncationError, type Spectrum } from '../../numeric/lowRank';
import { sketchSpectrum } from '../../numeric/randomizedSpectrum';
import type { HintRule, TensorContext } from './types';

/** Up to this many units or inputs, the exact spectrum (float64 Gram matrix, scalar code) is cheap enough. */
const EXACT_SIDE = 256;
/** Larger layers are searched for ranks up to this (plus oversampling) with a randomized sketch on TF.js. */
const SKETCH_RANK = 256;
const OVERSAMPLE = 16;

/** Smallest rank K keeping ≥ 1−ε² of the spectral energy; saving M·N − (M+N)·K. */
export const lowRankHint: HintRule = async (ctx) => {
  const { kind, units, fanIn } = ctx.layout;
  if (kind !== 'dense' && kind !== 'conv') return null;
  if (Math.min(units, fanIn) < 4) return null;
  // Ranks at or above M·N/(M+N) save nothing: no need to look further.
  const breakEven = Math.ceil((units * fanIn) / (units + fanIn));
  const eps = ctx.options.epsilon;
  const s = await spectrumFor(ctx, Math.min(breakEven, SKETCH_RANK) + OVERSAMPLE, 1 - eps * eps);
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
    detail: { rank, fullRank: Math.min(units, fanIn), rows: fanIn, cols: units, exact: s.exact, ...(s.exact ? {} : { searchedRanks: s.energies.length }) },
    message: `rank ${rank} of ${Math.min(units, fanIn)} keeps ${((1 - eps * eps) * 100).toFixed(2)}% of the energy`,
  };
};

/**
 * Exact for small layers; for large ones the top `sketch` singular values, on
 * TF.js when it loads (10–20× faster matrix products), else in scalar code.
 */
async function spectrumFor(ctx: TensorContext, sketch: number, keep: number): Promise<Spectrum> {
  const { units, fanIn } = ctx.layout;
  if (Math.min(units, fanIn) <= EXACT_SIDE) return spectrum(ctx.rows(), units, fanIn);
  const tf = await ctx.linearAlgebra();
  if (!tf) return spectrum(ctx.rows(), units, fanIn);
  // TF/Keras kernels are stored [fanIn, units]: the stored values are the transposed unit-major matrix.
  const storedTransposed = units > 1 && fanIn > 1 && ctx.layout.index(1, 0) === 1 && ctx.layout.index(0, 1) === units;
  return sketchSpectrum(tf, storedTransposed ? { transposed: ctx.values } : { rows: ctx.rows() }, units, fanIn, { sketch, keep });
}
