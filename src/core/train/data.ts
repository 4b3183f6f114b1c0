import { ModelFormatError } from '../errors';
import { adaptSamples, planInput } from '../evaluate/adapt';
import { loadDataset, type Dataset } from '../evaluate/datasets';
import { mulberry32, permutation } from './loop';

/** Samples shaped for the model's input (no batch dimension in `shape`). */
export interface Samples {
  x: Float32Array;
  /** Class labels, or null for unlabelled data. */
  y: Int32Array | null;
  count: number;
  shape: number[];
}

export interface TrainingData {
  train: Samples;
  eval: Samples;
  /** How the data was chosen and split, for the notes. */
  description: string;
  notes: string[];
}

const MNIST_SPEC = /^mnist(?::(test|train))?(?::(\d+))?$/i;

/**
 * Training and evaluation samples for a training run.
 *
 * - `mnist`, `mnist:N`, `mnist:train[:N]`: the MNIST train split (N digits), and
 *   the MNIST test split for evaluation (so the reported accuracies are on
 *   digits no method trained on).
 * - anything else (`mnist:test:N`, a file or folder): `evalData` when given,
 *   otherwise a seeded random 20% is held out for evaluation and the rest is
 *   trained on.
 */
export async function loadTrainingData(
  spec: string,
  evalSpec: string | undefined,
  modelInput: readonly (number | null)[] | null,
  cwd?: string,
): Promise<TrainingData> {
  const trimmed = spec.trim();
  const mnist = MNIST_SPEC.exec(trimmed);
  const notes: string[] = [];
  let trainSet: Dataset;
  let evalSet: Dataset;
  let description: string;
  if (mnist && mnist[1]?.toLowerCase() !== 'test') {
    trainSet = await loadDataset(`mnist:train${mnist[2] ? `:${mnist[2]}` : ''}`);
    evalSet = await loadDataset(evalSpec ?? 'mnist:test', { ...(cwd ? { cwd } : {}) });
    description = `trained on ${trainSet.count} MNIST train digits, evaluated on ${evalSet.count} ${evalSpec ? `samples of ${evalSpec}` : 'MNIST test digits'}`;
  } else {
    const all = await loadDataset(trimmed, { ...(cwd ? { cwd } : {}) });
    if (evalSpec) {
      trainSet = all;
      evalSet = await loadDataset(evalSpec, { ...(cwd ? { cwd } : {}) });
      description = `trained on ${trainSet.count} samples of ${trimmed}, evaluated on ${evalSet.count} samples of ${evalSpec}`;
    } else {
      const parts = holdOut(all);
      trainSet = parts.train;
      evalSet = parts.held;
      description = `trained on ${trainSet.count} samples of ${trimmed}, evaluated on the ${evalSet.count} held out (a seeded random 20%)`;
    }
  }
  notes.push(...trainSet.notes, ...evalSet.notes);
  if (trainSet.count === 0) throw new ModelFormatError('invalid-option', `${trimmed}: no training samples`);
  if (evalSet.count === 0) throw new ModelFormatError('invalid-option', `${evalSpec ?? trimmed}: no evaluation samples`);
  if (!evalSet.y) throw new ModelFormatError('invalid-option', `${evalSpec ?? trimmed}: evaluation data needs labels (accuracies are reported)`);
  const train = fit(trainSet, modelInput, notes);
  const evaluation = fit(evalSet, modelInput, notes);
  return { train, eval: evaluation, description, notes: [...new Set(notes)] };
}

function fit(d: Dataset, modelInput: readonly (number | null)[] | null, notes: string[]): Samples {
  const plan = planInput(d.sampleShape, modelInput);
  if (plan.note) notes.push(plan.note);
  return { x: adaptSamples(d, plan), y: d.y, count: d.count, shape: plan.shape };
}

/**
 * A seeded random 20% of the samples held out, the rest kept, both in their
 * original order. (Not every 5th sample: datasets ordered by class, such as
 * image folders or the round-robin MNIST split, would lose whole classes.)
 */
export function holdOut(d: Dataset | Samples, seed = 20240601): { train: Dataset & Samples; held: Dataset & Samples } {
  const shape = 'sampleShape' in d ? d.sampleShape : d.shape;
  const per = shape.reduce((a, b) => a * b, 1);
  const order = permutation(d.count, mulberry32(seed));
  const heldCount = Math.round(d.count / 5);
  const isHeld = new Uint8Array(d.count);
  for (let i = 0; i < heldCount; i++) isHeld[order[i]!] = 1;
  const keep: number[] = [];
  const held: number[] = [];
  for (let i = 0; i < d.count; i++) (isHeld[i] ? held : keep).push(i);
  const take = (indices: number[]): Dataset & Samples => {
    const x = new Float32Array(indices.length * per);
    indices.forEach((from, i) => x.set(d.x.subarray(from * per, (from + 1) * per), i * per));
    const y = d.y ? Int32Array.from(indices, (i) => d.y![i]!) : null;
    return { name: 'name' in d ? d.name : '', notes: [], sampleShape: [...shape], shape: [...shape], x, y, count: indices.length };
  };
  return { train: take(keep), held: take(held) };
}

/** Checks that labels fit the model's classes. */
export function checkLabels(data: Samples, classes: number, what: string): void {
  if (!data.y) return;
  for (let i = 0; i < data.count; i++) {
    const label = data.y[i]!;
    if (!(label >= 0 && label < classes)) {
      throw new ModelFormatError('invalid-option', `${what}: label ${label} of sample ${i} is outside the model's ${classes} classes`);
    }
  }
}
