import type { FormatId, LayerInfo, ModelDoc, TensorInfo } from '../model';
import type { WeightLayout } from '../analysis/weightLayout';

/**
 * A compression is described format-neutrally: methods decide new values and
 * storage for tensors, and (for architecture changes) how layers are rebuilt;
 * each format's writer turns that into files its stock runtime loads.
 */
export type MethodId = 'prune' | 'structured-prune' | 'quantize' | 'cluster' | 'huffman' | 'binarize' | 'low-rank';

export const METHOD_IDS: readonly MethodId[] = ['prune', 'structured-prune', 'quantize', 'cluster', 'huffman', 'binarize', 'low-rank'];

export type QuantDtype = 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'uint16';

export interface CompressOptions {
  /** prune / structured-prune: fraction removed (0–1). */
  sparsity?: number;
  /**
   * prune: N:M structured sparsity instead of a sparsity: in every group of M
   * consecutive fan-in weights of a unit, only the N largest |w| stay (2:4 is
   * NVIDIA's sparse tensor-core pattern, TF-MOT's sparsity_m_by_n=(2,4)).
   */
  pattern?: { keep: number; group: number };
  /** prune: one threshold for all layers, or each layer pruned to the sparsity. */
  scope?: 'global' | 'layer';
  /** quantize: target dtype. */
  dtype?: QuantDtype;
  /** quantize int8/uint8: one scale per output channel. */
  perChannel?: boolean;
  /** cluster: centroids per tensor (2–256). */
  clusters?: number;
  /** cluster: store indices Huffman-coded (Deep Compression). */
  huffman?: boolean;
  /** binarize: ternary {−α, 0, +α} instead of binary. */
  ternary?: boolean;
  /** low-rank: fixed rank … */
  rank?: number;
  /** … or the spectral energy to keep (0–1). */
  energy?: number;
  /** structured-prune: importance measure. */
  importance?: 'l1' | 'l2';
  /** structured-prune: remove exactly these unit indices (of the one layer in `layers`) instead of the least important. */
  units?: number[];
  /**
   * structured-prune: merge duplicate units of the one layer in `layers`: each
   * [i, j] removes unit j and adds its outgoing weights to unit i's (what a
   * duplicate-units hint found).
   */
  merge?: [number, number][];
  /** Only these layers (names); default: every eligible layer. */
  layers?: string[];
  /** Also touch the first and last weighted layers (skipped by default for pruning and binarizing). */
  includeEnds?: boolean;
  seed?: number;
}

/** How a tensor is stored after compression. */
export type Storage =
  | { kind: 'float32' }
  | { kind: 'float16' }
  | { kind: 'bfloat16' }
  /** Affine integer: value = (q − zeroPoint) · scale, per tensor (one entry) or per output channel. */
  | { kind: 'affine'; dtype: 'int8' | 'uint8' | 'uint16'; scale: Float32Array; zeroPoint: Int32Array; axisUnits: boolean }
  /** Shared values: value = centroids[index]; indices optionally Huffman-coded. */
  | { kind: 'clustered'; centroids: Float32Array; indices: Uint8Array; huffmanBits?: number };

export interface TensorEdit {
  layer: string;
  tensor: string;
  /** The tensor's new (dequantized) values, in its original layout and shape. */
  values: Float32Array;
  storage: Storage;
}

/** W (units × fanIn) ≈ A (units × rank) · B (rank × fanIn); bias stays on the second layer. */
export interface FactorizeEdit {
  kind: 'factorize';
  layer: string;
  tensor: string;
  rank: number;
  /** units × rank, row-major. */
  a: Float32Array;
  /** rank × fanIn, row-major. */
  b: Float32Array;
}

/** Remove output units of a layer; writers shrink its consumers to match. */
export interface RemoveUnitsEdit {
  kind: 'remove-units';
  layer: string;
  keep: number[];
  units: number;
}

export type ArchitectureEdit = FactorizeEdit | RemoveUnitsEdit;

export interface ModelChange {
  method: string;
  tensors: TensorEdit[];
  architecture: ArchitectureEdit[];
  /** Said in the summary: what is real on disk, in memory, in compute. */
  notes: string[];
}

export interface Estimate {
  params: number;
  nonzeroParams: number;
  /** Estimated stored bytes of the weights after compression (before any gzip). */
  weightBytes: number;
}

/** One weight tensor a method may act on, with its layout resolved. */
export interface WeightTarget {
  layer: LayerInfo;
  tensor: TensorInfo;
  layout: WeightLayout;
  index: number;
}

export interface CompressionMethod {
  id: MethodId;
  label: string;
  /** Validates options; returns the problems (empty when fine). */
  validate(options: CompressOptions, format: FormatId): string[];
  apply(doc: ModelDoc, options: CompressOptions, progress?: (fraction: number, message: string) => void): Promise<ModelChange>;
}
