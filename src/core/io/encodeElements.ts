import { floatToBfloat16, floatToHalf } from './halfFloat';

/** Encodes float32 values as little-endian bytes of a float dtype (inverse of decodeElements). */
export function encodeFloats(values: Float32Array, dtype: 'float32' | 'float16' | 'bfloat16' | 'float64'): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case 'float64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'float16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'bfloat16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = floatToBfloat16(values[i]!);
      return new Uint8Array(out.buffer);
    }
  }
}
