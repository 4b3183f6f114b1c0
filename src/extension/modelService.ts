import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import type { HintsResult } from '../core/analysis/hints';
import { summarize, type ModelSummary } from '../core/analysis/summary';
import { CancelledError, isModelFormatError, ModelFormatError } from '../core/errors';
import { runCliJob } from './cliJob';
import type { Config } from './config';
import { Limiter } from './limiter';
import { requireLocalFile } from './localOnly';
import type { Log } from './log';
import { corePath, workspaceFileAccess } from './workspaceFileAccess';

export type AnalysisResult = { ok: true; summary: ModelSummary } | { ok: false; error: string; code: string };

/**
 * Files parsed at once. Small models parse in milliseconds; a workspace of a
 * thousand asks for all of them when the Models view opens, and they queue here.
 */
const ANALYSIS_CONCURRENCY = 2;

/**
 * Opens and summarizes model files, cached by path + size + mtime so the tree,
 * hovers and the status bar never parse the same file twice. Hints are cached
 * by content hash, in memory and in the extension's storage, so they survive
 * reloads. The core is imported lazily: nothing is parsed at activation.
 *
 * Analysis runs in the extension host, a few files at a time: the readers only
 * read metadata, and the one library that can hang on a corrupt file (h5wasm,
 * for HDF5) runs on a worker thread with a time limit (core/formats/keras/hdf5Thread.ts).
 * Files on other schemes (virtual and remote folders) are read through
 * vscode.workspace.fs into memory, up to parsimony.virtualFiles.maxSizeMB.
 */
export class ModelService implements vscode.Disposable {
  private readonly cache = new Map<string, { key: string; result: Promise<AnalysisResult>; settled?: AnalysisResult }>();
  /** Per file: the stat + ε key, the dataset key dead units were measured on (null: weights only), the result. */
  private readonly hintCache = new Map<string, { key: string; data: string | null; result: HintsResult }>();
  private readonly running = new Map<string, Promise<HintsResult>>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly hintsChanged = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidComputeHints = this.hintsChanged.event;
  /** Parses in progress and waiting; `peak`/`started` tell tests how much work ran. */
  readonly analyses = new Limiter(ANALYSIS_CONCURRENCY);

  constructor(
    private readonly log: Log,
    private readonly extensionPath: string,
    private readonly storage?: vscode.Uri,
    private readonly config?: Config,
  ) {}

  private async statKey(uri: vscode.Uri): Promise<string | undefined> {
    try {
      const stat = await vscode.workspace.fs.stat(uri);
      return `${stat.size}:${stat.mtime}`;
    } catch {
      return undefined;
    }
  }

  async analyze(uri: vscode.Uri): Promise<AnalysisResult> {
    const key = await this.statKey(uri);
    if (key === undefined) return { ok: false, code: 'not-found', error: `${displayName(uri)}: file not found` };
    const cached = this.cache.get(uri.toString());
    if (cached && cached.key === key) return cached.result;
    const entry: { key: string; result: Promise<AnalysisResult>; settled?: AnalysisResult } = { key, result: this.analyses.run(() => this.load(uri)) };
    void entry.result.then((r) => (entry.settled = r));
    this.cache.set(uri.toString(), entry);
    return entry.result;
  }

  /**
   * The finished analysis of the file as it is now (one stat, no parsing, no work
   * started), for views that must not wait; undefined when there is none yet. The
   * stat matters: a file written while it was being analyzed may send its last
   * change event before the write ends, and the row must not keep what it read then.
   */
  async settled(uri: vscode.Uri): Promise<AnalysisResult | undefined> {
    const cached = this.cache.get(uri.toString());
    if (!cached?.settled) return undefined;
    const key = await this.statKey(uri);
    // Gone since: say so (as analyze would) rather than ask for an analysis again and again.
    if (key === undefined) return { ok: false, code: 'not-found', error: `${displayName(uri)}: file not found` };
    return key === cached.key ? cached.settled : undefined;
  }

  private async load(uri: vscode.Uri): Promise<AnalysisResult> {
    const started = Date.now();
    const local = uri.scheme === 'file';
    const file = local ? uri.fsPath : corePath(uri);
    try {
      const { openModel } = await import('../core/formats/registry');
      const fs = local ? undefined : workspaceFileAccess(uri, (this.config?.virtualMaxSizeMB ?? 512) * 1024 * 1024);
      const summary = await summarize(await openModel(file, { fs }), fs);
      this.log.debug(`analyzed ${displayName(uri)} in ${Date.now() - started} ms`);
      return { ok: true, summary };
    } catch (e) {
      if (isModelFormatError(e)) {
        // A virtual file is named by its URI: its path alone would look like a local file.
        if (!local && (e.file === undefined || e.file === file)) e.file = displayName(uri);
        e.file ??= displayName(uri);
        this.log.warn(`cannot read ${e.describe()} [${e.code}]`);
        return { ok: false, code: e.code, error: e.describe() };
      }
      this.log.error(`internal error analyzing ${displayName(uri)}`, e);
      return { ok: false, code: 'internal', error: `${displayName(uri)}: internal error: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /** Hints already computed for the file as it is now (no work started). */
  cachedHints(uri: vscode.Uri): HintsResult | undefined {
    return this.hintCache.get(uri.toString())?.result;
  }

  /**
   * Computes (or returns cached) hints; progress and cancellation come from the
   * caller. With `data` (a dataset spec and a key that changes when the dataset
   * does), dead units are measured on it; a request without data is also served
   * by a result that has them (everything else is the same).
   */
  async hints(
    uri: vscode.Uri,
    epsilon: number,
    progress?: (fraction: number, message: string) => void,
    token?: vscode.CancellationToken,
    data?: { spec: string; key: string },
  ): Promise<HintsResult> {
    requireLocalFile(uri, 'Finding redundancy');
    const analysis = await this.analyze(uri);
    if (!analysis.ok) throw new ModelFormatError(analysis.code as ModelFormatError['code'], analysis.error.replace(/^.*?: /, ''), { file: uri.fsPath });
    const statKey = `${await this.statKey(uri)}:${epsilon}`;
    const mem = this.hintCache.get(uri.toString());
    if (mem && mem.key === statKey && (data ? mem.data === data.key : true)) return mem.result;
    const runKey = `${uri.toString()}|${statKey}|${data?.key ?? ''}`;
    const existing = this.running.get(runKey);
    if (existing) return existing;
    const run = this.computeHints(uri, analysis.summary.files, epsilon, statKey, progress, token, data);
    this.running.set(runKey, run);
    try {
      return await run;
    } finally {
      this.running.delete(runKey);
    }
  }

  private async computeHints(
    uri: vscode.Uri,
    files: string[],
    epsilon: number,
    statKey: string,
    progress?: (fraction: number, message: string) => void,
    token?: vscode.CancellationToken,
    data?: { spec: string; key: string },
  ): Promise<HintsResult> {
    const { contentHash } = await import('../core/io/contentHash');
    const hash = await contentHash(files);
    const storedName = `${hash}-${epsilon}${data ? `-${digest(data.key)}` : ''}`;
    const stored = await this.readStored(storedName);
    let result: HintsResult;
    if (stored) result = { ...stored, file: uri.fsPath };
    else {
      const started = Date.now();
      // Number crunching runs in a child process: the extension host stays responsive.
      const args = ['hints', uri.fsPath, '--epsilon', String(epsilon), ...(data ? ['--data', data.spec] : [])];
      result = await runCliJob<HintsResult>(this.extensionPath, args, this.log, progress, token);
      this.log.info(`hints for ${uri.fsPath}${data ? ` on ${data.spec}` : ''}: ${result.hints.length} in ${Date.now() - started} ms`);
      await this.writeStored(storedName, result);
    }
    if (token?.isCancellationRequested) throw new CancelledError();
    this.hintCache.set(uri.toString(), { key: statKey, data: data?.key ?? null, result });
    this.hintsChanged.fire(uri);
    return result;
  }

  private storedUri(name: string): vscode.Uri | undefined {
    return this.storage && vscode.Uri.joinPath(this.storage, 'hints', `${name}.json`);
  }

  private async readStored(name: string): Promise<HintsResult | undefined> {
    const uri = this.storedUri(name);
    if (!uri) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri))) as HintsResult;
    } catch {
      return undefined;
    }
  }

  private async writeStored(name: string, result: HintsResult): Promise<void> {
    const uri = this.storedUri(name);
    if (!uri) return;
    try {
      await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(uri, '..'));
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(result)));
    } catch (e) {
      this.log.debug(`could not store hints: ${String(e)}`);
    }
  }

  /**
   * A weights file (shard, external data) changed: forget the models that read it,
   * or that live in its folder, and only those (a thousand shards written in a row
   * must not re-parse the whole workspace a thousand times).
   */
  invalidateRelated(data: vscode.Uri): void {
    const dir = path.posix.dirname(data.path);
    for (const [key, entry] of this.cache) {
      const uri = vscode.Uri.parse(key);
      if (uri.scheme !== data.scheme || uri.authority !== data.authority) continue;
      const files = entry.settled?.ok ? entry.settled.summary.files : [];
      if (path.posix.dirname(uri.path) === dir || files.includes(data.fsPath) || files.includes(data.path)) this.invalidate(uri);
    }
  }

  invalidate(uri?: vscode.Uri): void {
    if (uri) {
      this.cache.delete(uri.toString());
      this.hintCache.delete(uri.toString());
      this.changed.fire(uri);
    } else {
      this.cache.clear();
      this.hintCache.clear();
    }
  }

  dispose(): void {
    this.changed.dispose();
    this.hintsChanged.dispose();
    this.cache.clear();
    this.hintCache.clear();
    // The HDF5 worker thread would stop by itself when idle; stop it with the extension.
    void import('../core/formats/keras/hdf5Thread').then((m) => m.stopHdf5Reader()).catch(() => undefined);
  }
}

/** How a model is named in messages: its path on disk, or its URI on another file system. */
export function displayName(uri: vscode.Uri): string {
  return uri.scheme === 'file' ? uri.fsPath : uri.toString(true);
}

/** A short, file-name-safe digest of a cache key part. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
