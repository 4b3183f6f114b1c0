import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes, formatCount } from '../../core/format';
import { runCliJob } from '../cliJob';
import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { datasetFor, pickDataset } from '../datasets';
import { workspaceRoot } from '../lab/labData';
import { pickModel } from './pickModel';

interface EvaluateJson {
  accuracy: number | null;
  agreement: number | null;
  samples: number | null;
  params: number;
  bytesOnDisk: number;
  latencyMs: { batch1: number | null };
  backend: string | null;
}

/** Evaluate Model: accuracy, sizes and latency on the model's dataset; the run is recorded for the Lab. */
export const evaluateModel = (ctx: Ctx) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (!uri) return undefined;
  requireLocalFile(uri, 'Evaluating');
  const data = (await datasetFor(uri)) ?? (await pickDataset(uri));
  if (!data) return undefined;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Parsimony: evaluating ${path.basename(uri.fsPath)} on ${data}`, cancellable: true },
    (progress, token) =>
      runCliJob<EvaluateJson>(ctx.extension.extensionPath, ['evaluate', uri.fsPath, '--data', data, '--workspace', workspaceRoot(uri.fsPath)], ctx.log, (f, m) => progress.report({ message: `${Math.round(f * 100)}% ${m}` }), token, workspaceRoot(uri.fsPath)),
  );
  const acc = result.accuracy === null ? 'no labels' : `accuracy ${(result.accuracy * 100).toFixed(2)}%`;
  const message = `${path.basename(uri.fsPath)}: ${acc} on ${result.samples ?? 0} samples · ${formatCount(result.params)} params · ${formatBytes(result.bytesOnDisk)} · ${result.latencyMs.batch1?.toFixed(2) ?? '—'} ms/sample (${result.backend ?? 'no runtime'})`;
  ctx.log.info(`evaluate: ${message}`);
  void vscode.window.showInformationMessage(message, 'Open Compression Lab').then((c) => {
    if (c) void vscode.commands.executeCommand('parsimony.openLab', uri);
  });
  return result;
};

/** Run Sweep: a method over a range of settings, each point evaluated, charted in the Lab. */
export const runSweep = (ctx: Ctx) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (!uri) return undefined;
  requireLocalFile(uri, 'A sweep');
  const method = await vscode.window.showQuickPick(['prune', 'quantize', 'cluster', 'low-rank'], { title: 'Sweep which method?' });
  if (!method) return undefined;
  const data = (await datasetFor(uri)) ?? (await pickDataset(uri));
  if (!data) return undefined;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Parsimony: ${method} sweep of ${path.basename(uri.fsPath)}`, cancellable: true },
    (progress, token) =>
      runCliJob<{ points: unknown[] }>(ctx.extension.extensionPath, ['sweep', uri.fsPath, '--method', method, '--data', data, '--workspace', workspaceRoot(uri.fsPath)], ctx.log, (f, m) => progress.report({ message: `${Math.round(f * 100)}% ${m}` }), token, workspaceRoot(uri.fsPath)),
  );
  ctx.log.info(`sweep ${method} of ${uri.fsPath}: ${result.points.length} points`);
  await vscode.commands.executeCommand('parsimony.openLab', uri);
  return result;
};

export const selectDataset = (ctx: Ctx) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (uri) requireLocalFile(uri, 'Choosing a dataset');
  return uri ? pickDataset(uri) : undefined;
};
