import { promises as fsp, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { OutputError } from '../errors';

/**
 * Temporary names are `.<final name>.<pid>-<8 hex>.tmp`: hidden, never taken
 * for a model by the workspace scan, and recognisable as ours. A later run
 * removes the ones whose process is gone (killed with -9, power loss).
 */
export const TEMP_PATTERN = /^\..+\.(\d+)-[0-9a-f]{8}\.tmp$/;
/** Lock files reserving an output name: `.<final name>.lock.tmp`, holding the owner's pid. */
const LOCK_SUFFIX = '.lock.tmp';

/** Bytes per write call; the hook below sees each one. */
const CHUNK = 4 * 1024 * 1024;

/**
 * A seam for tests: called before every chunk is written to a temporary file
 * (`chunk` counts the writes of this process). Throwing an ENOSPC error here
 * simulates a full disk at that point.
 */
export const atomicWriteHooks: { beforeWrite?: (final: string, temp: string, chunk: number) => void } = {};
let chunksWritten = 0;

/** Temp and lock files this process owns, removed at exit if still there (a second Ctrl-C, process.exit). */
const owned = new Set<string>();
let exitHook = false;
function own(file: string): void {
  owned.add(file);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', removeOwnedFilesSync);
  }
}

/** Removes every temporary and lock file this process still owns. Safe in signal and exit handlers. */
export function removeOwnedFilesSync(): void {
  for (const f of owned) {
    try {
      unlinkSync(f);
    } catch {
      // already gone
    }
  }
  owned.clear();
}

function tempName(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Turns an fs error while writing `file` into an OutputError that names the file and the cause. */
function outputError(e: unknown, file: string): unknown {
  if (e instanceof OutputError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OutputError('disk-full', `disk full while writing ${file} (${code}); nothing was written`, file);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new OutputError('no-permission', `cannot write ${file} (${code}: no permission or read-only); nothing was written`, file);
  }
  if (code) return new OutputError('io', `could not write ${file} (${code}: ${(e as Error).message}); nothing was written`, file);
  return e;
}

async function* once(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

/**
 * Writes a group of files so that either all of them appear or none do: each is
 * written under a temporary name in the target folder and renamed only after
 * every write succeeded. Existing files are never overwritten unless allowed.
 * With `main` set, that file is renamed last, so a crash during the commit
 * never leaves a main file whose parts (shards, external data) are missing.
 */
export class AtomicFileSet {
  private readonly pending: { temp: string; final: string }[] = [];
  private committed = false;

  constructor(private readonly options: { overwrite?: boolean; main?: string } = {}) {}

  async write(file: string, data: Uint8Array | string): Promise<void> {
    await this.writeParts(file, once(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
  }

  /** Like write(), for data too large to hold at once: the parts are appended as they come. */
  async writeParts(file: string, parts: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.committed) throw new Error('AtomicFileSet already committed');
    const final = path.resolve(file);
    const temp = tempName(final);
    this.pending.push({ temp, final });
    own(temp);
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(temp, 'wx');
      for await (const part of parts) {
        let done = 0;
        while (done < part.length) {
          atomicWriteHooks.beforeWrite?.(final, temp, chunksWritten++);
          done += (await handle.write(part, done, Math.min(CHUNK, part.length - done))).bytesWritten;
        }
      }
      // On disk before the rename, so a crash can't leave a renamed but empty file.
      await handle.sync();
    } catch (e) {
      throw outputError(e, final);
    } finally {
      await handle?.close();
    }
  }

  get files(): string[] {
    return this.pending.map((p) => p.final);
  }

  async commit(): Promise<void> {
    if (this.committed) throw new Error('AtomicFileSet already committed');
    const main = this.options.main ? path.resolve(this.options.main) : undefined;
    const order = [...this.pending].sort((a, b) => Number(a.final === main) - Number(b.final === main));
    const done: string[] = [];
    try {
      if (!this.options.overwrite) {
        for (const p of order) {
          if (await exists(p.final)) throw new OutputError('exists', `${p.final} already exists; Parsimony never overwrites files`, p.final);
        }
      }
      for (const p of order) {
        await this.place(p.temp, p.final);
        done.push(p.final);
      }
    } catch (e) {
      // Undo the renames already made: either every file appears or none does.
      await Promise.all(done.map((f) => fsp.rm(f, { force: true })));
      await this.abort();
      throw outputError(e, main ?? this.pending[0]?.final ?? '');
    }
    for (const p of this.pending) owned.delete(p.temp);
    this.committed = true;
  }

  /** Renames temp → final; without `overwrite`, a file that appeared meanwhile is never replaced (link fails on it). */
  private async place(temp: string, final: string): Promise<void> {
    if (this.options.overwrite) {
      await fsp.rename(temp, final);
      return;
    }
    try {
      await fsp.link(temp, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new OutputError('exists', `${final} already exists; Parsimony never overwrites files`, final);
      // File systems without hard links: the existence check above has to do.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK' && code !== 'EXDEV') throw e;
      if (await exists(final)) throw new OutputError('exists', `${final} already exists; Parsimony never overwrites files`, final);
      await fsp.rename(temp, final);
      return;
    }
    await fsp.rm(temp, { force: true });
  }

  async abort(): Promise<void> {
    await Promise.all(this.pending.map((p) => fsp.rm(p.temp, { force: true })));
    for (const p of this.pending) owned.delete(p.temp);
    this.pending.length = 0;
  }
}

export async function writeFileAtomic(file: string, data: Uint8Array | string, overwrite = true): Promise<void> {
  const set = new AtomicFileSet({ overwrite });
  try {
    await set.write(file, data);
    await set.commit();
  } catch (e) {
    await set.abort();
    throw e;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

function numbered(file: string, i: number): string {
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  return `${stem}-${i}${ext}`;
}

function lockName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}${LOCK_SUFFIX}`);
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lockOwner(lock: string): Promise<number | undefined> {
  try {
    return Number((await fsp.readFile(lock, 'utf8')).trim());
  } catch {
    return undefined;
  }
}

/** True when a live job holds the lock on `file`. */
async function reserved(file: string): Promise<boolean> {
  const pid = await lockOwner(lockName(file));
  return pid !== undefined && alive(pid);
}

/** Picks `base`, or `base` with -2, -3… before the extension, so nothing is overwritten (or reserved by a running job). */
export async function freeName(file: string): Promise<string> {
  if (!(await exists(file)) && !(await reserved(file))) return file;
  for (let i = 2; i < 10000; i++) {
    const candidate = numbered(file, i);
    if (!(await exists(candidate)) && !(await reserved(candidate))) return candidate;
  }
  throw new Error(`no free name near ${file}`);
}

export interface Reservation {
  file: string;
  release(): Promise<void>;
}

/**
 * Like freeName, but holds the name until released, so two jobs started on the
 * same model at once write distinct outputs instead of colliding at commit.
 * `companions` lists files that must be free too (the result's sidecar).
 * The lock is a hidden `.<name>.lock.tmp` holding our pid; a lock whose
 * process is gone is ignored and removed.
 */
export async function reserveFreeName(file: string, companions: (candidate: string) => string[] = () => []): Promise<Reservation> {
  await removeStaleTemps(path.dirname(file));
  for (let i = 1; i < 10000; i++) {
    const candidate = i === 1 ? file : numbered(file, i);
    if (await exists(candidate)) continue;
    if ((await Promise.all(companions(candidate).map(exists))).some(Boolean)) continue;
    const lock = lockName(candidate);
    try {
      await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(e, candidate);
      const pid = await lockOwner(lock);
      if (pid === undefined || alive(pid)) continue;
      // A dead job's lock: take it over.
      await fsp.rm(lock, { force: true });
      try {
        await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
      } catch {
        continue;
      }
    }
    own(lock);
    // A job that chose this name just before our lock appeared may have committed since.
    if (await exists(candidate)) {
      owned.delete(lock);
      await fsp.rm(lock, { force: true });
      continue;
    }
    return {
      file: candidate,
      release: async () => {
        owned.delete(lock);
        await fsp.rm(lock, { force: true });
      },
    };
  }
  throw new Error(`no free name near ${file}`);
}

/** Removes temporary and lock files in `dir` left by processes that no longer run. Errors are ignored. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
    const file = path.join(dir, name);
    let pid: number | undefined;
    if (name.endsWith(LOCK_SUFFIX)) pid = await lockOwner(file);
    else pid = Number(TEMP_PATTERN.exec(name)?.[1] ?? NaN);
    if (pid === undefined || !Number.isSafeInteger(pid) || pid === process.pid || alive(pid)) continue;
    try {
      await fsp.rm(file, { force: true });
      removed.push(file);
    } catch {
      // not ours to worry about
    }
  }
  return removed;
}

/**
 * Creates `dir` and any missing parents (like `mkdir -p`) and returns the folders
 * it created, outermost first, so a failed or cancelled job can remove them again
 * with removeCreatedFolders and leave the disk as it found it.
 */
export async function createMissingFolders(dir: string): Promise<string[]> {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!(await exists(d))) {
    missing.unshift(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  if (!missing.length) return [];
  try {
    await fsp.mkdir(missing[missing.length - 1]!, { recursive: true });
  } catch (e) {
    await removeCreatedFolders(missing);
    throw outputError(e, dir);
  }
  return missing;
}

/** Removes folders createMissingFolders made, innermost first; a folder something else has put files in stays. */
export async function removeCreatedFolders(folders: readonly string[]): Promise<void> {
  for (const d of [...folders].reverse()) {
    try {
      await fsp.rmdir(d);
    } catch {
      return; // not empty (another writer's file) or already gone: leave it and its parents
    }
  }
}
