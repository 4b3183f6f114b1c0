import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import type { BackendPreference } from '../runtime/tfjs';

/**
 * Per-layer output signal-to-noise ratio between two TF.js layers models on the
 * same samples: SNR = 10·log10(Σ a² / Σ (a − b)²) over every value of the
 * layer's output over every sample, with `a` the reference model. Layers are
 * matched by name (compression keeps layer names; a factorized layer becomes
 * two new layers and so has no partner).
 */
export interface LayerSnr {
  /** +Infinity when the outputs are identical; null when a's output is all zeros but b's is not (the ratio is undefined). */
  snrDb: number | null;
  signal: number;
  noise: number;
}

export interface OutputSnrOptions {
  /** Dataset spec, as `parsimony evaluate --data` takes it. */
  data: string;
  /** Directory relative dataset paths are resolved from. */
  cwd?: string;
  limit?: number;
  batchSize?: number;
  backend?: BackendPreference;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

export interface OutputSnrResult {
  samples: number;
  dataset: string;
  layers: Map<string, LayerSnr>;
  /** Layers of both models whose outputs differ in shape (units or filters removed): not comparable value by value. */
  shapeMismatch: string[];
}

/** SNR in dB from the summed squares; +Infinity for identical outputs, null when the signal is zero but the noise is not. */
export function snrDb(signal: number, noise: number): number | null {
  if (noise === 0) return Infinity;
  if (signal === 0) return null;
  return 10 * Math.log10(signal / noise);
}

export async function layerOutputSnr(a: string, b: string, layers: readonly string[], options: OutputSnrOptions): Promise<OutputSnrResult> {
  for (const file of [a, b]) {
    const doc = await openModel(file);
    if (doc.format !== 'tfjs-layers') {
      throw new ModelFormatError(
        'unsupported-format',
        `per-layer output SNR runs TF.js layers models (model.json with a Keras topology); ${path.basename(file)} is ${doc.format}`,
        { file },
      );
    }
  }
  const { loadDataset } = await import('../evaluate/datasets');
  const { openLayerTracer, traceDataset } = await import('../evaluate/layerOutputs');
  const dataset = await loadDataset(options.data, { ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.limit !== undefined ? { limit: options.limit } : {}) });
  const backend = options.backend ? { backend: options.backend } : {};
  const ta = await openLayerTracer(a, { layers, ...backend });
  try {
    const tb = await openLayerTracer(b, { layers, ...backend });
    try {
      const same = ta.inputShape.length === tb.inputShape.length && ta.inputShape.every((d, i) => d === tb.inputShape[i]);
      if (!same) {
        const fmt = (s: (number | null)[]) => `[${s.map((d) => d ?? 'N').join(', ')}]`;
        throw new ModelFormatError('invalid-option', `the models take different inputs: ${path.basename(a)} ${fmt(ta.inputShape)}, ${path.basename(b)} ${fmt(tb.inputShape)}; the SNR needs the same samples through both`, { file: b });
      }
      let common = ta.layers.filter((l) => tb.layers.includes(l));
      const shapeMismatch: string[] = [];
      const sums = new Map(common.map((l) => [l, { signal: 0, noise: 0 }]));
      let firstBatch = true;
      const samples = await traceDataset(
        [ta, tb],
        dataset,
        ([outA, outB]) => {
          if (firstBatch) {
            // Layers whose outputs changed shape (structured pruning removed units) cannot be compared value by value.
            firstBatch = false;
            const same = (l: string) => outA!.get(l)!.shape.join() === outB!.get(l)!.shape.join();
            shapeMismatch.push(...common.filter((l) => !same(l)));
            for (const l of shapeMismatch) sums.delete(l);
            common = common.filter(same);
          }
          for (const layer of common) {
            const x = outA!.get(layer)!;
            const y = outB!.get(layer)!;
            const s = sums.get(layer)!;
            // Float64 accumulation: float32 sums over ~10⁶ values would lose the small noise terms.
            let signal = 0;
            let noise = 0;
            for (let i = 0; i < x.values.length; i++) {
              const v = x.values[i]!;
              const d = v - y.values[i]!;
              signal += v * v;
              noise += d * d;
            }
            s.signal += signal;
            s.noise += noise;
          }
        },
        { ...(options.batchSize ? { batchSize: options.batchSize } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}) },
      );
      const out = new Map<string, LayerSnr>();
      for (const [layer, s] of sums) out.set(layer, { snrDb: snrDb(s.signal, s.noise), signal: s.signal, noise: s.noise });
      return { samples, dataset: dataset.name, layers: out, shapeMismatch };
    } finally {
      tb.dispose();
    }
  } finally {
    ta.dispose();
  }
}
