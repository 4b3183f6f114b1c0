import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { CompressResult } from '../compress/pipeline';
import type { SizeStats } from '../compress/stats';
import { ModelFormatError } from '../errors';
import { writeFileAtomic } from '../io/atomicWrite';
import type { FormatId } from '../model';

/**
 * Run records: one JSON file per evaluation, sweep point or compression under
 * `<workspace>/.parsimony/runs/<timestamp>-<method>-<shorthash>.json`, written
 * atomically. The Compression Lab lists and deletes them; deleting a record never
 * touches a model file.
 */
export type RunKind = 'evaluate' | 'sweep' | 'compress';

export interface RunMetrics {
  samples: number | null;
  accuracy: number | null;
  top5: number | null;
  loss: number | null;
  agreement: number | null;
  klDivergence: number | null;
  mse: number | null;
}

export interface RunRecord {
  /** The file name without `.json`; pass it to deleteRun. */
  id: string;
  version: 1;
  kind: RunKind;
  /** 'evaluate', or the compression method (chain joined with ','). */
  method: string;
  /** The model the run started from, relative to the workspace root ('/' separators). */
  model: string;
  /** sha256 of that model's files. */
  modelHash: string;
  format: FormatId | null;
  /** The compressed model (relative to the workspace root when inside it); null when not kept. */
  output: string | null;
  /** sha256 of the compressed model's files. */
  outputHash: string | null;
  options: Record<string, unknown>;
  /** The dataset spec, as given. */
  dataset: string | null;
  /** Groups the points of one sweep. */
  sweepId: string | null;
  /** The swept value of a sweep point (null for the original model). */
  setting: number | string | null;
  metrics: RunMetrics | null;
  /** Sizes of the evaluated (or written) model. */
  sizes: SizeStats | null;
  /** Sizes before compression (compress runs). */
  sizesBefore: SizeStats | null;
  latencyMs: { batch1: number | null; batch32: number | null } | null;
  backend: string | null;
  notes: string[];
  started: string;
  finished: string;
}

export type NewRunRecord = Omit<RunRecord, 'id' | 'version'>;

export const RUNS_FOLDER = path.join('.parsimony', 'runs');
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function runsDir(workspace: string): string {
  return path.join(workspace, RUNS_FOLDER);
}

/**
 * The workspace root for a model: `explicit` when given, else the nearest folder
 * above the model holding `.parsimony/` or `.git/`, else the model's own folder.
 */
export async function workspaceRoot(modelFile: string, explicit?: string): Promise<string> {
  if (explicit) return path.resolve(explicit);
  const start = path.dirname(path.resolve(modelFile));
  let dir = start;
  for (;;) {
    for (const marker of ['.parsimony', '.git']) {
      try {
        await fsp.stat(path.join(dir, marker));
        return dir;
      } catch {
        // keep looking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

/** A path relative to the workspace root with '/' separators. */
export function workspaceRelative(workspace: string, file: string): string {
  return path.relative(workspace, path.resolve(file)).split(path.sep).join('/');
}

/** 2025-11-29T22-44-01-123Z: sortable, and legal in file names everywhere. */
function stamp(iso: string): string {
  return iso.replace(/:/g, '-').replace('.', '-');
}

function slug(method: string): string {
  return method.toLowerCase().replace(/,/g, '+').replace(/[^a-z0-9+.-]/g, '-') || 'run';
}

/** Writes a record; returns it with its id. The file name never collides with an existing one. */
export async function writeRun(workspace: string, record: NewRunRecord): Promise<RunRecord> {
  const dir = runsDir(workspace);
  await fsp.mkdir(dir, { recursive: true });
  const short = (record.outputHash ?? record.modelHash).slice(0, 8) || 'nohash';
  const base = `${stamp(record.started)}-${slug(record.method)}-${short}`;
  for (let n = 1; n < 1000; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    const full: RunRecord = { id, version: 1, ...record };
    try {
      await writeFileAtomic(path.join(dir, `${id}.json`), JSON.stringify(full, null, 2) + '\n', false);
      return full;
    } catch (e) {
      if (!/already exists/.test(String((e as Error).message))) throw e;
    }
  }
  throw new Error(`no free run id near ${base}`);
}

/** Every readable run record of the workspace, oldest first (unreadable files are skipped). */
export async function listRuns(workspace: string): Promise<RunRecord[]> {
  const dir = runsDir(workspace);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const records: RunRecord[] = [];
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    try {
      const parsed = JSON.parse(await fsp.readFile(path.join(dir, name), 'utf8')) as Partial<RunRecord>;
      if (!parsed || typeof parsed !== 'object' || typeof parsed.started !== 'string' || typeof parsed.method !== 'string') continue;
      records.push({ ...(parsed as RunRecord), id: name.slice(0, -'.json'.length) });
    } catch {
      // a half-written or hand-edited file: not a run
    }
  }
  return records.sort((a, b) => a.started.localeCompare(b.started) || a.id.localeCompare(b.id));
}

/** Deletes one run record (never a model). Returns false when there was no such record. */
export async function deleteRun(workspace: string, id: string): Promise<boolean> {
  if (!ID_PATTERN.test(id) || id.includes('..')) throw new ModelFormatError('invalid-option', `'${id}' is not a run id`);
  try {
    await fsp.unlink(path.join(runsDir(workspace), `${id}.json`));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export interface CompressRunContext {
  /** The --workspace flag, if any. */
  workspace?: string;
  /** When the compression started (ISO); default: now. */
  started?: string;
  /** Accuracy of the written model, for training methods (which measure it on their evaluation data). */
  metrics?: RunMetrics | null;
  /** The training data spec, for training methods. */
  dataset?: string | null;
}

/** Records a finished compression (for `parsimony compress` and the extension's Compress command). */
export async function recordCompressRun(source: string, result: CompressResult, context: CompressRunContext = {}): Promise<RunRecord> {
  const workspace = await workspaceRoot(source, context.workspace);
  const { contentHash } = await import('../io/contentHash');
  const { openModel } = await import('../formats/registry');
  let format: FormatId | null = null;
  let outputHash: string | null = null;
  try {
    const doc = await openModel(result.output);
    format = doc.format;
    outputHash = await contentHash(doc.files);
  } catch {
    // the output is unreadable (or gone): record what is known
  }
  const now = new Date().toISOString();
  return writeRun(workspace, {
    kind: 'compress',
    method: result.method,
    model: workspaceRelative(workspace, source),
    modelHash: result.sourceHash,
    format,
    output: workspaceRelative(workspace, result.output),
    outputHash,
    options: { ...result.options, steps: result.steps },
    dataset: context.dataset ?? null,
    sweepId: null,
    setting: null,
    metrics: context.metrics ?? null,
    sizes: result.after,
    sizesBefore: result.before,
    latencyMs: null,
    backend: null,
    notes: result.notes,
    started: context.started ?? now,
    finished: now,
  });
}
