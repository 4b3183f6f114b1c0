import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../compress/pipeline';
import { METHOD_IDS, type CompressOptions, type MethodId } from '../compress/types';
import { ModelFormatError } from '../errors';

/**
 * A recipe (`.parsimony/recipes/NAME.json`) is an ordered list of compression
 * steps with their options, the source model and the dataset: a compression that
 * worked once, re-run anywhere. Every step writes its output and a run record;
 * the methods are deterministic, so the same recipe gives the same bytes.
 */
export interface RecipeStep {
  method: MethodId;
  options: CompressOptions;
}

export interface Recipe {
  name: string;
  /** Source model, relative to the workspace root. */
  source: string;
  dataset: string | null;
  seed: number;
  steps: RecipeStep[];
}

const OPTION_KEYS = new Set(['sparsity', 'scope', 'dtype', 'perChannel', 'clusters', 'huffman', 'ternary', 'rank', 'energy', 'importance', 'layers', 'includeEnds', 'seed']);

export function parseRecipe(text: string, file: string): Recipe {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError('not-a-model', `recipe is not valid JSON (${(e as Error).message})`, { file });
  }
  const r = data as { source?: unknown; dataset?: unknown; seed?: unknown; steps?: unknown } | null;
  if (!r || typeof r !== 'object') throw new ModelFormatError('invalid-option', 'recipe must be a JSON object', { file });
  if (typeof r.source !== 'string' || !r.source) throw new ModelFormatError('invalid-option', 'recipe needs "source": the model path relative to the workspace', { file });
  if (!Array.isArray(r.steps) || r.steps.length === 0) throw new ModelFormatError('invalid-option', 'recipe needs a non-empty "steps" list', { file });
  const steps = r.steps.map((raw: unknown, i: number): RecipeStep => {
    const s = raw as Record<string, unknown> | null;
    if (!s || typeof s !== 'object' || typeof s.method !== 'string') throw new ModelFormatError('invalid-option', `step ${i + 1} needs a "method"`, { file });
    if (!METHOD_IDS.includes(s.method as MethodId)) throw new ModelFormatError('invalid-option', `step ${i + 1}: unknown method '${s.method}' (methods: ${METHOD_IDS.join(', ')})`, { file });
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === 'method') continue;
      if (!OPTION_KEYS.has(k)) throw new ModelFormatError('invalid-option', `step ${i + 1} (${s.method}): unknown option '${k}'`, { file });
      options[k] = v;
    }
    return { method: s.method as MethodId, options: options as CompressOptions };
  });
  return {
    name: path.basename(file).replace(/\.json$/i, ''),
    source: r.source,
    dataset: typeof r.dataset === 'string' ? r.dataset : null,
    seed: typeof r.seed === 'number' ? r.seed : 1,
    steps,
  };
}

export interface RecipeStepResult {
  method: string;
  output: string;
  runId: string | null;
}

export interface RecipeResult {
  recipe: string;
  source: string;
  output: string;
  steps: RecipeStepResult[];
}

export interface RecipeRun {
  workspace: string;
  record?: boolean;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

export async function readRecipe(file: string): Promise<Recipe> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new ModelFormatError('not-found', 'recipe file not found', { file });
  }
  return parseRecipe(text, file);
}

/** Runs every step in order; each step's output is the next step's input. */
export async function runRecipe(recipeFile: string, run: RecipeRun): Promise<RecipeResult> {
  const recipe = await readRecipe(recipeFile);
  const source = path.resolve(run.workspace, recipe.source);
  let current = source;
  const steps: RecipeStepResult[] = [];
  for (const [i, step] of recipe.steps.entries()) {
    const span = 1 / recipe.steps.length;
    const started = new Date().toISOString();
    const result = await compressModel(current, [{ method: step.method, options: { seed: recipe.seed, ...step.options } }], {
      onProgress: (f, m) => run.onProgress?.((i + f) * span, `step ${i + 1}/${recipe.steps.length} ${m}`),
      ...(run.isCancelled ? { isCancelled: run.isCancelled } : {}),
    });
    let runId: string | null = null;
    if (run.record !== false) {
      const { recordCompressRun } = await import('../evaluate/runs');
      runId = (await recordCompressRun(current, result, { workspace: run.workspace, started })).id;
    }
    steps.push({ method: step.method, output: result.output, runId });
    current = result.output;
  }
  return { recipe: recipeFile, source, output: current, steps };
}

/** A recipe from a recorded chain of steps (what the Lab's "save as recipe" writes). */
export function recipeJson(source: string, steps: RecipeStep[], dataset: string | null, seed = 1): string {
  return JSON.stringify({ source, dataset, seed, steps: steps.map((s) => ({ method: s.method, ...s.options })) }, null, 2) + '\n';
}
