import { floatToHalf, halfToFloat } from '../../io/halfFloat';
import type { FormatId } from '../../model';
import { roundBounded } from '../../numeric/affineQuantize';
import { storageOrder, unitMaxAbs, type WeightLayout } from '../weightLayout';
import type { HintRule } from './types';

const HALF_MAX = 65504;
const HALF_MIN_NORMAL = 2 ** -14;

/** The quantization `parsimony compress` can write for a format: what a quantizable hint's saving and error refer to. */
export function quantizeTargetFor(format: FormatId): { dtype: 'uint8' | 'int8' | 'float16'; perChannel: boolean } {
  // TF.js manifests hold one min/scale per tensor (tensorflowjs_converter's uint8); safetensors stores no
  // integer encoding, so float16; ONNX takes QDQ int8 per channel, which is also what the formats Parsimony
  // cannot write yet would use in their own runtimes.
  if (format.startsWith('tfjs')) return { dtype: 'uint8', perChannel: false };
  if (format === 'safetensors') return { dtype: 'float16', perChannel: false };
  return { dtype: 'int8', perChannel: true };
}

/**
 * Signal-to-quantization-noise ratio of symmetric int8 per output channel, in
 * dB, from each unit's largest |w| and one pass over the values in storage order.
 */
export function int8PerChannelSqnr(values: Float32Array, layout: WeightLayout, unitMax: Float64Array = unitMaxAbs(values, layout)): { sqnrDb: number; error: number } {
  const { units, fanIn, index } = layout;
  const scale = Float64Array.from(unitMax, (m) => m / 127 || 1);
  let signal = 0;
  let noise = 0;
  const add = (w: number, s: number) => {
    const d = w - Math.max(-127, Math.min(127, roundBounded(w / s))) * s;
    signal += w * w;
    noise += d * d;
  };
  const order = storageOrder(layout);
  if (order === 'units-last') {
    for (let i = 0, u = 0; i < values.length; i++) {
      const w = values[i]!;
      const s = scale[u]!;
      const d = w - Math.max(-127, Math.min(127, roundBounded(w / s))) * s;
      signal += w * w;
      noise += d * d;
      if (++u === units) u = 0;
    }
  } else {
    for (let u = 0; u < units; u++) for (let p = 0; p < fanIn; p++) add(values[order === 'unit-major' ? u * fanIn + p : index(u, p)]!, scale[u]!);
  }
  const sqnrDb = noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
  return { sqnrDb, error: signal > 0 ? Math.sqrt(noise / signal) : 0 };
}

/** Relative error ‖W − Ŵ‖/‖W‖ of a per-tensor uint8 (TF.js) or float16 round trip. */
function roundTripError(values: Float32Array, dtype: 'uint8' | 'float16'): number {
  let signal = 0;
  let noise = 0;
  if (dtype === 'uint8') {
    // quantizeAffine's per-tensor uint8 (range through 0, zero point rounded), without its output buffer.
    let min = 0;
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < min) min = v;
      else if (v > max) max = v;
    }
    const scale = (max - min) / 255 || 1;
    const zp = Math.round(-min / scale);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const q = Math.max(0, Math.min(255, roundBounded(v / scale) + zp));
      const d = v - Math.fround((q - zp) * scale);
      signal += v * v;
      noise += d * d;
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const d = values[i]! - halfToFloat(floatToHalf(values[i]!));
      signal += values[i]! * values[i]!;
      noise += d * d;
    }
  }
  return signal > 0 ? Math.sqrt(noise / signal) : 0;
}

export const quantizableHint: HintRule = (ctx) => {
  if (!/^float(32|64)$/.test(ctx.tensor.dtype)) return null;
  const { units } = ctx.layout;
  const int8 = int8PerChannelSqnr(ctx.values, ctx.layout, ctx.unitMaxAbs());
  let overflow = 0;
  let flush = 0;
  for (let i = 0; i < ctx.values.length; i++) {
    const a = Math.abs(ctx.values[i]!);
    if (a > HALF_MAX) overflow++;
    else if (a > 0 && a < HALF_MIN_NORMAL) flush++;
  }
  const n = ctx.values.length;
  const float16Safe = overflow === 0 && flush / n < 0.01;
  const target = quantizeTargetFor(ctx.format);
  // Stored bytes after: one per weight for 8-bit (plus a float32 scale and an int8 zero point per channel for ONNX QDQ), two for float16.
  const after = target.dtype === 'float16' ? 2 * n : n + (target.perChannel ? 5 * units : 0);
  let savingsBytes = Math.round(ctx.tensor.bytes - after);
  // `quantize --layers <layer>` also stores the layer's float vectors (bias, norms) as uint8 (TF.js) or float16;
  // int8 keeps them float. They are counted with the layer's first weight matrix.
  const first = ctx.layer.tensors.find((t) => t.isParameter && t.shape.length >= 2);
  if (target.dtype !== 'int8' && first === ctx.tensor) {
    for (const t of ctx.layer.tensors) {
      if (!t.isParameter || t.shape.length >= 2 || !/^float(32|64)$/.test(t.dtype)) continue;
      savingsBytes += Math.round(t.bytes - t.count * (target.dtype === 'float16' ? 2 : 1));
    }
  }
  if (savingsBytes <= 0) return null;
  const error = target.dtype === 'int8' ? int8.error : roundTripError(ctx.values, target.dtype);
  const sqnr = Number.isFinite(int8.sqnrDb) ? int8.sqnrDb : 999;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'quantizable',
    savingsParams: 0,
    savingsBytes,
    error,
    detail: { sqnrDb: sqnr, dtype: target.dtype, perChannel: target.perChannel, float16Safe, float16Overflow: overflow, float16Subnormal: flush },
    message:
      `int8 per-channel SQNR ${Number.isFinite(int8.sqnrDb) ? int8.sqnrDb.toFixed(1) : '∞'} dB; float16 ${float16Safe ? 'safe' : `unsafe (${overflow} overflow, ${flush} subnormal)`}` +
      `; as ${target.dtype}${target.perChannel ? ' per channel' : ''} here`,
  };
};
