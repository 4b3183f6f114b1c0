import { storageOrder, unitMajor } from '../analysis/weightLayout';
import { ModelFormatError } from '../errors';
import { writerFor } from '../formats/writer';
import type { ModelDoc } from '../model';
import { readValues, weightTargets } from './targets';
import type { ModelChange, RemoveUnitsEdit } from './types';

/**
 * Merging duplicate units (the `duplicate-units` hint): for each pair (i, j)
 * of one layer whose weight vectors (kernel column and bias) point the same
 * way, unit j goes and its outgoing weights are added, scaled by
 * α = ⟨v_j, v_i⟩ / ⟨v_i, v_i⟩, to unit i's in the consumer. Exact when v_j = α·v_i
 * and the activation is per unit and positively homogeneous (ReLU, linear):
 * f(α(w·x + b)) = α·f(w·x + b); for identical twins (α = 1) any per-unit
 * activation. The removal itself is the writer's remove-units plan, so the
 * consumer's rows are sliced exactly as `structured-prune --units` would.
 */
export async function mergeUnitsChange(doc: ModelDoc, layer: string, pairs: readonly (readonly [number, number])[]): Promise<ModelChange> {
  const all = weightTargets(doc, { layers: undefined }, { kernelsOnly: true }).filter((t) => t.layout.kind === 'dense' || t.layout.kind === 'conv');
  const target = all.find((t) => t.layer.name === layer);
  if (!target) throw new ModelFormatError('invalid-option', `'${layer}' has no Dense or Conv kernel whose units could be merged`, { file: doc.file });
  const { units, fanIn } = target.layout;
  const removed = pairs.map((p) => p[1]);
  for (const [i, j] of pairs) {
    if (i >= units || j >= units) throw new ModelFormatError('invalid-option', `'${layer}' has ${units} units; no unit ${Math.max(i, j)}`, { file: doc.file });
  }
  const survivors = pairs.map((p) => p[0]).filter((i) => removed.includes(i));
  if (survivors.length) throw new ModelFormatError('invalid-option', `unit ${survivors.join(', ')} of '${layer}' is both merged away and kept as a twin; give each removed unit once, into a unit that stays`, { file: doc.file });

  const writer = await writerFor(doc.format);
  const dropped = new Set(removed);
  const keep = Array.from({ length: units }, (_, u) => u).filter((u) => !dropped.has(u));
  const removal: RemoveUnitsEdit = { kind: 'remove-units', layer, keep, units };
  const plan = writer?.planArchitecture?.(doc, { method: 'plan', tensors: [], architecture: [removal], notes: [] });
  if (!plan) throw new ModelFormatError('invalid-option', `${doc.format} models cannot have units removed`, { file: doc.file });
  if (plan.problems.length) throw new ModelFormatError('invalid-option', plan.problems.join('; '), { file: doc.file });
  const path = plan.paths.get(layer);
  if (!path) throw new ModelFormatError('invalid-option', `merging units needs to know the layer that reads '${layer}'; the ${doc.format} writer does not say (TF.js layers models do)`, { file: doc.file });
  const types = new Map(doc.layers.map((l) => [l.name, l]));
  const weighted = path.through.filter((n) => types.get(n)?.tensors.some((t) => t.isParameter));
  if (weighted.length) {
    throw new ModelFormatError('invalid-option', `'${layer}' reaches '${path.consumer}' through ${weighted.map((n) => `'${n}' (${types.get(n)!.type})`).join(', ')}, whose per-channel weights differ between the twins; the merge would not be exact. Use structured-prune --units to remove them instead`, { file: doc.file });
  }
  const consumer = all.find((t) => t.layer.name === path.consumer);
  if (!consumer) throw new ModelFormatError('invalid-option', `'${path.consumer}' (which reads '${layer}') is not a Dense or Conv layer whose inputs could take the merged weights`, { file: doc.file });

  // The twins' directions, bias included: α scales j's outgoing weights onto i.
  const rows = unitMajor(await readValues(target), target.layout);
  const biasTensor = target.layer.tensors.find((t) => t.isParameter && t.shape.length === 1 && t.shape[0] === units);
  const bias = biasTensor?.read ? Float32Array.from(await biasTensor.read()) : null;
  const alpha = pairs.map(([i, j]) => {
    let dot = (bias ? bias[i]! * bias[j]! : 0);
    let norm = (bias ? bias[i]! * bias[i]! : 0);
    for (let p = 0; p < fanIn; p++) {
      dot += rows[i * fanIn + p]! * rows[j * fanIn + p]!;
      norm += rows[i * fanIn + p]! ** 2;
    }
    return norm > 0 ? dot / norm : 1;
  });

  // Consumer input position p belongs to channel p % units (Keras: [in, out], flattened channels_last, conv
  // [kh, kw, in, out]) or ⌊p / (fanIn / units)⌋ (PyTorch/ONNX: [out, in], flattened NCHW, conv [out, in, kh, kw]).
  const c = consumer.layout;
  if (c.fanIn % units !== 0) throw new ModelFormatError('invalid-option', `'${path.consumer}' takes ${c.fanIn} inputs, not a multiple of the ${units} units of '${layer}'`, { file: doc.file });
  const order = storageOrder(c);
  const perChannel = c.fanIn / units;
  const channelOf = order === 'units-last' ? (p: number) => p % units : (p: number) => Math.floor(p / perChannel);
  const shift = order === 'units-last' ? 1 : perChannel;
  const values = await readValues(consumer);
  pairs.forEach(([i, j], n) => {
    for (let p = 0; p < c.fanIn; p++) {
      if (channelOf(p) !== j) continue;
      const q = p + (i - j) * shift;
      for (let u = 0; u < c.units; u++) values[c.index(u, q)] = values[c.index(u, q)]! + alpha[n]! * values[c.index(u, p)]!;
    }
  });
  const off = alpha.filter((a) => Math.abs(a - 1) > 1e-6).length;
  return {
    method: `merge-${pairs.length}`,
    tensors: [{ layer: path.consumer, tensor: consumer.tensor.name, values, storage: { kind: 'float32' } }],
    architecture: [removal],
    notes: [
      `${pairs.length} duplicate unit(s) of ${layer} merged into their twins: their outgoing weights in ${path.consumer} added to the twin's, then removed with the consumer's rows.`,
      ...(off ? [`${off} pair(s) are parallel but not equal (scale α ≠ 1): exact only for ReLU or linear activations.`] : []),
    ],
  };
}
