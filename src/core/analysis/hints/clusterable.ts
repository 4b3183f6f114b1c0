import { huffmanSize } from '../../numeric/huffman';
import { kmeans1d, SortedValues } from '../../numeric/kmeans1d';
import { mulberry32 } from '../../numeric/random';
import type { HintRule } from './types';

/**
 * The fewest k-means centroids (2…256) whose reconstruction error stays under ε,
 * the index bits that implies, and the Huffman-coded size of the indices.
 */
export function fewestClusters(values: Float32Array | SortedValues, epsilon: number): { k: number; error: number; counts: Float64Array } | null {
  const data = values instanceof SortedValues ? values : new SortedValues(values);
  const total = data.sumSq(0, data.length);
  if (total === 0) return { k: 1, error: 0, counts: Float64Array.of(data.length) };
  const errorFor = (k: number) => {
    const r = kmeans1d(data, k, { init: 'linear' });
    return { k, error: Math.sqrt(r.sse / total), counts: r.counts };
  };
  const best = errorFor(256);
  if (best.error > epsilon) return null;
  // k-means error falls with k: binary search for the smallest k within the bound.
  let lo = 2;
  let hi = 256;
  let found = best;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = errorFor(mid);
    if (r.error <= epsilon) {
      found = r;
      hi = mid;
    } else lo = mid + 1;
  }
  if (found.k !== lo) found = errorFor(lo);
  return found;
}

/** Above this many weights, k-means runs on an even sample of this size (one value from each block). */
export const CLUSTER_SAMPLE = 1 << 21;

/** One value from each of `size` equal blocks, at a seeded position in the block: spread over every unit, whatever the layout. */
function evenSample(values: Float32Array, size: number): Float32Array {
  const out = new Float32Array(size);
  const rand = mulberry32(7);
  const block = values.length / size;
  for (let i = 0; i < size; i++) out[i] = values[Math.min(values.length - 1, Math.floor((i + rand()) * block))]!;
  return out;
}

export const clusterableHint: HintRule = (ctx) => {
  const n = ctx.values.length;
  // 1-D k-means error and cluster shares are statistics of the value distribution: a 2M-value
  // sample pins them down, and sorting 16M values costs seconds of fresh memory on a busy machine.
  const sampled = n > CLUSTER_SAMPLE;
  const r = fewestClusters(sampled ? evenSample(ctx.values, CLUSTER_SAMPLE) : ctx.sorted(), ctx.options.epsilon);
  if (!r) return null;
  if (sampled) for (let j = 0; j < r.counts.length; j++) r.counts[j] = (r.counts[j]! * n) / CLUSTER_SAMPLE;
  // k-means may leave centroids without weights; only the values in use are stored (as `cluster` writes them).
  let used = 0;
  for (const c of r.counts) if (c > 0) used++;
  const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, used))));
  const huffman = huffmanSize(r.counts);
  const codebookBytes = used * 4;
  const clusteredBytes = Math.ceil((n * bits) / 8) + codebookBytes;
  const huffmanBytes = huffman.bytes + codebookBytes;
  const original = ctx.tensor.bytes;
  const savingsBytes = original - Math.min(clusteredBytes, huffmanBytes);
  if (savingsBytes <= 0) return null;
  return {
    layer: ctx.layer.name,
    tensor: ctx.tensor.name,
    kind: 'clusterable',
    savingsParams: 0,
    savingsBytes,
    error: r.error,
    detail: { clusters: r.k, values: used, ...(sampled ? { sample: CLUSTER_SAMPLE } : {}), bits, huffmanBits: huffman.bits, huffmanBitsPerWeight: huffman.bitsPerSymbol, clusteredBytes, huffmanBytes },
    message: `${used} shared values (${bits} bits/weight, ${huffman.bitsPerSymbol.toFixed(2)} with Huffman)`,
  };
};
