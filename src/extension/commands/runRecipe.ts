import * as path from 'node:path';
import * as vscode from 'vscode';
import { runCliJob } from '../cliJob';
import type { Ctx } from '../ctx';
import { findLocalFiles } from '../modelFiles';
import { requireLocalFile } from '../localOnly';

interface RecipeJson {
  output: string;
  steps: { method: string; output: string }[];
}

/** Run Recipe: pick a `.parsimony/recipes/*.json`, run its steps with progress and cancel. */
export const runRecipe = (ctx: Ctx) => async (arg?: unknown) => {
  let recipe = arg instanceof vscode.Uri ? arg : undefined;
  if (!recipe) {
    const found = await findLocalFiles('**/.parsimony/recipes/*.json', '**/node_modules/**', 200);
    if (!found.length) {
      void vscode.window.showInformationMessage('No recipes found: save one from the Compression Lab or write .parsimony/recipes/NAME.json.');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      found.map((uri) => ({ label: path.basename(uri.fsPath, '.json'), description: vscode.workspace.asRelativePath(uri), uri })),
      { title: 'Run a compression recipe' },
    );
    recipe = picked?.uri;
  }
  if (!recipe) return undefined;
  requireLocalFile(recipe, 'Running a recipe');
  const workspace = path.dirname(path.dirname(path.dirname(recipe.fsPath)));
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Parsimony: recipe ${path.basename(recipe.fsPath, '.json')}`, cancellable: true },
    (progress, token) => {
      let last = 0;
      return runCliJob<RecipeJson>(ctx.extension.extensionPath, ['run', recipe.fsPath, '--workspace', workspace], ctx.log, (f, m) => {
        const pct = Math.round(f * 100);
        if (pct > last) progress.report({ increment: pct - last, message: m });
        last = Math.max(last, pct);
      }, token);
    },
  );
  ctx.tree.refresh();
  void vscode.window.showInformationMessage(`Recipe done: ${result.steps.map((s) => s.method).join(' → ')} → ${path.basename(result.output)}`, 'Open').then((c) => {
    if (c === 'Open') void vscode.commands.executeCommand('parsimony.analyzeModel', vscode.Uri.file(result.output));
  });
  return result;
};
