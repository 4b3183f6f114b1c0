import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes } from '../../core/format';
import { ModelFormatError } from '../../core/errors';
import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { datasetFor, resolveDataset } from '../datasets';
import type { ReportProvider } from '../reportProvider';
import { pickModel } from './pickModel';

/**
 * Show Redundancy Hints: computes hints with progress and cancel, then a ranked
 * report. When a dataset is selected for the model (and the workspace is
 * trusted: the model is run), dead units are measured on it; the tree keeps
 * whatever was computed last, and computes weights-only hints on its own.
 */
export const showHints = (ctx: Ctx, reports: ReportProvider) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (!uri) return undefined;
  requireLocalFile(uri, 'Finding redundancy');
  const analysis = await ctx.models.analyze(uri);
  if (!analysis.ok) throw new ModelFormatError(analysis.code as ModelFormatError['code'], analysis.error.replace(/^.*?: /, ''), { file: uri.fsPath });
  const epsilon = ctx.config.hintsEpsilon;
  const spec = vscode.workspace.isTrusted ? await datasetFor(uri) : undefined;
  const data = spec ? await resolveDataset(uri, spec) : undefined;
  const result = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `Parsimony: finding redundancy in ${vscode.workspace.asRelativePath(uri)}${spec ? ` (dead units on ${spec})` : ''}`,
      cancellable: true,
    },
    (progress, token) => {
      let last = 0;
      return ctx.models.hints(
        uri,
        epsilon,
        (fraction, message) => {
          const pct = Math.round(fraction * 100);
          if (pct > last) progress.report({ increment: pct - last, message });
          last = Math.max(last, pct);
        },
        token,
        data,
      );
    },
  );
  const { hintsMarkdown } = await import('../../core/analysis/hintsReport');
  const reportUri = reports.set('hints', uri, hintsMarkdown(result, analysis.summary, epsilon, undefined, spec ? undefined : 'Select a dataset for the model (Parsimony: Select Dataset) to measure dead units on data.'));
  await vscode.commands.executeCommand('markdown.showPreview', reportUri);
  ctx.tree.refresh();
  const { actionForHint } = await import('../../core/analysis/hintActions');
  const actions = result.hints.map((h) => ({ h, a: actionForHint(h, analysis.summary.format) })).filter((x) => x.a);
  if (actions.length) {
    void vscode.window
      .showInformationMessage(`${result.hints.length} redundancy hints for ${path.basename(uri.fsPath)}.`, 'Apply a Hint…')
      .then(async (choice) => {
        if (choice !== 'Apply a Hint…') return;
        const picked = await vscode.window.showQuickPick(
          actions.map(({ h, a }) => ({ label: a!.label, description: `saves ${formatBytes(h.savingsBytes)}, error ${(h.error * 100).toFixed(2)}%`, detail: h.message, action: a! })),
          { title: 'Start the compression a hint suggests' },
        );
        if (picked) await vscode.commands.executeCommand('parsimony.compressModel', { uri, method: picked.action.method, args: picked.action.args, layers: picked.action.layers });
      });
  }
  return result;
};
