import { promises as fsp, rmSync } from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../compress/pipeline';
import { METHOD_IDS, type CompressOptions, type MethodId } from '../compress/types';
import { CancelledError, ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { TRAIN_METHOD_IDS, isTrainMethod, type TrainMethodId, type TrainOptions } from '../train/types';

/**
 * A recipe (`.parsimony/recipes/NAME.json`) is an ordered list of compression
 * steps with their options, the source model and the dataset: a compression that
 * worked once, re-run anywhere. Steps are weight/architecture methods (prune,
 * quantize, cluster, …) or training methods (finetune, distill, …) that train on
 * the recipe's dataset with its seed. Every step writes its output and a run
 * record; with the same seed on the same backend the outputs are the same bytes.
 */
export type RecipeMethod = MethodId | TrainMethodId;

/** A step's options: the compress method's, or the training method's (`data`/`evalData` override the recipe's dataset). */
export type RecipeStepOptions = CompressOptions & Partial<TrainOptions>;

export interface RecipeStep {
  method: RecipeMethod;
  options: RecipeStepOptions;
}

export interface Recipe {
  name: string;
  /** Source model, relative to the workspace root. */
  source: string;
  /** Dataset spec for the training steps (and for reference); relative paths are from the workspace root. */
  dataset: string | null;
  seed: number;
  steps: RecipeStep[];
}

const COMPRESS_OPTION_KEYS = new Set(['sparsity', 'scope', 'dtype', 'perChannel', 'clusters', 'huffman', 'ternary', 'rank', 'energy', 'importance', 'units', 'merge', 'pattern', 'layers', 'includeEnds', 'seed']);

const TRAIN_COMMON_KEYS = ['data', 'evalData', 'epochs', 'batchSize', 'learningRate', 'seed', 'layers'];
/** The options each training method reads (see TrainOptions); anything else in a step is a typo. */
const TRAIN_OPTION_KEYS: Record<TrainMethodId, Set<string>> = {
  finetune: new Set([...TRAIN_COMMON_KEYS, 'sparsity', 'initialSparsity', 'schedule', 'scope', 'rewind', 'initial', 'scratch']),
  distill: new Set([...TRAIN_COMMON_KEYS, 'teachers', 'studentWidth', 'student', 'temperature', 'alpha', 'baseline']),
  'binary-train': new Set([...TRAIN_COMMON_KEYS, 'ternary', 'bits']),
  separable: new Set([...TRAIN_COMMON_KEYS, 'temperature', 'alpha']),
  'early-exit': new Set([...TRAIN_COMMON_KEYS, 'exits', 'maxAccuracyDrop']),
};

const ALL_METHODS: readonly string[] = [...METHOD_IDS, ...TRAIN_METHOD_IDS];

/** The option names a recipe step of this method may set. */
export function optionKeysFor(method: RecipeMethod): ReadonlySet<string> {
  return isTrainMethod(method) ? TRAIN_OPTION_KEYS[method] : COMPRESS_OPTION_KEYS;
}

/** Parses a recipe and checks every step's method and option names; problems name the file and the step. */
export function parseRecipe(text: string, file: string): Recipe {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError('not-a-model', `recipe is not valid JSON (${(e as Error).message})`, { file });
  }
  const r = data as { source?: unknown; dataset?: unknown; seed?: unknown; steps?: unknown } | null;
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new ModelFormatError('invalid-option', 'recipe must be a JSON object', { file });
  if (typeof r.source !== 'string' || !r.source) throw new ModelFormatError('invalid-option', 'recipe needs "source": the model path relative to the workspace', { file });
  if (r.dataset !== undefined && r.dataset !== null && (typeof r.dataset !== 'string' || !r.dataset)) throw new ModelFormatError('invalid-option', 'recipe "dataset" must be a dataset spec string (e.g. "mnist:train:1000") or null', { file });
  if (r.seed !== undefined && !(typeof r.seed === 'number' && Number.isInteger(r.seed))) throw new ModelFormatError('invalid-option', 'recipe "seed" must be an integer', { file });
  if (!Array.isArray(r.steps) || r.steps.length === 0) throw new ModelFormatError('invalid-option', 'recipe needs a non-empty "steps" list', { file });
  const steps = r.steps.map((raw: unknown, i: number): RecipeStep => {
    const s = raw as Record<string, unknown> | null;
    if (!s || typeof s !== 'object' || typeof s.method !== 'string') throw new ModelFormatError('invalid-option', `step ${i + 1} needs a "method"`, { file });
    if (!ALL_METHODS.includes(s.method)) throw new ModelFormatError('invalid-option', `step ${i + 1}: unknown method '${s.method}' (methods: ${ALL_METHODS.join(', ')})`, { file });
    const known = optionKeysFor(s.method as RecipeMethod);
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === 'method') continue;
      if (!known.has(k)) throw new ModelFormatError('invalid-option', `step ${i + 1} (${s.method}): unknown option '${k}' (options: ${[...known].join(', ')})`, { file });
      options[k] = v;
    }
    return { method: s.method as RecipeMethod, options: options as RecipeStepOptions };
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
  /** Training steps: the written model's accuracy on the evaluation data, and the method's figures. */
  metrics?: Record<string, unknown>;
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

/** A training step's options: the recipe's dataset and seed unless the step sets its own; paths resolved from the workspace. */
function trainOptionsFor(recipe: Recipe, step: RecipeStep, workspace: string): TrainOptions {
  const o = step.options;
  const resolve = (p: string) => path.resolve(workspace, p);
  const options: TrainOptions = { ...(o as Partial<TrainOptions>), data: o.data ?? recipe.dataset ?? '', seed: o.seed ?? recipe.seed };
  if (o.initial) options.initial = resolve(o.initial);
  if (o.student) options.student = resolve(o.student);
  if (o.teachers) options.teachers = o.teachers.map(resolve);
  return options;
}

/**
 * Checks every step's option values against the source model before anything
 * runs, so a typo in step 4 does not cost the training in steps 1–3.
 */
export async function validateRecipe(recipe: Recipe, file: string, workspace: string): Promise<void> {
  const source = path.resolve(workspace, recipe.source);
  let format;
  try {
    format = (await openModel(source)).format;
  } catch (e) {
    if (e instanceof ModelFormatError && e.code === 'not-found') throw new ModelFormatError('not-found', `recipe source '${recipe.source}' not found (relative to the workspace ${workspace})`, { file });
    throw e;
  }
  const { METHODS } = await import('../compress/methods');
  for (const [i, step] of recipe.steps.entries()) {
    const where = `step ${i + 1} (${step.method})`;
    let problems: string[];
    if (isTrainMethod(step.method)) {
      const options = trainOptionsFor(recipe, step, workspace);
      if (!options.data) throw new ModelFormatError('invalid-option', `${where} trains: set "dataset" in the recipe or "data" in the step`, { file });
      if (format !== 'tfjs-layers') throw new ModelFormatError('invalid-option', `${where} trains TF.js layers models; the source is ${format}`, { file });
      const { validateTrainOptions } = await import('../train');
      problems = await validateTrainOptions(step.method, options);
    } else {
      problems = METHODS[step.method].validate({ seed: recipe.seed, ...(step.options as CompressOptions) }, format);
    }
    if (problems.length) throw new ModelFormatError('invalid-option', `${where}: ${problems.join('; ')}`, { file });
  }
}

interface DoneStep {
  result: RecipeStepResult;
  input: string;
  started: string;
  files: string[];
  record: (runs: typeof import('../evaluate/runs')) => Promise<{ id: string }>;
}

/**
 * Runs every step in order; each step's output is the next step's input. Run
 * records are written once every step succeeded; a cancelled or failed recipe
 * removes the outputs of the steps it had finished, so it leaves nothing.
 */
export async function runRecipe(recipeFile: string, run: RecipeRun): Promise<RecipeResult> {
  const recipe = await readRecipe(recipeFile);
  await validateRecipe(recipe, recipeFile, run.workspace);
  const source = path.resolve(run.workspace, recipe.source);
  let current = source;
  const done: DoneStep[] = [];
  const total = recipe.steps.length;
  try {
    for (const [i, step] of recipe.steps.entries()) {
      if (run.isCancelled?.()) throw new CancelledError();
      const span = 1 / total;
      const started = new Date().toISOString();
      const progress = (f: number, m: string) => run.onProgress?.((i + f) * span, `step ${i + 1}/${total} ${step.method}: ${m}`);
      const cancel = run.isCancelled ? { isCancelled: run.isCancelled } : {};
      const input = current;
      if (isTrainMethod(step.method)) {
        const { trainModel, trainRunMetrics } = await import('../train');
        const options = trainOptionsFor(recipe, step, run.workspace);
        const result = await trainModel(input, step.method, options, { cwd: run.workspace, onProgress: progress, ...cancel });
        const metrics = trainRunMetrics(result);
        done.push({
          result: { method: step.method, output: result.output, runId: null, metrics: { accuracy: metrics.accuracy, ...result.metrics } },
          input,
          started,
          files: [...result.files, result.sidecar],
          record: (runs) => runs.recordCompressRun(input, { ...result, steps: [], options: result.options as unknown as CompressOptions }, { workspace: run.workspace, started, metrics, dataset: options.data }),
        });
        current = result.output;
      } else {
        const result = await compressModel(input, [{ method: step.method, options: { seed: recipe.seed, ...(step.options as CompressOptions) } }], { onProgress: progress, ...cancel });
        done.push({
          result: { method: step.method, output: result.output, runId: null },
          input,
          started,
          files: [...result.files, result.sidecar],
          record: (runs) => runs.recordCompressRun(input, result, { workspace: run.workspace, started }),
        });
        current = result.output;
      }
    }
    if (run.isCancelled?.()) throw new CancelledError();
  } catch (e) {
    for (const step of done) for (const f of step.files) rmSync(f, { force: true });
    throw e;
  }
  if (run.record !== false) {
    const runs = await import('../evaluate/runs');
    for (const step of done) step.result.runId = (await step.record(runs)).id;
  }
  return { recipe: recipeFile, source, output: current, steps: done.map((d) => d.result) };
}

/** A recipe file's text from a chain of steps (what the Lab's "Save as recipe…" writes). */
export function recipeJson(source: string, steps: RecipeStep[], dataset: string | null, seed = 1): string {
  return JSON.stringify({ source, dataset, seed, steps: steps.map((s) => ({ method: s.method, ...s.options })) }, null, 2) + '\n';
}
