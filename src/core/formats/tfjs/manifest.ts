import { ModelFormatError } from '../../errors';
import { decodeHalfArray } from '../../io/halfFloat';
import { resolveSibling, type FileAccess } from '../../io/fileAccess';
import { elementCount, type TensorInfo } from '../../model';
import type { OpenContext } from '../format';

/**
 * TF.js weight manifests: `[{paths: [...], weights: [{name, shape, dtype, quantization?}]}]`.
 * The shards of one group are one byte stream cut into files; weights lie back
 * to back in manifest order across that stream, so a weight may straddle two shards.
 */

export interface WeightSpec {
  name: string;
  shape: number[];
  /** The dtype TF.js hands out after loading (float32, int32, bool, string, complex64). */
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

export interface ShardFile {
  file: string;
  size: number;
  /** Offset of this shard in the group's concatenated stream. */
  start: number;
}

/** One weight placed in its group's stream. */
export interface PlacedWeight {
  spec: WeightSpec;
  /** Storage dtype (the quantized dtype when quantized). */
  storageDtype: string;
  count: number;
  /** Offset within the group's concatenated stream. */
  start: number;
  length: number;
  shards: ShardFile[];
  group: number;
}

const STORAGE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

const QUANTIZED = new Set(['uint8', 'uint16', 'float16']);

export interface ManifestLayout {
  weights: PlacedWeight[];
  files: string[];
  warnings: string[];
}

/** Validates the manifest, finds every shard and computes each weight's bytes. */
export async function layoutManifest(ctx: OpenContext, manifest: unknown): Promise<ManifestLayout> {
  if (!Array.isArray(manifest)) throw new ModelFormatError('not-a-model', 'weightsManifest is not a list of weight groups');
  const weights: PlacedWeight[] = [];
  const files: string[] = [];
  const warnings: string[] = [];
  for (const [g, rawGroup] of manifest.entries()) {
    const group = rawGroup as { paths?: unknown; weights?: unknown };
    if (!group || typeof group !== 'object' || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelFormatError('not-a-model', `weightsManifest group ${g} has no paths/weights lists`);
    }
    const shards: ShardFile[] = [];
    let total = 0;
    for (const p of group.paths) {
      if (typeof p !== 'string') throw new ModelFormatError('not-a-model', `weightsManifest group ${g} has a non-string path`);
      const file = await findShard(ctx, p);
      const size = (await ctx.fs.stat(file)).size;
      shards.push({ file, size, start: total });
      files.push(file);
      total += size;
    }
    let offset = 0;
    for (const [i, raw] of group.weights.entries()) {
      const spec = checkSpec(raw, g, i);
      const storageDtype = spec.quantization?.dtype ?? spec.dtype;
      if (!spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw new ModelFormatError('not-a-model', `weight '${spec.name}' has an invalid shape [${spec.shape}]`);
      }
      const count = elementCount(spec.shape);
      if (Number.isNaN(count)) throw new ModelFormatError('too-large', `weight '${spec.name}' has shape [${spec.shape}]: more elements than can be counted`);
      if (count > ctx.limits.maxTensorElements) {
        throw new ModelFormatError('too-large', `weight '${spec.name}' has ${count} elements`);
      }
      let length: number;
      if (storageDtype === 'string') {
        length = await stringTensorLength(ctx.fs, shards, total, offset, count, spec.name);
      } else {
        const per = STORAGE_BYTES[storageDtype];
        if (per === undefined) {
          throw new ModelFormatError('unsupported-dtype', `weight '${spec.name}' has unsupported dtype '${storageDtype}'`);
        }
        length = count * per;
      }
      if (offset + length > total) {
        const missingIn = shards.at(-1)?.file ?? '(no shard listed)';
        throw new ModelFormatError(
          'truncated',
          `weight '${spec.name}' needs bytes ${offset}..${offset + length} of weight group ${g}, but its shards hold only ${total} bytes (last shard ${missingIn} is short)`,
          { file: missingIn },
        );
      }
      weights.push({ spec, storageDtype, count, start: offset, length, shards, group: g });
      offset += length;
    }
    if (offset < total) warnings.push(`weight group ${g} has ${total - offset} bytes after its last weight`);
  }
  return { weights, files, warnings };
}

async function findShard(ctx: OpenContext, relative: string): Promise<string> {
  const candidates = [relative];
  try {
    const decoded = decodeURIComponent(relative);
    if (decoded !== relative) candidates.push(decoded);
  } catch {
    // not percent-encoded
  }
  for (const c of candidates) {
    const file = resolveSibling(ctx.path, c);
    if (await ctx.fs.exists(file)) return file;
  }
  // 'truncated' rather than 'not-found': the model exists, part of its bytes don't.
  throw new ModelFormatError('truncated', `weight shard '${relative}' listed in the manifest is missing`, {
    file: resolveSibling(ctx.path, relative),
  });
}

function checkSpec(raw: unknown, group: number, index: number): WeightSpec {
  const s = raw as Partial<WeightSpec> | null;
  if (!s || typeof s !== 'object' || typeof s.name !== 'string' || !Array.isArray(s.shape) || typeof s.dtype !== 'string') {
    throw new ModelFormatError('not-a-model', `weight ${index} of group ${group} lacks name/shape/dtype`);
  }
  const q = s.quantization;
  if (q !== undefined) {
    if (!q || typeof q !== 'object' || typeof q.dtype !== 'string') {
      throw new ModelFormatError('not-a-model', `weight '${s.name}' has a malformed quantization entry`);
    }
    if (!QUANTIZED.has(q.dtype)) {
      throw new ModelFormatError('unsupported-dtype', `weight '${s.name}' is quantized to unsupported dtype '${q.dtype}'`);
    }
    if (q.dtype !== 'float16' && (typeof q.scale !== 'number' || typeof q.min !== 'number')) {
      throw new ModelFormatError('not-a-model', `weight '${s.name}' is ${q.dtype}-quantized but has no min/scale`);
    }
  }
  return s as WeightSpec;
}

/** String tensors are `count` × (uint32 length, bytes): their size is only known by reading the prefixes. */
async function stringTensorLength(fs: FileAccess, shards: ShardFile[], total: number, start: number, count: number, name: string): Promise<number> {
  let at = start;
  for (let i = 0; i < count; i++) {
    if (at + 4 > total) throw new ModelFormatError('truncated', `string weight '${name}' runs past the end of its shards`);
    const prefix = await readStream(fs, shards, at, 4);
    const n = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0, true);
    at += 4 + n;
  }
  if (at > total) throw new ModelFormatError('truncated', `string weight '${name}' runs past the end of its shards`);
  return at - start;
}

/** Reads [start, start+length) of a group's concatenated shard stream. */
export async function readStream(fs: FileAccess, shards: ShardFile[], start: number, length: number): Promise<Uint8Array> {
  // Within one shard, the read's own buffer is the result (one fresh buffer instead of two: first-touch page faults cost more than the copy).
  const single = shards.find((s) => start >= s.start && start + length <= s.start + s.size);
  if (single) {
    const src = await fs.open(single.file);
    try {
      const bytes = await src.read(start - single.start, length);
      if (ownsBuffer(bytes)) return bytes;
      return bytes.slice();
    } finally {
      await src.close();
    }
  }
  const out = new Uint8Array(length);
  let done = 0;
  for (const shard of shards) {
    if (done === length) break;
    const from = start + done;
    if (from >= shard.start + shard.size || from < shard.start) continue;
    const within = from - shard.start;
    const take = Math.min(shard.size - within, length - done);
    const src = await fs.open(shard.file);
    try {
      out.set(await src.read(within, take), done);
    } finally {
      await src.close();
    }
    done += take;
  }
  if (done !== length) throw new ModelFormatError('truncated', `weight bytes ${start}..${start + length} lie past the end of the shards`);
  return out;
}

/** Builds the TensorInfo for a placed weight: sizes, location, lazy decoder. */
export function tensorInfo(fs: FileAccess, w: PlacedWeight, isParameter: boolean, trainable?: boolean): TensorInfo {
  const { spec, storageDtype, count } = w;
  const q = spec.quantization;
  // TF.js loads into the manifest's dtype (quantization.original_dtype is informational).
  const loadedDtype = spec.dtype;
  const memoryPer = loadedDtype === 'string' ? 0 : (STORAGE_BYTES[loadedDtype] ?? 4);
  const pieces = w.shards.filter((s) => w.start < s.start + s.size && w.start + w.length > s.start);
  const info: TensorInfo = {
    name: spec.name,
    shape: [...spec.shape],
    dtype: storageDtype,
    count,
    bytes: w.length,
    memoryBytes: loadedDtype === 'string' ? w.length : count * memoryPer,
    isParameter,
    read: async () => decodeWeight(spec, storageDtype, count, await readStream(fs, w.shards, w.start, w.length)),
  };
  if (trainable !== undefined) info.trainable = trainable;
  if (pieces.length === 1) {
    info.location = { file: pieces[0]!.file, offset: w.start - pieces[0]!.start, length: w.length };
  } else if (pieces.length > 1) {
    info.detail = { ...info.detail, spansShards: pieces.map((p) => p.file) };
  }
  if (q) info.detail = { ...info.detail, quantization: { ...q }, loadedDtype };
  return info;
}

/** True when `bytes` is a whole buffer of its own (not a view into something else's memory). */
function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength && bytes.buffer instanceof ArrayBuffer;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes stored bytes to float32, dequantizing as TF.js does (`v * scale + min`).
 * Little-endian float32 in a buffer of its own is used as it is, not copied.
 */
export function decodeWeight(spec: WeightSpec, storageDtype: string, count: number, bytes: Uint8Array): Float32Array {
  const q = spec.quantization;
  if (storageDtype === 'float32' && LITTLE_ENDIAN && ownsBuffer(bytes) && bytes.byteLength === count * 4) return new Float32Array(bytes.buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (storageDtype) {
    case 'float32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'int32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    case 'bool':
      for (let i = 0; i < count; i++) out[i] = bytes[i]! ? 1 : 0;
      return out;
    case 'float16':
      return decodeHalfArray(bytes.subarray(0, count * 2));
    case 'uint8':
    case 'uint16': {
      const scale = q?.scale ?? 1;
      const min = q?.min ?? 0;
      const wide = storageDtype === 'uint16';
      const intResult = spec.dtype === 'int32';
      for (let i = 0; i < count; i++) {
        const v = wide ? view.getUint16(i * 2, true) : bytes[i]!;
        // TF.js rounds dequantized values of int32 weights back to integers.
        out[i] = intResult ? Math.round(v * scale + min) : v * scale + min;
      }
      return out;
    }
    default:
      throw new ModelFormatError('unsupported-dtype', `weight '${spec.name}' (${storageDtype}) has no float values`);
  }
}
