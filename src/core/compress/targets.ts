import { weightLayout } from '../analysis/weightLayout';
import { ModelFormatError } from '../errors';
import { unreadableReason, type ModelDoc } from '../model';
import type { CompressOptions, WeightTarget } from './types';

export interface TargetFilter {
  /** Only Dense/Conv-like kernels (not embeddings, biases, norms). */
  kernelsOnly?: boolean;
  /** Skip the first and last weighted layers unless the user includes them (they are the most sensitive). */
  skipEnds?: boolean;
}

/** The weight tensors a compression acts on: 2-D+ parameters, optionally limited to named layers. */
export function weightTargets(doc: ModelDoc, options: CompressOptions, filter: TargetFilter = {}): WeightTarget[] {
  const all: WeightTarget[] = [];
  doc.layers.forEach((layer, index) => {
    for (const tensor of layer.tensors) {
      if (!tensor.isParameter || tensor.shape.length < 2) continue;
      const layout = weightLayout(doc.format, layer, tensor);
      if (!layout) continue;
      if (filter.kernelsOnly && layout.kind !== 'dense' && layout.kind !== 'conv' && layout.kind !== 'depthwise') continue;
      all.push({ layer, tensor, layout, index });
    }
  });
  if (options.layers?.length) {
    const names = new Set(options.layers);
    const picked = all.filter((t) => names.has(t.layer.name));
    const missing = options.layers.filter((n) => !all.some((t) => t.layer.name === n));
    if (missing.length) {
      throw new ModelFormatError('invalid-option', `no compressible weights in layer${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (layers with weights: ${[...new Set(all.map((t) => t.layer.name))].slice(0, 20).join(', ')})`);
    }
    return picked;
  }
  if (filter.skipEnds && !options.includeEnds && all.length > 2) {
    const first = all[0]!.layer.name;
    const last = all[all.length - 1]!.layer.name;
    return all.filter((t) => t.layer.name !== first && t.layer.name !== last);
  }
  return all;
}

export async function readValues(t: WeightTarget): Promise<Float32Array> {
  if (!t.tensor.read) throw new ModelFormatError('unsupported-dtype', unreadableReason(t.tensor));
  return Float32Array.from(await t.tensor.read());
}
