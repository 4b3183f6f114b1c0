import { spectrum } from '../../numeric/lowRank';
import type { HintRule } from './types';

/**
 * A standard k×k convolution (k·k·I·O parameters) versus depthwise + pointwise
 * (k·k·I + I·O). The best separable fit of the kernel: for each input channel the
 * k·k×O slice is approximated by rank 1 (a depthwise filter times pointwise
 * weights); the error is the energy the rank-1 slices miss.
 */
export const separableHint: HintRule = (ctx) => {
  const { kind, units: outChannels, kernel } = ctx.layout;
  if (kind !== 'conv' || !kernel) return null;
  const { kh, kw, inChannels } = kernel;
  const k2 = kh * kw;
  if (k2 < 2 || inChannels < 2) return null;
  const original = k2 * inChannels * outChannels;
  const params = k2 * inChannels + inChannels * outChannels;
  const savingsParams = original - params;
  if (savingsParams <= 0) return null;
  // Slice for input channel i: k2 × O matrix.
  const slice = new Float32Array(k2 * outChannels);
  let kept = 0;
  for (let i = 0; i < inChannels; i++) {
    for (let o = 0; o < outChannels; o++) {
      for (let s = 0; s < k2; s++) {
        // Unit-major fan-in position for (spatial s, input channel i) depends on the format;
        // both layouts handled through layout.index with the format's ordering.
        slice[s * outChannels + o] = ctx.values[ctx.layout.index(o, positionOf(ctx.format, s, i, k2, inChannels))]!;
      }
    }
    const sp = spectrum(slice, k2, outChannels);
    kept += sp.energies[0] ?? 0;
  }
  const error = ctx.energy > 0 ? Math.sqrt(Math.max(0, ctx.energy - kept) / ctx.energy) : 0;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'separable',
    savingsParams,
    savingsBytes: Math.round(savingsParams * ctx.bytesPerElement),
    error,
    detail: { params, originalParams: original, kernel: [kh, kw], inChannels, outChannels, fitError: error },
    message: `depthwise-separable needs ${params.toLocaleString('en-US')} of ${original.toLocaleString('en-US')} params (direct fit error ${(error * 100).toFixed(0)}%; recover by fine-tuning)`,
  };
};

/** Fan-in position of (spatial index s, input channel i): TF stores [kh, kw, in] (channel fastest), PyTorch/ONNX [in, kh, kw]. */
function positionOf(format: string, s: number, i: number, k2: number, inChannels: number): number {
  if (format === 'tfjs-layers' || format === 'keras' || format === 'tfjs-graph' || format === 'tfjs-weights' || format === 'tflite') return s * inChannels + i;
  return i * k2 + s;
}
