import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import type { ReportProvider } from '../reportProvider';
import { analyzeModel } from './analyzeModel';
import { compareModels } from './compareModels';
import { compressModel } from './compressModel';
import { evaluateModel, runSweep, selectDataset } from './evaluateModel';
import { openLab } from './openLab';
import { refreshModels } from './refreshModels';
import { runRecipe } from './runRecipe';
import { runCommand } from './runCommand';
import { saveRecipe } from './saveRecipe';
import { showHints } from './showHints';
import { sortLayers } from './sortLayers';

/** The command table: id → handler factory. */
export function registerCommands(ctx: Ctx, reports: ReportProvider): void {
  const table: Record<string, (...args: never[]) => Promise<unknown>> = {
    'parsimony.analyzeModel': analyzeModel(ctx, reports),
    'parsimony.refreshModels': refreshModels(ctx),
    'parsimony.compressModel': compressModel(ctx),
    'parsimony.compressLayer': compressModel(ctx),
    'parsimony.openLab': openLab(ctx),
    'parsimony.evaluateModel': evaluateModel(ctx),
    'parsimony.runSweep': runSweep(ctx),
    'parsimony.selectDataset': selectDataset(ctx),
    'parsimony.runRecipe': runRecipe(ctx),
    'parsimony.saveRecipe': saveRecipe(ctx),
    'parsimony.compareModels': compareModels(ctx, reports),
    'parsimony.showHints': showHints(ctx, reports),
    'parsimony.sortBySize': sortLayers(ctx, true),
    'parsimony.sortByOrder': sortLayers(ctx, false),
  };
  for (const [id, handler] of Object.entries(table)) {
    ctx.own(vscode.commands.registerCommand(id, runCommand(ctx, id, handler as (...args: unknown[]) => Promise<unknown>)));
  }
}
