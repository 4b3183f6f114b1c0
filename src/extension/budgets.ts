import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CheckResult, ModelCheck } from '../core/budget/check';
import { runCliJob } from './cliJob';
import type { Ctx } from './ctx';
import { findLocalFiles } from './modelFiles';

const BUDGET_GLOB = '**/.parsimony/budget.json';

/**
 * Budget violations in the Problems panel (on the budget file and on each model
 * file), a warning in the status bar for the active model, and a quick fix that
 * starts the cheapest compression meeting the size limits.
 */
export class BudgetDiagnostics implements vscode.Disposable, vscode.CodeActionProvider {
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('parsimony-budget');
  private readonly disposables: vscode.Disposable[] = [this.diagnostics];
  private readonly results = new Map<string, ModelCheck>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  /** Refreshes started, and the one whose results are in place: results only ever move forward. */
  private started = 0;
  private applied = 0;

  constructor(private readonly ctx: Ctx) {
    const watcher = vscode.workspace.createFileSystemWatcher(BUDGET_GLOB);
    const schedule = () => this.schedule();
    this.disposables.push(
      watcher,
      watcher.onDidCreate(schedule),
      watcher.onDidChange(schedule),
      watcher.onDidDelete(schedule),
      ctx.models.onDidChange(schedule),
      vscode.languages.registerCodeActionsProvider({ pattern: BUDGET_GLOB }, this, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
      this.changed,
    );
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), 500);
  }

  /**
   * Re-checks every budget file in the workspace. Returns the results (for tests).
   * The new results are collected aside and replace the old ones only when every
   * check is done (and this refresh was not superseded): meanwhile the status bar,
   * the quick fixes and the Problems panel keep the last complete results instead
   * of flickering to "no budget". A refresh whose checks were cancelled by a newer
   * one changes nothing.
   */
  async refresh(): Promise<CheckResult[]> {
    this.running?.cancel();
    const source = new vscode.CancellationTokenSource();
    this.running = source;
    const generation = ++this.started;
    const files = await findLocalFiles(BUDGET_GLOB, '**/node_modules/**', 20);
    const results: CheckResult[] = [];
    const checks = new Map<string, ModelCheck>();
    const diagnostics = new Map<string, { uri: vscode.Uri; list: vscode.Diagnostic[] }>();
    for (const budget of files) {
      const workspace = path.dirname(path.dirname(budget.fsPath));
      try {
        const result = await runCliJob<CheckResult>(this.ctx.extension.extensionPath, ['check', '--budget', budget.fsPath, '--workspace', workspace], this.ctx.log, undefined, source.token);
        results.push(result);
        await this.collect(budget, result, checks, diagnostics);
      } catch (e) {
        if (source.token.isCancellationRequested) return results;
        const message = e instanceof Error ? e.message : String(e);
        diagnostics.set(budget.toString(), { uri: budget, list: [new vscode.Diagnostic(new vscode.Range(0, 0, 0, 1), `Parsimony budget: ${message}`, vscode.DiagnosticSeverity.Error)] });
      }
    }
    // Every check finished. A newer refresh may have started meanwhile (it cancels this one's jobs, not
    // a finished one): these results are still the newest complete ones unless a newer refresh has already
    // put its own in place.
    if (generation < this.applied) return results;
    this.applied = generation;
    this.results.clear();
    for (const [file, check] of checks) this.results.set(file, check);
    this.diagnostics.clear();
    for (const { uri, list } of diagnostics.values()) this.diagnostics.set(uri, list);
    this.changed.fire();
    return results;
  }

  private async collect(
    budget: vscode.Uri,
    result: CheckResult,
    checks: Map<string, ModelCheck>,
    diagnostics: Map<string, { uri: vscode.Uri; list: vscode.Diagnostic[] }>,
  ): Promise<void> {
    let text = '';
    try {
      text = new TextDecoder().decode(await vscode.workspace.fs.readFile(budget));
    } catch {
      // deleted meanwhile
    }
    const onBudget: vscode.Diagnostic[] = [];
    for (const m of result.models) {
      checks.set(m.file, m);
      if (m.ok) continue;
      const at = text.indexOf(JSON.stringify(m.model));
      const start = at >= 0 ? positionAt(text, at) : new vscode.Position(0, 0);
      const range = new vscode.Range(start, start.translate(0, Math.max(1, JSON.stringify(m.model).length)));
      const problems = m.error ? [m.error] : m.violations.map((v) => v.message);
      for (const p of problems) {
        const d = new vscode.Diagnostic(range, `${m.model}: ${p}`, vscode.DiagnosticSeverity.Warning);
        d.source = 'parsimony';
        d.code = m.violations[0]?.key ?? 'unreadable';
        onBudget.push(d);
      }
      const modelDiagnostics = problems.map((p) => {
        const d = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), `Over budget (${path.basename(budget.fsPath)}): ${p}`, vscode.DiagnosticSeverity.Warning);
        d.source = 'parsimony';
        return d;
      });
      const modelUri = vscode.Uri.file(m.file);
      diagnostics.set(modelUri.toString(), { uri: modelUri, list: modelDiagnostics });
    }
    diagnostics.set(budget.toString(), { uri: budget, list: onBudget });
  }

  /** The check result for a model file, if a budget covers it. */
  resultFor(file: string): ModelCheck | undefined {
    return this.results.get(file);
  }

  async provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): Promise<vscode.CodeAction[]> {
    const actions: vscode.CodeAction[] = [];
    for (const d of context.diagnostics) {
      if (d.source !== 'parsimony') continue;
      const model = /^(.*?): /.exec(d.message)?.[1];
      if (!model) continue;
      const file = path.resolve(path.dirname(path.dirname(document.uri.fsPath)), model);
      const check = this.results.get(file);
      if (!check?.measured) continue;
      const analysis = await this.ctx.models.analyze(vscode.Uri.file(file));
      if (!analysis.ok) continue;
      const { fixesFor } = await import('../core/budget/suggest');
      const [fix] = await fixesFor(file, check.budget, check.measured, this.ctx.models.cachedHints(vscode.Uri.file(file))?.hints ?? []);
      if (!fix) continue;
      const action = new vscode.CodeAction(`Parsimony: ${fix.label} to meet the budget`, vscode.CodeActionKind.QuickFix);
      action.diagnostics = [d];
      action.isPreferred = true;
      action.command = { command: 'parsimony.compressModel', title: fix.label, arguments: [{ uri: vscode.Uri.file(file), method: fix.method, args: fix.args }] };
      actions.push(action);
    }
    return actions;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.running?.cancel();
    for (const d of this.disposables) d.dispose();
  }
}

function positionAt(text: string, offset: number): vscode.Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return new vscode.Position(line, offset - (before.lastIndexOf('\n') + 1));
}
