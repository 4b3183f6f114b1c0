import type { SizeStats } from '../compress/stats';
import type { BackendPreference } from '../runtime/tfjs';

/**
 * Training-based compression: methods that run the model on data and update
 * weights (TF.js layers models only). Each writes a new model next to the
 * source, in the source's format, plus a `*.parsimony.json` sidecar.
 */
export type TrainMethodId = 'finetune' | 'distill' | 'binary-train' | 'separable' | 'early-exit';

export const TRAIN_METHOD_IDS: readonly TrainMethodId[] = ['finetune', 'distill', 'binary-train', 'separable', 'early-exit'];

export function isTrainMethod(id: string): id is TrainMethodId {
  return (TRAIN_METHOD_IDS as readonly string[]).includes(id);
}

export interface TrainOptions {
  /**
   * Training data: `mnist` (train split; evaluated on the test split),
   * `mnist:train:N`, or a dataset file/folder (see DATASET_HELP).
   */
  data: string;
  /** Held-out data for accuracies (default: the MNIST test split, else a seeded random 20% of `data`). */
  evalData?: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  /** Only these layers (names); default: every eligible layer. */
  layers?: string[];

  // finetune
  /** Final sparsity (0–1). */
  sparsity?: number;
  /** Sparsity at the start of a polynomial schedule (default 0). */
  initialSparsity?: number;
  /** `polynomial` (TF-MOT: s_t = s_f + (s_i − s_f)(1 − t/T)^3) or `constant` (final sparsity from the first step). */
  schedule?: 'polynomial' | 'constant';
  /** One magnitude threshold for all pruned tensors (default) or each tensor to the sparsity. */
  scope?: 'global' | 'layer';
  /** Lottery ticket: rewind surviving weights to `initial` and retrain with the masks. */
  rewind?: boolean;
  /** The model's initial (untrained) weights, same architecture. */
  initial?: string;
  /** Also train the pruned architecture from a new seeded random init (same masks, same epochs). */
  scratch?: boolean;

  // distill (and separable recovery)
  /** Extra teacher models; their probabilities are averaged with the source model's. */
  teachers?: string[];
  /** Student = the source with every hidden width × this (default 0.5). */
  studentWidth?: number;
  /** Student = this model (its weights are the starting point). */
  student?: string;
  temperature?: number;
  /** Weight of the soft-target term (1 − alpha on the labels). */
  alpha?: number;
  /** Also train the student on labels only, same data, init and epochs. */
  baseline?: boolean;

  // binary-train
  ternary?: boolean;
  /** k-bit symmetric weights (2–8) instead of binary. */
  bits?: number;

  // early-exit
  /** Layers after which an exit classifier is attached (default: after each conv block). */
  exits?: string[];
  /** Largest accuracy drop (0–1) the exit thresholds may cost on held-out data (default 0.005). */
  maxAccuracyDrop?: number;
}

/** One line of training progress (also rendered into the progress message). */
export interface TrainProgress {
  phase: string;
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  /** Training accuracy over the epoch so far (labelled data only). */
  accuracy: number | null;
}

export interface TrainRun {
  /** Explicit output path for the main file; default: next to the source, named for the method. */
  out?: string;
  /** Directory for relative dataset paths (default: process.cwd()). */
  cwd?: string;
  backend?: BackendPreference;
  onProgress?: (fraction: number, message: string, detail?: TrainProgress) => void;
  /** Checked after every batch; when true, the run stops and writes nothing. */
  isCancelled?: () => boolean;
  /** Called with the exported in-memory model before it is disposed (tests compare its predictions with the file). */
  inspect?: (model: import('@tensorflow/tfjs').LayersModel) => void | Promise<void>;
}

/** Accuracies (0–1) on the evaluation data, and method-specific figures. */
export type TrainMetrics = Record<string, unknown> & {
  evalSamples: number;
  trainSamples: number;
  backend: string;
};

export interface TrainResult {
  output: string;
  files: string[];
  sidecar: string;
  method: TrainMethodId;
  options: TrainOptions;
  before: SizeStats;
  after: SizeStats;
  notes: string[];
  sourceHash: string;
  metrics: TrainMetrics;
  /** The written model reloaded with stock TF.js predicts what the in-memory model predicted. */
  verification: { samples: number; maxAbsDiff: number };
}
