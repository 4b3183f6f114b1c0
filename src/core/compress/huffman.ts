import { huffmanSize } from '../numeric/huffman';
import { readValues, weightTargets } from './targets';
import type { CompressionMethod, TensorEdit } from './types';

/**
 * Huffman coding of shared-value indices, the last step of Deep Compression
 * (prune → cluster → Huffman). Tensors with at most 256 distinct values get a
 * codebook and the exact coded size; values are unchanged.
 */
export const huffman: CompressionMethod = {
  id: 'huffman',
  label: 'Huffman coding of cluster indices',
  validate() {
    return [];
  },
  async apply(doc, options, progress) {
    const targets = weightTargets(doc, options);
    const edits: TensorEdit[] = [];
    let skipped = 0;
    for (const [n, t] of targets.entries()) {
      const values = await readValues(t);
      const distinct = new Map<number, number>();
      for (const v of values) {
        distinct.set(v, (distinct.get(v) ?? 0) + 1);
        if (distinct.size > 256) break;
      }
      if (distinct.size > 256) {
        skipped++;
        continue;
      }
      const centroids = Float32Array.from([...distinct.keys()].sort((a, b) => a - b));
      const lookup = new Map(Array.from(centroids, (c, i) => [c, i] as const));
      const indices = Uint8Array.from(values, (v) => lookup.get(v)!);
      const counts = new Float64Array(centroids.length);
      for (const i of indices) counts[i] = counts[i]! + 1;
      edits.push({ layer: t.layer.name, tensor: t.tensor.name, values, storage: { kind: 'clustered', centroids, indices, huffmanBits: huffmanSize(counts).bits } });
      progress?.((n + 1) / targets.length, t.layer.name);
    }
    const notes = ['Indices of shared values Huffman-coded; the coded size is reported per tensor (stock runtimes still store the decoded weights).'];
    if (skipped) notes.push(`${skipped} tensor(s) have more than 256 distinct values and were not coded: cluster them first.`);
    return { method: 'huffman', tensors: edits, architecture: [], notes };
  },
};
