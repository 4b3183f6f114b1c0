import * as path from 'node:path';
import {
  analyzeKerasTopology,
  flattenLayers,
  isNonTrainableWeightName,
  kerasVariableNames,
  toSnakeCase,
  WeightOwnerIndex,
  type KerasLayerNode,
  type KerasTopology,
} from '../../analysis/kerasLayers';
import { ModelFormatError } from '../../errors';
import { decodeUtf8 } from '../../io/binaryReader';
import { parseBoundedJson } from '../../io/boundedJson';
import { ZipArchive } from '../../io/zip';
import type { LayerInfo, ModelDoc, TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe, ReadLimits } from '../format';
import { hasHdf5Signature, stringList, type H5DatasetInfo, type H5Scan } from './hdf5';
import { readHdf5Dataset, scanHdf5 } from './hdf5Thread';
import { copyToTemp, inflateToTemp, isHostFile, removeTemp } from './tempFiles';

/**
 * Keras models: the v3 `.keras` zip (config.json + model.weights.h5) and the
 * legacy HDF5 `.h5` (model_config attribute + model_weights group), including
 * weights-only files written by `save_weights`.
 */
export const keras: FormatFactory = {
  id: 'keras',
  produces: ['keras'],
  label: 'Keras',
  extensions: ['.keras', '.h5', '.hdf5'],
  match,
  open,
};

/** Largest weights entry we inflate (to a temporary file, in chunks; stored entries are copied). */
const MAX_INFLATED_WEIGHTS = 2 * 1024 * 1024 * 1024;
/** Deflated weights larger than this must not expand more than MAX_DEFLATE_RATIO times. */
const BOMB_FLOOR = 64 * 1024 * 1024;
const MAX_DEFLATE_RATIO = 200;
const FLOAT_DTYPES = new Set(['float16', 'float32', 'float64', 'bfloat16']);

function match(probe: Probe): boolean {
  if (probe.name.endsWith('.keras')) return ZipArchive.isZip(probe.head);
  if (probe.name.endsWith('.h5') || probe.name.endsWith('.hdf5')) return hasHdf5Signature(probe.head);
  return false;
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  return ctx.name.endsWith('.keras') ? openKerasZip(ctx) : openH5(ctx);
}

// ---------------------------------------------------------------------------
// Where the HDF5 bytes are: the file itself, or a temporary copy.

/** Gives a host path h5wasm can open; `release` removes a temporary copy. */
interface H5Location {
  acquire(): Promise<string>;
  release(file: string): void;
}

function directLocation(file: string): H5Location {
  return { acquire: async () => file, release: () => undefined };
}

async function openH5(ctx: OpenContext): Promise<ModelDoc> {
  if (!hasHdf5Signature(ctx.head)) throw new ModelFormatError('bad-magic', 'not an HDF5 file (no HDF5 signature at offset 0)');
  // ctx.source is closed once open() returns: a temporary copy is made through ctx.fs.
  const copy = async () => {
    const source = await ctx.fs.open(ctx.path);
    try {
      return await copyToTemp(source, 0, source.size, path.basename(ctx.path));
    } finally {
      await source.close();
    }
  };
  // A path on a virtual file system is not a host path, even if the host happens to have a file there.
  const direct = !ctx.fs.virtual && isHostFile(ctx.path, ctx.size);
  const location: H5Location = direct ? directLocation(ctx.path) : { acquire: copy, release: removeTemp };
  const scan = await scanWith(location, ctx.path, ctx.limits);
  const reader = lazyReader(location, ctx.path, direct, ctx.limits);
  const modelConfig = parseConfigAttr(scan.rootAttrs.model_config, ctx.limits.maxDepth);
  const metadata: Record<string, string> = {};
  for (const key of ['keras_version', 'backend'] as const) {
    const v = scan.rootAttrs[key] ?? scan.groupAttrs.get('model_weights')?.[key];
    if (typeof v === 'string') metadata[key] = v;
  }
  const isKeras3Layout = scan.groups.has('layers') || scan.groups.has('_layer_checkpoint_dependencies');
  const topology = modelConfig ? analyzeKerasTopology(modelConfig, ctx.limits.maxDepth) : null;
  let built: Built;
  if (isKeras3Layout) {
    built = buildKeras3(topology, scan, reader);
    metadata.layout = 'keras 3 weights (layers/…/vars)';
  } else if (topology || scan.groups.has('model_weights') || scan.rootAttrs.layer_names !== undefined) {
    built = buildLegacy(topology, scan, reader);
    metadata.layout = topology ? 'keras 2 full model' : 'keras 2 weights only (save_weights)';
  } else {
    throw new ModelFormatError('not-a-model', 'HDF5 file has no Keras model_config, model_weights or layer_names: not a Keras model');
  }
  return finish(ctx, built, topology, metadata);
}

async function openKerasZip(ctx: OpenContext): Promise<ModelDoc> {
  const zip = await ZipArchive.open(ctx.source);
  if (!zip.entries.has('config.json')) throw new ModelFormatError('not-a-model', '.keras archive has no config.json');
  const config = parseBoundedJson(decodeUtf8(await zip.read('config.json', ctx.limits.maxMetadataBytes)), ctx.limits.maxDepth, 'config.json');
  const metadata: Record<string, string> = {};
  if (zip.entries.has('metadata.json')) {
    const meta = parseBoundedJson(decodeUtf8(await zip.read('metadata.json', ctx.limits.maxMetadataBytes)), ctx.limits.maxDepth, 'metadata.json') as Record<string, unknown>;
    for (const key of ['keras_version', 'date_saved'] as const) if (typeof meta?.[key] === 'string') metadata[key] = meta[key] as string;
  }
  const topology = analyzeKerasTopology(config, ctx.limits.maxDepth);
  if (!zip.entries.has('model.weights.h5')) {
    // A model without weights (never built) is still a model: report its layers.
    const built: Built = { layers: flattenLayers(topology.layers).map((l) => layerInfo(l, [])), warnings: ['.keras archive has no model.weights.h5'] };
    return finish(ctx, built, topology, metadata);
  }
  // ctx.source is closed once open() returns: later reads reopen the archive through ctx.fs.
  const extract = async (archive: ZipArchive) => {
    const e = archive.entries.get('model.weights.h5');
    if (!e) throw new ModelFormatError('not-found', '.keras archive no longer has model.weights.h5');
    if (e.method === 0) return copyToTemp(archive.source, await archive.dataOffset(e), e.size, 'model.weights.h5');
    // Weights deflate a little (random floats) or some (pruned, zero-initialised); a kilobyte
    // that claims to expand to a gigabyte is a zip bomb, refused before anything is inflated.
    if (e.size > BOMB_FLOOR && e.size > e.compressedSize * MAX_DEFLATE_RATIO) {
      throw new ModelFormatError('too-large', `.keras entry model.weights.h5 would expand ${e.compressedSize} bytes to ${e.size} (more than ${MAX_DEFLATE_RATIO}:1, zip bomb?)`);
    }
    if (e.method !== 8) throw new ModelFormatError('unsupported-format', `.keras entry model.weights.h5 uses compression method ${e.method}`);
    if (e.size > MAX_INFLATED_WEIGHTS) throw new ModelFormatError('too-large', `.keras entry model.weights.h5 expands to ${e.size} bytes (limit ${MAX_INFLATED_WEIGHTS})`);
    return inflateToTemp(archive.source, await archive.dataOffset(e), e.compressedSize, Math.min(MAX_INFLATED_WEIGHTS, Math.max(e.size, 1)), 'model.weights.h5');
  };
  const location: H5Location = {
    acquire: async () => {
      const source = await ctx.fs.open(ctx.path);
      try {
        return await extract(await ZipArchive.open(source));
      } finally {
        await source.close();
      }
    },
    release: removeTemp,
  };
  const scanned = await extract(zip);
  let scan: H5Scan;
  try {
    scan = await scanHdf5(scanned, `${ctx.path}!model.weights.h5`, ctx.limits.maxDepth, ctx.limits.hdf5TimeoutMs);
  } finally {
    removeTemp(scanned);
  }
  const reader = lazyReader(location, `${ctx.path}!model.weights.h5`, false, ctx.limits);
  const built = buildKeras3(topology, scan, reader);
  metadata.layout = 'keras 3 (.keras zip)';
  return finish(ctx, built, topology, metadata);
}

function finish(ctx: OpenContext, built: Built, topology: KerasTopology | null, metadata: Record<string, string>): ModelDoc {
  const doc: ModelDoc = {
    file: ctx.path,
    format: 'keras',
    files: [ctx.path],
    layers: built.layers,
    metadata: { ...metadata, ...(topology ? { modelClass: topology.className } : {}) },
    warnings: [...(topology?.warnings ?? []), ...built.warnings],
  };
  if (topology?.inputShape) doc.inputShape = topology.inputShape;
  if (topology) doc.raw = { topology };
  return doc;
}

// ---------------------------------------------------------------------------
// Scanning the HDF5 tree once at open time (on the HDF5 worker thread).

async function scanWith(location: H5Location, display: string, limits: ReadLimits): Promise<H5Scan> {
  const file = await location.acquire();
  try {
    return await scanHdf5(file, display, limits.maxDepth, limits.hdf5TimeoutMs);
  } finally {
    location.release(file);
  }
}

/** One reader per document: opens the HDF5 (materializing a temporary copy once if needed) to read a dataset. */
function lazyReader(location: H5Location, display: string, direct: boolean, limits: ReadLimits): (ds: H5DatasetInfo) => Promise<Float32Array> {
  let materialized: Promise<string> | undefined;
  return async (ds: H5DatasetInfo) => {
    const file = direct ? await location.acquire() : await (materialized ??= location.acquire());
    const bytes = ds.shape.reduce((a, b) => a * b, 1) * ds.itemSize;
    return readHdf5Dataset(file, display, ds.path, bytes, limits.hdf5TimeoutMs);
  };
}

// ---------------------------------------------------------------------------
// Mapping datasets to layers.

type DatasetReader = (ds: H5DatasetInfo) => Promise<Float32Array>;

interface Built {
  layers: LayerInfo[];
  warnings: string[];
}

function tensorFor(ds: H5DatasetInfo, name: string, reader: DatasetReader, trainable: boolean, isParameter?: boolean): TensorInfo {
  const count = ds.shape.reduce((a, b) => a * b, 1);
  const t: TensorInfo = {
    name,
    shape: [...ds.shape],
    dtype: ds.dtype,
    count,
    bytes: count * ds.itemSize,
    memoryBytes: count * ds.itemSize,
    isParameter: isParameter ?? FLOAT_DTYPES.has(ds.dtype),
    trainable,
    detail: { hdf5Path: ds.path, ...(ds.compressed ? { compressed: true, note: 'bytes are the uncompressed size' } : {}) },
    read: () => reader(ds),
  };
  return t;
}

function layerInfo(l: KerasLayerNode, tensors: TensorInfo[]): LayerInfo {
  const info: LayerInfo = {
    name: l.qualifiedName,
    type: l.className,
    tensors,
    outputShape: l.outputShape,
    macs: l.macs,
    inputs: l.inbound,
    config: l.config,
  };
  if (!l.known) info.notes = [`unknown layer class '${l.className}': its weights are counted, its compute is not`];
  if (l.className === 'Lambda') info.notes = ['Lambda layer: reported, never run'];
  return info;
}

/** Keras 2 layout: model_weights/<layer>/ with a weight_names attribute listing its datasets. */
function buildLegacy(topology: KerasTopology | null, scan: H5Scan, reader: DatasetReader): Built {
  const warnings: string[] = [];
  const root = scan.groups.has('model_weights') ? 'model_weights' : '';
  const rootAttrs = root ? (scan.groupAttrs.get(root) ?? {}) : scan.rootAttrs;
  const byPath = new Map(scan.datasets.map((d) => [d.path, d] as const));
  const claimed = new Set<string>();
  const under = (p: string) => (root ? `${root}/${p}` : p);
  let layerGroups = stringList(rootAttrs.layer_names);
  if (layerGroups.length === 0) {
    layerGroups = [...scan.groups].filter((g) => (root ? g.startsWith(`${root}/`) && !g.slice(root.length + 1).includes('/') : !g.includes('/'))).map((g) => (root ? g.slice(root.length + 1) : g));
    layerGroups = layerGroups.filter((g) => g !== 'optimizer_weights');
  }

  const leaves = topology ? flattenLayers(topology.layers) : [];
  const owners = new WeightOwnerIndex(leaves);
  const tensorsByLayer = new Map<KerasLayerNode, TensorInfo[]>(leaves.map((l) => [l, []]));
  const groupsWithoutLayer = new Map<string, TensorInfo[]>();

  for (const group of layerGroups) {
    const groupPath = under(group);
    let names = stringList(scan.groupAttrs.get(groupPath)?.weight_names);
    if (names.length === 0) {
      names = scan.datasets.filter((d) => d.path.startsWith(`${groupPath}/`)).map((d) => d.path.slice(groupPath.length + 1));
    }
    for (const wn of names) {
      const p = `${groupPath}/${wn}`;
      const ds = byPath.get(p);
      if (!ds) throw new ModelFormatError('not-a-model', `layer '${group}' lists weight '${wn}' but the file has no dataset '${p}'`);
      if (claimed.has(p)) continue;
      claimed.add(p);
      const weightName = `${group}/${wn}`.replace(/:\d+$/, '');
      const owner = leaves.find((l) => l.qualifiedName === group && !l.children) ?? owners.ownerOf(weightName);
      const shortName = wn.replace(/:\d+$/, '');
      let trainable = owner ? owner.trainable : true;
      if (isNonTrainableWeightName(shortName)) trainable = false;
      const t = tensorFor(ds, shortName, reader, trainable);
      if (owner) tensorsByLayer.get(owner)!.push(t);
      else groupsWithoutLayer.set(group, [...(groupsWithoutLayer.get(group) ?? []), t]);
    }
  }
  const layers = leaves.map((l) => layerInfo(l, tensorsByLayer.get(l)!));
  for (const [group, tensors] of groupsWithoutLayer) {
    if (topology) warnings.push(`weights of '${group}' match no layer in model_config; listed as a separate group`);
    layers.push({ name: group, type: topology ? 'tensor group' : 'layer weights', tensors, outputShape: null, macs: null });
  }
  addLeftovers(scan, claimed, reader, layers, warnings);
  return { layers, warnings };
}

/**
 * Keras 3 layout: layers/<snake_case class name, numbered per container>/vars/<i>;
 * nested models under layers/<model>/layers/…; sublayers (an LSTM's cell) below the layer.
 */
function buildKeras3(topology: KerasTopology | null, scan: H5Scan, reader: DatasetReader): Built {
  const warnings: string[] = [];
  const claimed = new Set<string>();
  const layers: LayerInfo[] = [];
  const datasetsUnder = (group: string) => scan.datasets.filter((d) => d.path.startsWith(`${group}/`) && !claimed.has(d.path));

  const assign = (container: string, children: KerasLayerNode[]) => {
    const used = new Map<string, number>();
    for (const child of children) {
      const snake = toSnakeCase(child.className);
      const n = used.get(snake);
      used.set(snake, n === undefined ? 0 : n + 1);
      const numbered = n === undefined ? snake : `${snake}_${n + 1}`;
      const candidates = ['layers', '_layer_checkpoint_dependencies'].flatMap((dir) => [`${container}${dir}/${numbered}`, `${container}${dir}/${child.name}`]);
      const group = candidates.find((c) => scan.groups.has(c));
      if (child.children) {
        if (group) assign(`${group}/`, child.children);
        else for (const l of flattenLayers(child.children)) layers.push(layerInfo(l, []));
        continue;
      }
      const found = group ? datasetsUnder(group) : [];
      for (const d of found) claimed.add(d.path);
      layers.push(layerInfo(child, namedVariables(child, group ?? '', found, reader)));
    }
  };
  if (topology) assign('', topology.layers);
  addLeftovers(scan, claimed, reader, layers, warnings, topology !== null);
  return { layers, warnings };
}

/** Names vars/0, vars/1, … after the layer class's variables (kernel, bias, gamma, …). */
function namedVariables(layer: KerasLayerNode, group: string, found: H5DatasetInfo[], reader: DatasetReader): TensorInfo[] {
  const byDir = new Map<string, H5DatasetInfo[]>();
  for (const d of found) {
    const dir = d.path.slice(0, d.path.lastIndexOf('/'));
    byDir.set(dir, [...(byDir.get(dir) ?? []), d]);
  }
  const known = kerasVariableNames(layer.className, layer.config);
  const out: TensorInfo[] = [];
  for (const [dir, list] of byDir) {
    list.sort((a, b) => varIndex(a.path) - varIndex(b.path));
    const relativeDir = dir.slice(group.length + 1);
    // The layer's own vars, or the single cell of an RNN layer, carry the class's variable names.
    const named = known && list.length === known.length && (relativeDir === 'vars' || (byDir.size === 1 && relativeDir === 'cell/vars'));
    list.forEach((d, i) => {
      const v = named ? known[i]! : null;
      const local = v ? v.name : d.path.slice(group.length + 1);
      let trainable = layer.trainable && (v ? v.trainable : true);
      if (isNonTrainableWeightName(local)) trainable = false;
      out.push(tensorFor(d, `${layer.qualifiedName}/${local}`, reader, trainable));
    });
  }
  return out;
}

function varIndex(p: string): number {
  const n = Number(p.slice(p.lastIndexOf('/') + 1));
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
}

/** Datasets no layer claimed: optimizer state (not parameters) and anything the config doesn't explain. */
function addLeftovers(scan: H5Scan, claimed: Set<string>, reader: DatasetReader, layers: LayerInfo[], warnings: string[], explainable = true): void {
  const groups = new Map<string, TensorInfo[]>();
  for (const d of scan.datasets) {
    if (claimed.has(d.path)) continue;
    const optimizer = /^(optimizer|optimizer_weights)(\/|$)/.test(d.path);
    const dir = d.path.includes('/') ? d.path.slice(0, d.path.lastIndexOf('/')) : '';
    const group = optimizer ? d.path.split('/')[0]! : dir.replace(/\/vars$/, '') || '(root)';
    const t = tensorFor(d, d.path, reader, !optimizer && !isNonTrainableWeightName(d.path), optimizer ? false : undefined);
    groups.set(group, [...(groups.get(group) ?? []), t]);
  }
  for (const [group, tensors] of groups) {
    const optimizer = /^(optimizer|optimizer_weights)$/.test(group);
    if (!optimizer && explainable) warnings.push(`datasets under '${group}' match no layer of the model config; listed as a separate group`);
    layers.push({
      name: group,
      type: optimizer ? 'optimizer state' : 'tensor group',
      tensors,
      outputShape: null,
      macs: null,
      ...(optimizer ? { notes: ['optimizer state saved with the model: bytes on disk, not parameters'] } : {}),
    });
  }
}

function parseConfigAttr(v: unknown, maxDepth: number): unknown {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ModelFormatError('not-a-model', 'model_config attribute is not a JSON string');
  return parseBoundedJson(v, maxDepth, 'model_config');
}
