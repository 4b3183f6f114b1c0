import * as vscode from 'vscode';
import type { Hint } from '../../core/analysis/hints';
import type { LayerSummary, ModelSummary } from '../../core/analysis/summary';
import { formatBytes, formatCount, formatPercent } from '../../core/format';

/** Markdown shared by tree tooltips and hovers, so both say the same thing. */
export function layerMarkdown(layer: LayerSummary, model: ModelSummary): string {
  const rows = [
    `**${escape(layer.name)}** · \`${escape(layer.type)}\``,
    '',
    '| | |',
    '|---|---|',
    `| parameters | ${layer.params.toLocaleString('en-US')} (${formatPercent(layer.share)} of model) |`,
  ];
  if (layer.trainableParams !== null && layer.trainableParams !== layer.params) rows.push(`| trainable | ${layer.trainableParams.toLocaleString('en-US')} |`);
  rows.push(`| on disk | ${formatBytes(layer.bytes)} |`);
  rows.push(`| in memory | ${formatBytes(layer.memoryBytes)} |`);
  rows.push(`| MACs / sample | ${layer.macs === null ? 'unknown' : layer.macs.toLocaleString('en-US')} |`);
  if (layer.outputShape) rows.push(`| output | \`[${layer.outputShape.map((d) => (d === null ? '?' : d)).join(', ')}]\` |`);
  if (layer.tensors.length) {
    rows.push('', '| tensor | shape | dtype | bytes |', '|---|---|---|---|');
    for (const t of layer.tensors) rows.push(`| ${escape(t.name)} | \`[${t.shape.join(', ')}]\` | ${t.dtype} | ${formatBytes(t.bytes)} |`);
  }
  void model;
  return rows.join('\n');
}

export function modelMarkdown(s: ModelSummary): string {
  const lines = [
    `**${escape(s.file.split(/[\\/]/).slice(-2).join('/'))}** · ${s.format}`,
    '',
    '| | |',
    '|---|---|',
    `| parameters | ${s.totalParams.toLocaleString('en-US')} |`,
  ];
  if (s.trainableParams !== null && s.trainableParams !== s.totalParams) lines.push(`| trainable | ${s.trainableParams.toLocaleString('en-US')} |`);
  lines.push(`| on disk | ${formatBytes(s.bytesOnDisk)} |`);
  lines.push(`| in memory | ${formatBytes(s.bytesInMemory)} |`);
  lines.push(`| MACs / sample | ${s.macs === null ? 'unknown' : formatCount(s.macs)} |`);
  lines.push(`| layers | ${s.layers.length} |`);
  if (s.largest.length) lines.push('', 'Largest: ' + s.largest.slice(0, 3).map((l) => `${escape(l.name)} (${formatPercent(l.share)})`).join(', '));
  for (const w of s.warnings.slice(0, 5)) lines.push('', `⚠ ${escape(w)}`);
  return lines.join('\n');
}

export function modelTooltip(s: ModelSummary): vscode.MarkdownString {
  return new vscode.MarkdownString(modelMarkdown(s));
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]<>|#]/g, (c) => `\\${c}`);
}

/** The hints of one layer as a Markdown table (tree tooltip and hovers). */
export function hintsMarkdownForLayer(hints: readonly Hint[]): string {
  const rows = ['**Redundancy hints**', '', '| kind | saves | error | finding |', '|---|--:|--:|---|'];
  for (const h of [...hints].sort((a, b) => b.savingsBytes - a.savingsBytes)) {
    rows.push(`| ${h.kind} | ${h.savingsParams ? `${formatCount(h.savingsParams)} params, ` : ''}${formatBytes(h.savingsBytes)} | ${(h.error * 100).toFixed(2)}% | ${escape(h.message)} |`);
  }
  return rows.join('\n');
}
