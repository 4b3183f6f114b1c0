import { randomBytes } from 'node:crypto';
import nodeFs, { mkdirSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import type { ByteSource } from '../../io/fileAccess';
import { decodeHalfArray } from '../../io/halfFloat';

/**
 * HDF5 through h5wasm (the HDF5 C library compiled to wasm). Its Node build
 * reads host files directly (NODERAWFS), so a .h5 on disk is never copied into
 * memory; a .keras archive's weights are extracted to a temporary file first.
 *
 * The library reports problems on stderr ("HDF5-DIAG") and returns negative
 * ids instead of throwing; this module turns both into ModelFormatError, and an
 * Emscripten abort into an error instead of a dead process.
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
async function h5(): Promise<H5Module> {
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
  const mod = await h5();
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

/** True when `file` is the same file on the host disk that `source` reads (so h5wasm can open it directly). */
export function isHostFile(file: string, size: number): boolean {
  try {
    const s = statSync(file);
    return s.isFile() && s.size === size;
  } catch {
    return false;
  }
}

const tempFiles = new Set<string>();
let cleanupRegistered = false;

/**
 * Copies `length` bytes at `offset` of a source into a fresh temporary file,
 * in chunks (never the whole payload in memory). Removed at process exit or by `removeTemp`.
 */
export async function copyToTemp(source: ByteSource, offset: number, length: number, name: string): Promise<string> {
  const dir = path.join(tmpdir(), `parsimony-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  registerTemp(dir);
  const fd = openSync(file, 'w');
  try {
    const chunk = 16 * 1024 * 1024;
    for (let done = 0; done < length; done += chunk) {
      const bytes = await source.read(offset + done, Math.min(chunk, length - done));
      writeSync(fd, bytes);
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

export function writeTemp(bytes: Uint8Array, name: string): string {
  const dir = path.join(tmpdir(), `parsimony-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  registerTemp(dir);
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

function registerTemp(dir: string): void {
  tempFiles.add(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      for (const d of tempFiles) rmSync(d, { recursive: true, force: true });
    });
  }
}

export function removeTemp(file: string): void {
  const dir = path.dirname(file);
  if (!tempFiles.has(dir)) return;
  tempFiles.delete(dir);
  rmSync(dir, { recursive: true, force: true });
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
