import { decodeElements } from '../../io/decodeElements';
import { halfToFloat } from '../../io/halfFloat';

/** ggml types whose values read() can produce; K-quants and i-quants are not decoded yet. */
export const READABLE_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64', 'int8', 'int16', 'int32', 'q8_0', 'q4_0']);

/** Decodes a GGUF tensor's bytes (ggml element order, ne0 fastest) to float32. */
export function dequantize(bytes: Uint8Array, dtype: string, count: number): Float32Array | undefined {
  switch (dtype) {
    case 'q8_0':
      return dequantizeQ8_0(bytes, count);
    case 'q4_0':
      return dequantizeQ4_0(bytes, count);
    default:
      return READABLE_DTYPES.has(dtype) ? decodeElements(bytes, dtype) : undefined;
  }
}

/** Q8_0 block: f16 scale d, then 32 int8 values; x = d·q. */
function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block * 32 < count; block++) {
    const at = block * 34;
    const d = halfToFloat(view.getUint16(at, true));
    for (let j = 0; j < 32; j++) out[block * 32 + j] = d * view.getInt8(at + 2 + j);
  }
  return out;
}

/**
 * Q4_0 block: f16 scale d, then 16 bytes; byte j holds value j in its low
 * nibble and value j+16 in its high nibble, each stored with an offset of 8.
 */
function dequantizeQ4_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block * 32 < count; block++) {
    const at = block * 18;
    const d = halfToFloat(view.getUint16(at, true));
    const base = block * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[at + 2 + j]!;
      out[base + j] = ((q & 0x0f) - 8) * d;
      out[base + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}
