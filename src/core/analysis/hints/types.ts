import type { FormatId, LayerInfo, TensorInfo } from '../../model';
import type { SortedValues } from '../../numeric/kmeans1d';
import type { WeightLayout } from '../weightLayout';

export type HintKind =
  | 'sparse'
  | 'prunable'
  | 'low-rank'
  | 'clusterable'
  | 'quantizable'
  | 'duplicate-units'
  | 'dead-units'
  | 'separable'
  | '2:4';

/** One finding; the keys are the `parsimony hints --json` contract. */
export interface Hint {
  layer: string;
  tensor: string;
  kind: HintKind;
  /** Parameters the matching compression removes (0 where it only shrinks bytes). */
  savingsParams: number;
  /** Bytes saved on disk by the matching compression. */
  savingsBytes: number;
  /** Relative error ‖W − Ŵ‖/‖W‖ the compression would cause. */
  error: number;
  detail: Record<string, unknown>;
  /** One line for people. */
  message: string;
}

export interface HintOptions {
  /** Relative error bound ε (default 0.01). */
  epsilon: number;
  /** Tensors with fewer parameters are skipped (biases, norms). */
  minParams: number;
}

export const DEFAULT_HINT_OPTIONS: HintOptions = { epsilon: 0.01, minParams: 64 };

/** What a hint module sees for one weight tensor. */
export interface TensorContext {
  format: FormatId;
  layer: LayerInfo;
  tensor: TensorInfo;
  values: Float32Array;
  layout: WeightLayout;
  /** Unit-major copy (row u = unit u), computed once and shared. */
  rows: () => Float32Array;
  /** Each unit's largest |w| (computed once, in storage order). */
  unitMaxAbs: () => Float64Array;
  /** The values sorted ascending with prefix sums, computed once and shared. */
  sorted: () => SortedValues;
  /** ‖W‖²_F. */
  energy: number;
  bytesPerElement: number;
  options: HintOptions;
  /** The layer's bias values when present (for dead units). */
  bias?: Float32Array;
  /** TF.js for large matrix products (loaded on first use; null where it cannot load). */
  linearAlgebra: () => Promise<Tf | null>;
}

type Tf = typeof import('@tensorflow/tfjs');

export type HintRule = (ctx: TensorContext) => Hint | null | Promise<Hint | null>;
