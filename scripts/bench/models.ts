/**
 * The example models (examples/mnist-mlp, examples/mnist-cnn) as the bench
 * needs them: loaded into TF.js, and their weights as plain arrays for the
 * peers (onnxruntime, PyTorch).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tf } from '../../src/core/runtime/tfjs';
import { ROOT } from './util';

export type ExampleId = 'mnist-mlp' | 'mnist-cnn';
export const EXAMPLES: ExampleId[] = ['mnist-mlp', 'mnist-cnn'];

export interface ExampleWeights {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface ExampleModel {
  id: ExampleId;
  dir: string;
  modelJson: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[] };
  weights: ExampleWeights[];
  /** Keras layer class names, in order. */
  layers: { className: string; config: Record<string, unknown> }[];
}

export function exampleDir(id: ExampleId): string {
  return path.join(ROOT, 'examples', id);
}

export function hasExample(id: ExampleId): boolean {
  return fs.existsSync(path.join(exampleDir(id), 'model.json'));
}

/** Reads model.json and its float32 shards. */
export function readExample(id: ExampleId): ExampleModel {
  const dir = exampleDir(id);
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as ExampleModel['modelJson'];
  const weights: ExampleWeights[] = [];
  for (const group of modelJson.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32') throw new Error(`${id}: weight ${w.name} is ${w.dtype}; the bench expects float32 examples`);
      const count = w.shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(count);
      new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + count * 4));
      offset += count * 4;
      weights.push({ name: w.name, shape: w.shape, values });
    }
  }
  const topology = modelJson.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  const layers = topology.config.layers.map((l) => ({ className: l.class_name, config: l.config }));
  return { id, dir, modelJson, weights, layers };
}

/** The model in TF.js, from memory (same topology and weights as on disk). */
export async function loadTfjsModel(tf: Tf, m: ExampleModel): Promise<import('@tensorflow/tfjs').LayersModel> {
  const specs = m.modelJson.weightsManifest.flatMap((g) => g.weights);
  const total = m.weights.reduce((s, w) => s + w.values.byteLength, 0);
  const data = new Uint8Array(total);
  let o = 0;
  for (const w of m.weights) {
    data.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), o);
    o += w.values.byteLength;
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: m.modelJson.modelTopology as object, weightSpecs: specs as never, weightData: data.buffer }),
  );
}
