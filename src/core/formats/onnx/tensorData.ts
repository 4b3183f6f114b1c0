import { ModelFormatError } from '../../errors';
import type { FileAccess } from '../../io/fileAccess';
import { ProtoBuffer, WIRE_FIXED64, WIRE_LEN } from '../../io/protobuf';
import {
  decodeInt32Entries,
  decodeRaw,
  elementsPerInt32Entry,
  FIELD_DOUBLE_DATA,
  FIELD_FLOAT_DATA,
  FIELD_INT32_DATA,
  FIELD_INT64_DATA,
  FIELD_UINT64_DATA,
  storageBytes,
  type OnnxDtype,
} from './dtypes';
import type { TensorData, TensorRecord } from './proto';

/** Bytes of one file span, and the file they come from. */
export interface ByteSpan {
  file: string;
  offset: number;
  length: number;
}

/** Entries a typed field must hold for `count` elements. */
export function expectedEntries(dtype: OnnxDtype, field: number, count: number): number {
  if (field === FIELD_INT32_DATA) return Math.ceil(count / elementsPerInt32Entry(dtype));
  if (dtype.name.startsWith('complex')) return count * 2;
  return count;
}

/**
 * Checks that a tensor's stored data covers its shape. `externalSize` is the size
 * of the external file for external tensors. Returns the bytes the data takes.
 */
export function checkTensorData(t: TensorRecord, dtype: OnnxDtype, count: number, externalSize?: number, externalFile?: string): number {
  const data = t.data;
  const need = storageBytes(dtype, count);
  switch (data.kind) {
    case 'raw':
      if (dtype.name === 'string') return data.length;
      if (data.length < need) {
        throw new ModelFormatError(
          'truncated',
          `tensor '${t.name}' raw_data has ${data.length} bytes, but its shape [${t.dims.join(', ')}] of ${dtype.name} needs ${need}`,
          { offset: data.offset },
        );
      }
      if (data.length > need) {
        throw new ModelFormatError(
          'not-a-model',
          `tensor '${t.name}' raw_data has ${data.length} bytes, more than the ${need} its shape [${t.dims.join(', ')}] of ${dtype.name} needs`,
          { offset: data.offset },
        );
      }
      return data.length;
    case 'field':
    case 'attr': {
      if (dtype.name === 'string') return data.payloadBytes;
      const want = data.kind === 'attr' ? count : expectedEntries(dtype, data.field, count);
      if (data.entries < want) {
        throw new ModelFormatError(
          'truncated',
          `tensor '${t.name}' holds ${data.entries} values, but its shape [${t.dims.join(', ')}] needs ${want}`,
          { offset: data.message.offset },
        );
      }
      return data.payloadBytes;
    }
    case 'external': {
      const length = data.length ?? need;
      if (data.length !== null && data.length < need) {
        throw new ModelFormatError(
          'truncated',
          `tensor '${t.name}' external data in '${data.location}' is ${data.length} bytes, but its shape [${t.dims.join(', ')}] of ${dtype.name} needs ${need}`,
          { file: externalFile },
        );
      }
      if (externalSize !== undefined && data.offset + length > externalSize) {
        throw new ModelFormatError(
          'truncated',
          `tensor '${t.name}' needs bytes ${data.offset}..${data.offset + length} of '${data.location}', which has only ${externalSize} bytes`,
          { file: externalFile, offset: data.offset },
        );
      }
      return length;
    }
    case 'none':
      if (count === 0) return 0;
      throw new ModelFormatError('truncated', `tensor '${t.name}' [${t.dims.join(', ')}] has no data`, { offset: t.at });
  }
}

/** The file span a tensor's values are read from (for typed fields, the whole TensorProto/AttributeProto). */
export function spanOf(data: TensorData, modelFile: string, externalFile: string | undefined, count: number, dtype: OnnxDtype): ByteSpan | null {
  switch (data.kind) {
    case 'raw':
      return { file: modelFile, offset: data.offset, length: data.length };
    case 'field':
    case 'attr':
      return { file: modelFile, offset: data.message.offset, length: data.message.length };
    case 'external':
      return { file: externalFile!, offset: data.offset, length: data.length ?? storageBytes(dtype, count) };
    case 'none':
      return null;
  }
}

/** Decodes a tensor from the bytes of its span. */
export function decodeSpan(data: TensorData, dtype: OnnxDtype, count: number, bytes: Uint8Array, spanOffset: number): Float32Array {
  switch (data.kind) {
    case 'raw':
    case 'external':
      return decodeRaw(dtype, bytes, count);
    case 'field':
      return decodeTypedField(dtype, data.field, count, bytes, spanOffset);
    case 'attr':
      return decodeAttrField(data.field, count, bytes, spanOffset);
    case 'none':
      return new Float32Array(0);
  }
}

function decodeTypedField(dtype: OnnxDtype, field: number, count: number, bytes: Uint8Array, base: number): Float32Array {
  const msg = new ProtoBuffer(bytes, { base }).root();
  const entries: number[] = [];
  for (const f of msg.fields()) {
    if (f.field !== field) continue;
    if (field === FIELD_FLOAT_DATA) msg.floats(f, entries);
    else if (field === FIELD_DOUBLE_DATA) {
      if (f.wire === WIRE_LEN) for (let p = f.start; p + 8 <= f.end; p += 8) entries.push(msg.buf.f64At(p));
      else if (f.wire === WIRE_FIXED64) entries.push(msg.buf.f64At(f.start));
    } else msg.ints(f, entries);
  }
  if (field === FIELD_INT32_DATA) return decodeInt32Entries(dtype, entries, count);
  if (field === FIELD_INT64_DATA || field === FIELD_UINT64_DATA || field === FIELD_FLOAT_DATA || field === FIELD_DOUBLE_DATA) {
    return Float32Array.from(entries.slice(0, count));
  }
  return new Float32Array(count);
}

/** Constant-node attribute values: f (2), i (3), floats (7), ints (8). */
function decodeAttrField(field: number, count: number, bytes: Uint8Array, base: number): Float32Array {
  const msg = new ProtoBuffer(bytes, { base }).root();
  const entries: number[] = [];
  for (const f of msg.fields()) {
    if (f.field !== field) continue;
    if (field === 2) entries.push(msg.float(f));
    else if (field === 7) msg.floats(f, entries);
    else msg.ints(f, entries);
  }
  return Float32Array.from(entries.slice(0, count));
}

/** Reads a span through the file system (the model's own source is closed after open). */
export async function readSpan(fs: FileAccess, span: ByteSpan): Promise<Uint8Array> {
  const src = await fs.open(span.file);
  try {
    return await src.read(span.offset, span.length);
  } finally {
    await src.close();
  }
}
