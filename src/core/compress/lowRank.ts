import { factorize, rankForEnergy, spectrum } from '../numeric/lowRank';
import { unitMajor } from '../analysis/weightLayout';
import { readValues, weightTargets } from './targets';
import type { CompressionMethod, FactorizeEdit } from './types';

/**
 * Low-rank factorization: a Dense kernel W (units×fanIn) becomes two layers
 * through a rank-K bottleneck from a truncated SVD; a convolution becomes a k×k
 * conv with K filters followed by a 1×1 conv. Only layers where (units+fanIn)·K
 * < units·fanIn are changed.
 */
export const lowRank: CompressionMethod = {
  id: 'low-rank',
  label: 'Low-rank factorization',
  validate(o) {
    const problems: string[] = [];
    if (o.rank === undefined && o.energy === undefined) problems.push('give --rank k or --energy e');
    if (o.rank !== undefined && !(Number.isInteger(o.rank) && o.rank >= 1)) problems.push('rank must be a positive integer');
    if (o.energy !== undefined && !(o.energy > 0 && o.energy <= 1)) problems.push('energy must be in (0, 1]');
    return problems;
  },
  async apply(doc, options, progress) {
    const targets = weightTargets(doc, options, { kernelsOnly: true }).filter((t) => t.layout.kind === 'dense' || t.layout.kind === 'conv');
    const edits: FactorizeEdit[] = [];
    const notes: string[] = [];
    for (const [n, t] of targets.entries()) {
      const values = await readValues(t);
      const { units, fanIn } = t.layout;
      const rows = unitMajor(values, t.layout);
      const rank = options.rank ?? rankForEnergy(spectrum(rows, units, fanIn), options.energy!) ?? Math.min(units, fanIn);
      const k = Math.min(rank, units, fanIn);
      if ((units + fanIn) * k >= units * fanIn) {
        notes.push(`${t.layer.name}: rank ${k} would not save parameters (break-even below ${Math.floor((units * fanIn) / (units + fanIn)) + 1}); left unchanged.`);
        continue;
      }
      const f = factorize(rows, units, fanIn, k);
      edits.push({ kind: 'factorize', layer: t.layer.name, tensor: t.tensor.name, rank: f.rank, a: f.left, b: f.right });
      progress?.((n + 1) / targets.length, t.layer.name);
    }
    notes.unshift('Factorized layers are really smaller: fewer parameters on disk, in memory and fewer MACs.');
    return { method: options.rank !== undefined ? `rank-${options.rank}` : `lowrank-${options.energy}`, tensors: [], architecture: edits, notes };
  },
};
