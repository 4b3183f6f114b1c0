/** Order statistics without a full sort (quickselect on a copy; radix selection for magnitudes). */
import { kthSmallestMagnitude } from './radix';

/** The k-th smallest value (0-based) of `values`; `values` is reordered in place. */
export function selectInPlace(values: Float32Array | Float64Array, k: number): number {
  let left = 0;
  let right = values.length - 1;
  if (k < 0 || k > right) throw new RangeError(`k=${k} outside 0..${right}`);
  while (right > left) {
    // Median of three pivot keeps sorted/constant inputs linear.
    const mid = (left + right) >>> 1;
    const a = values[left]!;
    const b = values[mid]!;
    const c = values[right]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = left;
    let j = right;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return values[k]!;
  }
  return values[k]!;
}

/** |w| values as a new array. */
export function absolute(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.abs(values[i]!);
  return out;
}

/** The magnitude below which `fraction` of the values lie. */
export function magnitudeQuantile(values: Float32Array, fraction: number): number {
  if (values.length === 0) return 0;
  const k = Math.min(values.length - 1, Math.max(0, Math.floor(fraction * values.length)));
  // Radix selection on the magnitude bits reads the values three times and copies nothing;
  // with NaNs present the comparison-based path keeps its old answer.
  return kthSmallestMagnitude(values, k) ?? selectInPlace(absolute(values), k);
}

export function sumOfSquares(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! * values[i]!;
  return s;
}
