import * as vscode from 'vscode';
import { ModelFormatError } from '../core/errors';
import type { FileAccess } from '../core/io/fileAccess';
import { loaderFileAccess } from '../core/io/memoryFileAccess';

/**
 * Models on virtual and remote file systems (any scheme but `file:`) are read
 * through vscode.workspace.fs. It has no ranged read, so each file the reader
 * opens (the model and its shards or external data) is fetched whole, up to
 * `parsimony.virtualFiles.maxSizeMB`, and analyzed from memory.
 */

/** The path the core sees for a URI: its POSIX path (siblings are resolved against it). */
export function corePath(uri: vscode.Uri): string {
  return uri.path;
}

export function workspaceFileAccess(model: vscode.Uri, maxBytes: number): FileAccess {
  // The core resolves paths with node:path; on Windows that prefixes a drive letter, which is no part of the URI.
  const uriOf = (p: string) => model.with({ path: p.replace(/\\/g, '/').replace(/^[A-Za-z]:(?=\/)/, '') });
  return loaderFileAccess(
    {
      async stat(file) {
        const s = await call(file, () => vscode.workspace.fs.stat(uriOf(file)));
        return { size: s.size, mtimeMs: s.mtime, isDirectory: (s.type & vscode.FileType.Directory) !== 0 };
      },
      read: (file) => call(file, () => vscode.workspace.fs.readFile(uriOf(file))),
      async readdir(dir) {
        return (await call(dir, () => vscode.workspace.fs.readDirectory(uriOf(dir)))).map(([name]) => name);
      },
    },
    { maxBytes, limitName: 'parsimony.virtualFiles.maxSizeMB' },
  );
}

/** File system errors become the coded errors readers expect ("file not found" for a missing shard). */
async function call<T>(file: string, fn: () => Thenable<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof vscode.FileSystemError) {
      if (e.code === 'FileNotFound' || e.code === 'FileNotADirectory') throw new ModelFormatError('not-found', 'file not found', { file });
      if (e.code === 'FileIsADirectory') throw new ModelFormatError('not-a-model', 'is a directory', { file });
      if (e.code === 'NoPermissions') throw new ModelFormatError('not-found', 'cannot be read (permission denied)', { file });
      throw new ModelFormatError('not-found', `cannot be read (${e.code || e.message})`, { file });
    }
    throw e;
  }
}
