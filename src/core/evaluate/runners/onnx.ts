import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import { floatToHalf, halfToFloat } from '../../io/halfFloat';
import type { ModelDoc } from '../../model';
import type { Runner } from './types';

type Ort = typeof import('onnxruntime-node');

let ortPromise: Promise<Ort> | undefined;
/** onnxruntime-node, loaded on first use (it is a native module). */
export function loadOrt(): Promise<Ort> {
  ortPromise ??= import('onnxruntime-node').then((m) => ((m as { default?: Ort }).default ?? m) as Ort);
  ortPromise.catch(() => (ortPromise = undefined));
  return ortPromise;
}

/**
 * Runs an ONNX model with onnxruntime-node on the CPU. The first graph input is
 * fed float32 (or float16/float64 when the model declares those) in the
 * declared shape; a fixed batch dimension (e.g. 1) is honoured by the caller,
 * which splits batches to that size.
 */
export async function openOnnxRunner(doc: ModelDoc): Promise<Runner> {
  const ort = await loadOrt();
  const name = path.basename(doc.file);
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(doc.file, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  } catch (e) {
    throw new ModelFormatError('not-a-model', `onnxruntime could not load the model: ${String((e as Error).message ?? e).split('\n')[0]}`, { file: doc.file });
  }
  const notes: string[] = [];
  if (session.inputNames.length !== 1) {
    await session.release();
    throw new ModelFormatError('unsupported-format', `${name} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); evaluate feeds models with one input`, { file: doc.file });
  }
  const meta = session.inputMetadata[0];
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  if (session.outputNames.length > 1) notes.push(`${name} has ${session.outputNames.length} outputs; the first (${outputName}) is scored`);
  let type = 'float32';
  let inputShape: (number | null)[] | null = null;
  if (meta && meta.isTensor) {
    type = meta.type;
    if (meta.shape.length > 0) inputShape = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
  }
  if (!inputShape && doc.inputShape) inputShape = [...doc.inputShape];
  if (type !== 'float32' && type !== 'float16' && type !== 'float64') {
    await session.release();
    throw new ModelFormatError('unsupported-format', `${name}'s input '${inputName}' is ${type}; evaluate feeds float inputs`, { file: doc.file });
  }
  const batch = inputShape?.[0];
  return {
    format: doc.format,
    backend: 'onnxruntime-cpu',
    backendReason: 'onnxruntime-node, CPU execution provider',
    inputShape,
    fixedBatch: typeof batch === 'number' ? batch : null,
    notes,
    async run(x, n, sampleShape) {
      const dims = [n, ...sampleShape];
      let tensor: import('onnxruntime-node').Tensor;
      if (type === 'float16') {
        const h = new Uint16Array(x.length);
        for (let i = 0; i < x.length; i++) h[i] = floatToHalf(x[i]!);
        tensor = new ort.Tensor('float16', h, dims);
      } else if (type === 'float64') tensor = new ort.Tensor('float64', Float64Array.from(x), dims);
      else tensor = new ort.Tensor('float32', x, dims);
      const result = await session.run({ [inputName]: tensor });
      const out = result[outputName] as import('onnxruntime-node').Tensor;
      try {
        const values = toFloat32(out);
        return { values, width: n > 0 ? values.length / n : 0 };
      } finally {
        for (const t of Object.values(result)) (t as { dispose?: () => void }).dispose?.();
      }
    },
    async dispose() {
      await session.release();
    },
  };
}

function toFloat32(t: import('onnxruntime-node').Tensor): Float32Array {
  const data = t.data as unknown;
  if (data instanceof Float32Array) return Float32Array.from(data);
  if (t.type === 'float16' && data instanceof Uint16Array) {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i]!);
    return out;
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, (v) => Number(v));
  if (ArrayBuffer.isView(data)) return Float32Array.from(data as unknown as ArrayLike<number>);
  throw new ModelFormatError('unsupported-format', `the model's output is ${t.type}, not numbers`);
}
