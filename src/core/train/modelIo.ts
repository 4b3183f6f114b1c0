import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { diskModelHandler } from '../evaluate/runners/tfjs';
import type { AtomicFileSet } from '../io/atomicWrite';
import type { Tf } from '../runtime/tfjs';
import { predictAll } from './loop';
import type { Samples } from './data';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type ModelArtifacts = import('@tensorflow/tfjs').io.ModelArtifacts;

/** Loads a TF.js layers model (model.json + shards) exactly as stock TF.js would. */
export async function loadLayersModelFile(tf: Tf, file: string): Promise<LayersModel> {
  try {
    return await tf.loadLayersModel(diskModelHandler(tf, file));
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError('not-a-model', `tf.loadLayersModel could not load the model: ${(e as Error).message.split('\n')[0]}`, { file });
  }
}

/** model.json → model.<tag>.json (the name compress uses). */
export function outputNameFor(source: string, tag: string): string {
  return `${source.replace(/\.json$/i, '')}.${tag}.json`;
}

/** `dir/model.finetune.json` → `dir/model.finetune` (shards and sidecars hang off it). */
export function stemOf(file: string): string {
  return file.replace(/\.json$/i, '');
}

/**
 * Serializes with TF.js's own saver and writes model.json + one
 * `<stem>.weights.bin` shard through the file set (nothing appears until commit).
 */
export async function saveLayersModel(tf: Tf, model: LayersModel, file: string, files: AtomicFileSet): Promise<ModelArtifacts> {
  let artifacts: ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('TF.js returned no model artifacts');
  const shard = `${path.basename(stemOf(file))}.weights.bin`;
  const weights = artifacts.weightData === undefined ? new Uint8Array(0) : new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const json: Record<string, unknown> = {
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: 'Parsimony',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs ?? [] }],
  };
  await files.write(path.join(path.dirname(file), shard), weights);
  await files.write(file, JSON.stringify(json));
  return artifacts;
}

/**
 * Reloads the written model through the stock loader and compares its outputs
 * with the in-memory model's on up to `limit` samples; throws if they differ.
 */
export async function verifyWritten(tf: Tf, memory: LayersModel, file: string, data: Samples, limit = 256): Promise<{ samples: number; maxAbsDiff: number }> {
  const n = Math.min(limit, data.count);
  const per = data.shape.reduce((a, b) => a * b, 1);
  const subset: Samples = { x: data.x.subarray(0, n * per), y: null, count: n, shape: data.shape };
  const loaded = await loadLayersModelFile(tf, file);
  try {
    let maxAbsDiff = 0;
    const outputs = Math.max(memory.outputs.length, 1);
    if (loaded.outputs.length !== memory.outputs.length) {
      throw new ModelFormatError('not-a-model', `the written model has ${loaded.outputs.length} outputs, the trained one ${memory.outputs.length}`, { file });
    }
    for (let o = 0; o < outputs; o++) {
      const a = predictAll(tf, memory, subset, 256, o).values;
      const b = predictAll(tf, loaded, subset, 256, o).values;
      if (a.length !== b.length) throw new ModelFormatError('not-a-model', `the written model's output ${o} has another shape than the trained one's`, { file });
      for (let i = 0; i < a.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i]! - b[i]!));
    }
    if (!(maxAbsDiff <= 1e-5)) {
      throw new ModelFormatError('not-a-model', `the written model predicts differently from the trained one (max |Δ| = ${maxAbsDiff})`, { file });
    }
    return { samples: n, maxAbsDiff };
  } finally {
    loaded.dispose();
  }
}
