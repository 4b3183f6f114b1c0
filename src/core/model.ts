/**
 * The format-neutral model every reader produces. Plain data plus lazy tensor
 * readers: opening a model never reads weight bytes.
 */
export type FormatId =
  | 'tfjs-layers'
  | 'tfjs-graph'
  | 'tfjs-weights'
  | 'keras'
  | 'onnx'
  | 'safetensors'
  | 'tflite'
  | 'gguf'
  | 'pytorch';

export const FORMAT_IDS: readonly FormatId[] = [
  'tfjs-layers',
  'tfjs-graph',
  'tfjs-weights',
  'keras',
  'onnx',
  'safetensors',
  'tflite',
  'gguf',
  'pytorch',
];

/** Where a tensor's bytes are, so they can be read later. */
export interface TensorLocation {
  file: string;
  offset: number;
  length: number;
}

export interface TensorInfo {
  name: string;
  /** Concrete dimensions (weights always have them). */
  shape: number[];
  /** Storage dtype as the file has it: float32, float16, bfloat16, int8, uint8, q4_0, … */
  dtype: string;
  /** Number of elements. */
  count: number;
  /** Bytes this tensor takes in the file. */
  bytes: number;
  /** Bytes once loaded by the format's runtime (TF.js dequantizes to float32). */
  memoryBytes: number;
  /** False for tensors that are not learned parameters (int32 shape constants, counters). */
  isParameter: boolean;
  /** Whether training updates it, when the format says (Keras/TF.js layers do). */
  trainable?: boolean;
  location?: TensorLocation;
  /** Extra facts: quantization parameters, sparsity encoding, … (JSON-safe). */
  detail?: Record<string, unknown>;
  /** Reads and decodes the values to float32 (dequantized). Absent when the format can't. */
  read?: () => Promise<Float32Array>;
}

export interface LayerInfo {
  name: string;
  /** Class (Keras/TF.js) or op type (ONNX/TFLite), or 'tensor group' where the format has no layers. */
  type: string;
  tensors: TensorInfo[];
  /** Output shape with null for unknown dimensions (batch); null when it can't be computed. */
  outputShape: (number | null)[] | null;
  /** Multiply-accumulates per sample; null when unknown, never a guess. */
  macs: number | null;
  /** Names of the layers that feed this one, when the format has a graph. */
  inputs?: string[];
  /** The layer's configuration as the file states it (JSON-safe), for compressors. */
  config?: Record<string, unknown>;
  notes?: string[];
}

export interface ModelDoc {
  /** Absolute path of the file the user picked. */
  file: string;
  format: FormatId;
  /** Every file the model consists of (shards, external data, index files). */
  files: string[];
  layers: LayerInfo[];
  /** Short facts shown in headers: producer, opset, architecture, … */
  metadata: Record<string, string>;
  /** Things the user should know: unknown layer classes, Lambda layers not run, … */
  warnings: string[];
  /** Input shape of the model (batch dimension null), when known. */
  inputShape?: (number | null)[] | null;
  /** Raw format-specific data kept for writers (model.json topology, ONNX graph, …). */
  raw?: unknown;
}

export const DTYPE_BYTES: Record<string, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  uint64: 8,
  int32: 4,
  uint32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
  complex64: 8,
  complex128: 16,
  float8e4m3: 1,
  float8e5m2: 1,
};

/** Why a tensor has no read(): the reader's own reason (detail.valuesUnavailable) or the generic one. */
export function unreadableReason(t: TensorInfo): string {
  const why = t.detail?.valuesUnavailable;
  return typeof why === 'string' ? `values of ${t.name} are not in the file: ${why}` : `values of ${t.name} (${t.dtype}) cannot be decoded`;
}

/** Product of dimensions, refusing negative, fractional or overflowing shapes. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (!Number.isSafeInteger(d) || d < 0) return Number.NaN;
    n *= d;
    if (!Number.isSafeInteger(n)) return Number.NaN;
  }
  return n;
}

export function layerParams(layer: LayerInfo): number {
  let n = 0;
  for (let i = 0; i < layer.tensors.length; i++) if (layer.tensors[i]!.isParameter) n += layer.tensors[i]!.count;
  return n;
}

export function layerTrainableParams(layer: LayerInfo): number | null {
  let n = 0;
  for (let i = 0; i < layer.tensors.length; i++) {
    const t = layer.tensors[i]!;
    if (!t.isParameter) continue;
    if (t.trainable === undefined) return null;
    if (t.trainable) n += t.count;
  }
  return n;
}

export function allTensors(doc: ModelDoc): TensorInfo[] {
  return doc.layers.flatMap((l) => l.tensors);
}
