import { ModelFormatError } from '../errors';
import type { Tf } from '../runtime/tfjs';

type LayersModel = import('@tensorflow/tfjs').LayersModel;

/**
 * Layers-model architectures as data: the Keras-style JSON that
 * `model.toJSON(null, false)` returns and `tf.models.modelFromJSON` reads.
 * Methods edit a deep copy (widths, activations, inserted layers) and rebuild;
 * weights move between models by layer name or in order.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- Keras JSON is untyped */
export type Json = Record<string, any>;

export interface ModelConfig {
  class_name: string;
  config: Json;
  [key: string]: unknown;
}

export interface LayerEntry {
  class_name: string;
  config: Json;
  name?: string;
  inbound_nodes?: any[];
}

export function cloneConfig(c: ModelConfig): ModelConfig {
  return JSON.parse(JSON.stringify(c)) as ModelConfig;
}

export function modelConfig(model: LayersModel): ModelConfig {
  return model.toJSON(null, false) as unknown as ModelConfig;
}

export function isSequential(c: ModelConfig): boolean {
  return c.class_name === 'Sequential';
}

/** The layer list, in config order. */
export function configLayers(c: ModelConfig): LayerEntry[] {
  const cfg = c.config;
  const layers = Array.isArray(cfg) ? cfg : cfg.layers;
  if (!Array.isArray(layers)) throw new ModelFormatError('not-a-model', `model config of class ${c.class_name} has no layer list`);
  return layers as LayerEntry[];
}

export function entryName(e: LayerEntry): string {
  return (e.config?.name as string | undefined) ?? e.name ?? '';
}

/** Names of the layers feeding `entry` (first call); the previous layer in a Sequential. */
export function inboundNames(c: ModelConfig, entry: LayerEntry): string[] {
  if (isSequential(c)) {
    const layers = configLayers(c);
    const i = layers.indexOf(entry);
    return i > 0 ? [entryName(layers[i - 1]!)] : [];
  }
  const node = entry.inbound_nodes?.[0];
  if (!Array.isArray(node)) return [];
  return node.map((n: any) => (Array.isArray(n) ? String(n[0]) : String(n?.args?.[0]?.config?.keras_history?.[0] ?? '')));
}

export function outputLayerNames(c: ModelConfig): string[] {
  if (isSequential(c)) {
    const layers = configLayers(c);
    return layers.length ? [entryName(layers[layers.length - 1]!)] : [];
  }
  const outs = c.config.output_layers as any[] | undefined;
  return (outs ?? []).map((o) => String(Array.isArray(o) ? o[0] : o));
}

export function findEntry(c: ModelConfig, name: string): LayerEntry | undefined {
  return configLayers(c).find((e) => entryName(e) === name);
}

/** Keys that set a layer's width (output units or channels). */
const WIDTH_KEYS = ['units', 'filters'] as const;

export function widthKey(e: LayerEntry): 'units' | 'filters' | null {
  for (const k of WIDTH_KEYS) if (typeof e.config?.[k] === 'number') return k;
  return null;
}

/**
 * The layer whose width is the model's output width: the output layer, or the
 * nearest layer with units/filters behind it (through Activation, Softmax,
 * Flatten, pooling…).
 */
export function outputWidthLayers(c: ModelConfig): Set<string> {
  const out = new Set<string>();
  for (const name of outputLayerNames(c)) {
    let entry = findEntry(c, name);
    const seen = new Set<string>();
    while (entry && !widthKey(entry) && !seen.has(entryName(entry))) {
      seen.add(entryName(entry));
      const prev = inboundNames(c, entry)[0];
      entry = prev ? findEntry(c, prev) : undefined;
    }
    if (entry) out.add(entryName(entry));
  }
  return out;
}

export interface LogitsSplit {
  /** The architecture with the final softmax removed: outputs are logits. */
  logits: ModelConfig;
  /** True when the original outputs are softmax probabilities. */
  softmax: boolean;
}

/**
 * Training losses are computed from logits (numerically stable cross-entropy,
 * temperature scaling). A final `activation: 'softmax'` becomes linear; a final
 * Softmax/Activation('softmax') layer is dropped. The weights are unchanged, so
 * a model built from either config takes the other's weights in order.
 */
export function splitSoftmax(arch: ModelConfig): LogitsSplit {
  const outputs = outputLayerNames(arch);
  if (outputs.length !== 1) {
    throw new ModelFormatError('unsupported-format', `the model has ${outputs.length} outputs; training methods need a single-output classifier`);
  }
  const c = cloneConfig(arch);
  const entry = findEntry(c, outputs[0]!);
  if (!entry) throw new ModelFormatError('not-a-model', `output layer '${outputs[0]}' is not in the model config`);
  if (entry.config.activation === 'softmax' && entry.class_name !== 'Activation') {
    entry.config.activation = 'linear';
    return { logits: c, softmax: true };
  }
  if (entry.class_name === 'Softmax' || (entry.class_name === 'Activation' && entry.config.activation === 'softmax')) {
    const layers = configLayers(c);
    const prev = inboundNames(c, entry)[0];
    if (!prev) throw new ModelFormatError('unsupported-format', 'the model is a lone softmax layer');
    layers.splice(layers.indexOf(entry), 1);
    if (!isSequential(c)) c.config.output_layers = [[prev, 0, 0]];
    return { logits: c, softmax: true };
  }
  return { logits: c, softmax: false };
}

export async function buildModel(tf: Tf, c: ModelConfig): Promise<LayersModel> {
  try {
    return await tf.models.modelFromJSON({ modelTopology: c as unknown as Json } as never);
  } catch (e) {
    throw new ModelFormatError('unsupported-format', `TF.js cannot build the changed architecture: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Copies all weights in order (the architectures must match weight for weight). */
export function copyWeights(from: LayersModel, to: LayersModel): void {
  const a = from.weights;
  const b = to.weights;
  if (a.length !== b.length || a.some((w, i) => w.shape.join('x') !== b[i]!.shape.join('x'))) {
    throw new ModelFormatError('invalid-option', `weights do not match: ${a.length} tensors (${a.map((w) => w.shape.join('×')).join(', ')}) vs ${b.length} (${b.map((w) => w.shape.join('×')).join(', ')})`);
  }
  to.setWeights(from.getWeights());
}

/** A new model of `config` holding `from`'s weights (matching weight for weight); disposed again when they do not fit. */
export async function buildWithWeights(tf: Tf, config: ModelConfig, from: LayersModel): Promise<LayersModel> {
  const model = await buildModel(tf, config);
  try {
    copyWeights(from, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Copies the weights of every layer present in both models with equal shapes; returns the layers copied. */
export function copyWeightsByLayer(from: LayersModel, to: LayersModel, skip: Set<string> = new Set()): string[] {
  const copied: string[] = [];
  for (const layer of to.layers) {
    if (skip.has(layer.name) || layer.weights.length === 0) continue;
    let source;
    try {
      source = from.getLayer(layer.name);
    } catch {
      continue;
    }
    const w = source.getWeights();
    if (w.length !== layer.weights.length || w.some((t, i) => t.shape.join('x') !== layer.weights[i]!.shape.join('x'))) continue;
    layer.setWeights(w);
    copied.push(layer.name);
  }
  return copied;
}

/** Layer classes that carry the weights pruning/binarization act on. */
export const KERNEL_LAYER_CLASSES = new Set(['Dense', 'Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose', 'DepthwiseConv2D', 'SeparableConv2D']);
const KERNEL_WEIGHT = /\/(kernel|depthwise_kernel|pointwise_kernel)$/;

export interface KernelRef {
  layer: string;
  className: string;
  /** Saved weight name (`layer/kernel`). */
  weight: string;
  shape: number[];
  /** Index of the output channel axis group: values are [rows, channels] with channels = product(shape[channelAxis..]). */
  channels: number;
}

/**
 * The kernels of weighted layers, in model order: Dense/Conv kernels and both
 * kernels of separable convolutions. `layers` restricts to those names.
 */
export function kernelRefs(model: LayersModel, layers?: string[]): KernelRef[] {
  const wanted = layers && layers.length ? new Set(layers) : null;
  if (wanted) {
    const known = new Set(model.layers.map((l) => l.name));
    const unknown = [...wanted].filter((n) => !known.has(n));
    if (unknown.length) throw new ModelFormatError('invalid-option', `no layer named ${unknown.map((n) => `'${n}'`).join(', ')} (layers: ${[...known].join(', ')})`);
  }
  const out: KernelRef[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (!KERNEL_LAYER_CLASSES.has(className)) continue;
    if (wanted && !wanted.has(layer.name)) continue;
    for (const w of layer.weights) {
      if (!KERNEL_WEIGHT.test(w.originalName) || !w.trainable) continue;
      const shape = w.shape as number[];
      // Depthwise kernels [kh, kw, in, multiplier]: one filter per (in, multiplier).
      const depthwise = /depthwise_kernel$/.test(w.originalName);
      const channels = depthwise ? shape[shape.length - 1]! * shape[shape.length - 2]! : shape[shape.length - 1]!;
      out.push({ layer: layer.name, className, weight: w.originalName, shape, channels });
    }
  }
  return out;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
