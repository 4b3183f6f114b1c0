import { ModelFormatError } from '../../errors';

/**
 * Turns a label array into class indices. Accepted: one label per sample
 * ([N] or [N, 1]) holding non-negative integers, or one-hot / probability rows
 * ([N, K], K > 1), converted with argmax (a note says so).
 */
export function toLabels(
  values: ArrayLike<number>,
  shape: readonly number[],
  count: number,
  where: string,
  notes: string[],
): Int32Array {
  const n = shape[0];
  if (n !== count) {
    throw new ModelFormatError('invalid-option', `${where}: ${n ?? 0} labels for ${count} samples (expected one label per sample)`);
  }
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Int32Array(count);
  if (per === 1) {
    for (let i = 0; i < count; i++) out[i] = labelValue(values[i]!, i, where);
    return out;
  }
  if (shape.length !== 2) {
    throw new ModelFormatError('invalid-option', `${where}: labels have shape [${shape.join(', ')}]; expected [N] class indices or [N, K] one-hot rows`);
  }
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < per; k++) if (values[i * per + k]! > values[i * per + best]!) best = k;
    out[i] = best;
  }
  notes.push(`${where}: labels are [${shape.join(', ')}] rows (one-hot); used their argmax as the class`);
  return out;
}

export function labelValue(v: number, index: number, where: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new ModelFormatError('invalid-option', `${where}: label ${String(v)} of sample ${index} is not a class index (expected an integer ≥ 0)`);
  }
  return v;
}
