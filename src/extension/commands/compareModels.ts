import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes, formatCount } from '../../core/format';
import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { modelLabel } from '../tree/modelTreeProvider';
import type { ReportProvider } from '../reportProvider';
import { pickModel } from './pickModel';

/** Compare Models: two models layer by layer (params, non-zero, dtype, distinct values, bytes). */
export const compareModels = (ctx: Ctx, reports: ReportProvider) => async (arg?: unknown, second?: unknown) => {
  const a = await pickModel(ctx, arg);
  if (!a) return undefined;
  requireLocalFile(a, 'Comparing models');
  let b = second instanceof vscode.Uri ? second : Array.isArray(second) && second[1] instanceof vscode.Uri ? (second[1] as vscode.Uri) : undefined;
  if (!b) {
    const files = (await ctx.tree.modelFiles()).filter((f) => f.fsPath !== a.fsPath);
    const picked = await vscode.window.showQuickPick(files.map((uri) => ({ label: modelLabel(uri), description: vscode.workspace.asRelativePath(uri), uri })), { title: `Compare ${path.basename(a.fsPath)} with…` });
    b = picked?.uri;
  }
  if (!b) return undefined;
  requireLocalFile(b, 'Comparing models');
  const { diffModels } = await import('../../core/analysis/diff');
  const diff = await diffModels(a.fsPath, b.fsPath);
  const pct = (s: number | undefined) => (s === undefined ? '—' : `${(s * 100).toFixed(1)}%`);
  const lines = [
    `# Compare: ${path.basename(a.fsPath)} ↔ ${path.basename(b.fsPath)}`,
    '',
    `A: \`${a.fsPath}\`  `,
    `B: \`${b.fsPath}\``,
    '',
    '| layer | params A | params B | sparsity A | sparsity B | dtype A | dtype B | distinct A | distinct B | bytes A | bytes B |',
    '|---|--:|--:|--:|--:|---|---|--:|--:|--:|--:|',
    ...diff.layers.map(
      (r) =>
        `| ${r.layer.replace(/\|/g, '\\|')} | ${formatCount(r.a?.params)} | ${formatCount(r.b?.params)} | ${pct(r.a?.sparsity)} | ${pct(r.b?.sparsity)} | ${r.a?.dtype ?? '—'} | ${r.b?.dtype ?? '—'} | ${r.a?.distinctValues ?? '—'} | ${r.b?.distinctValues ?? '—'} | ${formatBytes(r.a?.bytes)} | ${formatBytes(r.b?.bytes)} |`,
    ),
    `| **total** | ${formatCount(diff.totals.a.params)} | ${formatCount(diff.totals.b.params)} | | | | | | | ${formatBytes(diff.totals.a.bytes)} | ${formatBytes(diff.totals.b.bytes)} |`,
  ];
  const uri = reports.set('compare', b, lines.join('\n'));
  await vscode.commands.executeCommand('markdown.showPreview', uri);
  return diff;
};
