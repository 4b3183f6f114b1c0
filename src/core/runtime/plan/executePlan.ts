import type { Tf } from '../tfjs';
import { opInputs, type LoweredGraph, type PlanOp, type Ref } from './planOps';

/**
 * Runs plan ops by calling the backend's kernels directly: no engine, tape,
 * tidy scope or Tensor objects per op, which is most of model.predict's time
 * on small models (a TF.js op costs ~5–10 µs of bookkeeping; a direct kernel
 * call 0.5–4 µs of JavaScript/wasm glue). Values are the backend's own buffers (TensorInfo); each is freed
 * right after its last reader, and every buffer made during a failed run is
 * freed too. Weights stay resident, so XNNPACK's packed-weight operators (keyed
 * by the weight tensor) are built once and reused.
 */
type TensorInfo = import('@tensorflow/tfjs').TensorInfo;
type Tensor = import('@tensorflow/tfjs').Tensor;
type KernelBackend = import('@tensorflow/tfjs').KernelBackend;
type NamedAttrMap = import('@tensorflow/tfjs').NamedAttrMap;

interface Step {
  out: Ref;
  /** True when `out` shares another value's buffer (a reshape): it is never freed itself. */
  view: boolean;
  exec(values: readonly (TensorInfo | undefined)[]): TensorInfo;
  /** Buffers (by ref) whose last reader is this step. */
  free: Ref[];
}

export interface Executor {
  /** Kernel calls per batch. */
  kernels: number;
  run(x: Float32Array, shape: readonly number[]): { values: Float32Array; shape: number[] };
}

/**
 * Kernels trust their inputs: a shape a TF.js op would have refused can make a wasm kernel
 * write outside its buffers. So the input is checked against the model's input shape (null:
 * any size), and each step checks what its kernel needs before calling it.
 */
export class PlanShapeError extends Error {}

export function makeExecutor(tf: Tf, graph: LoweredGraph, backendName: string, inputShape: readonly (number | null)[]): Executor {
  const backend = tf.engine().findBackend(backendName) as KernelBackend | null;
  if (!backend) throw new Error(`backend ${backendName} is not initialised`);
  const kernel = (name: string) => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new MissingKernel(`kernel ${name} is not registered for the ${backendName} backend`);
    const fn = k.kernelFunc;
    return (inputs: Record<string, TensorInfo> | TensorInfo[], attrs: NamedAttrMap = {}): TensorInfo => {
      const out = fn({ inputs: inputs as never, backend, attrs });
      return Array.isArray(out) ? out[0]! : out;
    };
  };

  // Weights are read in place, so they must live in this backend. TF.js moves a tensor's data
  // to whichever backend last used it (model.predict after a backend switch does), so check
  // before every batch and move strays back, as the engine does before a kernel.
  const weights: Tensor[] = [];
  const resident = (t: Tensor, shape: number[] = t.shape): TensorInfo => {
    weights.push(t);
    return { dataId: t.dataId, shape, dtype: t.dtype };
  };
  const engine = tf.engine();
  const ensureResident = () => {
    for (const t of weights) if (backend.refCount(t.dataId) === 0) engine.moveData(backend, t.dataId);
  };

  // A view's buffer belongs to the value it reshapes: track the owner ("root") of every ref.
  const root: Ref[] = Array.from({ length: graph.refCount }, (_, i) => i);
  const steps: Step[] = graph.ops.map((op) => {
    const step = compileOp(op, kernel, resident);
    if (step.view) root[op.out] = root[(op as { x: Ref }).x]!;
    return step;
  });
  // Free each owned buffer after the last step that reads it (or any view of it); never the output's.
  const lastUse = new Map<Ref, number>();
  steps.forEach((s, i) => {
    for (const r of opInputs(graph.ops[i]!)) lastUse.set(root[r]!, i);
  });
  lastUse.delete(root[graph.output]!);
  for (const [r, i] of lastUse) steps[i]!.free.push(r);
  const kernels = steps.filter((s) => !s.view).length;
  const outputRoot = root[graph.output]!;

  return {
    kernels,
    run(x, shape) {
      if (shape.length !== inputShape.length || shape.some((d, i) => !(Number.isInteger(d) && d > 0) || (i > 0 && inputShape[i] !== null && d !== inputShape[i]))) {
        throw new PlanShapeError(`expected input of shape [${inputShape.map((d) => d ?? 'any').join(', ')}] but got [${shape.join(', ')}]`);
      }
      if (x.length < sizeOf(shape)) throw new PlanShapeError(`${x.length} values cannot fill an input of shape [${shape.join(', ')}]`);
      ensureResident();
      const values: (TensorInfo | undefined)[] = new Array(graph.refCount);
      const owned = new Set<Ref>();
      const size = sizeOf(shape);
      // The cpu backend keeps the array it is given: hand it exactly the input's values.
      const dataId = backend.write(x.length === size ? x : x.subarray(0, size), [...shape], 'float32');
      values[graph.input] = { dataId, shape: [...shape], dtype: 'float32' };
      owned.add(graph.input);
      try {
        for (const step of steps) {
          values[step.out] = step.exec(values);
          if (!step.view) owned.add(step.out);
          for (const r of step.free) {
            backend.disposeData(values[r]!.dataId);
            owned.delete(r);
          }
        }
        const y = values[graph.output]!;
        const read = backend.readSync(y.dataId) as Float32Array;
        // The cpu backend hands out its own array; when that array is the caller's input, copy it.
        const out = outputRoot === graph.input ? read.slice() : read;
        return { values: out, shape: [...y.shape] };
      } finally {
        for (const r of owned) backend.disposeData(values[r]!.dataId);
      }
    },
  };
}

export class MissingKernel extends Error {}

type KernelCall = (inputs: Record<string, TensorInfo> | TensorInfo[], attrs?: NamedAttrMap) => TensorInfo;

const relabel = (t: TensorInfo, shape: number[]): TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });
const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function compileOp(op: PlanOp, kernel: (name: string) => KernelCall, info: (t: Tensor, shape?: number[]) => TensorInfo): Step {
  const step = (exec: Step['exec'], view = false): Step => ({ out: op.out, view, exec, free: [] });
  switch (op.kind) {
    case 'dense': {
      const matMul = kernel('_FusedMatMul');
      const [inDim, outDim] = op.kernel.shape as [number, number];
      // The product always goes in as one batch ([1, rows, in] × [1, in, out]): that is the
      // backend's fast path (XNNPACK on wasm), and it keeps away from stock wasm _FusedMatMul's
      // general path, which adds the bias wrongly when a rank-3 product has a batch above 1.
      const w = info(op.kernel, [1, inDim, outDim]);
      const bias = op.bias ? info(op.bias) : null;
      const attrs = { transposeA: false, transposeB: false, activation: op.activation, leakyreluAlpha: 0 };
      const x = op.x;
      return step((v) => {
        const a = v[x]!;
        expect(a.shape[a.shape.length - 1] === inDim, op, a, `a last axis of ${inDim}`);
        const rows = sizeOf(a.shape) / inDim;
        const inputs: Record<string, TensorInfo> = { a: relabel(a, [1, rows, inDim]), b: w };
        if (bias) inputs['bias'] = bias;
        return relabel(matMul(inputs, attrs), [...a.shape.slice(0, -1), outDim]);
      });
    }
    case 'conv2d':
    case 'depthwiseConv2d': {
      const conv = kernel(op.kind === 'conv2d' ? 'FusedConv2D' : 'FusedDepthwiseConv2D');
      const filter = info(op.filter);
      const bias = op.bias ? info(op.bias) : null;
      const attrs = {
        strides: op.strides,
        pad: op.pad,
        dataFormat: 'NHWC',
        dilations: op.dilations,
        dimRoundingMode: undefined,
        activation: op.activation,
        leakyreluAlpha: 0,
      } as unknown as NamedAttrMap;
      const x = op.x;
      const [kh, kw, inChannels] = op.filter.shape as number[];
      const pads = typeof op.pad === 'string' ? op.pad : [op.pad[1], op.pad[2]];
      return step((v) => {
        const t = v[x]!;
        expect(t.shape.length === 4 && t.shape[3] === inChannels, op, t, `[batch, height, width, ${inChannels}]`);
        expect(windowFits(t.shape, [kh!, kw!], op.strides, op.dilations, pads), op, t, `room for a ${kh}×${kw} window`);
        const inputs: Record<string, TensorInfo> = { x: t, filter };
        if (bias) inputs['bias'] = bias;
        return conv(inputs, attrs);
      });
    }
    case 'batchNorm': {
      const norm = kernel('FusedBatchNorm');
      const params: Record<string, TensorInfo> = { mean: info(op.mean), variance: info(op.variance) };
      if (op.offset) params['offset'] = info(op.offset);
      if (op.scale) params['scale'] = info(op.scale);
      const attrs = { varianceEpsilon: op.epsilon };
      const x = op.x;
      const channels = op.mean.size;
      return step((v) => {
        const t = v[x]!;
        expect(t.shape[t.shape.length - 1] === channels, op, t, `a last axis of ${channels}`);
        return norm({ x: t, ...params }, attrs);
      });
    }
    case 'unary': {
      const k = kernel(op.kernel);
      const x = op.x;
      const attrs = op.attrs;
      return step((v) => k({ x: v[x]! }, attrs));
    }
    case 'softmax': {
      const k = kernel('Softmax');
      const x = op.x;
      return step((v) => {
        const logits = v[x]!;
        return k({ logits }, { dim: logits.shape.length - 1 });
      });
    }
    case 'pool': {
      const k = kernel(op.kernel);
      const attrs = { filterSize: op.filterSize, strides: op.strides, pad: op.pad, dimRoundingMode: undefined } as unknown as NamedAttrMap;
      const x = op.x;
      const { filterSize, strides, pad } = op;
      return step((v) => {
        const t = v[x]!;
        expect(t.shape.length === 4 && windowFits(t.shape, filterSize, strides, [1, 1], pad), op, t, `rank 4 with room for a ${filterSize.join('×')} window`);
        return k({ x: t }, attrs);
      });
    }
    case 'reduce': {
      const k = kernel(op.kernel);
      const attrs: NamedAttrMap = op.kernel === 'Max' ? { reductionIndices: op.axes, keepDims: false } : { axis: op.axes, keepDims: false };
      const x = op.x;
      const rank = op.axes.length + 2;
      return step((v) => {
        const t = v[x]!;
        expect(t.shape.length === rank, op, t, `rank ${rank}`);
        return k({ x: t }, attrs);
      });
    }
    case 'reshape': {
      const x = op.x;
      const sample = op.sampleShape;
      return step((v) => {
        const t = v[x]!;
        const batch = t.shape[0]!;
        const known = sizeOf(sample.filter((d) => d !== -1));
        const shape = [batch, ...sample.map((d) => (d === -1 ? sizeOf(t.shape) / batch / known : d))];
        if (sizeOf(shape) !== sizeOf(t.shape)) throw new Error(`layer '${op.layer}' cannot reshape [${t.shape.join(', ')}] to [${shape.join(', ')}]`);
        return relabel(t, shape);
      }, true);
    }
    case 'transpose': {
      const k = kernel('Transpose');
      const attrs = { perm: op.perm };
      const x = op.x;
      const rank = op.perm.length;
      return step((v) => {
        const t = v[x]!;
        expect(t.shape.length === rank, op, t, `rank ${rank}`);
        return k({ x: t }, attrs);
      });
    }
    case 'pad': {
      const k = kernel('PadV2');
      const attrs = { paddings: op.paddings, constantValue: 0 } as unknown as NamedAttrMap;
      const x = op.x;
      const rank = op.paddings.length;
      return step((v) => {
        const t = v[x]!;
        expect(t.shape.length === rank, op, t, `rank ${rank}`);
        return k({ x: t }, attrs);
      });
    }
    case 'binary': {
      const k = kernel(op.kernel);
      const a = op.a;
      const b = op.b;
      const constant = typeof a === 'number' ? null : info(a);
      return step((v) => k({ a: constant ?? v[a as Ref]!, b: v[b]! }));
    }
    case 'concat': {
      const k = kernel('Concat');
      const xs = op.xs;
      const attrs = { axis: op.axis };
      return step((v) => k(xs.map((r) => v[r]!), attrs));
    }
  }
}

function expect(ok: boolean, op: PlanOp, t: TensorInfo, what: string): void {
  if (!ok) throw new PlanShapeError(`layer '${op.layer}' expects ${what}, got [${t.shape.join(', ')}]`);
}

/** True when a window of `size` (dilated) fits the NHWC input at least once along height and width. */
function windowFits(shape: readonly number[], size: readonly number[], strides: readonly number[], dilations: readonly number[], pad: 'same' | 'valid' | readonly (readonly number[])[]): boolean {
  for (let i = 0; i < 2; i++) {
    const n = shape[i + 1]!;
    const k = (size[i]! - 1) * dilations[i]! + 1;
    const padded = pad === 'same' ? Math.max(n, k) : pad === 'valid' ? n : n + pad[i]![0]! + pad[i]![1]!;
    if (!(n > 0 && padded >= k && strides[i]! > 0)) return false;
  }
  return true;
}
