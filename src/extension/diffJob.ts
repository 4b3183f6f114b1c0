import * as vscode from 'vscode';
import type { ModelDiff } from '../core/analysis/diff';
import { runCliJob } from './cliJob';
import type { Ctx } from './ctx';
import { workspaceRoot } from './lab/labData';

/**
 * Two models layer by layer. Without a dataset the figures come from the files
 * (read in the extension host); with one, `parsimony diff --data` runs the
 * samples through both models in a CLI child (per-layer output SNR), with
 * progress and cancel.
 */
export async function diffJob(
  ctx: Ctx,
  a: string,
  b: string,
  dataset: string | undefined,
  onProgress?: (fraction: number, message: string) => void,
  token?: vscode.CancellationToken,
): Promise<ModelDiff> {
  if (!dataset) {
    const { diffModels } = await import('../core/analysis/diff');
    return diffModels(a, b);
  }
  const root = workspaceRoot(a);
  return runCliJob<ModelDiff>(ctx.extension.extensionPath, ['diff', a, b, '--data', dataset], ctx.log, onProgress, token, root);
}
