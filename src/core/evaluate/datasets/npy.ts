import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import { nodeFileAccess } from '../../io/fileAccess';
import { ZipArchive } from '../../io/zip';
import { toLabels } from './labels';
import { DEFAULT_MAX_DATA_BYTES, type Dataset, type DatasetOptions } from './types';

/**
 * NumPy .npy (format versions 1, 2 and 3) and .npz archives, read without numpy.
 *
 * .npy layout: the magic "\x93NUMPY", major and minor version bytes, the header
 * length (uint16 LE in v1, uint32 LE in v2/v3), then a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }` (latin-1 in
 * v1/v2, utf-8 in v3), padded with spaces and a newline; the data follows.
 * Fortran-ordered arrays are transposed to C order on reading.
 */
export interface NpyArray {
  /** numpy's descr, e.g. '<f4'. */
  descr: string;
  shape: number[];
  /** Element values in C order. Float32Array where float32 holds them exactly, else Float64Array. */
  values: Float32Array | Float64Array;
  /** True for integer and bool dtypes. */
  integer: boolean;
  /** True when the file stored the array in Fortran order (it was transposed). */
  fortranOrder: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface DtypeInfo {
  size: number;
  integer: boolean;
  /** Reads element i (little or big endian) from a DataView. */
  get: (view: DataView, offset: number, little: boolean) => number;
  /** Exact in float32 (small integers, half and single floats). */
  fitsFloat32: boolean;
}

const DTYPES: Record<string, DtypeInfo> = {
  b1: { size: 1, integer: true, fitsFloat32: true, get: (v, o) => (v.getUint8(o) ? 1 : 0) },
  u1: { size: 1, integer: true, fitsFloat32: true, get: (v, o) => v.getUint8(o) },
  i1: { size: 1, integer: true, fitsFloat32: true, get: (v, o) => v.getInt8(o) },
  u2: { size: 2, integer: true, fitsFloat32: true, get: (v, o, l) => v.getUint16(o, l) },
  i2: { size: 2, integer: true, fitsFloat32: true, get: (v, o, l) => v.getInt16(o, l) },
  u4: { size: 4, integer: true, fitsFloat32: false, get: (v, o, l) => v.getUint32(o, l) },
  i4: { size: 4, integer: true, fitsFloat32: false, get: (v, o, l) => v.getInt32(o, l) },
  u8: { size: 8, integer: true, fitsFloat32: false, get: (v, o, l) => Number(v.getBigUint64(o, l)) },
  i8: { size: 8, integer: true, fitsFloat32: false, get: (v, o, l) => Number(v.getBigInt64(o, l)) },
  f2: { size: 2, integer: false, fitsFloat32: true, get: (v, o, l) => half(v.getUint16(o, l)) },
  f4: { size: 4, integer: false, fitsFloat32: true, get: (v, o, l) => v.getFloat32(o, l) },
  f8: { size: 8, integer: false, fitsFloat32: false, get: (v, o, l) => v.getFloat64(o, l) },
};

function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Parses one .npy file's bytes. `where` names it in messages. */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new ModelFormatError('bad-magic', `${where}: not a NumPy .npy file (it does not start with \\x93NUMPY)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) {
    throw new ModelFormatError('unsupported-version', `${where}: .npy format version ${major}.${minor} is not supported (versions 1, 2 and 3 are)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new ModelFormatError('truncated', `${where}: .npy header is cut off`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new ModelFormatError('truncated', `${where}: .npy header says ${headerLength} bytes but the file ends after ${bytes.length - headerStart}`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : new TextDecoder('latin1').decode(headerBytes);
  const { descr, fortranOrder, shape } = parseHeader(header, where);

  const order = descr[0];
  const code = order === '<' || order === '>' || order === '|' || order === '=' ? descr.slice(1) : descr;
  const info = DTYPES[code];
  if (!info) {
    throw new ModelFormatError(
      'unsupported-dtype',
      `${where}: dtype '${descr}' is not supported (numeric dtypes are: bool, int8–int64, uint8–uint64, float16, float32, float64)`,
    );
  }
  const little = order !== '>';
  const count = shape.reduce((a, b) => a * b, 1);
  const needed = count * info.size;
  if (bytes.length - dataStart < needed) {
    throw new ModelFormatError(
      'truncated',
      `${where}: shape (${shape.join(', ')}) of ${descr} needs ${needed} data bytes but the file has ${bytes.length - dataStart} after its header`,
    );
  }
  const values = info.fitsFloat32 ? new Float32Array(count) : new Float64Array(count);
  if (code === 'f4' && little) {
    // Fast path: copy into an aligned buffer and view it.
    values.set(new Float32Array(alignedCopy(bytes, dataStart, needed)));
  } else if (code === 'f8' && little) {
    values.set(new Float64Array(alignedCopy(bytes, dataStart, needed)));
  } else if (code === 'u1' || code === 'b1') {
    const raw = bytes.subarray(dataStart, dataStart + needed);
    if (code === 'u1') values.set(raw);
    else for (let i = 0; i < count; i++) values[i] = raw[i] ? 1 : 0;
  } else {
    for (let i = 0; i < count; i++) values[i] = info.get(view, dataStart + i * info.size, little);
  }
  return {
    descr,
    shape,
    values: fortranOrder && shape.length > 1 ? fortranToC(values, shape) : values,
    integer: info.integer,
    fortranOrder,
  };
}

/** A fresh ArrayBuffer holding bytes[start, start + length) (Buffer.slice would share memory). */
function alignedCopy(bytes: Uint8Array, start: number, length: number): ArrayBuffer {
  const copy = new Uint8Array(length);
  copy.set(bytes.subarray(start, start + length));
  return copy.buffer;
}

function parseHeader(header: string, where: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const text = header.trim();
  if (!text.startsWith('{')) throw new ModelFormatError('not-a-model', `${where}: .npy header is not a dict: ${JSON.stringify(text.slice(0, 60))}`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  if (descr === undefined) {
    const structured = /['"]descr['"]\s*:\s*\[/.test(text);
    throw new ModelFormatError(
      structured ? 'unsupported-dtype' : 'not-a-model',
      structured ? `${where}: structured (record) arrays are not supported; save plain numeric arrays` : `${where}: .npy header has no 'descr'`,
    );
  }
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  if (fortran === undefined) throw new ModelFormatError('not-a-model', `${where}: .npy header has no 'fortran_order'`);
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (shapeText === undefined) throw new ModelFormatError('not-a-model', `${where}: .npy header has no 'shape'`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) throw new ModelFormatError('not-a-model', `${where}: bad dimension '${s}' in .npy shape (${shapeText})`);
      return n;
    });
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Reorders column-major (Fortran) values into row-major order. */
function fortranToC<T extends Float32Array | Float64Array>(values: T, shape: readonly number[]): T {
  const rank = shape.length;
  const out = new (values.constructor as { new (n: number): T })(values.length);
  const fStride = new Array<number>(rank);
  let s = 1;
  for (let d = 0; d < rank; d++) {
    fStride[d] = s;
    s *= shape[d]!;
  }
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < values.length; i++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += index[d]! * fStride[d]!;
    out[i] = values[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Builds a dataset from an x array and an optional y array. */
export function datasetFromArrays(name: string, x: NpyArray, y: NpyArray | null, notes: string[]): Dataset {
  if (x.shape.length < 1) throw new ModelFormatError('invalid-option', `${name}: x is a scalar; expected an array of samples [N, …]`);
  const count = x.shape[0]!;
  const sampleShape = x.shape.slice(1);
  if (sampleShape.length === 0) sampleShape.push(1);
  if (x.integer) {
    let max = 0;
    for (let i = 0; i < x.values.length; i++) if (x.values[i]! > max) max = x.values[i]!;
    if (max > 1) notes.push(`${name}: x is ${x.descr} with values up to ${max}; they are fed to the model as stored (divide by 255 beforehand if the model expects [0, 1])`);
  }
  if (x.fortranOrder) notes.push(`${name}: x was stored in Fortran order; transposed to C order`);
  const labels = y ? toLabels(y.values, y.shape, count, `${name}: y`, notes) : null;
  return {
    name,
    count,
    sampleShape,
    x: x.values instanceof Float32Array ? x.values : Float32Array.from(x.values),
    y: labels,
    notes,
  };
}

/** The sibling label file of an x file: x.npy → y.npy, x_test.npy → y_test.npy, digits_x.npy → digits_y.npy. */
function labelSibling(file: string): string | null {
  const base = path.basename(file, path.extname(file));
  const swapped = base.replace(/(^|[_-])x(?=$|[_-])/i, (_m, pre: string) => `${pre}y`);
  if (swapped === base) return null;
  return path.join(path.dirname(file), swapped + path.extname(file));
}

export async function readNpyDataset(file: string, spec: string, options: DatasetOptions = {}): Promise<Dataset> {
  const max = options.maxBytes ?? DEFAULT_MAX_DATA_BYTES;
  const notes: string[] = [];
  const x = parseNpy(await nodeFileAccess.readFile(file, max), path.basename(file));
  let y: NpyArray | null = null;
  const sibling = labelSibling(file);
  if (sibling && (await nodeFileAccess.exists(sibling))) {
    y = parseNpy(await nodeFileAccess.readFile(sibling, max), path.basename(sibling));
    notes.push(`labels read from ${path.basename(sibling)}`);
  }
  return datasetFromArrays(spec, x, y, notes);
}

const X_NAMES = ['x', 'x_test', 'x_val', 'x_train', 'images', 'inputs', 'features', 'data'];
const Y_NAMES = ['y', 'y_test', 'y_val', 'y_train', 'labels', 'targets', 'label', 'target'];

export async function readNpzDataset(file: string, spec: string, options: DatasetOptions = {}): Promise<Dataset> {
  const max = options.maxBytes ?? DEFAULT_MAX_DATA_BYTES;
  const source = await nodeFileAccess.open(file);
  try {
    let zip: ZipArchive;
    try {
      zip = await ZipArchive.open(source);
    } catch (e) {
      if (e instanceof ModelFormatError) throw new ModelFormatError(e.code, `${path.basename(file)}: not a readable .npz (zip) archive: ${e.message}`, { file });
      throw e;
    }
    const arrays = zip.names().filter((n) => n.toLowerCase().endsWith('.npy'));
    if (arrays.length === 0) throw new ModelFormatError('not-a-model', `${path.basename(file)}: the .npz archive holds no .npy arrays`, { file });
    const key = (n: string) => n.slice(0, -4).toLowerCase();
    const find = (names: string[]) => {
      for (const want of names) {
        const hit = arrays.find((a) => key(a) === want);
        if (hit) return hit;
      }
      return undefined;
    };
    let xName = find(X_NAMES);
    let yName = find(Y_NAMES);
    // Prefer a matching pair (x_test with y_test).
    if (xName && key(xName).startsWith('x_')) {
      const paired = arrays.find((a) => key(a) === 'y' + key(xName!).slice(1));
      if (paired) yName = paired;
    }
    const notes: string[] = [];
    if (!xName) {
      xName = arrays.find((a) => a !== yName) ?? arrays[0]!;
      if (yName === xName) yName = undefined;
      yName ??= arrays.find((a) => a !== xName);
      notes.push(
        `${path.basename(file)} has no array named x or x_test; used '${key(xName)}' as x${yName ? ` and '${key(yName)}' as y` : ''} (the first arrays in the archive)`,
      );
    }
    const read = async (name: string) => parseNpy(await zip.read(name, max), `${path.basename(file)}[${key(name)}]`);
    const x = await read(xName);
    const y = yName ? await read(yName) : null;
    return datasetFromArrays(spec, x, y, notes);
  } finally {
    await source.close();
  }
}
