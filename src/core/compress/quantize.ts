import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from '../io/halfFloat';
import { weightLayout } from '../analysis/weightLayout';
import { ModelFormatError } from '../errors';
import { unreadableReason, type LayerInfo, type ModelDoc, type TensorInfo } from '../model';
import { quantizeAffine, type AffineDtype } from '../numeric/affineQuantize';
import type { CompressionMethod, QuantDtype, Storage, TensorEdit } from './types';

/**
 * Fewer bits per weight: float16/bfloat16 casts, symmetric int8 (per tensor or
 * per output channel) and TF.js-style asymmetric uint8/uint16 whose zero point is
 * nudged so 0.0 stays exactly 0 (pruned weights stay pruned).
 */
export const quantize: CompressionMethod = {
  id: 'quantize',
  label: 'Quantization',
  validate(o, format) {
    const problems: string[] = [];
    const dtype = o.dtype;
    if (!dtype || !['float16', 'bfloat16', 'int8', 'uint8', 'uint16'].includes(dtype)) problems.push('dtype must be float16, bfloat16, int8, uint8 or uint16');
    if (o.perChannel && dtype !== 'int8' && dtype !== 'uint8') problems.push('per-channel applies to int8/uint8 only');
    if (format.startsWith('tfjs') && (dtype === 'int8' || dtype === 'bfloat16')) {
      problems.push(`TF.js weight manifests store uint8, uint16 or float16 (as tensorflowjs_converter's --quantize_* flags); ${dtype} cannot be loaded by tf.loadLayersModel`);
    }
    if (format.startsWith('tfjs') && o.perChannel) problems.push('TF.js weight manifests have one scale per tensor; per-channel is not loadable');
    if (format === 'onnx' && (dtype === 'bfloat16' || dtype === 'uint16')) problems.push(`onnxruntime's QDQ and cast paths are used for ONNX: choose float16, int8 or uint8, not ${dtype}`);
    return problems;
  },
  async apply(doc, options, progress) {
    const dtype = options.dtype!;
    const edits: TensorEdit[] = [];
    const targets = floatParameters(doc, options.layers);
    const outOfRange: string[] = [];
    let i = 0;
    for (const { layer, tensor } of targets) {
      if (!tensor.read) throw new ModelFormatError('unsupported-dtype', unreadableReason(tensor));
      const values = Float32Array.from(await tensor.read());
      // float16 tops out at 65504: a larger value would be stored as infinity and break the model
      // (silero-vad keeps 2^20 scale constants), so such a tensor keeps its float32 storage.
      if (dtype === 'float16' && values.some((v) => Math.abs(v) > FLOAT16_MAX && Number.isFinite(v))) {
        outOfRange.push(tensor.name);
        progress?.(++i / targets.length, layer.name);
        continue;
      }
      const integer = dtype === 'int8' || dtype === 'uint8' || dtype === 'uint16';
      // Integer formats: biases and other 1-D tensors stay float for int8 (their bytes are negligible
      // and they carry the accumulated scale); TF.js-native uint8/uint16 quantize every float weight like the converter.
      if (integer && dtype === 'int8' && tensor.shape.length < 2) continue;
      // `values` is this loop's own copy: quantized in place, without a second tensor-sized array (fresh memory is dear).
      const { storage, dequantized } = quantizeTensor(values, dtype, options.perChannel ? weightLayout(doc.format, layer, tensor) : null, values);
      edits.push({ layer: layer.name, tensor: tensor.name, values: dequantized, storage });
      progress?.(++i / targets.length, layer.name);
    }
    const notes = [
      dtype === 'float16' || dtype === 'bfloat16'
        ? `Weights stored as ${dtype}: half the bytes on disk.`
        : `Weights stored as ${dtype}${options.perChannel ? ' with one scale per output channel' : ' with one scale per tensor'}: ${dtype === 'uint16' ? 'half' : 'a quarter of'} the bytes on disk.`,
    ];
    if (outOfRange.length) {
      notes.push(
        `Kept in their original dtype: ${outOfRange.length} tensor${outOfRange.length > 1 ? 's' : ''} with values beyond float16's ` +
          `largest (65504), which would become infinity (${outOfRange.slice(0, 5).join(', ')}${outOfRange.length > 5 ? ', …' : ''}).`,
      );
    }
    if (doc.format.startsWith('tfjs')) notes.push('TF.js dequantizes to float32 when loading: memory and compute are unchanged; the saving is download size.');
    return { method: `${dtype}${options.perChannel ? '-pc' : ''}`, tensors: edits, architecture: [], notes };
  },
};

/** Largest finite float16 value. */
const FLOAT16_MAX = 65504;

function floatParameters(doc: ModelDoc, layers?: string[]): { layer: LayerInfo; tensor: TensorInfo }[] {
  const names = layers?.length ? new Set(layers) : undefined;
  return doc.layers.flatMap((layer) =>
    names && !names.has(layer.name) ? [] : layer.tensors.filter((t) => t.isParameter && /^(float32|float64|float16|bfloat16)$/.test(t.dtype)).map((tensor) => ({ layer, tensor })),
  );
}

export function quantizeTensor(
  values: Float32Array,
  dtype: QuantDtype,
  layout: { units: number; fanIn: number; index: (u: number, p: number) => number } | null,
  /** Where the dequantized values go; may be `values` itself (each element is read before it is written). */
  out: Float32Array = new Float32Array(values.length),
): { storage: Storage; dequantized: Float32Array } {
  if (dtype === 'float16') {
    for (let i = 0; i < values.length; i++) out[i] = halfToFloat(floatToHalf(values[i]!));
    return { storage: { kind: 'float16' }, dequantized: out };
  }
  if (dtype === 'bfloat16') {
    for (let i = 0; i < values.length; i++) out[i] = bfloat16ToFloat(floatToBfloat16(values[i]!));
    return { storage: { kind: 'bfloat16' }, dequantized: out };
  }
  const { scale, zeroPoint } = quantizeAffine(values, out, dtype as AffineDtype, layout);
  return {
    storage: { kind: 'affine', dtype: dtype as 'int8' | 'uint8' | 'uint16', scale, zeroPoint, axisUnits: layout !== null },
    dequantized: out,
  };
}
