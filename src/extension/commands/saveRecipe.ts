import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFormatError } from '../../core/errors';
import type { Ctx } from '../ctx';
import { workspaceRoot } from '../lab/labData';

/**
 * Save as Recipe (from the Compression Lab's Runs table): the run, and the runs
 * whose outputs it started from, back to the original model, become
 * `.parsimony/recipes/NAME.json`, written atomically and opened. An existing
 * recipe is only replaced after a confirmation. `name` skips the question (for
 * callers that already asked).
 */
export const saveRecipe = (ctx: Ctx) => async (model?: unknown, runId?: unknown, name?: unknown) => {
  if (!(model instanceof vscode.Uri) || typeof runId !== 'string') {
    throw new ModelFormatError('invalid-option', 'Save as Recipe works on a run: use the Save as recipe… button in the Compression Lab’s Runs table.');
  }
  const root = workspaceRoot(model.fsPath);
  const { listRuns } = await import('../../core/evaluate/runs');
  const { recipeFromRuns, recipeNameProblem } = await import('../../core/recipe/fromRuns');
  const { recipeJson } = await import('../../core/recipe/recipe');
  const recipe = recipeFromRuns(await listRuns(root), runId, root);
  const chain = recipe.steps.map((s) => s.method).join(' → ');
  let chosen = typeof name === 'string' ? name : undefined;
  if (chosen === undefined) {
    chosen = await vscode.window.showInputBox({
      title: 'Save as recipe',
      prompt: `${chain} on ${recipe.source}: name of the recipe (.parsimony/recipes/NAME.json)`,
      value: recipe.steps.map((s) => s.method).join('-'),
      validateInput: (v) => recipeNameProblem(v),
    });
    if (chosen === undefined) return undefined;
  }
  const problem = recipeNameProblem(chosen);
  if (problem) throw new ModelFormatError('invalid-option', `recipe name '${chosen}': ${problem}`);
  const file = path.join(root, '.parsimony', 'recipes', `${chosen.trim()}.json`);
  const exists = await fsp.stat(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    const answer = await vscode.window.showWarningMessage(`${path.basename(file)} exists. Replace it with ${chain}?`, { modal: true }, 'Replace');
    if (answer !== 'Replace') return undefined;
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const { writeFileAtomic } = await import('../../core/io/atomicWrite');
  // Without the confirmation, never replace a recipe that appeared meanwhile.
  await writeFileAtomic(file, recipeJson(recipe.source, recipe.steps, recipe.dataset, recipe.seed), exists);
  ctx.log.info(`saved recipe ${file}: ${chain}`);
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
  return file;
};
