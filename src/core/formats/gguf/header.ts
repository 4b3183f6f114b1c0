import { ModelFormatError } from '../../errors';
import type { ByteSource } from '../../io/fileAccess';
import type { ReadLimits } from '../format';
import { ChunkedReader } from './chunkedReader';
import { GGML_TYPES, type GgmlType } from './ggmlTypes';

/**
 * The GGUF header (versions 2 and 3): magic, version, tensor and key-value
 * counts, the key-value metadata, then one info record per tensor. Tensor data
 * follows at the next multiple of `general.alignment`; it is never read here.
 */
export const GGUF_MAGIC = 0x46554747; // 'GGUF' read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;
/** Arrays up to this length are kept in the metadata; longer ones only their length. */
const SMALL_ARRAY = 16;

const enum ValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

const TYPE_NAMES = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'];
const FIXED_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export interface GgufArray {
  /** Element type name (uint8 … string, array). */
  elementType: string;
  length: number;
  /** The elements, kept only for short arrays. */
  items?: GgufValue[];
}
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne[0] is the fastest-moving dimension. */
  ne: number[];
  type: GgmlType;
  count: number;
  bytes: number;
  /** Absolute offset in the file. */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
}

export function isGgufArray(v: GgufValue | undefined): v is GgufArray {
  return typeof v === 'object' && v !== null;
}

export async function readGgufHeader(source: ByteSource, limits: ReadLimits): Promise<GgufHeader> {
  const r = new ChunkedReader(source);
  const magic = await r.u32();
  if (magic !== GGUF_MAGIC) {
    throw new ModelFormatError('bad-magic', `not a GGUF file: magic is 0x${magic.toString(16).padStart(8, '0')}, expected 'GGUF'`, { offset: 0 });
  }
  const version = await r.u32();
  if (version !== 2 && version !== 3) {
    const hint = version === 1 ? ' (GGUF v1 used 32-bit counts; re-convert with a current llama.cpp)' : version >= 0x01000000 ? ' (a big-endian GGUF?)' : '';
    throw new ModelFormatError('unsupported-version', `GGUF version ${version} is not supported; versions 2 and 3 are${hint}`, { offset: 4 });
  }
  // Smallest possible tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
  const tensorCount = await r.count('tensor count', 24);
  // Smallest possible key-value pair: key length (8) + value type (4) + a 1-byte value.
  const kvCount = await r.count('metadata key-value count', 13);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await r.string(`metadata key ${i}`);
    const type = await r.u32();
    metadata.set(key, await readValue(r, type, key, 0, limits.maxDepth));
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.string(`tensor ${i} name`);
    const nDims = await r.u32();
    if (nDims > MAX_DIMS) throw new ModelFormatError('not-a-model', `GGUF tensor '${name}' has ${nDims} dimensions (at most ${MAX_DIMS})`, { offset: r.position - 4 });
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const at = r.position;
      const dim = await r.u64big();
      if (dim > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelFormatError('too-large', `GGUF tensor '${name}' dimension ${dim} is too large`, { offset: at });
      ne.push(Number(dim));
    }
    const typeId = await r.u32();
    const type = GGML_TYPES.get(typeId);
    if (!type) throw new ModelFormatError('unsupported-dtype', `GGUF tensor '${name}' has unknown ggml type ${typeId}`, { offset: r.position - 4 });
    const relOffset = await r.u64big();
    if (names.has(name)) throw new ModelFormatError('not-a-model', `GGUF tensor '${name}' appears twice`);
    names.add(name);
    tensors.push({ name, ne, type, count: 0, bytes: 0, offset: relOffset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(relOffset) });
  }

  const alignment = readAlignment(metadata);
  const dataStart = Math.ceil(r.position / alignment) * alignment;
  const dataSize = source.size - dataStart;
  for (const t of tensors) {
    let count = 1;
    for (const d of t.ne) count *= d;
    if (!Number.isSafeInteger(count) || count > limits.maxTensorElements) {
      throw new ModelFormatError('too-large', `GGUF tensor '${t.name}' shape [${t.ne.join(', ')}] has too many elements`);
    }
    if ((t.ne[0] ?? 1) % t.type.blockSize !== 0) {
      throw new ModelFormatError('not-a-model', `GGUF tensor '${t.name}': row length ${t.ne[0]} is not a multiple of the ${t.type.dtype} block size ${t.type.blockSize}`);
    }
    t.count = count;
    t.bytes = (count / t.type.blockSize) * t.type.typeSize;
    if (!(t.offset + t.bytes <= dataSize)) {
      throw new ModelFormatError(
        'truncated',
        `GGUF tensor '${t.name}' (${t.bytes} bytes at data offset ${t.offset}) reaches past the end of the file (data section is ${Math.max(0, dataSize)} bytes from offset ${dataStart})`,
      );
    }
    t.offset += dataStart;
  }
  return { version, metadata, tensors, alignment, dataStart };
}

function readAlignment(metadata: Map<string, GgufValue>): number {
  const value = metadata.get('general.alignment');
  if (value === undefined) return DEFAULT_ALIGNMENT;
  if (typeof value !== 'number' || value <= 0 || !Number.isInteger(value) || (value & (value - 1)) !== 0) {
    throw new ModelFormatError('not-a-model', `GGUF general.alignment ${String(value)} is not a power of two`);
  }
  return value;
}

async function readValue(r: ChunkedReader, type: number, key: string, depth: number, maxDepth: number): Promise<GgufValue> {
  switch (type) {
    case ValueType.UINT8:
      return r.u8();
    case ValueType.INT8:
      return r.i8();
    case ValueType.UINT16:
      return r.u16();
    case ValueType.INT16:
      return r.i16();
    case ValueType.UINT32:
      return r.u32();
    case ValueType.INT32:
      return r.i32();
    case ValueType.FLOAT32:
      return r.f32();
    case ValueType.BOOL:
      return (await r.u8()) !== 0;
    case ValueType.STRING:
      return r.string(`value of '${key}'`);
    case ValueType.UINT64:
      return safeNumber(await r.u64big());
    case ValueType.INT64:
      return safeNumber(await r.i64big());
    case ValueType.FLOAT64:
      return r.f64();
    case ValueType.ARRAY:
      return readArray(r, key, depth, maxDepth);
    default:
      throw new ModelFormatError('not-a-model', `GGUF metadata '${key}' has unknown value type ${type}`, { offset: r.position - 4 });
  }
}

async function readArray(r: ChunkedReader, key: string, depth: number, maxDepth: number): Promise<GgufArray> {
  if (depth >= maxDepth) throw new ModelFormatError('too-large', `GGUF metadata '${key}' nests arrays deeper than ${maxDepth}`, { offset: r.position });
  const elementType = await r.u32();
  const fixed = FIXED_SIZE[elementType];
  const minSize = fixed ?? (elementType === ValueType.STRING ? 8 : elementType === ValueType.ARRAY ? 12 : undefined);
  if (minSize === undefined) throw new ModelFormatError('not-a-model', `GGUF metadata '${key}' is an array of unknown type ${elementType}`, { offset: r.position - 4 });
  const length = await r.count(`length of array '${key}'`, minSize);
  const result: GgufArray = { elementType: TYPE_NAMES[elementType]!, length };
  if (length <= SMALL_ARRAY) {
    const items: GgufValue[] = [];
    for (let i = 0; i < length; i++) items.push(await readValue(r, elementType, key, depth + 1, maxDepth));
    result.items = items;
  } else if (fixed !== undefined) {
    r.skip(length * fixed, `array '${key}'`);
  } else if (elementType === ValueType.STRING) {
    // Tokenizer vocabularies: 100k+ strings, skipped one length at a time.
    await r.skipStrings(length, `'${key}'`);
  } else {
    for (let i = 0; i < length; i++) await readArray(r, key, depth + 1, maxDepth);
  }
  return result;
}

function safeNumber(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
