/**
 * A dataset as the evaluator sees it: every sample's values in one row-major
 * float32 buffer, a per-sample shape, and integer labels when the data has them.
 * Readers never look at the model except through `ImageTarget` (image folders
 * are decoded straight to the model's H×W×C).
 */
export interface Dataset {
  /** What the user asked for, as given (`mnist:500`, `digits.npz`, …). */
  name: string;
  /** Number of samples. */
  count: number;
  /** Shape of one sample, e.g. [28, 28, 1] (no batch dimension). */
  sampleShape: number[];
  /** count × product(sampleShape) values, row-major. */
  x: Float32Array;
  /** count labels (class indices ≥ 0), or null for unlabelled data. */
  y: Int32Array | null;
  /** Class names by label index, when the data names them (image folders). */
  classes?: string[];
  /** Facts the user should know (one-hot labels converted, values used as stored, …). */
  notes: string[];
}

/** The image size and channel count a model expects; image folders are decoded to it. */
export interface ImageTarget {
  height: number;
  width: number;
  channels: 1 | 3;
}

export interface DatasetOptions {
  /** CSV: the label column's name (default: label, target, y or class). */
  labelColumn?: string;
  /** Image folders: decode to this size and channel count (default: the first image's size, RGB). */
  image?: ImageTarget;
  /** Keep at most this many samples (the first ones). */
  limit?: number;
  /** Refuse files larger than this (default 2 GiB). */
  maxBytes?: number;
}

export const DEFAULT_MAX_DATA_BYTES = 2 * 1024 * 1024 * 1024;

export function sampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Keeps the first `limit` samples. */
export function limitDataset(d: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= d.count) return d;
  const per = sampleSize(d.sampleShape);
  return { ...d, count: limit, x: d.x.slice(0, limit * per), y: d.y ? d.y.slice(0, limit) : null };
}
