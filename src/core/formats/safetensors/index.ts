import { ModelFormatError } from '../../errors';
import { decodeUtf8 } from '../../io/binaryReader';
import { decodeElements, readFileRange } from '../../io/decodeElements';
import { resolveSibling, type FileAccess } from '../../io/fileAccess';
import type { ModelDoc, TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { groupByPrefix, isFloatDtype, naturalCompare } from '../groupByPrefix';
import { looksLikeSafetensors, readSafetensorsHeader, type SafetensorsEntry } from './header';

const INDEX_SUFFIX = '.safetensors.index.json';

function match(probe: Probe): boolean {
  if (probe.name.endsWith(INDEX_SUFFIX)) return true;
  // Other sharded indexes (pytorch_model.bin.index.json) map to non-safetensors shards.
  if (probe.name.endsWith('.index.json')) {
    const text = decodeUtf8(probe.head);
    return /"weight_map"/.test(text) && /\.safetensors"/.test(text);
  }
  return looksLikeSafetensors(probe.head, probe.size) || probe.name.endsWith('.safetensors');
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  if (ctx.name.endsWith('.index.json')) return openSharded(ctx);
  const header = await readSafetensorsHeader(ctx.source, ctx.limits);
  const tensors = header.entries.map((e) => toTensor(e, ctx.path, ctx.fs));
  return buildDoc(ctx, [ctx.path], tensors, header.metadata, []);
}

/** `model.safetensors.index.json`: a weight map from tensor names to shard files. */
async function openSharded(ctx: OpenContext): Promise<ModelDoc> {
  if (ctx.size > ctx.limits.maxMetadataBytes) {
    throw new ModelFormatError('too-large', `index file is ${ctx.size} bytes`, { file: ctx.path });
  }
  let index: unknown;
  try {
    index = JSON.parse(decodeUtf8(await ctx.source.read(0, ctx.size)));
  } catch (e) {
    throw new ModelFormatError('not-a-model', `safetensors index is not JSON (${(e as Error).message})`, { file: ctx.path });
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new ModelFormatError('not-a-model', 'safetensors index has no "weight_map" object', { file: ctx.path });
  }
  const shards: string[] = [];
  const expectedShard = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string') throw new ModelFormatError('not-a-model', `weight_map entry '${tensor}' is not a file name`, { file: ctx.path });
    if (!shards.includes(shard)) shards.push(shard);
    expectedShard.set(tensor, shard);
  }
  const files = [ctx.path];
  const tensors: TensorInfo[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  let metadata: Record<string, string> = {};
  for (const shard of shards) {
    const shardPath = resolveSibling(ctx.path, shard);
    const source = await ctx.fs.open(shardPath);
    try {
      const header = await readSafetensorsHeader(source, ctx.limits);
      metadata = { ...header.metadata, ...metadata };
      for (const entry of header.entries) {
        const mapped = expectedShard.get(entry.name);
        if (mapped !== shard) {
          // A tensor present in a shard but mapped elsewhere (or not at all) would be
          // counted twice or loaded from the wrong place by transformers.
          warnings.push(`tensor '${entry.name}' is in ${shard} but the index maps it to ${mapped ?? 'nothing'}; not counted here`);
          continue;
        }
        seen.add(entry.name);
        tensors.push(toTensor(entry, shardPath, ctx.fs));
      }
    } catch (e) {
      if (e instanceof ModelFormatError) e.file ??= shardPath;
      throw e;
    } finally {
      await source.close();
    }
    files.push(shardPath);
  }
  for (const [tensor, shard] of expectedShard) {
    if (!seen.has(tensor)) throw new ModelFormatError('not-a-model', `index maps '${tensor}' to ${shard}, but that shard has no such tensor`, { file: ctx.path });
  }
  const declared = (index as { metadata?: { total_size?: unknown } }).metadata?.total_size;
  const stored = tensors.reduce((s, t) => s + t.bytes, 0);
  if (typeof declared === 'number' && declared !== stored) {
    warnings.push(`index metadata.total_size is ${declared} bytes but the shards hold ${stored} bytes of tensors`);
  }
  metadata.shards = String(shards.length);
  return buildDoc(ctx, files, tensors, metadata, warnings);
}

function toTensor(entry: SafetensorsEntry, file: string, fs: FileAccess): TensorInfo {
  const counter = /(^|\.)num_batches_tracked$/.test(entry.name);
  return {
    name: entry.name,
    shape: entry.shape,
    dtype: entry.dtype,
    count: entry.count,
    bytes: entry.length,
    // Loaded as stored (torch/transformers keep the file's dtype).
    memoryBytes: entry.length,
    isParameter: !counter && isFloatDtype(entry.dtype),
    location: { file, offset: entry.offset, length: entry.length },
    detail: { safetensorsDtype: entry.fileDtype },
    read: async () => {
      const values = decodeElements(await readFileRange(fs, file, entry.offset, entry.length), entry.dtype);
      if (!values) throw new ModelFormatError('unsupported-dtype', `cannot decode ${entry.dtype} tensor '${entry.name}'`, { file });
      return values;
    },
  };
}

function buildDoc(ctx: OpenContext, files: string[], tensors: TensorInfo[], metadata: Record<string, string>, warnings: string[]): ModelDoc {
  // Writers sort names as text (layers.10 before layers.2); show them in natural order.
  tensors.sort((a, b) => naturalCompare(a.name, b.name));
  const byDtype = new Map<string, number>();
  for (const t of tensors) byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + t.count);
  const dtypes = [...byDtype].map(([d, n]) => `${d}: ${n}`).join(', ');
  return {
    file: ctx.path,
    format: 'safetensors',
    files,
    layers: groupByPrefix(tensors),
    metadata: { tensors: String(tensors.length), ...(dtypes ? { dtypes } : {}), ...metadata },
    warnings,
  };
}

export const safetensors: FormatFactory = {
  id: 'safetensors',
  produces: ['safetensors'],
  label: 'safetensors',
  extensions: ['.safetensors', INDEX_SUFFIX],
  match,
  open,
};
