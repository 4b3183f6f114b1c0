import { mulberry32 } from './random';

/**
 * One-dimensional k-means (Lloyd) on sorted values with prefix sums: each
 * iteration costs O(k log n), so clustering 10M weights is dominated by one sort
 * (a radix sort of the float32 bit patterns, src/core/numeric/radix.ts).
 */
import { radixSortFloat32 } from './radix';

export type KMeansInit = 'linear' | 'density' | 'kmeans++';

export interface KMeans1D {
  centroids: Float64Array;
  /** Number of values assigned to each centroid. */
  counts: Float64Array;
  /** Σ (w − centroid)², over all values. */
  sse: number;
  iterations: number;
}

/** Prefix sums are kept every BLOCK values; a sum inside a block is finished on the fly. */
const BLOCK = 64;
/** Below this size the comparison sort is as fast and radix sort's fixed costs dominate. */
const RADIX_MIN = 4096;

export class SortedValues {
  /**
   * Sorted values: float32 inputs stay float32 (half the memory, radix-sorted),
   * anything else is sorted as float64. Either way every value is exactly the
   * float64 the old all-float64 layout held.
   */
  private readonly f32: Float32Array | null;
  private f64: Float64Array | null;
  /** prefix[b] = Σ v[0..b·BLOCK) and prefixSq likewise, accumulated in order. */
  private readonly prefix: Float64Array;
  private readonly prefixSq: Float64Array;
  readonly length: number;

  /**
   * `buffers` lets a caller that sorts many arrays reuse its memory (fresh
   * pages cost more than the sort on some machines): the sorted copy goes into
   * `sorted` (at least as long as the values) and the radix sort works in `scratch`.
   */
  constructor(values: ArrayLike<number>, buffers?: { sorted: Float32Array; scratch: Int32Array }) {
    // The radix sort declines input holding a NaN (it checks while counting); such input takes the comparison sort.
    const radix =
      values instanceof Float32Array && values.length >= RADIX_MIN
        ? buffers && buffers.sorted.length >= values.length
          ? buffers.sorted.subarray(0, values.length)
          : new Float32Array(values.length)
        : null;
    if (radix && radixSortFloat32(values as Float32Array, radix, buffers?.scratch)) {
      this.f32 = radix;
      this.f64 = null;
    } else {
      this.f32 = null;
      this.f64 = Float64Array.from(values as ArrayLike<number>).sort();
    }
    const v = this.f32 ?? this.f64!;
    const n = v.length;
    this.length = n;
    const blocks = Math.floor(n / BLOCK) + 1;
    this.prefix = new Float64Array(blocks);
    this.prefixSq = new Float64Array(blocks);
    // The same additions, in the same order, as a full prefix array: sums are bit-identical to it.
    let sum = 0;
    let sumSq = 0;
    for (let b = 0, i = 0; i < n; b++) {
      this.prefix[b] = sum;
      this.prefixSq[b] = sumSq;
      for (const end = Math.min(n, i + BLOCK); i < end; i++) {
        const x = v[i]!;
        sum += x;
        sumSq += x * x;
      }
    }
    if (n % BLOCK === 0) {
      this.prefix[n / BLOCK] = sum;
      this.prefixSq[n / BLOCK] = sumSq;
    }
  }

  /** The values in ascending order, as float64 (made on first use for float32 input). */
  get sorted(): Float64Array {
    this.f64 ??= Float64Array.from(this.f32!);
    return this.f64;
  }

  /** The i-th smallest value. */
  at(i: number): number {
    return this.f32 ? this.f32[i]! : this.f64![i]!;
  }

  /** First index whose value is ≥ x. */
  lowerBound(x: number): number {
    const v = this.f32 ?? this.f64!;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  sum(from: number, to: number): number {
    return this.prefixAt(to, false) - this.prefixAt(from, false);
  }

  sumSq(from: number, to: number): number {
    return this.prefixAt(to, true) - this.prefixAt(from, true);
  }

  /** Σ v[0..i) (or of squares), continuing from the block's stored prefix in the original order. */
  private prefixAt(i: number, squares: boolean): number {
    const v = this.f32 ?? this.f64!;
    const b = Math.floor(i / BLOCK);
    let s = squares ? this.prefixSq[b]! : this.prefix[b]!;
    if (squares) {
      for (let j = b * BLOCK; j < i; j++) s += v[j]! * v[j]!;
    } else {
      for (let j = b * BLOCK; j < i; j++) s += v[j]!;
    }
    return s;
  }
}


function initialCentroids(data: SortedValues, k: number, init: KMeansInit, seed: number): Float64Array {
  const n = data.length;
  const c = new Float64Array(k);
  if (init === 'linear') {
    const min = data.at(0);
    const max = data.at(n - 1);
    for (let i = 0; i < k; i++) c[i] = k === 1 ? (min + max) / 2 : min + ((max - min) * i) / (k - 1);
  } else if (init === 'density') {
    for (let i = 0; i < k; i++) c[i] = data.at(Math.min(n - 1, Math.floor(((i + 0.5) / k) * n)));
  } else {
    // k-means++ on a deterministic sample of at most 20k values.
    const rand = mulberry32(seed);
    const step = Math.max(1, Math.floor(n / 20000));
    const sample: number[] = [];
    for (let i = 0; i < n; i += step) sample.push(data.at(i));
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
