import type { Tf } from '../tfjs';
import { callKernel, view, type KernelArgs, type KernelConfig, type TensorInfo } from './wasmBackend';

/**
 * Conv2DBackpropFilter for the wasm backend, which has none (TF.js 4.22):
 *   dW[fy, fx, c, o] = Σ_{b, y, x} X[b, y·s + fy − top, x·s + fx − left, c] · dY[b, y, x, o]
 * as one matrix product (or, for unit strides and several input channels, as a
 * forward convolution; see VIA_CONV_MIN_CHANNELS). The input patches are laid out transposed (im2colᵀ,
 * [fh·fw·ci, B·oh·ow]) so that dW = im2colᵀ · dY is a plain, untransposed
 * product, which the backend's XNNPACK kernel runs at full speed; dY is used in
 * place as a [B·oh·ow, co] matrix, and the [fh·fw·ci, co] result already is the
 * filter's [fh, fw, ci, co] layout.
 */
/**
 * From this many input channels on, unit-stride cases go through the forward
 * convolution instead: the im2col gather is then the larger cost (measured:
 * 64×13×13×8 → 3×3×8×16 takes 1.1 ms that way against 1.5 ms with im2col;
 * with one input channel im2col is faster, 0.9 ms against 1.6 ms).
 */
const VIA_CONV_MIN_CHANNELS = 4;

export function conv2dBackpropFilterConfig(tf: Tf): KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'x' | 'dy'>;
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | import('@tensorflow/tfjs').backend_util.ExplicitPadding;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        filterShape: [number, number, number, number];
      };
      const made: TensorInfo[] = [];
      try {
        let x = inputs.x;
        let dy = inputs.dy;
        if (dataFormat === 'NCHW') {
          // Work channels-last; the filter layout is the same in both formats.
          x = callKernel(tf, 'Transpose', backend, { x }, { perm: [0, 2, 3, 1] });
          made.push(x);
          dy = callKernel(tf, 'Transpose', backend, { x: dy }, { perm: [0, 2, 3, 1] });
          made.push(dy);
        }
        const info = tf.backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
        const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co } = info;
        const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
        const { top, left, bottom, right } = info.padInfo;
        if (sh === 1 && sw === 1 && ci >= VIA_CONV_MIN_CHANNELS) {
          // dW[fy, fx, c, o] = Σ_{b, y, x} Xᵀ[c, y + fy, x + fx, b] · dYᵀ[y, x, b, o]: a convolution of the
          // input (batch as channels) with dY as the filter, which XNNPACK runs without an im2col copy.
          const xt = callKernel(tf, 'Transpose', backend, { x }, { perm: [3, 1, 2, 0] });
          made.push(xt);
          const dyt = callKernel(tf, 'Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] });
          made.push(dyt);
          const r = callKernel(tf, 'Conv2D', backend, { x: xt, filter: dyt }, {
            strides: 1, dilations: 1, dataFormat: 'NHWC', dimRoundingMode: undefined as never, pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
          });
          made.push(r);
          return callKernel(tf, 'Transpose', backend, { x: r }, { perm: [1, 2, 0, 3] });
        }
        if (sh === 1 && sw === 1 && ci === 1) {
          // One input channel (a network's first convolution): each tap's row of patches is the padded
          // image read at an offset, so rows are whole-row copies, if the product runs over the padded
          // width (wp) and dY is widened to it with zeros, which cancel the columns that wrap around.
          const hp = inHeight + top + bottom;
          const wp = inWidth + left + right;
          const n = batchSize * outHeight * wp;
          const patches = backend.makeOutput([1, fh * fw, n], 'float32');
          made.push(patches);
          const wide = backend.makeOutput([1, n, co], 'float32');
          made.push(wide);
          // Views only after every allocation: a later one may move the heap.
          shiftedRows(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(patches), batchSize, inHeight, inWidth, top, left, hp, wp, outHeight, fh, fw);
          widenRows(backend.typedArrayFromHeap(dy), backend.typedArrayFromHeap(wide), batchSize * outHeight, outWidth, wp, co);
          const dw = callKernel(tf, 'BatchMatMul', backend, { a: patches, b: wide }, { transposeA: false, transposeB: false });
          return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
        }
        const k = fh * fw * ci;
        const n = batchSize * outHeight * outWidth;
        const patches = backend.makeOutput([1, k, n], 'float32');
        made.push(patches);
        const p = backend.typedArrayFromHeap(patches);
        const xv = backend.typedArrayFromHeap(x);
        im2colTransposed(xv, p, batchSize, inHeight, inWidth, ci, outHeight, outWidth, fh, fw, sh, sw, top, left);
        const dw = callKernel(tf, 'BatchMatMul', backend, { a: patches, b: view(dy, [1, n, co]) }, { transposeA: false, transposeB: false });
        return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
      } finally {
        for (const t of made) backend.disposeData(t.dataId);
      }
    },
  };
}

/**
 * For one input channel and unit strides: row (fy, fx) of `out` is, for each
 * image b, the outH·wp values of the zero-padded image from (fy, fx) on — the
 * tap at every position (b, y, x) of the padded width, x < wp. Positions with
 * x ≥ outW read into the next row (or the zero tail); widenRows gives them a
 * zero gradient.
 */
export function shiftedRows(
  x: Float32Array, out: Float32Array,
  batch: number, inH: number, inW: number, top: number, left: number, hp: number, wp: number, outH: number, fh: number, fw: number,
): void {
  const image = hp * wp;
  // The padded images back to back, and fw zeros after the last, where its last row's taps run over.
  const padded = new Float32Array(batch * image + fw);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < inH; y++) padded.set(x.subarray((b * inH + y) * inW, (b * inH + y + 1) * inW), b * image + (y + top) * wp + left);
  }
  const run = outH * wp;
  const n = batch * run;
  for (let fy = 0; fy < fh; fy++) {
    for (let fx = 0; fx < fw; fx++) {
      const row = (fy * fw + fx) * n;
      for (let b = 0; b < batch; b++) {
        const from = b * image + fy * wp + fx;
        out.set(padded.subarray(from, from + run), row + b * run);
      }
    }
  }
}

/** dY's rows ([rows, outW, co]) widened to wp columns, the extra ones zero: [rows, wp, co]. */
export function widenRows(dy: Float32Array, out: Float32Array, rows: number, outW: number, wp: number, co: number): void {
  const from = outW * co;
  const to = wp * co;
  for (let r = 0; r < rows; r++) {
    out.set(dy.subarray(r * from, (r + 1) * from), r * to);
    out.fill(0, r * to + from, (r + 1) * to);
  }
}

/** Row (fy, fx, c) of `out` holds that tap of every output position (b, y, x); zero where the tap falls in the padding. */
export function im2colTransposed(
  x: Float32Array, out: Float32Array,
  batch: number, inH: number, inW: number, ci: number, outH: number, outW: number,
  fh: number, fw: number, sh: number, sw: number, top: number, left: number,
): void {
  const n = batch * outH * outW;
  const xRow = inW * ci;
  const xImage = inH * xRow;
  for (let fy = 0; fy < fh; fy++) {
    for (let fx = 0; fx < fw; fx++) {
      // Output columns whose input column lies inside the image.
      const x0 = Math.max(0, Math.ceil((left - fx) / sw));
      const x1 = Math.min(outW, Math.floor((inW - 1 + left - fx) / sw) + 1);
      for (let c = 0; c < ci; c++) {
        const row = ((fy * fw + fx) * ci + c) * n;
        let o = row;
        for (let b = 0; b < batch; b++) {
          for (let y = 0; y < outH; y++) {
            const iy = y * sh + fy - top;
            if (iy < 0 || iy >= inH || x1 <= x0) {
              out.fill(0, o, o + outW);
              o += outW;
              continue;
            }
            if (x0 > 0) out.fill(0, o, o + x0);
            let src = b * xImage + iy * xRow + (x0 * sw + fx - left) * ci + c;
            const step = sw * ci;
            for (let xo = x0; xo < x1; xo++, src += step) out[o + xo] = x[src]!;
            if (x1 < outW) out.fill(0, o + x1, o + outW);
            o += outW;
          }
        }
      }
    }
  }
}
