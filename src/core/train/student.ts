import { ModelFormatError } from '../errors';
import type { Tf } from '../runtime/tfjs';
import { cloneConfig, configLayers, entryName, outputWidthLayers, widthKey, type ModelConfig } from './graph';
import { mulberry32 } from './loop';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type Tensor = import('@tensorflow/tfjs').Tensor;

export interface WidthChange {
  layer: string;
  from: number;
  to: number;
}

/**
 * A narrower copy of an architecture: every Dense `units` and Conv `filters`
 * times `width` (rounded, at least 1), except the layer that sets the output
 * width (the classes). Equal widths stay equal, so residual Adds still match.
 */
export function scaleWidths(arch: ModelConfig, width: number): { config: ModelConfig; changes: WidthChange[] } {
  if (!(width > 0)) throw new ModelFormatError('invalid-option', `student width must be above 0, got ${width}`);
  const config = cloneConfig(arch);
  const keep = outputWidthLayers(config);
  const changes: WidthChange[] = [];
  for (const entry of configLayers(config)) {
    const key = widthKey(entry);
    const name = entryName(entry);
    if (!key || keep.has(name)) continue;
    const from = entry.config[key] as number;
    const to = Math.max(1, Math.round(from * width));
    entry.config[key] = to;
    changes.push({ layer: name, from, to });
  }
  if (changes.length === 0) throw new ModelFormatError('invalid-option', 'the model has no hidden Dense or Conv layer whose width could be scaled');
  return { config, changes };
}

/** Keras' fan computation: [in, out] or [k…, in, out] (receptive field × channels). */
function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  if (shape.length >= 3) {
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    return { fanIn: receptive * shape[shape.length - 2]!, fanOut: receptive * shape[shape.length - 1]! };
  }
  const n = shape.reduce((a, b) => a * b, 1);
  return { fanIn: n, fanOut: n };
}

/**
 * A new seeded random initialization, independent of the initializer seeds in
 * the config: Glorot-uniform kernels from our own PRNG, zero biases and betas,
 * unit gammas and moving variances, zero moving means.
 */
export function reinitialize(tf: Tf, model: LayersModel, seed: number): void {
  const values: Tensor[] = [];
  model.weights.forEach((w, index) => {
    const shape = w.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const name = w.originalName;
    const data = new Float32Array(n);
    if (/(kernel|embeddings)$/.test(name)) {
      const { fanIn, fanOut } = fans(shape);
      const limit = Math.sqrt(6 / Math.max(1, fanIn + fanOut));
      const random = mulberry32((seed * 7919 + index * 104729) >>> 0);
      for (let i = 0; i < n; i++) data[i] = (random() * 2 - 1) * limit;
    } else if (/(gamma|moving_variance)$/.test(name)) {
      data.fill(1);
    } else if (!/(bias|beta|moving_mean)$/.test(name)) {
      // Anything else keeps what the layer was built with.
      values.push(w.read().clone());
      return;
    }
    values.push(tf.tensor(data, shape, 'float32'));
  });
  model.setWeights(values);
  tf.dispose(values);
}

/** Dense units / Conv filters of each layer, for the notes (`256→64`). */
export function describeWidths(changes: WidthChange[]): string {
  return changes.map((c) => `${c.layer} ${c.from}→${c.to}`).join(', ');
}
