import type { FormatId, LayerInfo, ModelDoc, TensorInfo } from '../../src/core/model';

import { mulberry32 } from '../../src/core/numeric/random';

/** Deterministic PRNG for tests. */
export const rng = mulberry32;

export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
}

export function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * cols }, () => gaussian(r));
}

export function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const av = a[i * k + p]!;
    for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + av * b[p * n + j]!;
  }
  return out;
}

/** A float32 tensor held in memory, shaped as the given format stores it. */
export function memoryTensor(name: string, shape: number[], values: Float32Array, trainable = true): TensorInfo {
  return {
    name,
    shape,
    dtype: 'float32',
    count: values.length,
    bytes: values.length * 4,
    memoryBytes: values.length * 4,
    isParameter: true,
    trainable,
    read: async () => values,
  };
}

export function syntheticDoc(format: FormatId, layers: { name: string; type: string; tensors: TensorInfo[]; config?: Record<string, unknown> }[]): ModelDoc {
  return {
    file: '/synthetic/model',
    format,
    files: [],
    layers: layers.map((l): LayerInfo => ({ ...l, outputShape: null, macs: null })),
    metadata: {},
    warnings: [],
  };
}
