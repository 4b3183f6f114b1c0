import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a group of files so that either all of them appear or none do: each is
 * written under a temporary name in the target folder and renamed only after
 * every write succeeded. Existing files are never overwritten unless allowed.
 */
export class AtomicFileSet {
  private readonly pending: { temp: string; final: string }[] = [];
  private committed = false;

  constructor(private readonly options: { overwrite?: boolean } = {}) {}

  async write(file: string, data: Uint8Array | string): Promise<void> {
    if (this.committed) throw new Error('AtomicFileSet already committed');
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
    this.pending.push({ temp, final: file });
    await fsp.writeFile(temp, data, { flag: 'wx' });
  }

  /** Like write(), for data too large to hold at once: the parts are appended as they come. */
  async writeParts(file: string, parts: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.committed) throw new Error('AtomicFileSet already committed');
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
    this.pending.push({ temp, final: file });
    const handle = await fsp.open(temp, 'wx');
    try {
      for await (const part of parts) {
        let done = 0;
        while (done < part.length) done += (await handle.write(part, done, part.length - done)).bytesWritten;
      }
    } finally {
      await handle.close();
    }
  }

  get files(): string[] {
    return this.pending.map((p) => p.final);
  }

  async commit(): Promise<void> {
    if (!this.options.overwrite) {
      for (const p of this.pending) {
        if (await exists(p.final)) {
          await this.abort();
          throw new Error(`${p.final} already exists; Parsimony never overwrites files`);
        }
      }
    }
    for (const p of this.pending) await fsp.rename(p.temp, p.final);
    this.committed = true;
  }

  async abort(): Promise<void> {
    await Promise.all(this.pending.map((p) => fsp.rm(p.temp, { force: true })));
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

/** Picks `base`, or `base` with -2, -3… before the extension, so nothing is overwritten. */
export async function freeName(file: string): Promise<string> {
  if (!(await exists(file))) return file;
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  for (let i = 2; i < 10000; i++) {
    const candidate = `${stem}-${i}${ext}`;
    if (!(await exists(candidate))) return candidate;
  }
  throw new Error(`no free name near ${file}`);
}
