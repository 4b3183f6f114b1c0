import * as vscode from 'vscode';
import { layerNameAt } from '../../core/analysis/modelJsonLocate';
import type { Ctx } from '../ctx';
import { hintsMarkdownForLayer, layerMarkdown } from '../tree/tooltips';

/** In a TF.js model.json, hovering a layer's name or class shows its figures. */
export class ModelJsonHoverProvider implements vscode.HoverProvider {
  constructor(private readonly ctx: Ctx) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    if (!this.ctx.config.hoverEnabled) return undefined;
    try {
      const result = await this.ctx.models.analyze(document.uri);
      if (!result.ok) return undefined;
      const layers = result.summary.layers;
      const names = new Set(layers.map((l) => l.name));
      const text = document.getText();
      const hit = layerNameAt(text, document.offsetAt(position), names);
      if (!hit) return undefined;
      const layer = layers.find((l) => l.name === hit.name)!;
      const range = new vscode.Range(document.positionAt(hit.start), document.positionAt(hit.end));
      const hints = this.ctx.models.cachedHints(document.uri)?.hints.filter((h) => h.layer === layer.name) ?? [];
      const markdown = layerMarkdown(layer, result.summary) + (hints.length ? '\n\n' + hintsMarkdownForLayer(hints) : '');
      return new vscode.Hover(new vscode.MarkdownString(markdown), range);
    } catch (e) {
      this.ctx.log.debug(`model.json hover failed: ${String(e)}`);
      return undefined;
    }
  }
}
