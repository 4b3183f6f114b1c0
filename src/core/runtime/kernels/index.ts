import type { Tf } from '../tfjs';
import { conv2dBackpropFilterConfig } from './conv2dBackpropFilter';
import { transposeFreeMatMulConfig } from './matMulTransposed';
import type { KernelConfig } from './wasmBackend';

/**
 * Kernels Parsimony adds to (or routes around in) the TF.js wasm backend so
 * that it can train: gradient kernels the backend lacks, and faster paths for
 * kernels whose stock version is slow on the shapes training produces. Each
 * matches the cpu backend's results to float tolerance (test/unit/kernels.test.ts).
 * Registering is idempotent; kernels the backend already has (a future TF.js
 * release) are left alone unless we wrap them.
 */
type Wrapped = KernelConfig & { parsimonyWrapped?: boolean };

export interface RegisteredKernels {
  added: string[];
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
  add(conv2dBackpropFilterConfig(tf));
  for (const name of ['BatchMatMul', '_FusedMatMul'] as const) {
    const original = tf.getKernel(name, 'wasm') as Wrapped | undefined;
    if (!original || original.parsimonyWrapped) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(transposeFreeMatMulConfig(tf, name, original));
    wrapped.push(name);
  }
  return { added, wrapped };
}
