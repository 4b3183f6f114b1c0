import { fstatSync, promises as fsp, readSync } from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';

/** Random access to one file's bytes; reads are bounded by the caller. */
export interface ByteSource {
  readonly path: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Fills `target` with the bytes at `offset`. For a caller that reads many
   * windows into one buffer: fresh memory, not the copy, is the dear part of a
   * read (a first-touched page costs 20–90 µs on a busy VM).
   */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /**
   * The same, blocking. For a walk of hundreds of small dependent reads from the
   * page cache, where a thread-pool round trip per read costs 10× the read.
   */
  readIntoSync?(offset: number, target: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * The file system as the core sees it. The CLI uses the Node implementation;
 * the extension may pass one backed by vscode.workspace.fs for virtual folders.
 */
export interface FileAccess {
  /**
   * True when paths name files on another file system (a VS Code virtual or
   * remote folder): readers must not open them with host APIs (h5wasm).
   */
  readonly virtual?: boolean;
  stat(file: string): Promise<{ size: number; mtimeMs: number }>;
  open(file: string): Promise<ByteSource>;
  readFile(file: string, maxBytes?: number): Promise<Uint8Array>;
  exists(file: string): Promise<boolean>;
  readdir(dir: string): Promise<string[]>;
}

class NodeByteSource implements ByteSource {
  constructor(
    readonly path: string,
    readonly size: number,
    private readonly handle: fsp.FileHandle,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(this.checkRange(offset, length));
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const length = this.checkRange(offset, target.length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await this.handle.read(target, done, length - done, offset + done);
      done = this.advance(offset, done, bytesRead);
    }
  }

  readIntoSync(offset: number, target: Uint8Array): void {
    const length = this.checkRange(offset, target.length);
    for (let done = 0; done < length; ) {
      done = this.advance(offset, done, readSync(this.handle.fd, target, done, length - done, offset + done));
    }
  }

  private checkRange(offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new ModelFormatError(
        'truncated',
        `truncated: expected ${length} bytes at offset ${offset}, file has ${this.size}`,
        { file: this.path, offset },
      );
    }
    return length;
  }

  private advance(offset: number, done: number, bytesRead: number): number {
    if (bytesRead === 0) {
      throw new ModelFormatError('truncated', `file shrank while reading (offset ${offset + done})`, {
        file: this.path,
        offset: offset + done,
      });
    }
    return done + bytesRead;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function notFound(file: string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') throw new ModelFormatError('not-found', `file not found`, { file: printable(file) });
  if (code === 'EISDIR') throw new ModelFormatError('not-a-model', `is a directory`, { file });
  // Names taken from inside a model file (shards, external data) can be anything.
  if (code === 'ENAMETOOLONG' || code === 'ELOOP' || code === 'EINVAL' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE') {
    throw new ModelFormatError('not-found', `not a usable file name (${code})`, { file: printable(file) });
  }
  if (code === 'EACCES' || code === 'EPERM') throw new ModelFormatError('not-found', `cannot be read (${code}: permission denied)`, { file });
  throw e;
}

/** A path fit for a message: control characters escaped, very long names cut short. */
function printable(file: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = file.replace(/[\u0000-\u001f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > 300 ? `${clean.slice(0, 150)}…${clean.slice(-100)}` : clean;
}

export const nodeFileAccess: FileAccess = {
  async stat(file) {
    try {
      const s = await fsp.stat(file);
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch (e) {
      notFound(file, e);
    }
  },
  async open(file) {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (e) {
      notFound(file, e);
    }
    try {
      // fstat of the descriptor just opened (its metadata is cached): not worth a thread-pool round trip.
      const s = fstatSync(handle.fd);
      if (s.isDirectory()) throw new ModelFormatError('not-a-model', 'is a directory', { file });
      // fstat's numbers are doubles (from a Float64Array); as a small integer the size is read and
      // compared without a heap number being made each time, which unoptimised code would do.
      return new NodeByteSource(file, s.size < 2 ** 31 ? s.size | 0 : s.size, handle);
    } catch (e) {
      await handle.close();
      throw e;
    }
  },
  async readFile(file, maxBytes = Number.MAX_SAFE_INTEGER) {
    const src = await this.open(file);
    try {
      if (src.size > maxBytes) {
        throw new ModelFormatError('too-large', `file is ${src.size} bytes, more than the ${maxBytes} allowed here`, { file });
      }
      return await src.read(0, src.size);
    } finally {
      await src.close();
    }
  },
  async exists(file) {
    try {
      await fsp.access(file);
      return true;
    } catch {
      return false;
    }
  },
  async readdir(dir) {
    try {
      return await fsp.readdir(dir);
    } catch (e) {
      notFound(dir, e);
    }
  },
};

/** Resolves a path named inside a model file against the model's folder, refusing escapes. */
export function resolveSibling(modelFile: string, relative: string): string {
  const dir = path.dirname(modelFile);
  const resolved = path.resolve(dir, relative);
  if (path.relative(dir, resolved).startsWith('..') || path.isAbsolute(relative)) {
    throw new ModelFormatError('unsafe', `refers to '${relative}' outside its folder`, { file: modelFile });
  }
  return resolved;
}
