import { absolute, selectInPlace } from '../numeric/select';
import { readValues, weightTargets } from './targets';
import type { CompressionMethod, TensorEdit } from './types';

/**
 * Unstructured magnitude pruning to an exact sparsity: the k smallest |w| are
 * zeroed (ties broken by position, so the count is exact), globally or per layer.
 */
export const prune: CompressionMethod = {
  id: 'prune',
  label: 'Magnitude pruning',
  validate(o) {
    const problems: string[] = [];
    if (o.sparsity === undefined || !(o.sparsity >= 0 && o.sparsity < 1)) problems.push('sparsity must be in [0, 1)');
    if (o.scope && o.scope !== 'global' && o.scope !== 'layer') problems.push("scope must be 'global' or 'layer'");
    return problems;
  },
  async apply(doc, options, progress) {
    const sparsity = options.sparsity ?? 0.5;
    const targets = weightTargets(doc, options, { skipEnds: true });
    const values: Float32Array[] = [];
    for (const t of targets) values.push(await readValues(t));
    const edits: TensorEdit[] = [];
    if ((options.scope ?? 'global') === 'global') {
      const total = values.reduce((s, v) => s + v.length, 0);
      const all = new Float32Array(total);
      let o = 0;
      for (const v of values) {
        all.set(absolute(v), o);
        o += v.length;
      }
      const k = Math.floor(sparsity * total);
      const removeCounts = countBelow(values, all, k);
      targets.forEach((t, i) => {
        zeroSmallest(values[i]!, removeCounts[i]!);
        edits.push({ layer: t.layer.name, tensor: t.tensor.name, values: values[i]!, storage: { kind: 'float32' } });
        progress?.((i + 1) / targets.length, t.layer.name);
      });
    } else {
      targets.forEach((t, i) => {
        zeroSmallest(values[i]!, Math.floor(sparsity * values[i]!.length));
        edits.push({ layer: t.layer.name, tensor: t.tensor.name, values: values[i]!, storage: { kind: 'float32' } });
        progress?.((i + 1) / targets.length, t.layer.name);
      });
    }
    return {
      method: `prune-${Math.round(sparsity * 100)}`,
      tensors: edits,
      architecture: [],
      notes: [
        `${(sparsity * 100).toFixed(0)}% of the selected weights set to zero (${options.scope ?? 'global'} threshold).`,
        'Zeros save bytes only once compressed (gzip) or sparsely stored; memory and compute are unchanged on dense runtimes.',
      ],
    };
  },
};

/**
 * Splits a global removal count k over tensors: everything strictly below the
 * k-th smallest magnitude goes, and ties at the threshold are taken in tensor order.
 */
function countBelow(values: Float32Array[], allAbs: Float32Array, k: number): number[] {
  if (k <= 0) return values.map(() => 0);
  const threshold = selectInPlace(allAbs, k - 1);
  const below = values.map((v) => {
    let c = 0;
    for (let i = 0; i < v.length; i++) if (Math.abs(v[i]!) < threshold) c++;
    return c;
  });
  let remaining = k - below.reduce((a, b) => a + b, 0);
  return values.map((v, i) => {
    let ties = 0;
    for (let j = 0; j < v.length; j++) if (Math.abs(v[j]!) === threshold) ties++;
    const take = Math.min(ties, remaining);
    remaining -= take;
    return below[i]! + take;
  });
}

/**
 * Zeroes the `count` smallest-magnitude entries (ties by position), in linear
 * time. Entries already zero count towards `count`.
 */
export function zeroSmallest(v: Float32Array, count: number): void {
  if (count <= 0) return;
  if (count >= v.length) {
    v.fill(0);
    return;
  }
  const threshold = selectInPlace(absolute(v), count - 1);
  if (threshold === 0) return; // at least `count` zeros already
  let removed = 0;
  for (let i = 0; i < v.length; i++) {
    if (Math.abs(v[i]!) < threshold) {
      v[i] = 0;
      removed++;
    }
  }
  for (let i = 0; i < v.length && removed < count; i++) {
    if (Math.abs(v[i]!) === threshold) {
      v[i] = 0;
      removed++;
    }
  }
}
