import * as vscode from 'vscode';
import type { Ctx } from '../ctx';

export const refreshModels = (ctx: Ctx) => async () => {
  ctx.models.invalidate();
  ctx.tree.refresh();
  const files = await ctx.tree.modelFiles();
  await vscode.commands.executeCommand('setContext', 'parsimony.hasModel', files.length > 0);
  return files.length;
};
