import type { Tf } from '../tfjs';

/**
 * The parts of the wasm backend (`BackendWasm`) that our kernels use. Tensors
 * live in the wasm heap; `typedArrayFromHeap` is a view of that heap, which a
 * later allocation may move, so every output is allocated before any view is
 * taken.
 */
export type TensorInfo = import('@tensorflow/tfjs').TensorInfo;
export type KernelConfig = import('@tensorflow/tfjs').KernelConfig;
export type NamedAttrMap = import('@tensorflow/tfjs').NamedAttrMap;

export interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

export interface KernelArgs<I extends string> {
  inputs: Record<I, TensorInfo>;
  backend: WasmBackend;
  attrs: NamedAttrMap;
}

/** Calls another kernel registered for wasm directly (no tape, no engine bookkeeping). */
export function callKernel(tf: Tf, name: string, backend: WasmBackend, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`kernel ${name} is not registered for wasm`);
  return kernel.kernelFunc({ inputs, backend: backend as never, attrs }) as TensorInfo;
}

/** Same data, another shape: a TensorInfo that shares `t`'s buffer (valid while `t` is). */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}
