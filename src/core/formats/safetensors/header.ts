import { ModelFormatError } from '../../errors';
import { BinaryReader, decodeUtf8 } from '../../io/binaryReader';
import { parseBoundedJson } from '../../io/boundedJson';
import type { ByteSource } from '../../io/fileAccess';
import { DTYPE_BYTES, elementCount } from '../../model';
import type { ReadLimits } from '../format';

/**
 * The safetensors layout: an 8-byte little-endian header length N, N bytes of
 * JSON describing every tensor, then the raw data. Only the header is read.
 */
export const SAFETENSORS_DTYPES: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U64: 'uint64',
  U32: 'uint32',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
  F8_E4M3: 'float8e4m3',
  F8_E5M2: 'float8e5m2',
};

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  /** The dtype as the header spells it (F32, BF16, …). */
  fileDtype: string;
  shape: number[];
  count: number;
  /** Absolute offset of the first byte in the file. */
  offset: number;
  length: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  dataStart: number;
}

/** Cheap check on the first bytes: a plausible length followed by '{'. */
export function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 10) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(size - 8) && head[8] === 0x7b;
}

export async function readSafetensorsHeader(source: ByteSource, limits: ReadLimits): Promise<SafetensorsHeader> {
  const file = source.path;
  if (source.size < 8) throw new ModelFormatError('truncated', `file is ${source.size} bytes, too short for a safetensors header`, { file });
  const lengthBytes = new BinaryReader(await source.read(0, 8));
  const headerLength = lengthBytes.u64big();
  if (headerLength > BigInt(source.size - 8)) {
    throw new ModelFormatError('truncated', `safetensors header declares ${headerLength} bytes but the file has only ${source.size - 8} after the length`, { file, offset: 0 });
  }
  if (headerLength > BigInt(limits.maxMetadataBytes)) {
    throw new ModelFormatError('too-large', `safetensors header declares ${headerLength} bytes, more than the ${limits.maxMetadataBytes}-byte limit`, { file, offset: 0 });
  }
  const n = Number(headerLength);
  if (n < 2) throw new ModelFormatError('bad-magic', `safetensors header length ${n} is too small to hold JSON`, { file, offset: 0 });
  const text = decodeUtf8(await source.read(8, n));
  let json: unknown;
  try {
    // Depth-checked: values are stringified for metadata and messages, which recurses.
    json = parseBoundedJson(text, limits.maxDepth, 'safetensors header');
  } catch (e) {
    if (e instanceof ModelFormatError && e.code === 'too-large') {
      e.file = file;
      throw e;
    }
    throw new ModelFormatError('bad-magic', `safetensors header is not JSON (${(e as Error).message})`, { file, offset: 8 });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFormatError('not-a-model', 'safetensors header is not a JSON object', { file, offset: 8 });
  }
  const dataStart = 8 + n;
  const dataSize = source.size - dataStart;
  const entries: SafetensorsEntry[] = [];
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      continue;
    }
    entries.push(parseEntry(name, value, dataStart, dataSize, limits, file));
  }
  return { entries, metadata, dataStart };
}

function parseEntry(name: string, value: unknown, dataStart: number, dataSize: number, limits: ReadLimits, file: string): SafetensorsEntry {
  const bad = (code: 'not-a-model' | 'truncated' | 'too-large' | 'unsupported-dtype', why: string): never => {
    throw new ModelFormatError(code, `safetensors tensor '${name}': ${why}`, { file });
  };
  if (!value || typeof value !== 'object' || Array.isArray(value)) bad('not-a-model', 'entry is not an object');
  const { dtype: fileDtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof fileDtype !== 'string') return bad('not-a-model', 'has no dtype');
  const dtype = SAFETENSORS_DTYPES[fileDtype];
  if (!dtype) return bad('unsupported-dtype', `unsupported dtype '${fileDtype}'`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    return bad('not-a-model', `shape ${brief(shape)} is not a list of non-negative integers`);
  }
  const count = elementCount(shape as number[]);
  if (!Number.isSafeInteger(count) || count > limits.maxTensorElements) {
    return bad('too-large', `shape ${brief(shape)} has too many elements`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    return bad('not-a-model', `data_offsets ${brief(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) return bad('not-a-model', `data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) {
    return bad('truncated', `data_offsets [${begin}, ${end}] reach past the end of the data (${dataSize} bytes after the header)`);
  }
  const expected = count * DTYPE_BYTES[dtype]!;
  if (end - begin !== expected) {
    return bad('not-a-model', `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${count} × ${fileDtype} needs ${expected}`);
  }
  return { name, dtype, fileDtype, shape: shape as number[], count, offset: dataStart + begin, length: end - begin };
}

/** A value as JSON, cut short for a message (a hostile header may hold megabytes). */
function brief(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
