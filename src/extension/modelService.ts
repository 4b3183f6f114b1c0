import * as vscode from 'vscode';
import type { HintsResult } from '../core/analysis/hints';
import { summarize, type ModelSummary } from '../core/analysis/summary';
import { CancelledError, isModelFormatError, ModelFormatError } from '../core/errors';
import { runCliJob } from './cliJob';
import type { Log } from './log';

export type AnalysisResult = { ok: true; summary: ModelSummary } | { ok: false; error: string; code: string };

/**
 * HDF5 (Keras) files are read in a child process with a time limit: a corrupt
 * HDF5 heap can make the C library inside h5wasm loop forever, and the extension
 * host must never hang on a file.
 */
const ISOLATED = /\.(h5|hdf5|keras)$/i;
const ISOLATED_TIMEOUT_MS = 60_000;

/**
 * Opens and summarizes model files, cached by path + size + mtime so the tree,
 * hovers and the status bar never parse the same file twice. Hints are cached
 * by content hash, in memory and in the extension's storage, so they survive
 * reloads. The core is imported lazily: nothing is parsed at activation.
 */
export class ModelService implements vscode.Disposable {
  private readonly cache = new Map<string, { key: string; result: Promise<AnalysisResult> }>();
  private readonly hintCache = new Map<string, { key: string; result: HintsResult }>();
  private readonly running = new Map<string, Promise<HintsResult>>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly hintsChanged = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidComputeHints = this.hintsChanged.event;

  constructor(
    private readonly log: Log,
    private readonly extensionPath: string,
    private readonly storage?: vscode.Uri,
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
    if (key === undefined) return { ok: false, code: 'not-found', error: `${uri.fsPath}: file not found` };
    const cached = this.cache.get(uri.toString());
    if (cached && cached.key === key) return cached.result;
    const result = this.load(uri);
    this.cache.set(uri.toString(), { key, result });
    return result;
  }

  private async load(uri: vscode.Uri): Promise<AnalysisResult> {
    const started = Date.now();
    try {
      if (uri.scheme !== 'file') {
        throw new ModelFormatError('unsupported-format', `only local files can be analyzed for now (scheme '${uri.scheme}')`);
      }
      let summary: ModelSummary;
      if (ISOLATED.test(uri.fsPath)) summary = await this.analyzeIsolated(uri);
      else {
        const { openModel } = await import('../core/formats/registry');
        summary = await summarize(await openModel(uri.fsPath));
      }
      this.log.debug(`analyzed ${uri.fsPath} in ${Date.now() - started} ms`);
      return { ok: true, summary };
    } catch (e) {
      if (isModelFormatError(e)) {
        e.file ??= uri.fsPath;
        this.log.warn(`cannot read ${e.describe()} [${e.code}]`);
        return { ok: false, code: e.code, error: e.describe() };
      }
      this.log.error(`internal error analyzing ${uri.fsPath}`, e);
      return { ok: false, code: 'internal', error: `${uri.fsPath}: internal error: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  private async analyzeIsolated(uri: vscode.Uri): Promise<ModelSummary> {
    const source = new vscode.CancellationTokenSource();
    const timer = setTimeout(() => source.cancel(), ISOLATED_TIMEOUT_MS);
    try {
      const json = await runCliJob<AnalyzeJson>(this.extensionPath, ['analyze', uri.fsPath], this.log, undefined, source.token);
      return fromAnalyzeJson(json);
    } catch (e) {
      if (source.token.isCancellationRequested) {
        throw new ModelFormatError('not-a-model', `reading the file did not finish within ${ISOLATED_TIMEOUT_MS / 1000} s (corrupt HDF5?)`, { file: uri.fsPath });
      }
      throw e;
    } finally {
      clearTimeout(timer);
      source.dispose();
    }
  }

  /** Hints already computed for the file as it is now (no work started). */
  cachedHints(uri: vscode.Uri): HintsResult | undefined {
    return this.hintCache.get(uri.toString())?.result;
  }

  /** Computes (or returns cached) hints; progress and cancellation come from the caller. */
  async hints(
    uri: vscode.Uri,
    epsilon: number,
    progress?: (fraction: number, message: string) => void,
    token?: vscode.CancellationToken,
  ): Promise<HintsResult> {
    const analysis = await this.analyze(uri);
    if (!analysis.ok) throw new ModelFormatError(analysis.code as ModelFormatError['code'], analysis.error.replace(/^.*?: /, ''), { file: uri.fsPath });
    const statKey = `${await this.statKey(uri)}:${epsilon}`;
    const mem = this.hintCache.get(uri.toString());
    if (mem && mem.key === statKey) return mem.result;
    const runKey = `${uri.toString()}|${statKey}`;
    const existing = this.running.get(runKey);
    if (existing) return existing;
    const run = this.computeHints(uri, analysis.summary.files, epsilon, statKey, progress, token);
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
  ): Promise<HintsResult> {
    const { contentHash } = await import('../core/io/contentHash');
    const hash = await contentHash(files);
    const stored = await this.readStored(hash, epsilon);
    let result: HintsResult;
    if (stored) result = { ...stored, file: uri.fsPath };
    else {
      const started = Date.now();
      // Number crunching runs in a child process: the extension host stays responsive.
      result = await runCliJob<HintsResult>(this.extensionPath, ['hints', uri.fsPath, '--epsilon', String(epsilon)], this.log, progress, token);
      this.log.info(`hints for ${uri.fsPath}: ${result.hints.length} in ${Date.now() - started} ms`);
      await this.writeStored(hash, epsilon, result);
    }
    if (token?.isCancellationRequested) throw new CancelledError();
    this.hintCache.set(uri.toString(), { key: statKey, result });
    this.hintsChanged.fire(uri);
    return result;
  }

  private storedUri(hash: string, epsilon: number): vscode.Uri | undefined {
    return this.storage && vscode.Uri.joinPath(this.storage, 'hints', `${hash}-${epsilon}.json`);
  }

  private async readStored(hash: string, epsilon: number): Promise<HintsResult | undefined> {
    const uri = this.storedUri(hash, epsilon);
    if (!uri) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri))) as HintsResult;
    } catch {
      return undefined;
    }
  }

  private async writeStored(hash: string, epsilon: number, result: HintsResult): Promise<void> {
    const uri = this.storedUri(hash, epsilon);
    if (!uri) return;
    try {
      await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(uri, '..'));
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(result)));
    } catch (e) {
      this.log.debug(`could not store hints: ${String(e)}`);
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
  }
}

/** The `parsimony analyze --json` object (see src/cli/commands/analyze.ts toJson). */
type AnalyzeJson = Omit<ModelSummary, 'layers'> & { layers: (Omit<ModelSummary['layers'][number], 'memoryBytes'> & { bytesInMemory: number })[] };

function fromAnalyzeJson(json: AnalyzeJson): ModelSummary {
  return { ...json, layers: json.layers.map(({ bytesInMemory, ...l }) => ({ ...l, memoryBytes: bytesInMemory })) };
}
