import { absolute, selectInPlace } from '../numeric/select';
import { readValues, weightTargets } from './targets';
import { ModelFormatError } from '../errors';
import type { WeightLayout } from '../analysis/weightLayout';
import type { ModelDoc } from '../model';
import type { CompressionMethod, CompressOptions, ModelChange, TensorEdit } from './types';

/**
 * Unstructured magnitude pruning to an exact sparsity: the k smallest |w| are
 * zeroed (ties broken by position, so the count is exact), globally or per layer.
 */
export const prune: CompressionMethod = {
  id: 'prune',
  label: 'Magnitude pruning',
  validate(o) {
    const problems: string[] = [];
    if (o.pattern) {
      const { keep, group } = o.pattern;
      if (!(Number.isInteger(keep) && Number.isInteger(group) && keep >= 1 && keep < group)) problems.push('pattern N:M needs integers 1 ≤ N < M (e.g. 2:4)');
      if (o.sparsity !== undefined) problems.push('give either a pattern or a sparsity, not both');
      return problems;
    }
    if (o.sparsity === undefined || !(o.sparsity >= 0 && o.sparsity < 1)) problems.push('sparsity must be in [0, 1)');
    if (o.scope && o.scope !== 'global' && o.scope !== 'layer') problems.push("scope must be 'global' or 'layer'");
    return problems;
  },
  async apply(doc, options, progress) {
    if (options.pattern) return applyPattern(doc, options, options.pattern, progress);
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

/**
 * N:M pruning. A group is M consecutive positions of one unit's fan-in, in the
 * unit-major order of weightLayout (Keras [in, out]: M consecutive input rows
 * of one column; conv [kh, kw, in, out]: M consecutive input channels at one
 * kernel position; PyTorch/ONNX [out, in, …]: M consecutive entries of a row)
 * — the reduction axis sparse tensor cores group, and exactly what the `2:4`
 * hint (analysis/hints/nm.ts) measures. A last partial group (fanIn not a
 * multiple of M) is left dense, as the hint assumes.
 */
async function applyPattern(doc: ModelDoc, options: CompressOptions, pattern: { keep: number; group: number }, progress?: (fraction: number, message: string) => void): Promise<ModelChange> {
  const { keep, group } = pattern;
  const all = weightTargets(doc, options, { skipEnds: true, kernelsOnly: true });
  const targets = all.filter((t) => t.layout.kind === 'dense' || t.layout.kind === 'conv');
  const other = options.layers?.filter((n) => !targets.some((t) => t.layer.name === n)) ?? [];
  if (other.length) throw new ModelFormatError('invalid-option', `${keep}:${group} sparsity applies to Dense and Conv kernels; ${other.join(', ')} has none`);
  const edits: TensorEdit[] = [];
  let zeroed = 0;
  for (const [i, t] of targets.entries()) {
    const values = await readValues(t);
    zeroed += zeroPattern(values, t.layout, keep, group);
    edits.push({ layer: t.layer.name, tensor: t.tensor.name, values, storage: { kind: 'float32' } });
    progress?.((i + 1) / targets.length, t.layer.name);
  }
  return {
    method: `prune-${keep}of${group}`,
    tensors: edits,
    architecture: [],
    notes: [
      `${keep}:${group} structured sparsity: in every ${group} consecutive input weights of each unit the ${group - keep} smallest |w| set to zero (${zeroed} weights).`,
      'Zeros save bytes only once compressed or sparsely stored; sparse tensor cores (2:4) can skip them, dense runtimes cannot.',
    ],
  };
}

/**
 * Zeroes, in every group of `group` consecutive fan-in positions of each unit,
 * all but the `keep` largest |w| (ties: the earlier position stays). Works in
 * place on the stored layout; returns how many weights were set to zero
 * (already-zero ones included).
 */
export function zeroPattern(values: Float32Array, layout: WeightLayout, keep: number, group: number): number {
  const { units, fanIn, index } = layout;
  const at = new Int32Array(group);
  const order = Array.from({ length: group }, (_, k) => k);
  let zeroed = 0;
  for (let u = 0; u < units; u++) {
    for (let p = 0; p + group <= fanIn; p += group) {
      for (let k = 0; k < group; k++) at[k] = index(u, p + k);
      // Largest first, earlier position first among equals: the tail of the order goes.
      order.sort((a, b) => Math.abs(values[at[b]!]!) - Math.abs(values[at[a]!]!) || a - b);
      for (let k = keep; k < group; k++) values[at[order[k]!]!] = 0;
      zeroed += group - keep;
    }
  }
  return zeroed;
}
