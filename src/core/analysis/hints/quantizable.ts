import type { HintRule } from './types';

const HALF_MAX = 65504;
const HALF_MIN_NORMAL = 2 ** -14;

/** Signal-to-quantization-noise ratio of symmetric int8 per output channel, in dB. */
export function int8PerChannelSqnr(rows: Float32Array, units: number, fanIn: number): { sqnrDb: number; error: number } {
  let signal = 0;
  let noise = 0;
  for (let u = 0; u < units; u++) {
    let max = 0;
    for (let p = 0; p < fanIn; p++) max = Math.max(max, Math.abs(rows[u * fanIn + p]!));
    const scale = max / 127 || 1;
    for (let p = 0; p < fanIn; p++) {
      const w = rows[u * fanIn + p]!;
      const q = Math.max(-127, Math.min(127, Math.round(w / scale))) * scale;
      signal += w * w;
      noise += (w - q) * (w - q);
    }
  }
  const sqnrDb = noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
  return { sqnrDb, error: signal > 0 ? Math.sqrt(noise / signal) : 0 };
}

export const quantizableHint: HintRule = (ctx) => {
  if (!/^float(32|64)$/.test(ctx.tensor.dtype)) return null;
  const { units, fanIn } = ctx.layout;
  const { sqnrDb, error } = int8PerChannelSqnr(ctx.rows(), units, fanIn);
  let overflow = 0;
  let flush = 0;
  for (let i = 0; i < ctx.values.length; i++) {
    const a = Math.abs(ctx.values[i]!);
    if (a > HALF_MAX) overflow++;
    else if (a > 0 && a < HALF_MIN_NORMAL) flush++;
  }
  const n = ctx.values.length;
  const float16Safe = overflow === 0 && flush / n < 0.01;
  const savingsBytes = Math.round(ctx.tensor.bytes - n); // int8: one byte per weight (+ per-channel scales, negligible)
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'quantizable',
    savingsParams: 0,
    savingsBytes,
    error,
    detail: { sqnrDb: Number.isFinite(sqnrDb) ? sqnrDb : 999, float16Safe, float16Overflow: overflow, float16Subnormal: flush },
    message: `int8 per-channel SQNR ${Number.isFinite(sqnrDb) ? sqnrDb.toFixed(1) : '∞'} dB; float16 ${float16Safe ? 'safe' : `unsafe (${overflow} overflow, ${flush} subnormal)`}`,
  };
};
