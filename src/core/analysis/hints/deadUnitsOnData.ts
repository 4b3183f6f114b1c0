import * as path from 'node:path';
import { unitRemovalEffect } from '../../compress/unitRemoval';
import { CancelledError, ModelFormatError } from '../../errors';
import { imageTargetFor } from '../../evaluate/adapt';
import { loadDataset, type Dataset } from '../../evaluate/datasets';
import { openLayerTracer, traceDataset } from '../../evaluate/layerOutputs';
import type { ModelDoc } from '../../model';
import type { BackendPreference } from '../../runtime/tfjs';
import { weightLayout } from '../weightLayout';
import type { Hint } from './types';

export interface DataHintOptions {
  /** A dataset spec as `parsimony evaluate --data` takes it, or a loaded dataset. */
  data: string | Dataset;
  cwd?: string;
  limit?: number;
  labelColumn?: string;
  batchSize?: number;
  backend?: BackendPreference;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

export interface DataHints {
  hints: Hint[];
  /** Layers whose units were measured on the data (their weights-only dead-units hints are superseded). */
  measured: Set<string>;
  samples: number;
  dataset: string;
  notes: string[];
}

/** A unit counts as active where |y| exceeds this share of the layer's largest output in the first batch (float noise is not activity). */
const RELATIVE_TOLERANCE = 1e-6;
/** Units active less often than this are listed as weak (candidates, not dead). */
const WEAK_FRACTION = 0.01;

interface Probe {
  layer: string;
  tensor: string;
  units: number;
  /** The layer whose output the consumer finally reads (the unit layer itself, or the end of its BN/activation/pooling chain). */
  at: string;
  removable: boolean;
  reason?: string;
  /** Per unit: how many outputs (samples × positions) were above the tolerance. */
  active: Float64Array;
  outputs: number;
  tolerance: number | null;
}

/**
 * Dead units on data ("importance of a neuron = how often it is not zero"): runs
 * the dataset through a TF.js layers model, layer by layer, and counts for every
 * unit of every Dense/Conv layer how often its output is non-zero where the
 * next layer with weights reads it (after the layer's activation, and after a
 * batch norm + ReLU that follow it). A unit never non-zero on any sample and
 * position is dead: removing it, with the consumer's matching inputs, changes
 * nothing on this data. Savings are what `structured-prune --units` removes.
 */
export async function deadUnitsOnData(doc: ModelDoc, options: DataHintOptions): Promise<DataHints> {
  if (doc.format !== 'tfjs-layers') {
    throw new ModelFormatError(
      'unsupported-format',
      `data-driven dead units run the model layer by layer, which needs a TF.js layers model (model.json with a Keras topology); ${path.basename(doc.file)} is ${doc.format}`,
      { file: doc.file },
    );
  }
  const progress = options.onProgress ?? (() => {});
  const check = () => {
    if (options.isCancelled?.()) throw new CancelledError();
  };
  const notes: string[] = [];
  const types = new Map(doc.layers.map((l) => [l.name, l.type]));
  const probes: Probe[] = [];
  for (const layer of doc.layers) {
    const kernel = layer.tensors.find((t) => t.isParameter && t.shape.length >= 2);
    const layout = kernel ? weightLayout(doc.format, layer, kernel) : null;
    if (!kernel || !layout || (layout.kind !== 'dense' && layout.kind !== 'conv')) continue;
    // The writer's own path from this layer to its consumer tells where the consumer reads the units.
    const route = await unitRemovalEffect(doc, layer.name, layout.units, []);
    let at = layer.name;
    let removable = false;
    let reason: string | undefined;
    if (route && 'problem' in route) reason = route.problem;
    else if (route) {
      removable = true;
      for (const name of route.through) {
        if (types.get(name) === 'Flatten') break;
        at = name;
      }
    } else reason = `${doc.format} models cannot be rebuilt without units`;
    probes.push({ layer: layer.name, tensor: kernel.name, units: layout.units, at, removable, ...(reason ? { reason } : {}), active: new Float64Array(layout.units), outputs: 0, tolerance: null });
  }
  if (probes.length === 0) return { hints: [], measured: new Set(), samples: 0, dataset: typeof options.data === 'string' ? options.data : options.data.name, notes: ['no Dense or Conv layers to measure'] };
  check();
  progress(0, 'loading the model');
  const tracer = await openLayerTracer(doc.file, { layers: [...new Set(probes.map((p) => p.at))], ...(options.backend ? { backend: options.backend } : {}) });
  try {
    const traced = new Set(tracer.layers);
    for (const p of probes.filter((x) => !traced.has(x.at))) notes.push(`${p.layer}: its output at '${p.at}' cannot be traced (shared or multi-output layer); not measured on data`);
    const live = probes.filter((p) => traced.has(p.at));
    check();
    progress(0.02, 'loading data');
    const dataset =
      typeof options.data === 'string'
        ? await loadDataset(options.data, {
            ...(options.labelColumn !== undefined ? { labelColumn: options.labelColumn } : {}),
            ...(options.limit !== undefined ? { limit: options.limit } : {}),
            ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
            ...(imageTargetFor(tracer.inputShape) ? { image: imageTargetFor(tracer.inputShape)! } : {}),
          })
        : options.data;
    notes.push(...dataset.notes);
    check();
    const samples = await traceDataset(
      [tracer],
      dataset,
      ([outputs]) => {
        for (const p of live) {
          const batch = outputs!.get(p.at);
          if (!batch) continue;
          const channels = batch.shape[batch.shape.length - 1];
          if (channels !== p.units) {
            if (p.outputs === 0 && !notes.some((n) => n.startsWith(`${p.layer}:`))) notes.push(`${p.layer}: '${p.at}' has ${channels} channels, not ${p.units}; not measured on data`);
            continue;
          }
          countActive(p, batch.values);
        }
      },
      {
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        onProgress: (f, m) => progress(0.05 + 0.95 * f, m),
        ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
      },
    );
    const measured = new Set(live.filter((p) => p.outputs > 0).map((p) => p.layer));
    const hints: Hint[] = [];
    for (const p of live) {
      if (p.outputs === 0) continue;
      const hint = await hintFor(doc, p, samples);
      if (hint) hints.push(hint);
    }
    return { hints, measured, samples, dataset: dataset.name, notes };
  } finally {
    tracer.dispose();
  }
}

function countActive(p: Probe, values: Float32Array): void {
  const units = p.units;
  if (p.tolerance === null) {
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]!);
      if (a > max) max = a;
    }
    p.tolerance = RELATIVE_TOLERANCE * max;
  }
  const tol = p.tolerance;
  const active = p.active;
  for (let i = 0, u = 0; i < values.length; i++) {
    const v = values[i]!;
    // NaN counts as active: it is not zero.
    if (!(v <= tol && v >= -tol)) active[u] = active[u]! + 1;
    if (++u === units) u = 0;
  }
  p.outputs += values.length / units;
}

async function hintFor(doc: ModelDoc, p: Probe, samples: number): Promise<Hint | null> {
  const fraction = Array.from(p.active, (a) => a / p.outputs);
  const dead: number[] = [];
  const weak: number[] = [];
  fraction.forEach((f, u) => {
    if (p.active[u] === 0) dead.push(u);
    else if (f < WEAK_FRACTION) weak.push(u);
  });
  if (dead.length === 0) return null;
  const positions = samples > 0 ? Math.round(p.outputs / samples) : 0;
  const detail: Record<string, unknown> = {
    units: dead,
    totalUnits: p.units,
    basis: 'data',
    samples,
    positions,
    measuredAt: p.at,
    activeFraction: fraction.map((f) => Number(f.toFixed(6))),
    weakUnits: weak,
    tolerance: p.tolerance,
  };
  let savingsParams = 0;
  let savingsBytes = 0;
  let removable = p.removable && dead.length < p.units;
  let reason = p.reason ?? (dead.length >= p.units ? `every unit of ${p.layer} is dead on the data: its consumer only ever sees zeros` : undefined);
  if (removable) {
    const effect = await unitRemovalEffect(doc, p.layer, p.units, dead);
    if (effect && !('problem' in effect)) {
      savingsParams = effect.params;
      savingsBytes = effect.bytes;
      detail.consumer = effect.consumer;
      detail.through = effect.through;
    } else {
      removable = false;
      reason = effect && 'problem' in effect ? effect.problem : 'the format cannot remove units';
    }
  }
  detail.removable = removable;
  if (reason && !removable) detail.reason = reason;
  const where = p.at === p.layer ? '' : ` (at ${p.at})`;
  return {
    layer: p.layer,
    tensor: p.tensor,
    kind: 'dead-units',
    savingsParams,
    savingsBytes,
    error: 0,
    detail,
    message:
      `${dead.length} of ${p.units} unit${p.units === 1 ? '' : 's'} never non-zero on ${samples.toLocaleString('en-US')} samples${where}` +
      (weak.length ? `; ${weak.length} more active < ${WEAK_FRACTION * 100}% of the time` : '') +
      (removable ? '' : ` (cannot be removed: ${reason})`),
  };
}
