import { writerFor } from '../formats/writer';
import { allTensors, type ModelDoc } from '../model';
import type { ModelChange } from './types';

export interface UnitRemovalEffect {
  /** Parameters the removal takes out of the model (the layer's slices, pass-through layers', the consumer's inputs). */
  params: number;
  /** Stored bytes of those parameters, in each tensor's own encoding. */
  bytes: number;
  /** The channel-preserving layers between the layer and its consumer (TF.js layers models). */
  through: string[];
  /** The layer whose inputs shrink, when the writer says. */
  consumer: string | null;
}

/**
 * What removing `remove` (unit indices) from `layer` really takes out of the
 * model, worked out by the format's own writer exactly as `structured-prune`
 * would write it. Returns the writer's reason when the format cannot remove
 * them, and null when the format has no writer that rebuilds layers.
 */
export async function unitRemovalEffect(doc: ModelDoc, layer: string, units: number, remove: readonly number[]): Promise<UnitRemovalEffect | { problem: string } | null> {
  const writer = await writerFor(doc.format);
  if (!writer?.planArchitecture) return null;
  const dropped = new Set(remove);
  const keep = Array.from({ length: units }, (_, u) => u).filter((u) => !dropped.has(u));
  const change: ModelChange = { method: 'plan', tensors: [], architecture: [{ kind: 'remove-units', layer, keep, units }], notes: [] };
  const plan = writer.planArchitecture(doc, change);
  if (plan.problems.length) return { problem: plan.problems.join('; ') };
  let params = 0;
  let bytes = 0;
  for (const t of allTensors(doc)) {
    const shape = plan.shapes.get(t.name);
    if (!shape) continue;
    const removed = t.count - shape.reduce((a, b) => a * b, 1);
    params += removed;
    bytes += removed * (t.count ? t.bytes / t.count : 0);
  }
  const path = plan.paths.get(layer);
  return { params, bytes: Math.round(bytes), through: path?.through ?? [], consumer: path?.consumer ?? null };
}
