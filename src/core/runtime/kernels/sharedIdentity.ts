import type { KernelArgs, KernelConfig } from './wasmBackend';

/**
 * Identity for the wasm backend without a copy: the output shares the input's
 * buffer and its reference count, as in the cpu backend (TF.js tensors are
 * immutable, and buffers are freed when their count reaches zero). The stock
 * kernel copies: while gradients are recorded, the engine clones every tensor
 * it keeps for the backward pass, and on the example CNN that copied ~7 MB per
 * training step.
 */
export function sharedIdentityConfig(original: KernelConfig): KernelConfig & { parsimonyWrapped: true } {
  return {
    ...original,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend } = args as unknown as KernelArgs<'x'>;
      const { x } = inputs;
      if (x.dtype === 'string' || x.dtype === 'complex64') return original.kernelFunc(args);
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}
