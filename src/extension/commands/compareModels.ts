import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatSnr } from '../../core/analysis/diff';
import { formatBytes, formatCount } from '../../core/format';
import { diffJob } from '../diffJob';
import { snrDataset } from '../lab/labData';
import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { modelLabel } from '../tree/modelTreeProvider';
import type { ReportProvider } from '../reportProvider';
import { pickModel } from './pickModel';

/** Compare Models: two models layer by layer (params, non-zero, dtype, distinct values, bytes; output SNR on the model's dataset). */
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
  // With a dataset selected for A (Select Dataset), both TF.js layers models get each layer's output SNR.
  const dataset = await snrDataset(a, a.fsPath, b.fsPath);
  const diff = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Parsimony: compare ${path.basename(a.fsPath)} ↔ ${path.basename(b.fsPath)}${dataset ? ` on ${dataset}` : ''}`, cancellable: true },
    (progress, token) => {
      let last = 0;
      return diffJob(ctx, a.fsPath, b.fsPath, dataset, (f, m) => {
        const pct = Math.round(f * 100);
        if (pct > last) progress.report({ increment: pct - last, message: m });
        last = Math.max(last, pct);
      }, token);
    },
  );
  const withSnr = diff.snrData !== null;
  const pct = (s: number | undefined) => (s === undefined ? '—' : `${(s * 100).toFixed(1)}%`);
  const lines = [
    `# Compare: ${path.basename(a.fsPath)} ↔ ${path.basename(b.fsPath)}`,
    '',
    `A: \`${a.fsPath}\`  `,
    `B: \`${b.fsPath}\``,
    '',
    ...(diff.snrData
      ? [
          `Output SNR of B against A on ${diff.snrData.samples} samples of ${diff.snrData.dataset}: 10·log10(Σa² / Σ(a−b)²) per layer.` +
            (diff.snrData.shapeMismatch.length ? ` No SNR where units were removed (the output changed shape): ${diff.snrData.shapeMismatch.join(', ')}.` : ''),
          '',
        ]
      : []),
    `| layer | params A | params B | sparsity A | sparsity B | dtype A | dtype B | distinct A | distinct B | bytes A | bytes B |${withSnr ? ' SNR dB |' : ''}`,
    `|---|--:|--:|--:|--:|---|---|--:|--:|--:|--:|${withSnr ? '--:|' : ''}`,
    ...diff.layers.map(
      (r) =>
        `| ${r.layer.replace(/\|/g, '\\|')} | ${formatCount(r.a?.params)} | ${formatCount(r.b?.params)} | ${pct(r.a?.sparsity)} | ${pct(r.b?.sparsity)} | ${r.a?.dtype ?? '—'} | ${r.b?.dtype ?? '—'} | ${r.a?.distinctValues ?? '—'} | ${r.b?.distinctValues ?? '—'} | ${formatBytes(r.a?.bytes)} | ${formatBytes(r.b?.bytes)} |${withSnr ? ` ${formatSnr(r)} |` : ''}`,
    ),
    `| **total** | ${formatCount(diff.totals.a.params)} | ${formatCount(diff.totals.b.params)} | | | | | | | ${formatBytes(diff.totals.a.bytes)} | ${formatBytes(diff.totals.b.bytes)} |${withSnr ? ' |' : ''}`,
  ];
  const uri = reports.set('compare', b, lines.join('\n'));
  await vscode.commands.executeCommand('markdown.showPreview', uri);
  return diff;
};
