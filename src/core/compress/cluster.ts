import { huffmanSize } from '../numeric/huffman';
import { kmeans1d, nearestCentroid, SortedValues, type KMeansInit } from '../numeric/kmeans1d';
import { readValues, weightTargets } from './targets';
import type { CompressionMethod, TensorEdit } from './types';

/**
 * Weight sharing (Deep Compression): each tensor's weights are replaced by the
 * nearest of k centroids found by 1-D k-means. Exact zeros (from pruning) keep a
 * centroid of their own so sparsity survives. Indices may be Huffman-coded.
 */
export const cluster: CompressionMethod = {
  id: 'cluster',
  label: 'Weight clustering',
  validate(o) {
    const k = o.clusters;
    return k === undefined || !(Number.isInteger(k) && k >= 2 && k <= 256) ? ['clusters must be an integer from 2 to 256'] : [];
  },
  async apply(doc, options, progress) {
    const k = options.clusters ?? 16;
    const targets = weightTargets(doc, options);
    const edits: TensorEdit[] = [];
    let totalBits = 0;
    let totalWeights = 0;
    for (const [n, t] of targets.entries()) {
      const values = await readValues(t);
      const r = clusterValues(values, k, 'linear');
      let huffmanBits: number | undefined;
      if (options.huffman) {
        huffmanBits = huffmanSize(r.counts).bits;
        totalBits += huffmanBits;
      } else totalBits += values.length * Math.ceil(Math.log2(Math.max(2, r.centroids.length)));
      totalWeights += values.length;
      edits.push({
        layer: t.layer.name,
        tensor: t.tensor.name,
        values: r.values,
        storage: { kind: 'clustered', centroids: r.centroids, indices: r.indices, ...(huffmanBits !== undefined ? { huffmanBits } : {}) },
      });
      progress?.((n + 1) / targets.length, t.layer.name);
    }
    const bits = totalWeights ? totalBits / totalWeights : 0;
    return {
      method: `cluster-${k}${options.huffman ? '-huffman' : ''}`,
      tensors: edits,
      architecture: [],
      notes: [
        `Each tensor shares at most ${k} values: ${bits.toFixed(2)} bits per weight${options.huffman ? ' with Huffman-coded indices' : ''} plus a codebook.`,
        'Stock runtimes store the shared values as ordinary weights; the index size is what a codebook format (or gzip) achieves on disk. Memory and compute are unchanged.',
      ],
    };
  },
};

export function clusterValues(values: Float32Array, k: number, init: KMeansInit, seed = 1): { values: Float32Array; centroids: Float32Array; indices: Uint8Array; counts: Float64Array } {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  const keepZero = zeros > 0 && zeros >= 0.01 * values.length && k > 2;
  const source = keepZero ? values.filter((v) => v !== 0) : values;
  const r = kmeans1d(new SortedValues(source), keepZero ? k - 1 : k, { init, seed });
  const centroidList = Array.from(r.centroids, (c) => Math.fround(c));
  if (keepZero) centroidList.push(0);
  const centroids = Float64Array.from(new Set(centroidList)).sort();
  const indices = new Uint8Array(values.length);
  const out = new Float32Array(values.length);
  const counts = new Float64Array(centroids.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const j = keepZero && v === 0 ? centroids.indexOf(0) : nearestCentroid(centroids, v);
    indices[i] = j;
    out[i] = centroids[j]!;
    counts[j] = counts[j]! + 1;
  }
  return { values: out, centroids: Float32Array.from(centroids), indices, counts };
}
