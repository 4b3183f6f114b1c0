import { ModelFormatError } from '../errors';
import type { Dataset, ImageTarget } from './datasets/types';

/**
 * Fits a dataset's samples to a model's input. The data has a per-sample shape
 * (e.g. [28, 28, 1]); the model's input may be [N, 28, 28, 1], [N, 784] or
 * [N, 1, 28, 28]. When element counts match, samples are reshaped (row-major),
 * or transposed between H×W×C and C×H×W when the channel count is above 1.
 * Unknown model dimensions are taken from the data. Anything else is an error
 * naming both shapes.
 */
export interface InputPlan {
  /** Per-sample shape fed to the model (no batch dimension). */
  shape: number[];
  /** Rearranges one sample (null: the values are used as they are). */
  transform: ((src: Float32Array, dst: Float32Array) => void) | null;
  /** Said to the user when the data was reshaped or transposed. */
  note?: string;
}

const fmt = (s: readonly (number | null)[]) => `[${s.map((d) => (d === null ? 'N' : String(d))).join(', ')}]`;
const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** `modelInput` is the full input shape with the batch dimension first (null / non-positive = unknown). */
export function planInput(sample: readonly number[], modelInput: readonly (number | null)[] | null): InputPlan {
  const dataShape = [...sample];
  if (!modelInput || modelInput.length === 0) return { shape: dataShape, transform: null };
  const batch = typeof modelInput[0] === 'number' && modelInput[0] > 0 ? modelInput[0] : null;
  const wanted = modelInput.slice(1).map((d) => (d === null || d <= 0 || !Number.isFinite(d) ? null : d));
  const problem = () =>
    new ModelFormatError(
      'invalid-option',
      `the dataset's samples have shape ${fmt(dataShape)} (${product(dataShape)} values) but the model expects input ${fmt([batch, ...wanted])}` +
        (wanted.every((d) => d !== null) ? ` (${product(wanted as number[])} values per sample)` : ''),
    );
  if (wanted.some((d) => d === null)) {
    // Unknown dimensions: the data must have the same rank and agree on the known ones.
    if (wanted.length !== dataShape.length || wanted.some((d, i) => d !== null && d !== dataShape[i])) {
      const known = wanted.filter((d): d is number => d !== null);
      const unknown = wanted.length - known.length;
      // A single unknown dimension can be inferred from the element count.
      if (unknown === 1 && product(dataShape) % product(known) === 0) {
        const filled = wanted.map((d) => d ?? product(dataShape) / product(known));
        return planInput(dataShape, [null, ...filled]);
      }
      throw problem();
    }
    return { shape: dataShape, transform: null };
  }
  const model = wanted as number[];
  if (product(model) !== product(dataShape)) throw problem();
  if (same(model, dataShape)) return { shape: model, transform: null };
  if (same(squeeze(model), squeeze(dataShape))) return { shape: model, transform: null };
  if (dataShape.length === 3 && model.length === 3) {
    const [h, w, c] = dataShape as [number, number, number];
    if (model[0] === c && model[1] === h && model[2] === w && c > 1) {
      return { shape: model, transform: transposer(h * w, c, true), note: `samples transposed from H×W×C ${fmt(dataShape)} to C×H×W ${fmt(model)} (NCHW model)` };
    }
    const [c2, h2, w2] = dataShape as [number, number, number];
    if (model[0] === h2 && model[1] === w2 && model[2] === c2 && c2 > 1) {
      return { shape: model, transform: transposer(h2 * w2, c2, false), note: `samples transposed from C×H×W ${fmt(dataShape)} to H×W×C ${fmt(model)} (NHWC model)` };
    }
  }
  return { shape: model, transform: null, note: `samples of shape ${fmt(dataShape)} reshaped to ${fmt(model)} (row-major)` };
}

/** HWC → CHW (toChannelsFirst) or CHW → HWC. */
function transposer(pixels: number, channels: number, toChannelsFirst: boolean) {
  return (src: Float32Array, dst: Float32Array) => {
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < channels; c++) {
        if (toChannelsFirst) dst[c * pixels + p] = src[p * channels + c]!;
        else dst[p * channels + c] = src[c * pixels + p]!;
      }
    }
  };
}

/** Applies a plan to a dataset's samples (a fresh buffer only when a transpose is needed). */
export function adaptSamples(d: Dataset, plan: InputPlan): Float32Array {
  if (!plan.transform) return d.x;
  const per = product(plan.shape);
  const out = new Float32Array(d.x.length);
  for (let i = 0; i < d.count; i++) plan.transform(d.x.subarray(i * per, (i + 1) * per), out.subarray(i * per, (i + 1) * per));
  return out;
}

/**
 * The image size and channels an image folder should be decoded to, read from
 * a model's input shape ([N, H, W, C], [N, C, H, W], [N, H, W] or a flat
 * square [N, H·W]); null when the input does not look like an image.
 */
export function imageTargetFor(modelInput: readonly (number | null)[] | null): ImageTarget | null {
  if (!modelInput) return null;
  const s = modelInput.slice(1);
  if (s.some((d) => d === null || d <= 0)) return null;
  const dims = s as number[];
  if (dims.length === 3) {
    const [a, b, c] = dims as [number, number, number];
    if (c === 1 || c === 3) return { height: a, width: b, channels: c };
    if (a === 1 || a === 3) return { height: b, width: c, channels: a };
    return null;
  }
  if (dims.length === 2) return { height: dims[0]!, width: dims[1]!, channels: 1 };
  if (dims.length === 1) {
    const n = dims[0]!;
    const gray = Math.round(Math.sqrt(n));
    if (gray * gray === n) return { height: gray, width: gray, channels: 1 };
    const rgb = Math.round(Math.sqrt(n / 3));
    if (rgb * rgb * 3 === n) return { height: rgb, width: rgb, channels: 3 };
  }
  return null;
}
