import type { Tf } from '../tfjs';
import type { KernelArgs, KernelConfig } from './wasmBackend';

/**
 * MaxPoolGrad for the wasm backend: each window's gradient goes to its first
 * maximum (strictly greater wins, windows scanned row by row, as the cpu
 * backend's maxPoolPositions), overlapping windows add up. The stock wasm
 * kernel walks every input element through every window that could touch it;
 * this walks each window once, channels innermost (contiguous in NHWC).
 */
export function maxPoolGradConfig(tf: Tf, original: KernelConfig): KernelConfig & { parsimonyWrapped: true } {
  return {
    ...original,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'dy' | 'input' | 'output'>;
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
        filterSize: number | [number, number];
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | import('@tensorflow/tfjs').backend_util.ExplicitPadding;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const { dy, input } = inputs;
      if (input.dtype !== 'float32' || dy.dtype !== 'float32') return original.kernelFunc(args);
      const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
      const out = backend.makeOutput([...input.shape], 'float32');
      const dx = backend.typedArrayFromHeap(out);
      const x = backend.typedArrayFromHeap(input);
      const g = backend.typedArrayFromHeap(dy);
      maxPoolGradNhwc(x, g, dx, info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
        info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
      return out;
    },
  };
}

export function maxPoolGradNhwc(
  x: Float32Array, dy: Float32Array, dx: Float32Array,
  batch: number, inH: number, inW: number, channels: number, outH: number, outW: number,
  fh: number, fw: number, sh: number, sw: number, top: number, left: number,
): void {
  dx.fill(0);
  const row = inW * channels;
  if (fh === 2 && fw === 2 && sh >= 2 && sw >= 2 && top === 0 && left === 0 && (outH - 1) * sh + 2 <= inH && (outW - 1) * sw + 2 <= inW) {
    // The usual 2×2 pooling without padding: windows never overlap or leave the image.
    for (let b = 0; b < batch; b++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const p00 = (b * inH + oy * sh) * row + ox * sw * channels;
          const p01 = p00 + channels;
          const p10 = p00 + row;
          const p11 = p10 + channels;
          const g = ((b * outH + oy) * outW + ox) * channels;
          for (let c = 0; c < channels; c++) {
            // First maximum in row-major window order wins; NaN never does.
            let best = -Infinity;
            let at = -1;
            const v00 = x[p00 + c]!;
            if (v00 > best) { best = v00; at = p00 + c; }
            const v01 = x[p01 + c]!;
            if (v01 > best) { best = v01; at = p01 + c; }
            const v10 = x[p10 + c]!;
            if (v10 > best) { best = v10; at = p10 + c; }
            const v11 = x[p11 + c]!;
            if (v11 > best) { at = p11 + c; }
            if (at >= 0) dx[at] = dx[at]! + dy[g + c]!;
          }
        }
      }
    }
    return;
  }
  const best = new Float32Array(channels);
  const where = new Int32Array(channels);
  for (let b = 0; b < batch; b++) {
    const image = b * inH * row;
    for (let oy = 0; oy < outH; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(inH, oy * sh - top + fh);
      for (let ox = 0; ox < outW; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(inW, ox * sw - left + fw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const at = image + iy * row + ix * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[at + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = at + c;
              }
            }
          }
        }
        const g = ((b * outH + oy) * outW + ox) * channels;
        for (let c = 0; c < channels; c++) {
          const p = where[c]!;
          if (p >= 0) dx[p] = dx[p]! + dy[g + c]!;
        }
      }
    }
  }
}
