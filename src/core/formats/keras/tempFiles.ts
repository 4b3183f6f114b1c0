import { randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { isModelFormatError, ModelFormatError } from '../../errors';
import type { ByteSource } from '../../io/fileAccess';

/**
 * h5wasm opens host files only. HDF5 bytes that are not a plain file on this
 * disk (a .keras archive's weights, a model on a virtual file system) are
 * copied to a private temporary folder first, removed after use or at exit.
 */

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

/**
 * Inflates a raw-deflate stream (a zip entry's data) into a fresh temporary
 * file as it reads, so a large weights entry never sits in memory whole; more
 * than `maxBytes` of output is a zip bomb ('too-large'), corrupt data 'truncated'.
 */
export async function inflateToTemp(source: ByteSource, offset: number, compressedSize: number, maxBytes: number, name: string): Promise<string> {
  const dir = path.join(tmpdir(), `parsimony-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  registerTemp(dir);
  const file = path.join(dir, name);
  const chunk = 4 * 1024 * 1024;
  let written = 0;
  try {
    await pipeline(
      (async function* () {
        for (let done = 0; done < compressedSize; done += chunk) yield await source.read(offset + done, Math.min(chunk, compressedSize - done));
      })(),
      createInflateRaw(),
      async function* (inflated: AsyncIterable<Buffer>) {
        for await (const piece of inflated) {
          written += piece.length;
          if (written > maxBytes) throw new ModelFormatError('too-large', `zip entry '${name}' expands beyond its declared ${maxBytes} bytes (zip bomb?)`);
          yield piece;
        }
      },
      createWriteStream(file),
    );
  } catch (e) {
    removeTemp(file);
    if (isModelFormatError(e)) throw e;
    throw new ModelFormatError('truncated', `zip entry '${name}' is corrupt: ${e instanceof Error ? e.message : String(e)}`);
  }
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
  // In the background: a synchronous removal costs the caller's thread (the extension
  // host's, when it lists a workspace of .keras files) milliseconds per file. What is
  // still there at exit is removed by the exit hook.
  void rm(dir, { recursive: true, force: true }).then(
    () => tempFiles.delete(dir),
    () => undefined,
  );
}

