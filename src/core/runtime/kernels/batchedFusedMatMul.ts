import type { Tf } from '../tfjs';
import { callKernel, type KernelArgs, type KernelConfig, type TensorInfo } from './wasmBackend';

/**
 * Stock wasm _FusedMatMul reaches XNNPACK only for one product ([1, m, k] ×
 * [1, k, n]); for batched products its fallback loop adds bias[min(i·n + j,
 * n − 1)] where bias[j] is meant, so every row after the first gets the last
 * bias value (off by whole units against the cpu backend; tfjs-layers never
 * hits it because Dense flattens its input to one product, but a graph model's
 * batched MatMul + BiasAdd does). Batched fused products here run as the
 * BatchMatMul kernel, then Add (the bias, broadcast), then the activation's
 * own kernel: the same operations as the cpu backend's _FusedMatMul.
 */
type Wrapped = KernelConfig & { parsimonyWrapped: true };

const ACTIVATION_KERNELS: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', sigmoid: 'Sigmoid', elu: 'Elu', leakyrelu: 'LeakyRelu', prelu: 'Prelu' };

export function batchedFusedMatMulConfig(tf: Tf, inner: KernelConfig): Wrapped {
  return {
    ...inner,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'a' | 'b' | 'bias' | 'preluActivationWeights'>;
      const { a, b, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined> as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
      const batches = (t: TensorInfo) => t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
      if (batches(a) <= 1 && batches(b) <= 1) return inner.kernelFunc(args);
      const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
      const act = activation ?? 'linear';
      const kernel = ACTIVATION_KERNELS[act];
      if (act !== 'linear' && !kernel) throw new Error(`_FusedMatMul: activation ${act} is not supported`);
      if (act === 'prelu' && !preluActivationWeights) throw new Error('_FusedMatMul: prelu needs its weights');
      let out = callKernel(tf, 'BatchMatMul', backend, { a, b }, { transposeA: !!transposeA, transposeB: !!transposeB });
      try {
        const step = (next: () => TensorInfo) => {
          const made = next();
          backend.disposeData(out.dataId);
          out = made;
        };
        if (bias) step(() => callKernel(tf, 'Add', backend, { a: out, b: bias }));
        if (act === 'prelu') step(() => callKernel(tf, 'Prelu', backend, { x: out, alpha: preluActivationWeights! }));
        else if (act === 'leakyrelu') step(() => callKernel(tf, 'LeakyRelu', backend, { x: out }, { alpha: leakyreluAlpha ?? 0.2 }));
        else if (kernel) step(() => callKernel(tf, kernel, backend, { x: out }));
        return out;
      } catch (e) {
        backend.disposeData(out.dataId);
        throw e;
      }
    },
  };
}
