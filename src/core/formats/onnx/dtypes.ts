import { bfloat16ToFloat, halfToFloat } from '../../io/halfFloat';

/**
 * ONNX TensorProto.DataType codes (onnx.proto; 17–26 were added after onnx 1.12,
 * checked against onnx's own DataType enum). `bits` is the storage width of one
 * element in raw_data; `field` is the typed field that holds the values when
 * raw_data is not used.
 */
export interface OnnxDtype {
  code: number;
  name: string;
  bits: number;
  /** TensorProto field number used when raw_data is absent. */
  field: number;
  /** Whether Parsimony's read() can decode it to float32. */
  decodable: boolean;
}

export const FIELD_FLOAT_DATA = 4;
export const FIELD_INT32_DATA = 5;
export const FIELD_STRING_DATA = 6;
export const FIELD_INT64_DATA = 7;
export const FIELD_DOUBLE_DATA = 10;
export const FIELD_UINT64_DATA = 11;

const table: OnnxDtype[] = [
  { code: 1, name: 'float32', bits: 32, field: FIELD_FLOAT_DATA, decodable: true },
  { code: 2, name: 'uint8', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 3, name: 'int8', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 4, name: 'uint16', bits: 16, field: FIELD_INT32_DATA, decodable: true },
  { code: 5, name: 'int16', bits: 16, field: FIELD_INT32_DATA, decodable: true },
  { code: 6, name: 'int32', bits: 32, field: FIELD_INT32_DATA, decodable: true },
  { code: 7, name: 'int64', bits: 64, field: FIELD_INT64_DATA, decodable: true },
  { code: 8, name: 'string', bits: 0, field: FIELD_STRING_DATA, decodable: false },
  { code: 9, name: 'bool', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 10, name: 'float16', bits: 16, field: FIELD_INT32_DATA, decodable: true },
  { code: 11, name: 'float64', bits: 64, field: FIELD_DOUBLE_DATA, decodable: true },
  { code: 12, name: 'uint32', bits: 32, field: FIELD_UINT64_DATA, decodable: true },
  { code: 13, name: 'uint64', bits: 64, field: FIELD_UINT64_DATA, decodable: true },
  { code: 14, name: 'complex64', bits: 64, field: FIELD_FLOAT_DATA, decodable: false },
  { code: 15, name: 'complex128', bits: 128, field: FIELD_DOUBLE_DATA, decodable: false },
  { code: 16, name: 'bfloat16', bits: 16, field: FIELD_INT32_DATA, decodable: true },
  { code: 17, name: 'float8e4m3fn', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 18, name: 'float8e4m3fnuz', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 19, name: 'float8e5m2', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 20, name: 'float8e5m2fnuz', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 21, name: 'uint4', bits: 4, field: FIELD_INT32_DATA, decodable: true },
  { code: 22, name: 'int4', bits: 4, field: FIELD_INT32_DATA, decodable: true },
  { code: 23, name: 'float4e2m1', bits: 4, field: FIELD_INT32_DATA, decodable: true },
  { code: 24, name: 'float8e8m0', bits: 8, field: FIELD_INT32_DATA, decodable: true },
  { code: 25, name: 'uint2', bits: 2, field: FIELD_INT32_DATA, decodable: true },
  { code: 26, name: 'int2', bits: 2, field: FIELD_INT32_DATA, decodable: true },
];

const byCode = new Map(table.map((d) => [d.code, d]));

export function onnxDtype(code: number): OnnxDtype | undefined {
  return byCode.get(code);
}

export function isFloatDtype(name: string): boolean {
  return name.startsWith('float') || name === 'bfloat16';
}

/** Bytes that `count` elements take when packed (sub-byte types round up). */
export function storageBytes(dtype: OnnxDtype, count: number): number {
  return Math.ceil((count * dtype.bits) / 8);
}

/** Elements packed into one int32_data entry (sub-byte types store one byte per entry). */
export function elementsPerInt32Entry(dtype: OnnxDtype): number {
  return dtype.bits < 8 ? 8 / dtype.bits : 1;
}

// ---------------------------------------------------------------------------
// Decoding to float32.

/** Decodes `count` elements of little-endian raw bytes. */
export function decodeRaw(dtype: OnnxDtype, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype.name) {
    case 'float32':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'float64':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'float16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'bfloat16':
      for (let i = 0; i < count; i++) out[i] = bfloat16ToFloat(dv.getUint16(i * 2, true));
      break;
    case 'uint8':
    case 'bool':
      for (let i = 0; i < count; i++) out[i] = bytes[i]!;
      break;
    case 'int8':
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      break;
    case 'uint16':
      for (let i = 0; i < count; i++) out[i] = dv.getUint16(i * 2, true);
      break;
    case 'int16':
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'int32':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'uint32':
      for (let i = 0; i < count; i++) out[i] = dv.getUint32(i * 4, true);
      break;
    case 'int64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'uint64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
      break;
    default:
      if (dtype.bits === 8) {
        for (let i = 0; i < count; i++) out[i] = decodeSmallFloat(dtype.name, bytes[i]!);
      } else if (dtype.bits < 8) {
        decodePacked(dtype, (i) => bytes[i]!, count, out);
      } else {
        throw new Error(`no decoder for ${dtype.name}`);
      }
  }
  return out;
}

/**
 * Decodes values held in int32_data: one entry per element, or for sub-byte types
 * one packed byte per entry; float16/bfloat16/float8 entries hold the bit patterns.
 */
export function decodeInt32Entries(dtype: OnnxDtype, entries: ArrayLike<number>, count: number): Float32Array {
  const out = new Float32Array(count);
  if (dtype.bits < 8) {
    decodePacked(dtype, (i) => (entries[i] ?? 0) & 0xff, count, out);
    return out;
  }
  for (let i = 0; i < count; i++) {
    const v = entries[i] ?? 0;
    switch (dtype.name) {
      case 'float16':
        out[i] = halfToFloat(v & 0xffff);
        break;
      case 'bfloat16':
        out[i] = bfloat16ToFloat(v & 0xffff);
        break;
      default:
        out[i] = dtype.bits === 8 && dtype.name.startsWith('float') ? decodeSmallFloat(dtype.name, v & 0xff) : v;
    }
  }
  return out;
}

/** Unpacks 4-bit (two per byte) or 2-bit (four per byte) values, low bits first. */
function decodePacked(dtype: OnnxDtype, byteAt: (i: number) => number, count: number, out: Float32Array): void {
  const per = 8 / dtype.bits;
  const mask = (1 << dtype.bits) - 1;
  const signed = dtype.name === 'int4' || dtype.name === 'int2';
  for (let i = 0; i < count; i++) {
    const byte = byteAt(Math.floor(i / per));
    let v = (byte >> ((i % per) * dtype.bits)) & mask;
    if (dtype.name === 'float4e2m1') {
      out[i] = decodeFloat4e2m1(v);
      continue;
    }
    if (signed && v & (1 << (dtype.bits - 1))) v -= 1 << dtype.bits;
    out[i] = v;
  }
}

function decodeFloat4e2m1(v: number): number {
  const sign = v & 0x8 ? -1 : 1;
  const exp = (v >> 1) & 0x3;
  const man = v & 0x1;
  return sign * (exp === 0 ? man * 0.5 : (1 + man / 2) * 2 ** (exp - 1));
}

/** The 8-bit float formats of ONNX (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0). */
export function decodeSmallFloat(name: string, b: number): number {
  if (name === 'float8e8m0') return b === 0xff ? Number.NaN : 2 ** (b - 127);
  const fnuz = name.endsWith('fnuz');
  if (fnuz && b === 0x80) return Number.NaN;
  const e4m3 = name.startsWith('float8e4m3');
  const manBits = e4m3 ? 3 : 2;
  const expBits = e4m3 ? 4 : 5;
  const bias = (e4m3 ? 7 : 15) + (fnuz ? 1 : 0);
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> manBits) & ((1 << expBits) - 1);
  const man = b & ((1 << manBits) - 1);
  if (!fnuz) {
    if (e4m3 && exp === 15 && man === 7) return Number.NaN;
    if (!e4m3 && exp === 31) return man ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  }
  if (exp === 0) return sign * (man / (1 << manBits)) * 2 ** (1 - bias);
  return sign * (1 + man / (1 << manBits)) * 2 ** (exp - bias);
}
