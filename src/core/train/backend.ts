import { loadTf, type BackendPreference, type TfRuntime } from '../runtime/tfjs';

type Tf = TfRuntime['tf'];
type KernelConfig = import('@tensorflow/tfjs').KernelConfig;
type TensorInfo = import('@tensorflow/tfjs').TensorInfo;

/**
 * Picks the backend a training run uses. Training needs gradient kernels that a
 * backend may lack (the wasm backend has no Conv2DBackpropFilter or depthwise
 * gradients); the run then uses the cpu backend for everything, so no tensor
 * moves between backends mid-step. Availability is checked through the kernel
 * registry, so when faster gradient kernels are registered for wasm (or
 * tfjs-node is installed) they are used without changes here.
 */
const GRADIENT_KERNELS: Record<string, string[]> = {
  Conv1D: ['Conv2DBackpropFilter', 'Conv2DBackpropInput'],
  Conv2D: ['Conv2DBackpropFilter', 'Conv2DBackpropInput'],
  Conv2DTranspose: ['Conv2DBackpropFilter', 'Conv2D'],
  Conv3D: ['Conv3DBackpropFilterV2', 'Conv3DBackpropInputV2'],
  DepthwiseConv2D: ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'],
  SeparableConv2D: ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'],
  MaxPooling2D: ['MaxPoolGrad'],
  MaxPool2D: ['MaxPoolGrad'],
  AveragePooling2D: ['AvgPoolGrad'],
  AvgPool2D: ['AvgPoolGrad'],
  Dense: ['BatchMatMul'],
};

export interface TrainingBackend {
  tf: Tf;
  backend: string;
  /** Why this backend (said in the notes when it is not the default). */
  reason: string;
  /** Puts back the backend that was active before. */
  restore(): Promise<void>;
}

/** Gradient kernels the given layer classes need that `backend` lacks. */
export function missingGradientKernels(tf: Tf, classNames: Iterable<string>, backend: string): string[] {
  const missing = new Set<string>();
  for (const c of classNames) for (const k of GRADIENT_KERNELS[c] ?? []) if (!tf.getKernel(k, backend)) missing.add(k);
  return [...missing];
}

export async function trainingBackend(classNames: Iterable<string>, preference: BackendPreference = 'auto'): Promise<TrainingBackend> {
  const first = await loadTf(preference);
  const classes = [...classNames];
  const missing = missingGradientKernels(first.tf, classes, first.backend);
  if (missing.length === 0 || first.backend === 'cpu') {
    return { tf: first.tf, backend: first.backend, reason: first.reason, restore: async () => {} };
  }
  const cpu = await loadTf('cpu');
  return {
    tf: cpu.tf,
    backend: 'cpu',
    reason: `trained on the cpu backend: the ${first.backend} backend has no ${missing.join(', ')} kernel${missing.length > 1 ? 's' : ''}`,
    restore: async () => {
      await loadTf(preference);
    },
  };
}

/**
 * The wasm BatchMatMul kernel is about ten times slower when asked to transpose
 * an operand (which every Dense gradient does) than an explicit Transpose
 * followed by a plain product. While `fn` runs, transposed products are
 * rewritten that way: same values, same products, only the summation order of
 * XNNPACK's plain kernel. The kernel in place before is restored afterwards, and
 * whatever kernel is registered (a faster one included) is the one delegated to.
 */
export async function withTrainingKernels<T>(tf: Tf, fn: () => Promise<T>): Promise<T> {
  if (tf.getBackend() !== 'wasm') return fn();
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose || (original as KernelConfig & { parsimonyWrapped?: boolean }).parsimonyWrapped) return fn();
  const wrapped: KernelConfig & { parsimonyWrapped: boolean } = {
    ...original,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as {
        inputs: { a: TensorInfo; b: TensorInfo };
        backend: { disposeData(id: object): void };
        attrs: { transposeA: boolean; transposeB: boolean } & Record<string, unknown>;
      };
      if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
      const made: TensorInfo[] = [];
      const flip = (t: TensorInfo): TensorInfo => {
        const perm = t.shape.map((_, i) => i);
        const n = perm.length;
        [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
        const out = transpose.kernelFunc({ inputs: { x: t }, backend: backend as never, attrs: { perm } }) as TensorInfo;
        made.push(out);
        return out;
      };
      try {
        const a = attrs.transposeA ? flip(inputs.a) : inputs.a;
        const b = attrs.transposeB ? flip(inputs.b) : inputs.b;
        return original.kernelFunc({ ...args, inputs: { ...inputs, a, b }, attrs: { ...attrs, transposeA: false, transposeB: false } } as never);
      } finally {
        for (const t of made) backend.disposeData(t.dataId);
      }
    },
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(wrapped);
  try {
    return await fn();
  } finally {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel(original);
  }
}
