import { readValues, weightTargets } from './targets';
import type { CompressionMethod, TensorEdit } from './types';

/**
 * Binary weights sign(w)·α with α = mean|w| per output channel (BinaryConnect /
 * XNOR-Net scaling), or ternary {−α, 0, +α} with the TWN threshold Δ = 0.7·mean|w|.
 * Post-hoc binarization usually costs accuracy; training-based recovery is separate.
 */
export const binarize: CompressionMethod = {
  id: 'binarize',
  label: 'Binary / ternary weights',
  validate() {
    return [];
  },
  async apply(doc, options, progress) {
    const targets = weightTargets(doc, options, { kernelsOnly: true, skipEnds: true });
    const edits: TensorEdit[] = [];
    for (const [n, t] of targets.entries()) {
      const values = await readValues(t);
      const { units, fanIn, index } = t.layout;
      const out = new Float32Array(values.length);
      for (let u = 0; u < units; u++) {
        let meanAbs = 0;
        for (let p = 0; p < fanIn; p++) meanAbs += Math.abs(values[index(u, p)]!);
        meanAbs /= fanIn;
        if (options.ternary) {
          const delta = 0.7 * meanAbs;
          let sum = 0;
          let count = 0;
          for (let p = 0; p < fanIn; p++) {
            const a = Math.abs(values[index(u, p)]!);
            if (a > delta) {
              sum += a;
              count++;
            }
          }
          const alpha = count ? sum / count : 0;
          for (let p = 0; p < fanIn; p++) {
            const i = index(u, p);
            const w = values[i]!;
            out[i] = Math.abs(w) > delta ? Math.sign(w) * alpha : 0;
          }
        } else {
          for (let p = 0; p < fanIn; p++) {
            const i = index(u, p);
            out[i] = (values[i]! >= 0 ? 1 : -1) * meanAbs;
          }
        }
      }
      edits.push({ layer: t.layer.name, tensor: t.tensor.name, values: out, storage: { kind: 'float32' } });
      progress?.((n + 1) / targets.length, t.layer.name);
    }
    return {
      method: options.ternary ? 'ternary' : 'binary',
      tensors: edits,
      architecture: [],
      notes: [
        `${options.ternary ? 'Ternary' : 'Binary'} kernels with one scale α per output channel (${options.ternary ? 'log2(3) ≈ 1.6' : '1'} bit per weight in a packed format); first and last layers kept unless chosen.`,
        'Stock runtimes store them as float32 (gzip shrinks them strongly); accuracy usually needs binary-weight training (BinaryConnect) to recover.',
      ],
    };
  },
};
