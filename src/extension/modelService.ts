import { createHash } from 'node:crypto';
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
  /** Per file: the stat + ε key, the dataset key dead units were measured on (null: weights only), the result. */
  private readonly hintCache = new Map<string, { key: string; data: string | null; result: HintsResult }>();
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

/** A short, file-name-safe digest of a cache key part. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
