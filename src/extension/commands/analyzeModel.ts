import * as vscode from 'vscode';
import { ModelFormatError } from '../../core/errors';
import type { Ctx } from '../ctx';
import { displayName } from '../modelService';
import type { ReportProvider } from '../reportProvider';
import { pickModel } from './pickModel';

/** Analyze Model: a Markdown report of every layer, opened in the preview. */
export const analyzeModel = (ctx: Ctx, reports: ReportProvider) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (!uri) return undefined;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `Parsimony: analyzing ${vscode.workspace.asRelativePath(uri)}` },
    () => ctx.models.analyze(uri),
  );
  if (!result.ok) throw new ModelFormatError(result.code as ModelFormatError['code'], result.error.replace(/^.*?: /, ''), { file: displayName(uri) });
  const { analysisMarkdown } = await import('../../core/analysis/report');
  const reportUri = reports.set('analysis', uri, analysisMarkdown(result.summary));
  await vscode.commands.executeCommand('markdown.showPreview', reportUri);
  ctx.log.info(`analyzed ${displayName(uri)}: ${result.summary.totalParams} params in ${result.summary.layers.length} layers`);
  return result.summary;
};
