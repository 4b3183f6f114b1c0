// An in-memory file system provider, registered inside the extension host for a
// test scheme: a real vscode.FileSystemProvider, the kind virtual workspaces
// (GitHub Repositories, remote hubs, memfs) are made of. Not a test file itself.
import * as path from 'node:path';
import * as vscode from 'vscode';

type Entry = { type: vscode.FileType.File; data: Uint8Array; mtime: number } | { type: vscode.FileType.Directory; mtime: number };

export class MemFs implements vscode.FileSystemProvider {
  private readonly entries = new Map<string, Entry>([['/', { type: vscode.FileType.Directory, mtime: Date.now() }]]);
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  /** Whole-file reads served, by path (the extension must read through the provider). */
  readonly reads = new Map<string, number>();
  /** Folders VS Code asked the provider to watch. */
  readonly watched: string[] = [];

  constructor(readonly scheme: string) {}

  uri(p: string): vscode.Uri {
    return vscode.Uri.from({ scheme: this.scheme, path: p });
  }

  private entry(uri: vscode.Uri): Entry {
    const e = this.entries.get(uri.path);
    if (!e) throw vscode.FileSystemError.FileNotFound(uri);
    return e;
  }

  watch(uri: vscode.Uri): vscode.Disposable {
    this.watched.push(uri.path);
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    const e = this.entry(uri);
    return { type: e.type, ctime: 0, mtime: e.mtime, size: e.type === vscode.FileType.File ? e.data.length : 0 };
  }

  readDirectory(uri: vscode.Uri): [string, vscode.FileType][] {
    if (this.entry(uri).type !== vscode.FileType.Directory) throw vscode.FileSystemError.FileNotADirectory(uri);
    const prefix = uri.path === '/' ? '/' : `${uri.path}/`;
    const out: [string, vscode.FileType][] = [];
    for (const [p, e] of this.entries) if (p !== '/' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push([p.slice(prefix.length), e.type]);
    return out;
  }

  createDirectory(uri: vscode.Uri): void {
    this.entries.set(uri.path, { type: vscode.FileType.Directory, mtime: Date.now() });
    this.emitter.fire([{ type: vscode.FileChangeType.Created, uri }]);
  }

  readFile(uri: vscode.Uri): Uint8Array {
    const e = this.entry(uri);
    if (e.type !== vscode.FileType.File) throw vscode.FileSystemError.FileIsADirectory(uri);
    this.reads.set(uri.path, (this.reads.get(uri.path) ?? 0) + 1);
    return e.data;
  }

  writeFile(uri: vscode.Uri, content: Uint8Array): void {
    const existed = this.entries.has(uri.path);
    for (let dir = path.posix.dirname(uri.path); !this.entries.has(dir); dir = path.posix.dirname(dir)) {
      this.entries.set(dir, { type: vscode.FileType.Directory, mtime: Date.now() });
    }
    // Bump the time even within one millisecond: the extension's cache keys on size + mtime.
    const previous = this.entries.get(uri.path)?.mtime ?? 0;
    this.entries.set(uri.path, { type: vscode.FileType.File, data: content, mtime: Math.max(Date.now(), previous + 1) });
    this.emitter.fire([{ type: existed ? vscode.FileChangeType.Changed : vscode.FileChangeType.Created, uri }]);
  }

  delete(uri: vscode.Uri): void {
    for (const p of [...this.entries.keys()]) if (p === uri.path || p.startsWith(`${uri.path}/`)) this.entries.delete(p);
    this.emitter.fire([{ type: vscode.FileChangeType.Deleted, uri }]);
  }

  rename(from: vscode.Uri, to: vscode.Uri): void {
    const e = this.entry(from);
    this.entries.delete(from.path);
    this.entries.set(to.path, e);
    this.emitter.fire([
      { type: vscode.FileChangeType.Deleted, uri: from },
      { type: vscode.FileChangeType.Created, uri: to },
    ]);
  }
}
