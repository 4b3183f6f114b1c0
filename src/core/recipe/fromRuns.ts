import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import type { RunRecord } from '../evaluate/runs';
import { isTrainMethod } from '../train/types';
import { optionKeysFor, type Recipe, type RecipeMethod, type RecipeStep, type RecipeStepOptions } from './recipe';

/** A recipe name is a plain file name: letters, digits, '.', '_' and '-', not starting with a dot. */
export function recipeNameProblem(name: string): string | undefined {
  const n = name.trim();
  if (!n) return 'give the recipe a name';
  if (n.length > 100) return 'at most 100 characters';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n)) return "use letters, digits, '.', '_' and '-' (no spaces or slashes), starting with a letter or digit";
  if (/\.json$/i.test(n)) return 'leave out ".json": it is added';
  return undefined;
}

/**
 * A recipe from a compression run and the runs it builds on: while the run's
 * source is the output of an earlier compression run (same file, same content
 * hash), that run's steps come first. The recipe's source is the original
 * model at the start of the chain; training steps take the recipe's dataset
 * (their own `data` when it differs).
 */
export function recipeFromRuns(records: readonly RunRecord[], runId: string, workspace: string): Omit<Recipe, 'name'> {
  const byId = new Map(records.map((r) => [r.id, r]));
  const last = byId.get(runId);
  if (!last) throw new ModelFormatError('not-found', `no run record '${runId}'`);
  if (last.kind !== 'compress' || !last.output) throw new ModelFormatError('invalid-option', `run ${runId} is ${last.kind === 'compress' ? 'a compression without an output' : `a${last.kind === 'evaluate' ? 'n' : ''} ${last.kind}`}: only compressions can be saved as recipes`);
  const chain: RunRecord[] = [last];
  for (;;) {
    const head = chain[0]!;
    // The latest earlier compression that wrote exactly this source.
    const parent = records
      .filter((r) => r.kind === 'compress' && r.output === head.model && r.outputHash !== null && r.outputHash === head.modelHash && r.started <= head.started && !chain.includes(r))
      .at(-1);
    if (!parent) break;
    chain.unshift(parent);
  }
  const steps: RecipeStep[] = [];
  const datasets: string[] = [];
  for (const r of chain) {
    const recorded = (r.options as { steps?: unknown }).steps;
    if (!isTrainMethod(r.method) && Array.isArray(recorded) && recorded.length > 0) {
      for (const s of recorded as { method: RecipeMethod; options: RecipeStepOptions }[]) steps.push({ method: s.method, options: clean(s.method, s.options, workspace) });
    } else if (isTrainMethod(r.method)) {
      const options = clean(r.method, r.options as RecipeStepOptions, workspace);
      const data = (r.options as { data?: unknown }).data;
      if (typeof data === 'string') datasets.push(data);
      steps.push({ method: r.method, options: { ...options, ...(typeof data === 'string' ? { data } : {}) } });
    } else {
      throw new ModelFormatError('invalid-option', `run ${r.id} (${r.method}) records no steps to repeat`);
    }
  }
  // One dataset for the recipe (the first training step's); a step with other data keeps its own.
  const dataset = datasets[0] ?? null;
  for (const s of steps) if (s.options.data !== undefined && s.options.data === dataset) delete s.options.data;
  return { source: chain[0]!.model, dataset, seed: 1, steps };
}

/** Keeps the options a recipe step of the method takes (not the data: it goes to the recipe), with file options workspace-relative. */
function clean(method: RecipeMethod, options: RecipeStepOptions, workspace: string): RecipeStepOptions {
  const known = optionKeysFor(method);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (v === null || v === undefined || k === 'data' || !known.has(k)) continue;
    out[k] = v;
  }
  const rel = (p: string) => {
    const r = path.relative(workspace, path.resolve(workspace, p));
    return r.startsWith('..') || path.isAbsolute(r) ? p : r.split(path.sep).join('/');
  };
  if (typeof out.initial === 'string') out.initial = rel(out.initial);
  if (typeof out.student === 'string') out.student = rel(out.student);
  if (Array.isArray(out.teachers)) out.teachers = (out.teachers as string[]).map(rel);
  return out as RecipeStepOptions;
}
