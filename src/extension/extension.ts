import * as vscode from 'vscode';
import { BudgetDiagnostics } from './budgets';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { ModelJsonHoverProvider } from './hovers/modelJsonHover';
import { SOURCE_LANGUAGES, SourceHoverProvider } from './hovers/sourceHover';
import { LabPanel } from './lab/labPanel';
import { ReportProvider } from './reportProvider';
import { ModelStatusBar } from './statusBar';

/** What the extension returns from activate: used by integration tests. */
export interface ParsimonyApi {
  ctx: Ctx;
  statusBar: ModelStatusBar;
  budgets: BudgetDiagnostics;
  activationMs: number;
}

let current: Ctx | undefined;

export function activate(context: vscode.ExtensionContext): ParsimonyApi {
  const started = performance.now();
  try {
    const ctx = new Ctx(context);
    current = ctx;
    context.subscriptions.push(ctx);
    const reports = ctx.own(new ReportProvider());
    ctx.own(vscode.workspace.registerTextDocumentContentProvider(ReportProvider.scheme, reports));
    registerCommands(ctx, reports);
    const budgets = ctx.own(new BudgetDiagnostics(ctx));
    const statusBar = ctx.own(new ModelStatusBar(ctx, budgets));
    ctx.own(
      vscode.window.registerWebviewPanelSerializer(LabPanel.viewType, {
        deserializeWebviewPanel: async (panel, state) => LabPanel.revive(ctx, panel, state),
      }),
    );
    ctx.own({ dispose: () => LabPanel.disposeAll() });
    ctx.own(
      vscode.languages.registerHoverProvider(
        // Any scheme: model.json files on virtual file systems are analyzed through workspace.fs.
        [{ pattern: '**/model*.json' }],
        new ModelJsonHoverProvider(ctx),
      ),
    );
    ctx.own(
      vscode.languages.registerHoverProvider(
        SOURCE_LANGUAGES.map((language) => ({ language })),
        new SourceHoverProvider(ctx),
      ),
    );
    void vscode.commands.executeCommand('setContext', 'parsimony.sortBySize', ctx.config.sortBySize);
    const activationMs = performance.now() - started;
    ctx.log.info(`activated in ${activationMs.toFixed(1)} ms`);
    return { ctx, statusBar, budgets, activationMs };
  } catch (e) {
    // VS Code shows nothing when activation throws: say it ourselves.
    void vscode.window.showErrorMessage(`Parsimony failed to activate: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
}

export function deactivate(): void {
  current?.dispose();
  current = undefined;
}
