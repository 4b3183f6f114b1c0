import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import type { ByteSource, FileAccess } from './fileAccess';

/**
 * Files that are not on this disk: the bytes of each file are fetched whole
 * (VS Code's workspace.fs has no ranged read) and the readers work from memory.
 * The extension backs this with vscode.workspace.fs for virtual and remote
 * folders; tests back it with a map. Nothing here touches the host disk, and
 * readers that need a host file (h5wasm) make a temporary copy (`virtual`).
 */
export interface ByteLoader {
  /** Size and modification time; throws ModelFormatError('not-found') for a missing file. */
  stat(file: string): Promise<{ size: number; mtimeMs: number; isDirectory?: boolean }>;
  /** The whole file. */
  read(file: string): Promise<Uint8Array>;
  /** Names in a folder, if the file system can list them. */
  readdir?(dir: string): Promise<string[]>;
}

export interface LoaderOptions {
  /**
   * Largest file pulled into memory; a bigger one is refused with 'too-large'
   * before any byte is read. `limitName` says where the limit is set.
   */
  maxBytes?: number;
  limitName?: string;
}

class MemoryByteSource implements ByteSource {
  private readonly bytes: Uint8Array;

  constructor(
    readonly path: string,
    bytes: Uint8Array,
  ) {
    // A plain Uint8Array view: a Node Buffer's slice() shares memory instead of copying.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get size(): number {
    return this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new ModelFormatError('truncated', `truncated: expected ${length} bytes at offset ${offset}, file has ${this.bytes.length}`, { file: this.path, offset });
    }
    // A copy, as a file read would give: readers may keep or transfer what they get.
    return this.bytes.slice(offset, offset + length);
  }

  async close(): Promise<void> {}
}

export function loaderFileAccess(loader: ByteLoader, options: LoaderOptions = {}): FileAccess {
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const load = async (file: string, cap: number): Promise<Uint8Array> => {
    const s = await loader.stat(file);
    if (s.isDirectory) throw new ModelFormatError('not-a-model', 'is a directory', { file });
    if (s.size > cap) {
      const where = cap === maxBytes && options.limitName ? ` (${options.limitName})` : '';
      throw new ModelFormatError('too-large', `file is ${s.size} bytes, more than the ${cap} read into memory here${where}`, { file });
    }
    const bytes = await loader.read(file);
    // The file may have grown between stat and read.
    if (bytes.length > cap) throw new ModelFormatError('too-large', `file is ${bytes.length} bytes, more than the ${cap} read into memory here`, { file });
    return bytes;
  };
  return {
    virtual: true,
    async stat(file) {
      const s = await loader.stat(file);
      return { size: s.size, mtimeMs: s.mtimeMs };
    },
    async open(file) {
      return new MemoryByteSource(file, await load(file, maxBytes));
    },
    async readFile(file, limit = Number.MAX_SAFE_INTEGER) {
      return load(file, Math.min(limit, maxBytes));
    },
    async exists(file) {
      try {
        await loader.stat(file);
        return true;
      } catch {
        return false;
      }
    },
    async readdir(dir) {
      if (!loader.readdir) throw new ModelFormatError('not-found', 'this file system cannot list folders', { file: dir });
      return loader.readdir(dir);
    },
  };
}

/** A FileAccess over a fixed set of files (absolute paths → bytes). */
export function memoryFileAccess(files: Map<string, Uint8Array> | Record<string, Uint8Array>, options: LoaderOptions = {}): FileAccess {
  const byPath = new Map<string, Uint8Array>();
  for (const [name, bytes] of files instanceof Map ? files : Object.entries(files)) byPath.set(path.resolve(name), bytes);
  const isDir = (dir: string) => [...byPath.keys()].some((f) => f.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep));
  return loaderFileAccess(
    {
      async stat(file) {
        const p = path.resolve(file);
        const bytes = byPath.get(p);
        if (bytes) return { size: bytes.length, mtimeMs: 0 };
        if (isDir(p)) return { size: 0, mtimeMs: 0, isDirectory: true };
        throw new ModelFormatError('not-found', 'file not found', { file });
      },
      async read(file) {
        const bytes = byPath.get(path.resolve(file));
        if (!bytes) throw new ModelFormatError('not-found', 'file not found', { file });
        return bytes;
      },
      async readdir(dir) {
        const prefix = path.resolve(dir) + path.sep;
        const names = new Set<string>();
        for (const f of byPath.keys()) if (f.startsWith(prefix)) names.add(f.slice(prefix.length).split(path.sep)[0]!);
        if (names.size === 0) throw new ModelFormatError('not-found', 'folder not found', { file: dir });
        return [...names].sort();
      },
    },
    options,
  );
}
