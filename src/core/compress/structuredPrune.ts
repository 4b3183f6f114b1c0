import { unitMajor } from '../analysis/weightLayout';
import { ModelFormatError } from '../errors';
import { readValues, weightTargets } from './targets';
import { mergeUnitsChange } from './unitMerge';
import type { CompressionMethod, RemoveUnitsEdit } from './types';

/**
 * Structured pruning: whole neurons (Dense) or filters (Conv) with the smallest
 * L1/L2 norm are removed, and the writer shrinks the layers that consume them,
 * so the model really gets smaller. The last weighted layer (the outputs) is kept.
 * With `units`, exactly those units of one layer go (what a dead-units hint found);
 * with `merge`, duplicate units go into their twins (unitMerge.ts).
 */
export const structuredPrune: CompressionMethod = {
  id: 'structured-prune',
  label: 'Structured pruning (neurons/filters)',
  validate(o) {
    if (o.merge !== undefined) {
      const problems: string[] = [];
      if (o.layers?.length !== 1) problems.push('merge (unit pairs) applies to exactly one layer: give one layer name');
      const removed = o.merge.map((p) => p[1]);
      if (!o.merge.length || o.merge.some(([i, j]) => !Number.isInteger(i) || !Number.isInteger(j) || i < 0 || j < 0 || i === j)) problems.push('merge takes pairs i:j of two different unit indices (integers ≥ 0)');
      else if (new Set(removed).size !== removed.length) problems.push('each unit can be merged away only once');
      if (o.sparsity !== undefined || o.units !== undefined) problems.push('give one of merge, units or sparsity');
      return problems;
    }
    if (o.units !== undefined) {
      const problems: string[] = [];
      if (o.layers?.length !== 1) problems.push('units (explicit unit indices) apply to exactly one layer: give one layer name');
      if (!o.units.length || o.units.some((u) => !Number.isInteger(u) || u < 0) || new Set(o.units).size !== o.units.length) problems.push('units must be distinct unit indices (integers ≥ 0)');
      if (o.sparsity !== undefined) problems.push('give either units or sparsity, not both');
      return problems;
    }
    return o.sparsity === undefined || !(o.sparsity > 0 && o.sparsity < 1) ? ['sparsity (fraction of units removed) must be in (0, 1)'] : [];
  },
  async apply(doc, options, progress) {
    if (options.merge) {
      const change = await mergeUnitsChange(doc, options.layers![0]!, options.merge);
      progress?.(1, options.layers![0]!);
      return change;
    }
    const all = weightTargets(doc, { ...options, layers: undefined }, { kernelsOnly: true }).filter((t) => t.layout.kind === 'dense' || t.layout.kind === 'conv');
    if (options.units) {
      const name = options.layers![0]!;
      const t = all.find((x) => x.layer.name === name);
      if (!t) throw new ModelFormatError('invalid-option', `'${name}' has no Dense or Conv kernel whose units could be removed`);
      const { units } = t.layout;
      const bad = options.units.filter((u) => u >= units);
      if (bad.length) throw new ModelFormatError('invalid-option', `'${name}' has ${units} units; no unit ${bad.join(', ')}`);
      if (options.units.length >= units) throw new ModelFormatError('invalid-option', `removing all ${units} units of '${name}' would cut the model in two`);
      const dropped = new Set(options.units);
      const keep = Array.from({ length: units }, (_, u) => u).filter((u) => !dropped.has(u));
      progress?.(1, name);
      return {
        method: `units-${options.units.length}`,
        tensors: [],
        architecture: [{ kind: 'remove-units', layer: name, keep, units }],
        notes: [`${options.units.length} unit(s) of ${name} removed and its consumer shrunk: fewer parameters on disk, in memory, and fewer MACs.`],
      };
    }
    const last = all[all.length - 1]?.layer.name;
    const names = options.layers?.length ? new Set(options.layers) : undefined;
    const targets = all.filter((t) => t.layer.name !== last && (!names || names.has(t.layer.name)));
    const edits: RemoveUnitsEdit[] = [];
    for (const [n, t] of targets.entries()) {
      const rows = unitMajor(await readValues(t), t.layout);
      const { units, fanIn } = t.layout;
      const norms = Array.from({ length: units }, (_, u) => {
        let s = 0;
        for (let p = 0; p < fanIn; p++) {
          const w = rows[u * fanIn + p]!;
          s += options.importance === 'l2' ? w * w : Math.abs(w);
        }
        return s;
      });
      const remove = Math.min(units - 1, Math.floor(options.sparsity! * units));
      const order = norms.map((v, u) => u).sort((a, b) => norms[a]! - norms[b]! || a - b);
      const dropped = new Set(order.slice(0, remove));
      const keep = Array.from({ length: units }, (_, u) => u).filter((u) => !dropped.has(u));
      edits.push({ kind: 'remove-units', layer: t.layer.name, keep, units });
      progress?.((n + 1) / targets.length, t.layer.name);
    }
    return {
      method: `structured-${Math.round(options.sparsity! * 100)}`,
      tensors: [],
      architecture: edits,
      notes: ['Whole units removed and their consumers shrunk: fewer parameters on disk, in memory, and fewer MACs.'],
    };
  },
};
