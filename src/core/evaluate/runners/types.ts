import type { FormatId } from '../../model';

/** One model loaded in its stock runtime, ready to run batches of samples. */
export interface Runner {
  format: FormatId;
  /** Where it runs: 'tensorflow', 'wasm', 'cpu' (TF.js backends) or 'onnxruntime-cpu'. */
  backend: string;
  /** Why this backend (shown with timings). */
  backendReason: string;
  /** The model's input shape, batch first; null for unknown dimensions; null when unknown altogether. */
  inputShape: (number | null)[] | null;
  /** The batch size the model is fixed to (ONNX inputs such as [1, 1, 28, 28]); null when any batch works. */
  fixedBatch: number | null;
  /** Things worth saying (only the first of several outputs is scored, …). */
  notes: string[];
  /** How batches run, when the runtime has more than one way: 'inference plan (…)' or 'model.predict' (TF.js layers models). */
  inference?: string;
  /**
   * Runs `n` samples (row-major, each of `sampleShape`) and returns the first
   * output flattened per sample: n × width values.
   */
  run(x: Float32Array, n: number, sampleShape: readonly number[]): Promise<{ values: Float32Array; width: number }>;
  dispose(): Promise<void>;
}
