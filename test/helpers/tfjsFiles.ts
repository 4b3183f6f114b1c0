import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { loadTf } from '../../src/core/runtime/tfjs';

/**
 * TF.js IOHandlers over local files, so tests load models exactly as stock
 * `tf.loadLayersModel` / `tf.loadGraphModel` would over HTTP: model.json plus
 * every shard the manifest lists, concatenated group by group.
 */
export function fileHandler(file: string): tfTypes.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const groups = json.weightsManifest as { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
      const weightSpecs: tfTypes.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const g of groups) {
        weightSpecs.push(...g.weights);
        for (const p of g.paths) buffers.push(readFileSync(path.join(path.dirname(file), p)));
      }
      const all = Buffer.concat(buffers);
      const artifacts: tfTypes.io.ModelArtifacts = {
        modelTopology: json.modelTopology as tfTypes.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
      };
      for (const key of ['format', 'generatedBy', 'convertedBy', 'userDefinedMetadata', 'signature', 'modelInitializer'] as const) {
        if (json[key] !== undefined) (artifacts as Record<string, unknown>)[key] = json[key];
      }
      return artifacts;
    },
  };
}

export async function loadLayersModelFromFile(file: string): Promise<tfTypes.LayersModel> {
  const { tf } = await loadTf();
  return tf.loadLayersModel(fileHandler(file));
}

export async function loadGraphModelFromFile(file: string): Promise<tfTypes.GraphModel> {
  const { tf } = await loadTf();
  return tf.loadGraphModel(fileHandler(file));
}

/** Saves a layers model with TF.js's own serializer as `file` (model.json) plus one shard next to it. */
export async function saveLayersModelToFile(model: tfTypes.LayersModel, file: string): Promise<void> {
  const { tf } = await loadTf();
  let artifacts: tfTypes.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const shard = path.basename(file).replace(/\.json$/, '') + '.weights.bin';
  writeFileSync(path.join(path.dirname(file), shard), new Uint8Array(artifacts!.weightData as ArrayBuffer));
  writeFileSync(
    file,
    JSON.stringify({
      modelTopology: artifacts!.modelTopology,
      format: 'layers-model',
      generatedBy: artifacts!.generatedBy,
      convertedBy: null,
      weightsManifest: [{ paths: [shard], weights: artifacts!.weightSpecs }],
    }),
  );
}
