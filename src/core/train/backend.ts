import { loadTf, type BackendPreference, type TfRuntime } from '../runtime/tfjs';

type Tf = TfRuntime['tf'];

/**
 * Picks the backend a training run uses. Training needs gradient kernels that a
 * backend may lack (TF.js's wasm backend has no depthwise-convolution gradients;
 * src/core/runtime/kernels adds the ones it registers, such as
 * Conv2DBackpropFilter); the run then uses the cpu backend for everything, so no
 * tensor moves between backends mid-step. Availability is checked through the kernel
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
