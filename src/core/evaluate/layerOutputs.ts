import * as path from 'node:path';
import { CancelledError, ModelFormatError } from '../errors';
import { loadTf, type BackendPreference } from '../runtime/tfjs';
import { adaptSamples, planInput } from './adapt';
import type { Dataset } from './datasets/types';
import { diskModelHandler } from './runners/tfjs';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;

/** One batch of one layer's output: `n` samples × `width` values each (row-major, channels last). */
export interface LayerBatch {
  values: Float32Array;
  /** The output's shape without the batch dimension, e.g. [26, 26, 32]. */
  shape: number[];
}

export interface TraceOptions {
  /** Layer names to trace (default: every layer with a single output, except inputs). */
  layers?: readonly string[];
  /** Samples per inference call (default 128). */
  batchSize?: number;
  backend?: BackendPreference;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

/** A TF.js layers model opened so that one call yields the outputs of many of its layers. */
export interface LayerTracer {
  /** The traced layers, in model order. */
  layers: string[];
  /** The model's input shape, batch first (null for unknown dimensions). */
  inputShape: (number | null)[];
  /** Runs `n` samples already shaped for the model; returns each traced layer's output. */
  run(x: Float32Array, n: number, sampleShape: readonly number[]): Map<string, LayerBatch>;
  dispose(): void;
}

/**
 * Opens a TF.js layers model (model.json) and builds a second model over the
 * same weights whose outputs are the chosen layers' outputs. Used by
 * data-driven hints (which units are ever non-zero) and by diffs (how far
 * each layer's output moved after compression).
 */
export async function openLayerTracer(modelJson: string, options: Pick<TraceOptions, 'layers' | 'backend'> = {}): Promise<LayerTracer> {
  const rt = await loadTf(options.backend ?? 'auto');
  const tf = rt.tf;
  let model: LayersModel;
  try {
    model = await tf.loadLayersModel(diskModelHandler(tf, modelJson));
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError('not-a-model', `tf.loadLayersModel could not load the model: ${String((e as Error).message ?? e).split('\n')[0]}`, { file: modelJson });
  }
  if (model.inputs.length !== 1) {
    model.dispose();
    throw new ModelFormatError('unsupported-format', `${path.basename(modelJson)} has ${model.inputs.length} inputs; layer outputs are traced for models with one input`, { file: modelJson });
  }
  const wanted = options.layers ? new Set(options.layers) : null;
  const picked: { name: string; output: SymbolicTensor }[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    if (wanted && !wanted.has(layer.name)) continue;
    // Shared layers (several inbound nodes) and multi-output layers have no single output to trace.
    let output: SymbolicTensor | SymbolicTensor[];
    try {
      output = layer.output;
    } catch {
      continue;
    }
    if (Array.isArray(output)) continue;
    picked.push({ name: layer.name, output });
  }
  const traced = picked.length > 0 ? tf.model({ inputs: model.inputs, outputs: picked.map((p) => p.output) }) : null;
  const inputShape = model.inputs[0]!.shape.map((d) => (d === null || d < 0 ? null : d));
  return {
    layers: picked.map((p) => p.name),
    inputShape,
    run(x, n, sampleShape) {
      const result = new Map<string, LayerBatch>();
      if (!traced) return result;
      const outputs = tf.tidy(() => {
        const out = traced.predict(tf.tensor(x, [n, ...sampleShape], 'float32'));
        return Array.isArray(out) ? out : [out];
      });
      try {
        outputs.forEach((t, i) => {
          const data = t.dataSync();
          result.set(picked[i]!.name, {
            values: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>),
            shape: t.shape.slice(1),
          });
        });
      } finally {
        for (const t of outputs) t.dispose();
      }
      return result;
    },
    dispose() {
      model.dispose();
    },
  };
}

/**
 * Feeds a dataset through a tracer in batches (shape-adapted as `evaluate`
 * does) and hands each batch's layer outputs to `visit`. Returns the number
 * of samples seen.
 */
export async function traceDataset(
  tracers: readonly LayerTracer[],
  dataset: Dataset,
  visit: (outputs: Map<string, LayerBatch>[], n: number, offset: number) => void,
  options: Omit<TraceOptions, 'layers' | 'backend'> = {},
): Promise<number> {
  if (tracers.length === 0) return 0;
  const plan = planInput(dataset.sampleShape, tracers[0]!.inputShape);
  const x = adaptSamples(dataset, plan);
  const per = plan.shape.reduce((a, b) => a * b, 1);
  const step = Math.max(1, options.batchSize ?? 128);
  for (let i = 0; i < dataset.count; i += step) {
    if (options.isCancelled?.()) throw new CancelledError();
    const n = Math.min(step, dataset.count - i);
    const chunk = x.subarray(i * per, (i + n) * per);
    visit(tracers.map((t) => t.run(chunk, n, plan.shape)), n, i);
    options.onProgress?.(Math.min(1, (i + n) / dataset.count), `${i + n}/${dataset.count} samples`);
    // Let a cancel signal (SIGTERM/SIGINT handlers) run between batches.
    await new Promise((r) => setImmediate(r));
  }
  return dataset.count;
}
