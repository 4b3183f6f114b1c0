import type { Tf } from '../tfjs';
import type { KernelArgs, KernelConfig, TensorInfo, WasmBackend } from './wasmBackend';

/**
 * GatherV2 for the wasm backend, for 4-byte data without batch dims: whole
 * slices are copied with TypedArray.set (a memcpy). The stock kernel computes
 * every element's address through its strides, ~30 ns per element: picking a
 * batch of 64 digits out of the training set took ~1.5 ms, and model.fit does
 * that for x and y at every step. Bits are copied as int32, so floats (NaN
 * payloads included) come out exactly as they went in.
 */
export function gatherRowsConfig(tf: Tf, original: KernelConfig): KernelConfig & { parsimonyWrapped: true } {
  return {
    ...original,
    parsimonyWrapped: true,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as KernelArgs<'x' | 'indices'>;
      const { x, indices } = inputs;
      const { axis, batchDims } = attrs as { axis: number; batchDims?: number };
      if ((batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') return original.kernelFunc(args);
      const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
      const dim = x.shape[a]!;
      const slice = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
      const count = indices.shape.reduce((p, d) => p * d, 1);
      const idx = Int32Array.from(int32View(backend, indices));
      for (const i of idx) {
        if (!(i >= 0 && i < dim)) throw new Error(`GatherV2: the index value ${i} is not in [0, ${dim - 1}]`);
      }
      const out = backend.makeOutput([...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)], x.dtype as 'float32');
      // Views only after the output exists: making it may grow (and move) the heap.
      const src = int32View(backend, x);
      const dst = int32View(backend, out);
      for (let o = 0; o < outer; o++) {
        const from = o * dim * slice;
        const to = o * count * slice;
        if (slice === 1) {
          for (let i = 0; i < count; i++) dst[to + i] = src[from + idx[i]!]!;
        } else {
          for (let i = 0; i < count; i++) dst.set(src.subarray(from + idx[i]! * slice, from + (idx[i]! + 1) * slice), to + i * slice);
        }
      }
      return out;
    },
  };
}

function int32View(backend: WasmBackend, t: TensorInfo): Int32Array {
  const v = backend.typedArrayFromHeap(t);
  return new Int32Array(v.buffer, v.byteOffset, v.length);
}
