import nodeFs from 'node:fs';
import { ModelFormatError } from '../../errors';
import { decodeHalfArray } from '../../io/halfFloat';

/**
 * HDF5 through h5wasm (the HDF5 C library compiled to wasm). Its Node build
 * reads host files directly (NODERAWFS), so a .h5 on disk is never copied into
 * memory; a .keras archive's weights are extracted to a temporary file first.
 *
 * The library reports problems on stderr ("HDF5-DIAG") and returns negative
 * ids instead of throwing; this module turns both into ModelFormatError, and an
 * Emscripten abort into an error instead of a dead process.
 *
 * Everything here that calls h5wasm runs on a worker thread (hdf5Worker.ts,
 * driven by hdf5Thread.ts): on some corrupt files the C library loops forever,
 * and only a thread can be stopped in the middle of a synchronous wasm call.
 */

type H5Module = typeof import('h5wasm/node').default;
export type H5File = InstanceType<H5Module['File']>;
export type H5Group = InstanceType<H5Module['Group']>;
export type H5Dataset = InstanceType<H5Module['Dataset']>;

export const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function hasHdf5Signature(head: Uint8Array): boolean {
  return HDF5_SIGNATURE.every((b, i) => head[i] === b);
}

let loaded: Promise<H5Module> | undefined;

/** The Emscripten module underneath, for the one read h5wasm's high-level API lacks (float16). */
interface RawModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  get_dataset_data(fileId: bigint, path: string, count: null, offset: null, strides: null, ptr: bigint): number;
}
let raw: RawModule | undefined;

/** h5wasm is ESM and ships a 4 MB wasm: it is imported on first use only. */
export async function loadHdf5(): Promise<H5Module> {
  loaded ??= import('h5wasm/node').then(async (m) => {
    const mod = (m as unknown as { default?: H5Module }).default ?? (m as unknown as H5Module);
    raw = (await mod.ready) as unknown as RawModule;
    return mod;
  });
  return loaded;
}

/**
 * Runs synchronous h5wasm work with its stderr diagnostics captured instead of
 * printed. Under NODERAWFS the wasm writes fd 2 with fs.writeSync directly.
 */
function captureDiagnostics<T>(fn: () => T): { value?: T; error?: unknown; diagnostics: string } {
  const originalWriteSync = nodeFs.writeSync;
  let text = '';
  nodeFs.writeSync = ((fd: number, buffer: unknown, ...rest: unknown[]) => {
    if (fd === 2) {
      if (typeof buffer === 'string') {
        text += buffer;
        return buffer.length;
      }
      const view = buffer as Uint8Array;
      const offset = typeof rest[0] === 'number' ? rest[0] : 0;
      const length = typeof rest[1] === 'number' ? rest[1] : view.byteLength - offset;
      text += Buffer.from(view.buffer, view.byteOffset + offset, length).toString('utf8');
      return length;
    }
    return (originalWriteSync as (...a: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof nodeFs.writeSync;
  // An Emscripten abort is reported through console.error ("Aborted(…)") before it throws.
  // (h5wasm bound console.error at load time, so the stream is what can be intercepted.)
  const originalWrite = process.stderr.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('Aborted(')) {
      text += chunk;
      return true;
    }
    return (originalWrite as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    return { value: fn(), diagnostics: text };
  } catch (error) {
    return { error, diagnostics: text };
  } finally {
    nodeFs.writeSync = originalWriteSync;
    process.stderr.write = originalWrite;
  }
}

function failure(error: unknown, diagnostics: string, what: string, file: string): ModelFormatError {
  if (error instanceof ModelFormatError) return error;
  if (/truncated file/i.test(diagnostics)) {
    const m = /eof = (\d+).*stored_eof = (\d+)/.exec(diagnostics);
    return new ModelFormatError('truncated', `HDF5 file is truncated${m ? ` (${m[1]} bytes, the superblock says ${m[2]})` : ''}`, { file });
  }
  if (/signature not found|Not an HDF5 file/i.test(diagnostics)) {
    return new ModelFormatError('bad-magic', 'not an HDF5 file (no HDF5 signature)', { file });
  }
  const first = /minor: (.*)/.exec(diagnostics)?.[1]?.trim();
  const reason = first ?? (error instanceof Error ? error.message : String(error));
  return new ModelFormatError('not-a-model', `HDF5 library could not read ${what}: ${reason}`, { file });
}

/** Opens a host file, runs `fn` on it, closes it. All h5wasm calls happen inside `fn`. */
export async function withHdf5File<T>(hostPath: string, fn: (file: H5File, mod: H5Module) => T, displayName = hostPath): Promise<T> {
  const mod = await loadHdf5();
  const opened = captureDiagnostics(() => new mod.File(hostPath, 'r'));
  const file = opened.value;
  if (!file || opened.error || (file as unknown as { file_id: bigint }).file_id < 0n) {
    throw failure(opened.error ?? new Error('open failed'), opened.diagnostics, 'the file', displayName);
  }
  try {
    const result = captureDiagnostics(() => fn(file, mod));
    if (result.error !== undefined || (result.diagnostics && result.value === undefined)) {
      throw failure(result.error, result.diagnostics, 'the file', displayName);
    }
    return result.value as T;
  } finally {
    captureDiagnostics(() => file.close());
  }
}

// ---------------------------------------------------------------------------
// Reading structure and values.

export interface H5DatasetInfo {
  /** Path inside the HDF5 file, without the leading '/'. */
  path: string;
  shape: number[];
  dtype: string;
  itemSize: number;
  compressed: boolean;
}

/** Maps HDF5 type metadata to our dtype names; null for types that hold no numbers (strings, compounds). */
export function datasetDtype(meta: { type: number; size: number; signed: boolean; enum_type?: unknown }): string | null {
  if (meta.type === 1) return meta.size === 2 ? 'float16' : meta.size === 4 ? 'float32' : meta.size === 8 ? 'float64' : null;
  if (meta.type === 0) return `${meta.signed ? 'int' : 'uint'}${meta.size * 8}`;
  // h5py stores numpy bool as an enum over int8.
  if (meta.type === 8 && meta.size === 1) return 'bool';
  return null;
}

export function describeDataset(ds: H5Dataset, p: string): H5DatasetInfo {
  const meta = ds.metadata;
  const dtype = datasetDtype(meta) ?? 'unknown';
  let compressed = false;
  try {
    compressed = ds.filters.length > 0;
  } catch {
    compressed = false;
  }
  return { path: p, shape: meta.shape ?? [], dtype, itemSize: meta.size, compressed };
}

/** Attribute value as a JS value (strings, arrays of strings, numbers); undefined when absent. */
export function attr(obj: { attrs: Record<string, { value: unknown }> }, name: string): unknown {
  const a = obj.attrs[name];
  if (!a) return undefined;
  const v = a.value;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return v;
}

export function stringList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
  return [];
}

/** Reads a dataset's values as float32. */
export function readDatasetValues(file: H5File, p: string): Float32Array {
  const ds = file.get(p) as H5Dataset | null;
  if (!ds || !('metadata' in ds)) throw new ModelFormatError('not-found', `HDF5 dataset '${p}' is missing`);
  const meta = ds.metadata;
  if (meta.type === 1 && meta.size === 2) return decodeHalfArray(readRaw(file, p, meta.size * meta.total_size));
  const value = ds.value as unknown;
  if (value instanceof Float32Array) return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return Float32Array.of(Number(value));
  if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    const list = value as ArrayLike<number | bigint | boolean>;
    const out = new Float32Array(list.length);
    for (let i = 0; i < list.length; i++) out[i] = Number(list[i]);
    return out;
  }
  throw new ModelFormatError('unsupported-dtype', `HDF5 dataset '${p}' does not hold numbers`);
}

/** A dataset's bytes in its stored type (h5wasm's `value` refuses float16 where Node has no Float16Array). */
function readRaw(file: H5File, p: string, nbytes: number): Uint8Array {
  if (!raw) throw new ModelFormatError('not-a-model', 'HDF5 library not loaded');
  const ptr = raw._malloc(Math.max(1, nbytes));
  if (!ptr) throw new ModelFormatError('too-large', `HDF5 dataset '${p}' (${nbytes} bytes) does not fit in the HDF5 library's memory`);
  try {
    const status = raw.get_dataset_data((file as unknown as { file_id: bigint }).file_id, `/${p}`, null, null, null, BigInt(ptr));
    if (status < 0) throw new ModelFormatError('not-a-model', `HDF5 dataset '${p}' could not be read`);
    return raw.HEAPU8.slice(ptr, ptr + nbytes);
  } finally {
    raw._free(ptr);
  }
}

// ---------------------------------------------------------------------------
// Scanning the tree once at open time. The result is plain data (it crosses
// from the worker thread by structured clone).

export interface H5Scan {
  rootAttrs: Record<string, unknown>;
  /** Attributes Keras puts on groups (weight_names, layer_names, keras_version), by group path. */
  groupAttrs: Map<string, Record<string, unknown>>;
  groups: Set<string>;
  datasets: H5DatasetInfo[];
}

const INTERESTING_ATTRS = ['model_config', 'keras_version', 'backend', 'layer_names', 'weight_names', 'training_config'];

export function scanHdf5Tree(file: H5File, maxDepth: number): H5Scan {
  const result: H5Scan = { rootAttrs: readAttrs(file), groupAttrs: new Map(), groups: new Set(), datasets: [] };
  let visited = 0;
  const walk = (group: H5Group, prefix: string, depth: number) => {
    if (depth > maxDepth) throw new ModelFormatError('too-large', `HDF5 groups nested more than ${maxDepth} deep at '${prefix}'`);
    for (const key of group.keys()) {
      if (++visited > 1_000_000) throw new ModelFormatError('too-large', 'HDF5 file has more than a million objects');
      const p = prefix ? `${prefix}/${key}` : key;
      const child = group.get(key);
      if (!child) continue;
      if ('keys' in child && typeof (child as H5Group).keys === 'function') {
        result.groups.add(p);
        const attrs = readAttrs(child as H5Group);
        if (Object.keys(attrs).length > 0) result.groupAttrs.set(p, attrs);
        walk(child as H5Group, p, depth + 1);
      } else if ('metadata' in child) {
        result.datasets.push(describeDataset(child as H5Dataset, p));
      }
    }
  };
  walk(file, '', 0);
  return result;
}

function readAttrs(obj: H5Group): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(obj.attrs);
  for (const n of INTERESTING_ATTRS) if (names.includes(n)) out[n] = attr(obj as never, n);
  return out;
}
