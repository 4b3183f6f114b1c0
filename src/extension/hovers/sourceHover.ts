import * as vscode from 'vscode';
import type { ConstructorLanguage } from '../../core/analysis/layerConstructors';
import type { Ctx } from '../ctx';

export const SOURCE_LANGUAGES: ConstructorLanguage[] = ['python', 'typescript', 'javascript', 'typescriptreact', 'javascriptreact'];

/**
 * In Python and TS/JS source, hovering a layer constructor with literal
 * arguments (nn.Linear(784, 512), Conv2D(64, 3), tf.layers.dense({units}))
 * shows its parameter count and what a low-rank or separable version saves.
 */
export class SourceHoverProvider implements vscode.HoverProvider {
  constructor(private readonly ctx: Ctx) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    if (!this.ctx.config.hoverEnabled) return undefined;
    if (!SOURCE_LANGUAGES.includes(document.languageId as ConstructorLanguage)) return undefined;
    try {
      // Cheap pre-check on the line before loading the parser module.
      const line = document.lineAt(position.line).text;
      if (!/[A-Za-z]\w*\s*\(|\(/.test(line)) return undefined;
      const [{ findConstructorAt }, { constructorMarkdown }] = await Promise.all([
        import('../../core/analysis/layerConstructors'),
        import('../../core/analysis/constructorHover'),
      ]);
      const text = document.getText();
      const finding = findConstructorAt(text, document.offsetAt(position), document.languageId as ConstructorLanguage);
      if (!finding) return undefined;
      const range = new vscode.Range(document.positionAt(finding.start), document.positionAt(finding.end));
      return new vscode.Hover(new vscode.MarkdownString(constructorMarkdown(finding)), range);
    } catch (e) {
      this.ctx.log.debug(`source hover failed: ${String(e)}`);
      return undefined;
    }
  }
}
