/**
 * mulberry32: a tiny, well-known 32-bit PRNG giving floats in [0, 1). Every seeded
 * choice in Parsimony (k-means++ sampling, randomized SVD, training shuffles, test
 * data) uses this one, so runs are repeatable across modules.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
