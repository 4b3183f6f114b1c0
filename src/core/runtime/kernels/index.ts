import type { Tf } from '../tfjs';
import { batchedFusedMatMulConfig } from './batchedFusedMatMul';
import { conv2dBackpropFilterConfig } from './conv2dBackpropFilter';
import { conv2dBackpropInputConfig } from './conv2dBackpropInput';
import { gatherRowsConfig } from './gatherRows';
import { transposeFreeMatMulConfig } from './matMulTransposed';
import { maxPoolGradConfig } from './maxPoolGrad';
import { sharedIdentityConfig } from './sharedIdentity';
import type { KernelConfig } from './wasmBackend';

/**
 * Kernels Parsimony adds to (or routes around in) the TF.js wasm backend so
 * that it trains at native-library speed: gradient kernels the backend lacks,
 * and faster paths for stock kernels that are slow on the shapes training
 * produces. Each matches the cpu backend's results to float tolerance
 * (test/unit/kernels.test.ts); one corrects a stock kernel (batched fused products with a
 * bias, batchedFusedMatMul.ts). Registering is idempotent; a wrapped kernel
 * carries `parsimonyWrapped` so it is never wrapped twice, and kernels a later
 * TF.js release provides itself are left alone.
 */
type Wrapped = KernelConfig & { parsimonyWrapped?: boolean };

export interface RegisteredKernels {
  /** Kernels the backend lacked. */
  added: string[];
  /** Stock kernels now reached through a faster path. */
  wrapped: string[];
}

export function registerWasmKernels(tf: Tf): RegisteredKernels {
  const added: string[] = [];
  const wrapped: string[] = [];
  const add = (config: KernelConfig) => {
    if (tf.getKernel(config.kernelName, 'wasm')) return;
    tf.registerKernel(config);
    added.push(config.kernelName);
  };
  const wrap = (name: string, make: (original: KernelConfig) => KernelConfig) => {
    const original = tf.getKernel(name, 'wasm') as Wrapped | undefined;
    if (!original || original.parsimonyWrapped) return;
    tf.unregisterKernel(name, 'wasm');
    // The stock kernel stays reachable as `original` (for profiling and comparisons).
    tf.registerKernel(Object.assign(make(original), { original }));
    wrapped.push(name);
  };
  add(conv2dBackpropFilterConfig(tf));
  wrap('BatchMatMul', (k) => transposeFreeMatMulConfig(tf, 'BatchMatMul', k));
  wrap('_FusedMatMul', (k) => batchedFusedMatMulConfig(tf, transposeFreeMatMulConfig(tf, '_FusedMatMul', k)));
  wrap('Conv2DBackpropInput', (k) => conv2dBackpropInputConfig(tf, k));
  wrap('MaxPoolGrad', (k) => maxPoolGradConfig(tf, k));
  wrap('GatherV2', (k) => gatherRowsConfig(tf, k));
  wrap('Identity', (k) => sharedIdentityConfig(k));
  return { added, wrapped };
}
