import type { Tf } from '../tfjs';
import type { KernelArgs, KernelConfig, TensorInfo } from './wasmBackend';

/**
 * Conv2DBackpropInput for the wasm backend, routed through the forward
 * convolution. The stock wasm kernel is a scalar loop (~1 GFLOP/s); for unit
 * strides the input gradient is a "full" convolution of dY with the filter
 * rotated by 180° and its channel axes swapped,
 *   dX[b, i, j, c] = Σ_{u, v, o} dYpad[b, i + u, j + v, o] · W[fh−1−u, fw−1−v, c, o],
 * which the backend's XNNPACK Conv2D runs with explicit padding. Strided or
 * channels-first cases go to the stock kernel.
 */
export function conv2dBackpropInputConfig(tf: Tf, original: KernelConfig): KernelConfig & { parsimonyWrapped: true } {
  return {
    ...original,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'dy' | 'filter'>;
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | import('@tensorflow/tfjs').backend_util.ExplicitPadding;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        inputShape: [number, number, number, number];
      };
      const conv2d = tf.getKernel('Conv2D', 'wasm');
      const { dy, filter } = inputs;
      if (dataFormat === 'NCHW' || !conv2d || dy.dtype !== 'float32' || filter.dtype !== 'float32') return original.kernelFunc(args);
      const info = tf.backend_util.computeConv2DInfo(
        inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
      if (info.strideHeight !== 1 || info.strideWidth !== 1) return original.kernelFunc(args);
      const { filterHeight: fh, filterWidth: fw, inChannels: ci, outChannels: co, inHeight, inWidth, outHeight, outWidth } = info;
      const padTop = fh - 1 - info.padInfo.top;
      const padLeft = fw - 1 - info.padInfo.left;
      const padBottom = inHeight + fh - 1 - outHeight - padTop;
      const padRight = inWidth + fw - 1 - outWidth - padLeft;
      if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) return original.kernelFunc(args);
      const rotated = backend.makeOutput([fh, fw, co, ci], 'float32');
      try {
        const w = backend.typedArrayFromHeap(filter);
        const r = backend.typedArrayFromHeap(rotated);
        for (let u = 0; u < fh; u++) {
          for (let v = 0; v < fw; v++) {
            const src = ((fh - 1 - u) * fw + (fw - 1 - v)) * ci * co;
            const dst = (u * fw + v) * co * ci;
            for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) r[dst + o * ci + c] = w[src + c * co + o]!;
          }
        }
        const dx = conv2d.kernelFunc({
          inputs: { x: dy, filter: rotated },
          backend: backend as never,
          attrs: { strides: 1, dilations: 1, dataFormat: 'NHWC', dimRoundingMode: undefined as never, pad: [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]] },
        }) as TensorInfo;
        return dx;
      } finally {
        backend.disposeData(rotated.dataId);
      }
    },
  };
}
