import { ModelFormatError } from '../errors';
import type { FileAccess } from './fileAccess';
import { decodeBfloat16Array, decodeHalfArray } from './halfFloat';

/**
 * Decodes little-endian element bytes of a plain (unquantized) dtype to float32.
 * Shared by the weight-only readers (safetensors, PyTorch, GGUF). Returns
 * undefined for dtypes that have no float32 meaning here (complex, quantized).
 */
export function decodeElements(bytes: Uint8Array, dtype: string): Float32Array | undefined {
  // Copy to an aligned buffer so typed-array views are legal at any file offset.
  // (Uint8Array's slice, not Buffer's: that one is a view of the whole pooled buffer.)
  const aligned = () => Uint8Array.prototype.slice.call(bytes).buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(aligned(), 0, bytes.length >>> 2);
    case 'float16':
      return decodeHalfArray(bytes);
    case 'bfloat16':
      return decodeBfloat16Array(bytes);
    case 'float64':
      return Float32Array.from(new Float64Array(aligned(), 0, bytes.length >>> 3));
    case 'int8':
      return Float32Array.from(new Int8Array(aligned()));
    case 'uint8':
    case 'bool':
      return Float32Array.from(bytes);
    case 'int16':
      return Float32Array.from(new Int16Array(aligned(), 0, bytes.length >>> 1));
    case 'uint16':
      return Float32Array.from(new Uint16Array(aligned(), 0, bytes.length >>> 1));
    case 'int32':
      return Float32Array.from(new Int32Array(aligned(), 0, bytes.length >>> 2));
    case 'uint32':
      return Float32Array.from(new Uint32Array(aligned(), 0, bytes.length >>> 2));
    case 'int64':
      return Float32Array.from(new BigInt64Array(aligned(), 0, bytes.length >>> 3), (v) => Number(v));
    case 'uint64':
      return Float32Array.from(new BigUint64Array(aligned(), 0, bytes.length >>> 3), (v) => Number(v));
    case 'float8e4m3':
      return Float32Array.from(bytes, float8e4m3fnToFloat);
    case 'float8e5m2':
      return Float32Array.from(bytes, (b) => float8e5m2ToFloat(b));
    default:
      return undefined;
  }
}

/** OCP FP8 E4M3 ("fn": no infinities, 0x7f/0xff are NaN). */
export function float8e4m3fnToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return Number.NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** FP8 E5M2: the top byte of an IEEE half. */
export function float8e5m2ToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 2) & 0x1f;
  const mant = b & 0x3;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (exp === 0) return sign * mant * 2 ** -16;
  return sign * (1 + mant / 4) * 2 ** (exp - 15);
}

/**
 * Reads [offset, offset+length) of a file at the moment a tensor's values are
 * wanted: the source the model was opened with is closed by then.
 */
export async function readFileRange(fs: FileAccess, file: string, offset: number, length: number): Promise<Uint8Array> {
  const source = await fs.open(file);
  try {
    if (offset + length > source.size) {
      throw new ModelFormatError('truncated', `expected ${length} bytes at offset ${offset}, file has ${source.size}`, { file, offset });
    }
    return await source.read(offset, length);
  } finally {
    await source.close();
  }
}
