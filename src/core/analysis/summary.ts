import * as path from 'node:path';
import { nodeFileAccess, type FileAccess } from '../io/fileAccess';
import { layerParams, layerTrainableParams, type FormatId, type ModelDoc, type TensorInfo } from '../model';

/** The `parsimony analyze --json` contract (keys are an interface: keep them). */
export interface TensorSummary {
  name: string;
  shape: number[];
  dtype: string;
  bytes: number;
}

export interface LayerSummary {
  name: string;
  type: string;
  params: number;
  trainableParams: number | null;
  bytes: number;
  memoryBytes: number;
  macs: number | null;
  outputShape: (number | null)[] | null;
  share: number;
  tensors: TensorSummary[];
}

export interface ModelSummary {
  file: string;
  format: FormatId;
  totalParams: number;
  trainableParams: number | null;
  bytesOnDisk: number;
  bytesInMemory: number;
  macs: number | null;
  files: string[];
  metadata: Record<string, string>;
  warnings: string[];
  layers: LayerSummary[];
  byType: { type: string; layers: number; params: number; bytes: number }[];
  largest: { name: string; params: number; share: number }[];
}

export async function summarize(doc: ModelDoc, fs: FileAccess = nodeFileAccess): Promise<ModelSummary> {
  let totalParams = 0;
  let trainable: number | null = 0;
  let memory = 0;
  let macs: number | null = 0;
  const layers: LayerSummary[] = doc.layers.map((layer) => {
    const params = layerParams(layer);
    const trainableParams = layerTrainableParams(layer);
    let bytes = 0;
    let memoryBytes = 0;
    for (let i = 0; i < layer.tensors.length; i++) {
      bytes += layer.tensors[i]!.bytes;
      memoryBytes += layer.tensors[i]!.memoryBytes;
    }
    totalParams += params;
    memory += memoryBytes;
    trainable = trainable === null || trainableParams === null ? null : trainable + trainableParams;
    if (layer.macs === null) {
      // A layer without weights (activation, pooling) costs no MACs worth counting;
      // an unknown cost on a weighted layer makes the total unknown.
      if (params > 0) macs = null;
    } else if (macs !== null) macs += layer.macs;
    return {
      name: layer.name,
      type: layer.type,
      params,
      trainableParams,
      bytes,
      memoryBytes,
      macs: layer.macs,
      outputShape: layer.outputShape,
      share: 0,
      tensors: layer.tensors.map(tensorSummary),
    };
  });
  for (let i = 0; i < layers.length; i++) layers[i]!.share = totalParams > 0 ? layers[i]!.params / totalParams : 0;

  let bytesOnDisk = 0;
  for (const f of doc.files) bytesOnDisk += (await fs.stat(f)).size;

  const types = new Map<string, { type: string; layers: number; params: number; bytes: number }>();
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    const t = types.get(l.type) ?? { type: l.type, layers: 0, params: 0, bytes: 0 };
    t.layers++;
    t.params += l.params;
    t.bytes += l.bytes;
    types.set(l.type, t);
  }
  const largest = [...layers]
    .filter((l) => l.params > 0)
    .sort((a, b) => b.params - a.params)
    .slice(0, 5)
    .map((l) => ({ name: l.name, params: l.params, share: l.share }));

  return {
    file: doc.file,
    format: doc.format,
    totalParams,
    trainableParams: trainable,
    bytesOnDisk,
    bytesInMemory: memory,
    macs: layers.length > 0 ? macs : null,
    files: doc.files,
    metadata: doc.metadata,
    warnings: doc.warnings,
    layers,
    byType: [...types.values()].sort((a, b) => b.params - a.params),
    largest,
  };
}

function tensorSummary(t: TensorInfo): TensorSummary {
  return { name: t.name, shape: t.shape, dtype: t.dtype, bytes: t.bytes };
}

export function displayName(file: string): string {
  return path.basename(path.dirname(file)) + '/' + path.basename(file);
}
