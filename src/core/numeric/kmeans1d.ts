/**
 * One-dimensional k-means (Lloyd) on sorted values with prefix sums: each
 * iteration costs O(k log n), so clustering 10M weights is dominated by one sort.
 */
export type KMeansInit = 'linear' | 'density' | 'kmeans++';

export interface KMeans1D {
  centroids: Float64Array;
  /** Number of values assigned to each centroid. */
  counts: Float64Array;
  /** Σ (w − centroid)², over all values. */
  sse: number;
  iterations: number;
}

export class SortedValues {
  readonly sorted: Float64Array;
  private readonly prefix: Float64Array;
  private readonly prefixSq: Float64Array;

  constructor(values: ArrayLike<number>) {
    this.sorted = Float64Array.from(values as ArrayLike<number>).sort();
    const n = this.sorted.length;
    this.prefix = new Float64Array(n + 1);
    this.prefixSq = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      const v = this.sorted[i]!;
      this.prefix[i + 1] = this.prefix[i]! + v;
      this.prefixSq[i + 1] = this.prefixSq[i]! + v * v;
    }
  }

  get length(): number {
    return this.sorted.length;
  }

  /** First index whose value is ≥ x. */
  lowerBound(x: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  sum(from: number, to: number): number {
    return this.prefix[to]! - this.prefix[from]!;
  }

  sumSq(from: number, to: number): number {
    return this.prefixSq[to]! - this.prefixSq[from]!;
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function initialCentroids(data: SortedValues, k: number, init: KMeansInit, seed: number): Float64Array {
  const n = data.length;
  const s = data.sorted;
  const c = new Float64Array(k);
  if (init === 'linear') {
    const min = s[0]!;
    const max = s[n - 1]!;
    for (let i = 0; i < k; i++) c[i] = k === 1 ? (min + max) / 2 : min + ((max - min) * i) / (k - 1);
  } else if (init === 'density') {
    for (let i = 0; i < k; i++) c[i] = s[Math.min(n - 1, Math.floor(((i + 0.5) / k) * n))]!;
  } else {
    // k-means++ on a deterministic sample of at most 20k values.
    const rand = mulberry32(seed);
    const step = Math.max(1, Math.floor(n / 20000));
    const sample: number[] = [];
    for (let i = 0; i < n; i += step) sample.push(s[i]!);
    const dist = new Float64Array(sample.length).fill(Infinity);
    c[0] = sample[Math.floor(rand() * sample.length)]!;
    for (let j = 1; j < k; j++) {
      let total = 0;
      for (let i = 0; i < sample.length; i++) {
        const d = (sample[i]! - c[j - 1]!) ** 2;
        if (d < dist[i]!) dist[i] = d;
        total += dist[i]!;
      }
      let r = rand() * total;
      let pick = sample.length - 1;
      for (let i = 0; i < sample.length; i++) {
        r -= dist[i]!;
        if (r <= 0) {
          pick = i;
          break;
        }
      }
      c[j] = sample[pick]!;
    }
  }
  return c.sort();
}

export function kmeans1d(data: SortedValues, k: number, options: { init?: KMeansInit; maxIterations?: number; seed?: number } = {}): KMeans1D {
  const n = data.length;
  if (n === 0) return { centroids: new Float64Array(0), counts: new Float64Array(0), sse: 0, iterations: 0 };
  const kk = Math.max(1, Math.min(k, n));
  let centroids = initialCentroids(data, kk, options.init ?? 'linear', options.seed ?? 1);
  const counts = new Float64Array(kk);
  const maxIterations = options.maxIterations ?? 50;
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const next = new Float64Array(kk);
    let moved = 0;
    let from = 0;
    for (let j = 0; j < kk; j++) {
      const to = j === kk - 1 ? n : data.lowerBound((centroids[j]! + centroids[j + 1]!) / 2);
      const count = Math.max(0, to - from);
      counts[j] = count;
      next[j] = count > 0 ? data.sum(from, to) / count : centroids[j]!;
      moved = Math.max(moved, Math.abs(next[j]! - centroids[j]!));
      from = Math.max(from, to);
    }
    centroids = next.sort();
    if (moved === 0) break;
  }
  return { centroids, counts, sse: assignmentError(data, centroids, counts), iterations };
}

/** Σ (w − nearest centroid)² with centroids sorted; fills counts. */
export function assignmentError(data: SortedValues, centroids: Float64Array, counts?: Float64Array): number {
  const n = data.length;
  const k = centroids.length;
  let sse = 0;
  let from = 0;
  for (let j = 0; j < k; j++) {
    const to = j === k - 1 ? n : data.lowerBound((centroids[j]! + centroids[j + 1]!) / 2);
    const count = Math.max(0, to - from);
    if (counts) counts[j] = count;
    if (count > 0) {
      const c = centroids[j]!;
      sse += data.sumSq(from, to) - 2 * c * data.sum(from, to) + count * c * c;
    }
    from = Math.max(from, to);
  }
  return Math.max(0, sse);
}

/** Index of the nearest centroid (centroids sorted ascending). */
export function nearestCentroid(centroids: Float64Array, v: number): number {
  let lo = 0;
  let hi = centroids.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v > (centroids[mid]! + centroids[mid + 1]!) / 2) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
