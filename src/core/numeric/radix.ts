/**
 * Radix sort and selection on float32 values through their bit patterns.
 *
 * Flipping all bits but the sign of a negative float gives signed 32-bit keys
 * in numeric order (−0 just below +0, as TypedArray sort orders them); |x| is simply the bits with the sign cleared. NaN has no place
 * in that order, so callers check `hasNaN` and keep their comparison-based path.
 */

/**
 * The scratch buffer of the last sort, held for a second after use so that a
 * run of sorts (one per layer when computing hints) reuses it instead of paying
 * fresh page faults for every call; then it is left to the garbage collector.
 */
let held: Int32Array | undefined;
let release: ReturnType<typeof setTimeout> | undefined;

function scratch(n: number): Int32Array {
  const buffer = held && held.length >= n ? held : new Int32Array(n);
  held = buffer;
  clearTimeout(release);
  release = setTimeout(() => (held = undefined), 1000);
  release.unref?.();
  return buffer.subarray(0, n);
}

export function hasNaN(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== values[i]) return true;
  return false;
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * The signed key of float bits `b` (all bits but the sign flipped when negative),
 * and back again: the same map, its own inverse. Without a branch, because the
 * sign of weights is a coin toss: a conditional here mispredicted on half the
 * values and made the counting pass 2.7× slower.
 */
function orderKey(b: number): number {
  return b ^ ((b >> 31) & 0x7fffffff);
}

/** Below this many values a bucket is insertion-sorted: clearing 3,072 counters would cost more. */
const SMALL_BUCKET = 64;

/**
 * Sorts `values` ascending into `out` (a different array of the same length)
 * through signed 32-bit keys (bits of a negative float flipped except the sign,
 * so signed order is numeric order). Most significant digit first: one scatter
 * of the whole array into 2,048 buckets by the top 11 bits, then each bucket
 * (a few MB at most for real weights, which share a handful of exponents) is
 * sorted on its low 21 bits by two least-significant-digit passes while it sits
 * in cache, the last of which writes the float bits back. Three scatters over
 * 40 MB with 2,048 write streams each missed the TLB on nearly every write;
 * now only the first does. The order is the same (keys are totally ordered).
 * NaN has no place in that order: the counting pass looks for one, and if there
 * is any, returns false before writing anything.
 */
export function radixSortFloat32(values: Float32Array, out: Float32Array, scratchBuffer?: Int32Array): boolean {
  const n = values.length;
  if (out.length !== n) throw new RangeError('radixSortFloat32: out must have the length of values');
  const src = new Int32Array(values.buffer, values.byteOffset, n);
  const dst = new Int32Array(out.buffer, out.byteOffset, n);
  const top = new Int32Array(2048);
  let nans = 0;
  for (let i = 0; i < n; i++) {
    const b = src[i]!;
    // Exponent all ones with a non-zero fraction: a NaN (either sign).
    if ((b & 0x7fffffff) > 0x7f800000) nans++;
    top[(orderKey(b) >> 21) + 1024]!++;
  }
  if (nans > 0) return false;
  const starts = new Int32Array(2049);
  for (let d = 0; d < 2048; d++) starts[d + 1] = starts[d]! + top[d]!;
  const offsets = starts.slice(0, 2048);
  for (let i = 0; i < n; i++) {
    const key = orderKey(src[i]!);
    dst[offsets[(key >> 21) + 1024]!++] = key;
  }
  const tmp = scratchBuffer && scratchBuffer.length >= n ? scratchBuffer.subarray(0, n) : scratch(n);
  const low = new Int32Array(2048);
  const mid = new Int32Array(1024);
  for (let d = 0; d < 2048; d++) {
    const from = starts[d]!;
    const to = starts[d + 1]!;
    if (to - from < SMALL_BUCKET) {
      insertionSortKeys(dst, from, to);
      continue;
    }
    low.fill(0);
    mid.fill(0);
    for (let i = from; i < to; i++) {
      const key = dst[i]!;
      low[key & 2047]!++;
      mid[(key >> 11) & 1023]!++;
    }
    for (let j = 0, at = from; j < 2048; j++) {
      const c = low[j]!;
      low[j] = at;
      at += c;
    }
    for (let i = from; i < to; i++) {
      const key = dst[i]!;
      tmp[low[key & 2047]!++] = key;
    }
    for (let j = 0, at = from; j < 1024; j++) {
      const c = mid[j]!;
      mid[j] = at;
      at += c;
    }
    for (let i = from; i < to; i++) {
      const key = tmp[i]!;
      dst[mid[(key >> 11) & 1023]!++] = orderKey(key);
    }
  }
  return true;
}

/** Sorts the keys in a[from, to) and turns them back into float bits. */
function insertionSortKeys(a: Int32Array, from: number, to: number): void {
  for (let i = from + 1; i < to; i++) {
    const key = a[i]!;
    let j = i - 1;
    while (j >= from && a[j]! > key) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = key;
  }
  for (let i = from; i < to; i++) a[i] = orderKey(a[i]!);
}

/**
 * The k-th smallest |x| (0-based) of `values` without copying them: three
 * histogram passes over the magnitude bits (11, 10 and 10 bits), each narrowed
 * to the bucket holding rank k. Returns null when a NaN is present.
 */
export function kthSmallestMagnitude(values: Float32Array, k: number): number | null {
  const n = values.length;
  if (k < 0 || k >= n) throw new RangeError(`k=${k} outside 0..${n - 1}`);
  const bits = bitsOf(values);
  const h = new Uint32Array(2048);
  for (let i = 0; i < n; i++) h[(bits[i]! & 0x7fffffff) >>> 20]!++;
  // Buckets 2040.. hold ±Infinity and NaN patterns; look closer only if they are used.
  for (let d = 2040; d < 2048; d++) if (h[d]! > 0 && hasNaN(values)) return null;
  let rank = k;
  let b1 = 0;
  while (rank >= h[b1]!) rank -= h[b1++]!;
  const h2 = new Uint32Array(1024);
  for (let i = 0; i < n; i++) {
    const key = bits[i]! & 0x7fffffff;
    if (key >>> 20 === b1) h2[(key >>> 10) & 1023]!++;
  }
  let b2 = 0;
  while (rank >= h2[b2]!) rank -= h2[b2++]!;
  const prefix = (b1 << 10) | b2;
  const h3 = new Uint32Array(1024);
  for (let i = 0; i < n; i++) {
    const key = bits[i]! & 0x7fffffff;
    if (key >>> 10 === prefix) h3[key & 1023]!++;
  }
  let b3 = 0;
  while (rank >= h3[b3]!) rank -= h3[b3++]!;
  const result = new Uint32Array([(prefix << 10) | b3]);
  return new Float32Array(result.buffer)[0]!;
}
