import type { Tf } from '../runtime/tfjs';
import type { TrainingData } from './data';
import type { LogitsSplit, ModelConfig } from './graph';
import { accuracyOf, predictAll, type ProgressTracker } from './loop';
import type { TrainMethodId, TrainOptions, TrainRun } from './types';

type LayersModel = import('@tensorflow/tfjs').LayersModel;

/** Options with every default filled in. */
export type ResolvedOptions = TrainOptions & {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
};

/** What a method gets: the source model (loaded), its architecture, the data and the run. */
export interface TrainContext {
  tf: Tf;
  backend: string;
  source: string;
  model: LayersModel;
  arch: ModelConfig;
  split: LogitsSplit;
  classes: number;
  data: TrainingData;
  options: ResolvedOptions;
  run: TrainRun;
  /** Creates the tracker once the method knows how many steps it will take. */
  tracker(totalSteps: number): ProgressTracker;
  /** Source-model accuracy on the evaluation data. */
  sourceAccuracy: number;
}

/** What a method hands back: the model to write, and what to report. */
export interface MethodOutput {
  model: LayersModel;
  notes: string[];
  metrics: Record<string, unknown>;
  /** Files written next to the model: `<stem><suffix>` (e.g. `.policy.json`). */
  extraFiles?: { suffix: string; content: string }[];
  /** Models to dispose after writing (besides `model`). */
  dispose?: LayersModel[];
}

export interface TrainMethod {
  id: TrainMethodId;
  label: string;
  /** Adam's learning rate when none is given (fine-tuning a trained model wants a smaller one). */
  defaultLearningRate: number;
  /** Epochs when none are given, for `count` training samples (default: defaultEpochs in index.ts). */
  defaultEpochs?: (count: number) => number;
  /** Problems with the options (empty when fine). */
  validate(options: TrainOptions): string[];
  /** Layer classes whose gradients the run computes (picks the backend). */
  gradientClasses(model: LayersModel, options: TrainOptions): string[];
  run(ctx: TrainContext): Promise<MethodOutput>;
}

export function checkRange(problems: string[], name: string, value: number | undefined, min: number, max: number, inclusiveMax = true): void {
  if (value === undefined) return;
  if (!(Number.isFinite(value) && value >= min && (inclusiveMax ? value <= max : value < max))) {
    problems.push(`${name} must be in [${min}, ${max}${inclusiveMax ? ']' : ')'}, got ${value}`);
  }
}

export function layerClasses(model: LayersModel): string[] {
  return [...new Set(model.layers.map((l) => l.getClassName()))];
}

export const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Accuracy of `model` on the run's held-out (evaluation) data: the figure every method reports. */
export function heldOutAccuracy(ctx: Pick<TrainContext, 'tf' | 'data' | 'classes'>, model: LayersModel): number {
  const { tf, data, classes } = ctx;
  return accuracyOf(predictAll(tf, model, data.eval).values, classes, data.eval.y!);
}

/** One accuracy a method reports: its metric key, how the note names it, and the value (0–1). */
export type AccuracyStage = [metric: string, label: string, accuracy: number];

/**
 * The held-out accuracies of a method's stages (the source, the untrained
 * change, the trained result…) as metrics, in order, and as the one note that
 * compares them: `Accuracy: original 97.30%, pruned … 91.20%, … 95.70%.` One
 * list feeds both, so the figures in the metrics and the note cannot drift apart.
 */
export function accuracyReport(stages: readonly AccuracyStage[]): { metrics: Record<string, number>; note: string } {
  return {
    metrics: Object.fromEntries(stages.map(([metric, , accuracy]) => [metric, accuracy])),
    note: `Accuracy: ${stages.map(([, label, accuracy]) => `${label} ${pct(accuracy)}`).join(', ')}.`,
  };
}
