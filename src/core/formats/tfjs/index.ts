import { ModelFormatError } from '../../errors';
import { decodeUtf8 } from '../../io/binaryReader';
import { parseBoundedJson } from '../../io/boundedJson';
import type { FileAccess } from '../../io/fileAccess';
import type { FormatId, LayerInfo, ModelDoc } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { layersFromGraph } from './graphModel';
import { layersFromTopology } from './layersModel';
import { layoutManifest, tensorInfo, type PlacedWeight } from './manifest';

/**
 * TF.js models: `model.json` (layers or graph model) plus binary weight shards,
 * or a bare weights manifest (face-api.js ships `*-weights_manifest.json`).
 */
export const tfjs: FormatFactory = {
  id: 'tfjs',
  produces: ['tfjs-layers', 'tfjs-graph', 'tfjs-weights'],
  label: 'TF.js',
  extensions: ['model.json', 'weights_manifest.json', '.json'],
  match,
  open,
};

function match(probe: Probe): boolean {
  if (!probe.name.endsWith('.json')) return false;
  const text = decodeUtf8(probe.head).trimStart();
  // Any JSON named model.json is ours to accept or reject with a reason.
  if (probe.name === 'model.json') return text.startsWith('{') || text.startsWith('[');
  if (text.startsWith('[')) return /"weights"\s*:/.test(text) || /"paths"\s*:/.test(text);
  if (!text.startsWith('{')) return false;
  return /"(modelTopology|weightsManifest)"\s*:/.test(text) || /"format"\s*:\s*"(layers|graph)-model"/.test(text);
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  if (ctx.size > ctx.limits.maxMetadataBytes) {
    throw new ModelFormatError('too-large', `model JSON is ${ctx.size} bytes (limit ${ctx.limits.maxMetadataBytes})`);
  }
  const json = parseBoundedJson(decodeUtf8(await ctx.source.read(0, ctx.size)), ctx.limits.maxDepth, 'model JSON');
  const { kind, topology, manifest, raw } = classify(json);
  const layout = await layoutManifest(ctx, manifest);
  const warnings = [...layout.warnings];
  const metadata: Record<string, string> = {};
  for (const key of ['format', 'generatedBy', 'convertedBy'] as const) {
    const v = raw[key];
    if (typeof v === 'string') metadata[key] = v;
  }
  if (topology && typeof topology.keras_version === 'string') metadata.kerasVersion = topology.keras_version;
  if (topology && typeof topology.backend === 'string') metadata.backend = topology.backend;
  if (raw.format === undefined && kind !== 'tfjs-weights') warnings.push(`model.json has no "format" key; read as a ${kind === 'tfjs-graph' ? 'graph' : 'layers'} model from its topology`);

  let layers: LayerInfo[];
  let inputShape: (number | null)[] | null = null;
  if (kind === 'tfjs-layers') {
    const r = layersFromTopology(topology, layout.weights, ctx.fs, ctx.limits.maxDepth);
    layers = r.layers;
    warnings.push(...r.warnings);
    inputShape = r.inputShape;
  } else if (kind === 'tfjs-graph') {
    const r = await layersFromGraph(topology!, layout.weights, ctx.fs, ctx.limits.maxDepth, signatureInputShape(raw));
    layers = r.layers;
    warnings.push(...r.warnings);
    inputShape = r.inputShape;
  } else {
    layers = groupByPrefix(layout.weights, ctx.fs);
  }
  const doc: ModelDoc = {
    file: ctx.path,
    format: kind,
    files: [ctx.path, ...layout.files],
    layers,
    metadata,
    warnings,
    raw: json,
  };
  if (inputShape) doc.inputShape = inputShape;
  return doc;
}

interface Classified {
  kind: FormatId & ('tfjs-layers' | 'tfjs-graph' | 'tfjs-weights');
  topology: Record<string, unknown> | null;
  manifest: unknown;
  raw: Record<string, unknown>;
}

function classify(json: unknown): Classified {
  if (Array.isArray(json)) return { kind: 'tfjs-weights', topology: null, manifest: json, raw: {} };
  if (!json || typeof json !== 'object') throw new ModelFormatError('not-a-model', 'JSON is not a TF.js model (not an object)');
  const raw = json as Record<string, unknown>;
  const manifest = raw.weightsManifest;
  const topology = raw.modelTopology && typeof raw.modelTopology === 'object' ? (raw.modelTopology as Record<string, unknown>) : null;
  if (manifest === undefined) {
    throw new ModelFormatError('not-a-model', topology ? 'model.json has a topology but no weightsManifest' : 'JSON has neither modelTopology nor weightsManifest');
  }
  if (!topology) return { kind: 'tfjs-weights', topology: null, manifest, raw };
  if (raw.format === 'graph-model' || Array.isArray(topology.node)) return { kind: 'tfjs-graph', topology, manifest, raw };
  if (raw.format === 'layers-model' || topology.model_config || typeof topology.class_name === 'string') {
    return { kind: 'tfjs-layers', topology, manifest, raw };
  }
  throw new ModelFormatError('not-a-model', 'modelTopology is neither a Keras layers config nor a graph (no class_name, model_config or node)');
}

/** Input shape from a graph model's serving signature (top level or userDefinedMetadata). */
function signatureInputShape(raw: Record<string, unknown>): (number | null)[] | null {
  const meta = raw.userDefinedMetadata as { signature?: unknown } | undefined;
  const signature = (raw.signature ?? meta?.signature) as { inputs?: Record<string, { tensorShape?: { dim?: { size?: unknown }[] } }> } | undefined;
  const inputs = signature?.inputs ? Object.values(signature.inputs) : [];
  const dims = inputs.length === 1 ? inputs[0]?.tensorShape?.dim : undefined;
  if (!Array.isArray(dims)) return null;
  return dims.map((d) => {
    const n = Number(d?.size ?? -1);
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  });
}

/** Weights without a topology: one group per name prefix ("dense0/conv0/filters" → "dense0/conv0"). */
function groupByPrefix(weights: PlacedWeight[], fs: FileAccess): LayerInfo[] {
  const groups = new Map<string, LayerInfo>();
  for (const w of weights) {
    const name = w.spec.name;
    const prefix = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : name;
    let layer = groups.get(prefix);
    if (!layer) {
      layer = { name: prefix, type: 'tensor group', tensors: [], outputShape: null, macs: null };
      groups.set(prefix, layer);
    }
    layer.tensors.push(tensorInfo(fs, w, w.spec.dtype !== 'string' && w.spec.dtype !== 'int32' && w.spec.dtype !== 'bool'));
  }
  return [...groups.values()];
}
