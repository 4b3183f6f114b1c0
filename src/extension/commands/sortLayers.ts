import * as vscode from 'vscode';
import type { Ctx } from '../ctx';

/** The tree toolbar toggle between model order and size order. */
export const sortLayers = (ctx: Ctx, bySize: boolean) => async () => {
  await ctx.config.setSortBySize(bySize);
  await vscode.commands.executeCommand('setContext', 'parsimony.sortBySize', bySize);
  ctx.tree.refresh();
};
