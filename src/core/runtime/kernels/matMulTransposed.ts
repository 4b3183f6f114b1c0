import type { Tf } from '../tfjs';
import type { KernelArgs, KernelConfig, TensorInfo } from './wasmBackend';

/**
 * The wasm BatchMatMul / _FusedMatMul kernels reach XNNPACK only for plain
 * products; with transposeA or transposeB set they take a scalar loop that is
 * ~10× slower — and every Dense gradient asks for one (dX = dY·Wᵀ, dW = Xᵀ·dY).
 * These wrappers materialise the transposed operand once with the Transpose
 * kernel and run the plain product: same products, only XNNPACK's summation
 * order. `parsimonyWrapped` marks them so nobody wraps them twice.
 */
export function transposeFreeMatMulConfig(tf: Tf, kernelName: 'BatchMatMul' | '_FusedMatMul', original: KernelConfig): KernelConfig & { parsimonyWrapped: true } {
  const transpose = tf.getKernel('Transpose', 'wasm');
  return {
    ...original,
    kernelName,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'a' | 'b'>;
      const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
      if ((!transposeA && !transposeB) || !transpose) return original.kernelFunc(args);
      const made: TensorInfo[] = [];
      const flip = (t: TensorInfo): TensorInfo => {
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
        const out = transpose.kernelFunc({ inputs: { x: t }, backend: backend as never, attrs: { perm } }) as TensorInfo;
        made.push(out);
        return out;
      };
      try {
        const a = transposeA ? flip(inputs.a) : inputs.a;
        const b = transposeB ? flip(inputs.b) : inputs.b;
        return original.kernelFunc({ ...args, inputs: { ...inputs, a, b }, attrs: { ...attrs, transposeA: false, transposeB: false } } as never);
      } finally {
        for (const t of made) backend.disposeData(t.dataId);
      }
    },
  };
}
