import * as vscode from 'vscode';
import { formatBytes, formatCount } from '../core/format';
import type { BudgetDiagnostics } from './budgets';
import type { Ctx } from './ctx';
import { isModelFileName } from './modelFiles';

const NOT_FILES = new Set(['untitled', 'parsimony-report', 'output', 'vscode-settings']);

/** Shows the active model file's total parameters and size; click → Analyze Model. */
export class ModelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('parsimony.model', vscode.StatusBarAlignment.Right, 100);
  private readonly disposables: vscode.Disposable[] = [];
  private generation = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly budgets?: BudgetDiagnostics,
  ) {
    this.item.name = 'Parsimony Model Size';
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor(() => void this.update()),
      vscode.window.tabGroups.onDidChangeTabs(() => void this.update()),
      ctx.models.onDidChange(() => void this.update()),
    );
    if (budgets) this.disposables.push(budgets.onDidChange(() => void this.update()));
    void this.update();
  }

  /** The file shown in the active tab, whether a text editor or a binary/custom one. */
  private activeUri(): vscode.Uri | undefined {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    if (input && typeof input === 'object' && 'uri' in input && input.uri instanceof vscode.Uri) return input.uri;
    return vscode.window.activeTextEditor?.document.uri;
  }

  async update(): Promise<vscode.Uri | undefined> {
    const generation = ++this.generation;
    const uri = this.activeUri();
    // Files of any file system (virtual ones through workspace.fs), not unsaved or generated documents.
    if (!this.ctx.config.statusBarEnabled || !uri || NOT_FILES.has(uri.scheme) || !isModelFileName(uri.path)) {
      this.item.hide();
      return undefined;
    }
    const result = await this.ctx.models.analyze(uri);
    if (generation !== this.generation) return undefined;
    if (result.ok) {
      const s = result.summary;
      this.item.text = `$(symbol-class) ${formatCount(s.totalParams)} params · ${formatBytes(s.bytesOnDisk)}`;
      this.item.tooltip = `${s.format}: ${s.totalParams.toLocaleString('en-US')} parameters, ${formatBytes(s.bytesOnDisk)} on disk, ${formatBytes(s.bytesInMemory)} in memory. Click to analyze.`;
      this.item.backgroundColor = undefined;
      const check = this.budgets?.resultFor(uri.fsPath);
      if (check && !check.ok) {
        // Over budget: the item turns to a warning and says which limit broke.
        this.item.text = `$(warning) ${formatCount(s.totalParams)} params · ${formatBytes(s.bytesOnDisk)} · over budget`;
        this.item.tooltip = `Over budget: ${(check.error ? [check.error] : check.violations.map((v) => v.message)).join('; ')}`;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      }
    } else {
      this.item.text = '$(warning) model unreadable';
      this.item.tooltip = result.error;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    }
    this.item.command = { command: 'parsimony.analyzeModel', title: 'Analyze Model', arguments: [uri] };
    this.item.show();
    return uri;
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
