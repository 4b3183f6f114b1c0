import type { FormatId, LayerInfo, TensorInfo } from '../model';

/**
 * How a weight tensor maps onto output units, so hints and compressors can
 * treat Keras [in, out], PyTorch [out, in], ONNX Conv [out, in, kh, kw] and
 * TF Conv [kh, kw, in, out] alike: as `units` rows of `fanIn` weights.
 */
export type WeightKind = 'dense' | 'conv' | 'depthwise' | 'embedding' | 'vector' | 'other';

export interface WeightLayout {
  kind: WeightKind;
  /** Output units (neurons/filters); rows of the unit-major matrix. */
  units: number;
  /** Weights per unit. */
  fanIn: number;
  /** For convolutions: kernel height·width and input channels per group. */
  kernel?: { kh: number; kw: number; inChannels: number };
  /** Index of element (unit u, position p) in the stored tensor. */
  index: (unit: number, position: number) => number;
}

const isConvType = (t: string) => /conv/i.test(t) && !/transpose/i.test(t);
const isDepthwiseType = (t: string) => /depthwise/i.test(t);

export function weightLayout(format: FormatId, layer: LayerInfo, tensor: TensorInfo): WeightLayout | null {
  const s = tensor.shape;
  if (!tensor.isParameter || s.length === 0) return null;
  if (s.length === 1) return { kind: 'vector', units: s[0]!, fanIn: 1, index: (u) => u };
  const lname = tensor.name.toLowerCase();
  const type = layer.type;
  const unitsLast = (units: number, fanIn: number): WeightLayout['index'] => (u, p) => p * units + u;
  const unitsFirst = (fanIn: number): WeightLayout['index'] => (u, p) => u * fanIn + p;

  if (format === 'tfjs-layers' || format === 'keras' || format === 'tfjs-graph' || format === 'tfjs-weights') {
    if (/embedding/.test(lname) || /embedding/i.test(type)) {
      return { kind: 'embedding', units: s[0]!, fanIn: s[1]!, index: unitsFirst(s[1]!) };
    }
    if (s.length === 2) {
      const [fanIn, units] = s as [number, number];
      return { kind: 'dense', units, fanIn, index: unitsLast(units, fanIn) };
    }
    if (s.length === 4) {
      const [kh, kw, cin, cout] = s as [number, number, number, number];
      if (isDepthwiseType(type) || /depthwise/.test(lname)) {
        // [kh, kw, in, multiplier]: each (in, m) pair is one unit of kh·kw weights.
        const units = cin * cout;
        return { kind: 'depthwise', units, fanIn: kh * kw, kernel: { kh, kw, inChannels: 1 }, index: (u, p) => p * units + u };
      }
      return { kind: 'conv', units: cout, fanIn: kh * kw * cin, kernel: { kh, kw, inChannels: cin }, index: unitsLast(cout, kh * kw * cin) };
    }
    if (s.length === 3) {
      const [k, cin, cout] = s as [number, number, number];
      return { kind: 'conv', units: cout, fanIn: k * cin, kernel: { kh: 1, kw: k, inChannels: cin }, index: unitsLast(cout, k * cin) };
    }
    return null;
  }

  if (format === 'onnx') {
    if (s.length === 2) {
      // Gemm with transB=1 (what PyTorch exports) stores [out, in]; MatMul and Gemm transB=0 store [in, out].
      const transB = layer.type === 'Gemm' && Number((layer.config as { transB?: unknown } | undefined)?.transB ?? 0) === 1;
      if (transB) return { kind: 'dense', units: s[0]!, fanIn: s[1]!, index: unitsFirst(s[1]!) };
      if (layer.type === 'Gather') return { kind: 'embedding', units: s[0]!, fanIn: s[1]!, index: unitsFirst(s[1]!) };
      return { kind: 'dense', units: s[1]!, fanIn: s[0]!, index: unitsLast(s[1]!, s[0]!) };
    }
    if (s.length >= 3 && isConvType(type)) {
      const [cout, cinPerGroup, ...spatial] = s as number[];
      const kh = spatial.length >= 2 ? spatial[0]! : 1;
      const kw = spatial[spatial.length - 1]!;
      const group = Number((layer.config as { group?: unknown } | undefined)?.group ?? 1);
      const fanIn = cinPerGroup! * spatial.reduce((a, b) => a * b, 1);
      const kind: WeightKind = group > 1 && cinPerGroup === 1 ? 'depthwise' : 'conv';
      return { kind, units: cout!, fanIn, kernel: { kh, kw, inChannels: cinPerGroup! }, index: unitsFirst(fanIn) };
    }
    return null;
  }

  if (format === 'tflite') {
    if (s.length === 2) return { kind: 'dense', units: s[0]!, fanIn: s[1]!, index: unitsFirst(s[1]!) };
    if (s.length === 4) {
      const [a, kh, kw, b] = s as [number, number, number, number];
      if (isDepthwiseType(type)) return { kind: 'depthwise', units: b, fanIn: kh * kw, kernel: { kh, kw, inChannels: 1 }, index: (u, p) => p * b + u };
      return { kind: 'conv', units: a, fanIn: kh * kw * b, kernel: { kh, kw, inChannels: b }, index: unitsFirst(kh * kw * b) };
    }
    return null;
  }

  // PyTorch-style storage (pytorch, safetensors, gguf as numpy-ordered shapes): [out, in, ...kernel].
  if (s.length === 2) {
    const embedding = /embed|wte|wpe|token_embd|tok_embeddings/.test(lname);
    return { kind: embedding ? 'embedding' : 'dense', units: s[0]!, fanIn: s[1]!, index: unitsFirst(s[1]!) };
  }
  if (s.length >= 3) {
    const [cout, cin, ...spatial] = s as number[];
    const kh = spatial.length >= 2 ? spatial[0]! : 1;
    const kw = spatial[spatial.length - 1]!;
    const fanIn = cin! * spatial.reduce((a, b) => a * b, 1);
    return { kind: cin === 1 && spatial.length ? 'depthwise' : 'conv', units: cout!, fanIn, kernel: { kh, kw, inChannels: cin! }, index: unitsFirst(fanIn) };
  }
  return null;
}

/**
 * How the stored values run: unit by unit ('unit-major', PyTorch/ONNX
 * [out, in]), position by position with the units innermost ('units-last',
 * Keras/TF [in, out] and [kh, kw, in, out]), or anything else.
 */
export function storageOrder(layout: WeightLayout): 'unit-major' | 'units-last' | 'other' {
  const { units, fanIn, index } = layout;
  if (units <= 1 || fanIn <= 1) return 'unit-major';
  if (index(0, 1) === 1 && index(1, 0) === fanIn) return 'unit-major';
  if (index(1, 0) === 1 && index(0, 1) === units) return 'units-last';
  return 'other';
}

/** Each unit's largest |w|, reading the values in storage order. */
export function unitMaxAbs(values: Float32Array, layout: WeightLayout): Float64Array {
  const { units, fanIn, index } = layout;
  const max = new Float64Array(units);
  const order = storageOrder(layout);
  if (order === 'units-last') {
    for (let i = 0, u = 0; i < values.length; i++) {
      const a = Math.abs(values[i]!);
      if (a > max[u]!) max[u] = a;
      if (++u === units) u = 0;
    }
  } else {
    for (let u = 0; u < units; u++) {
      let m = 0;
      for (let p = 0; p < fanIn; p++) {
        const a = Math.abs(values[order === 'unit-major' ? u * fanIn + p : index(u, p)]!);
        if (a > m) m = a;
      }
      max[u] = m;
    }
  }
  return max;
}

/**
 * The weights as a unit-major matrix: row u holds unit u's fanIn weights.
 * `into`, when given and long enough, receives the copy (callers reusing one
 * buffer for many tensors).
 */
export function unitMajor(values: Float32Array, layout: WeightLayout, into?: Float32Array): Float32Array {
  const { units, fanIn, index } = layout;
  const out = into && into.length >= units * fanIn ? into.subarray(0, units * fanIn) : new Float32Array(units * fanIn);
  if (storageOrder(layout) === 'units-last') {
    // Units last (Keras/TF [fanIn, units]): a plain transpose, in tiles so reads and writes both stay in cache.
    const T = 64;
    for (let p0 = 0; p0 < fanIn; p0 += T) {
      const p1 = Math.min(fanIn, p0 + T);
      for (let u0 = 0; u0 < units; u0 += T) {
        const u1 = Math.min(units, u0 + T);
        for (let p = p0; p < p1; p++) {
          const row = p * units;
          for (let u = u0; u < u1; u++) out[u * fanIn + p] = values[row + u]!;
        }
      }
    }
    return out;
  }
  for (let u = 0; u < units; u++) for (let p = 0; p < fanIn; p++) out[u * fanIn + p] = values[index(u, p)]!;
  return out;
}
