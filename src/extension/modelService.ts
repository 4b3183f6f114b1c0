import * as vscode from 'vscode';
import { summarize, type ModelSummary } from '../core/analysis/summary';
import { isModelFormatError, ModelFormatError } from '../core/errors';
import type { Log } from './log';

export type AnalysisResult = { ok: true; summary: ModelSummary } | { ok: false; error: string; code: string };

/**
 * Opens and summarizes model files, cached by path + size + mtime so the tree,
 * hovers and the status bar never parse the same file twice. The core is
 * imported lazily: nothing is parsed at activation.
 */
export class ModelService implements vscode.Disposable {
  private readonly cache = new Map<string, { key: string; result: Promise<AnalysisResult> }>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: Log) {}

  async analyze(uri: vscode.Uri): Promise<AnalysisResult> {
    let key: string;
    try {
      const stat = await vscode.workspace.fs.stat(uri);
      key = `${stat.size}:${stat.mtime}`;
    } catch {
      return { ok: false, code: 'not-found', error: `${uri.fsPath}: file not found` };
    }
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
      const { openModel } = await import('../core/formats/registry');
      const doc = await openModel(uri.fsPath);
      const summary = await summarize(doc);
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

  invalidate(uri?: vscode.Uri): void {
    if (uri) this.cache.delete(uri.toString());
    else this.cache.clear();
    if (uri) this.changed.fire(uri);
  }

  dispose(): void {
    this.changed.dispose();
    this.cache.clear();
  }
}
