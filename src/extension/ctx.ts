import * as vscode from 'vscode';
import { Config } from './config';
import { Log } from './log';
import { ModelService } from './modelService';
import { ModelTreeProvider } from './tree/modelTreeProvider';

/** Owns everything the extension creates; disposing it tears all of it down. */
export class Ctx implements vscode.Disposable {
  readonly config = new Config();
  readonly log = new Log();
  readonly models: ModelService;
  readonly tree: ModelTreeProvider;
  readonly treeView: vscode.TreeView<import('./tree/modelTreeProvider').ModelTreeElement>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly extension: vscode.ExtensionContext) {
    this.own(this.log);
    this.log.level = this.config.logLevel;
    this.models = this.own(new ModelService(this.log, extension.extensionPath, extension.globalStorageUri, this.config));
    this.tree = this.own(new ModelTreeProvider(this.models, this.config));
    this.treeView = this.own(vscode.window.createTreeView('parsimony.models', { treeDataProvider: this.tree, showCollapseAll: true }));
    this.own(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('parsimony.logLevel')) this.log.level = this.config.logLevel;
      }),
    );
  }

  own<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) {
      try {
        d.dispose();
      } catch (e) {
        console.error('Parsimony: dispose failed', e);
      }
    }
  }
}
