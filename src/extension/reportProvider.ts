import * as vscode from 'vscode';

/** Serves generated Markdown reports under the `parsimony-report:` scheme, for the Markdown preview. */
export class ReportProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  static readonly scheme = 'parsimony-report';
  private readonly reports = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.reports.get(uri.toString()) ?? '# Report no longer available\n\nRun the command again.';
  }

  /** Stores a report and returns its URI; the same model reuses its URI so the preview updates. */
  set(kind: string, model: vscode.Uri, markdown: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: ReportProvider.scheme, path: `/${kind}${model.path}.md` });
    this.reports.set(uri.toString(), markdown);
    this.changed.fire(uri);
    return uri;
  }

  dispose(): void {
    this.changed.dispose();
    this.reports.clear();
  }
}
