import * as assert from 'node:assert/strict';
import { quantizeAffine, roundBounded, roundHalfUp, roundInt8 } from '../../src/core/numeric/affineQuantize';
import { kmeans1d, SortedValues } from '../../src/core/numeric/kmeans1d';
import { gram } from '../../src/core/numeric/lowRank';
import { kthSmallestMagnitude, radixSortFloat32 } from '../../src/core/numeric/radix';
import { absolute, magnitudeQuantile, selectInPlace } from '../../src/core/numeric/select';
import { symmetricEigen } from '../../src/core/numeric/symmetricEigen';
import { registerWasmKernels } from '../../src/core/runtime/kernels';
import { loadTf, type Tf } from '../../src/core/runtime/tfjs';
import { mulberry32 as rng } from '../../src/core/numeric/random';

/**
 * Parsimony's wasm kernels (src/core/runtime/kernels) against the reference cpu
 * backend: the same kernel call, or the same gradient, on both backends must
 * agree to float tolerance.
 */
type Tensor = import('@tensorflow/tfjs').Tensor;
type Tensor4D = import('@tensorflow/tfjs').Tensor4D;
type Shape4 = [number, number, number, number];
type NamedTensorMap = Record<string, Tensor>;


function randomArray(n: number, seed: number, reluLike = false): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = r() * 2 - 1;
    // Post-ReLU data has many exact zeros: max-pool ties.
    out[i] = reluLike ? Math.max(0, v) : v;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function assertClose(actual: Float32Array, expected: Float32Array, label: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= tol * Math.max(1, scale))) {
      assert.fail(`${label}: element ${i} is ${actual[i]}, cpu has ${expected[i]} (|Δ| ${diff}, scale ${scale})`);
    }
  }
}

describe('wasm kernels match the cpu backend', function () {
  this.timeout(60_000);
  let tf: Tf;

  before(async () => {
    tf = (await loadTf('wasm')).tf;
    registerWasmKernels(tf); // idempotent: loadTf registered them already
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  /** Runs `fn` on wasm and on cpu with the same input arrays; returns both results. */
  async function onBoth(inputs: Record<string, { shape: number[]; values: Float32Array }>, fn: (t: NamedTensorMap) => Tensor | Tensor[]): Promise<{ wasm: Float32Array[]; cpu: Float32Array[] }> {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      assert.equal(tf.getBackend(), backend);
      const tensors: NamedTensorMap = {};
      for (const [k, v] of Object.entries(inputs)) tensors[k] = tf.tensor(v.values, v.shape);
      const out = tf.tidy(() => fn(tensors));
      const list = Array.isArray(out) ? out : [out];
      const values = await Promise.all(list.map(async (t) => Float32Array.from(await t.data() as Float32Array)));
      tf.dispose([...list, ...Object.values(tensors)]);
      return values;
    };
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    return { wasm, cpu };
  }

  const input = (shape: number[], seed: number, reluLike = false) => ({ shape, values: randomArray(size(shape), seed, reluLike) });

  it('registers Conv2DBackpropFilter and wraps the slow stock kernels', () => {
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
    for (const k of ['BatchMatMul', '_FusedMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', 'GatherV2', 'Identity']) {
      assert.equal((tf.getKernel(k, 'wasm') as { parsimonyWrapped?: boolean }).parsimonyWrapped, true, k);
    }
    assert.deepEqual(registerWasmKernels(tf), { added: [], wrapped: [] });
  });

  const convCases: { name: string; x: Shape4; f: Shape4; strides: number | [number, number]; pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]] }[] = [
    { name: '3×3 valid, 1 input channel', x: [4, 12, 12, 1], f: [3, 3, 1, 8], strides: 1, pad: 'valid' },
    { name: '3×3 same, 1 input channel', x: [3, 9, 11, 1], f: [3, 3, 1, 5], strides: 1, pad: 'same' },
    { name: '5×2 explicit padding, 1 input channel', x: [2, 8, 7, 1], f: [5, 2, 1, 3], strides: 1, pad: [[0, 0], [1, 3], [2, 0], [0, 0]] },
    { name: '3×3 stride 2, 1 input channel', x: [2, 11, 10, 1], f: [3, 3, 1, 4], strides: 2, pad: 'valid' },
    { name: '3×3 same, 5→7 channels', x: [3, 9, 11, 5], f: [3, 3, 5, 7], strides: 1, pad: 'same' },
    { name: '5×3 same, stride 2', x: [2, 13, 10, 3], f: [5, 3, 3, 4], strides: 2, pad: 'same' },
    { name: '2×2 valid, strides [2, 3]', x: [2, 9, 14, 2], f: [2, 2, 2, 3], strides: [2, 3], pad: 'valid' },
    { name: '1×1 valid', x: [2, 6, 6, 4], f: [1, 1, 4, 6], strides: 1, pad: 'valid' },
    { name: '3×3 explicit padding', x: [2, 7, 8, 3], f: [3, 3, 3, 2], strides: 1, pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  ];

  for (const c of convCases) {
    it(`Conv2DBackpropFilter and Conv2DBackpropInput: ${c.name}`, async () => {
      const probe = tf.conv2d(tf.zeros(c.x) as Tensor4D, tf.zeros(c.f) as Tensor4D, c.strides, c.pad);
      const yShape: number[] = probe.shape;
      probe.dispose();
      const { wasm, cpu } = await onBoth({ x: input(c.x, 1), dy: input(yShape, 2), w: input(c.f, 3) }, (t) => [
        tf.engine().runKernel('Conv2DBackpropFilter', { x: t['x']!, dy: t['dy']! }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f } as never) as Tensor,
        tf.engine().runKernel('Conv2DBackpropInput', { dy: t['dy']!, filter: t['w']! }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as never) as Tensor,
      ]);
      assertClose(wasm[0]!, cpu[0]!, 'dW');
      assertClose(wasm[1]!, cpu[1]!, 'dX');
    });
  }

  it('Conv2DBackpropFilter with NCHW data', async () => {
    const x = [2, 3, 8, 7];
    const f = [3, 3, 3, 4];
    // The cpu backend computes NCHW itself; wasm transposes to NHWC first.
    const { wasm, cpu } = await onBoth({ x: input(x, 4), dy: input([2, 4, 6, 5], 5) }, (t) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: t['x']!, dy: t['dy']! }, { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: f } as never) as Tensor,
    );
    assertClose(wasm[0]!, cpu[0]!, 'dW (NCHW)');
  });

  const poolCases: { name: string; x: Shape4; size: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' }[] = [
    { name: '2×2 stride 2 valid (odd input)', x: [3, 13, 13, 8], size: 2, strides: 2, pad: 'valid' },
    { name: '3×3 stride 1 same (overlapping windows)', x: [2, 7, 9, 3], size: 3, strides: 1, pad: 'same' },
    { name: '3×2 stride [2, 1] same', x: [2, 8, 7, 5], size: [3, 2], strides: [2, 1], pad: 'same' },
  ];
  for (const c of poolCases) {
    it(`MaxPoolGrad: ${c.name}, with ties`, async () => {
      const probe = tf.maxPool(tf.zeros(c.x) as Tensor4D, c.size, c.strides, c.pad);
      const yShape: number[] = probe.shape;
      probe.dispose();
      const { wasm, cpu } = await onBoth({ x: input(c.x, 6, true), dy: input(yShape, 7) }, (t) => {
        const y = tf.maxPool(t['x'] as Tensor4D, c.size, c.strides, c.pad);
        return tf.engine().runKernel('MaxPoolGrad', { dy: t['dy']!, input: t['x']!, output: y }, { filterSize: c.size, strides: c.strides, pad: c.pad } as never) as Tensor;
      });
      assertClose(wasm[0]!, cpu[0]!, 'dX', 1e-6);
    });
  }

  it('BatchMatMul and _FusedMatMul with transposed operands, batch dims and broadcasting', async () => {
    const { wasm, cpu } = await onBoth(
      {
        a: input([3, 5, 7], 8), b: input([3, 7, 4], 9), bt: input([3, 4, 7], 10), at: input([3, 7, 5], 11), b1: input([1, 4, 7], 12),
        m: input([6, 9], 13), n: input([6, 2], 14), p: input([9, 4], 16), pt: input([4, 9], 17), bias: input([4], 15),
      },
      (t) => [
        tf.matMul(t['a']!, t['b']!),
        tf.matMul(t['a']!, t['bt']!, false, true),
        tf.matMul(t['at']!, t['b']!, true, false),
        tf.matMul(t['at']!, t['bt']!, true, true),
        tf.matMul(t['a']!, t['b1']!, false, true),
        tf.matMul(t['m']!, t['n']!, true, false),
        // Fused products as Dense layers use them (rank 2: the stock wasm kernel mis-applies a bias to batched products).
        tf.fused.matMul({ a: t['m']!, b: t['pt']!, transposeB: true, bias: t['bias']!, activation: 'relu' }),
        tf.fused.matMul({ a: t['m']!, b: t['n']!, transposeA: true, bias: t['bias']!.slice(0, 2), activation: 'linear' }),
        tf.fused.matMul({ a: t['m']!, b: t['p']!, bias: t['bias']!, activation: 'relu' }),
      ],
    );
    cpu.forEach((expected, i) => assertClose(wasm[i]!, expected, `product ${i}`));
  });

  it('_FusedMatMul on batched products adds the bias per column and applies each activation (stock wasm gives rows after the first the last bias value)', async () => {
    const activations = ['linear', 'relu', 'relu6', 'sigmoid', 'elu', 'leakyrelu', 'prelu'] as const;
    const { wasm, cpu } = await onBoth(
      { a: input([3, 5, 7], 20), b: input([3, 7, 4], 21), bt: input([3, 4, 7], 22), b1: input([1, 7, 4], 23), bias: input([4], 24), alpha: input([4], 25) },
      (t) => [
        ...activations.map((activation) =>
          tf.fused.matMul({ a: t['a']!, b: t['b']!, bias: t['bias']!, activation, ...(activation === 'prelu' ? { preluActivationWeights: t['alpha']! } : {}), leakyreluAlpha: 0.3 }),
        ),
        tf.fused.matMul({ a: t['a']!, b: t['bt']!, transposeB: true, bias: t['bias']!, activation: 'relu' }),
        tf.fused.matMul({ a: t['a']!, b: t['b1']!, bias: t['bias']! }), // b broadcast over the batch
        tf.fused.matMul({ a: t['a']!, b: t['b']! }), // no bias
      ],
    );
    cpu.forEach((expected, i) => assertClose(wasm[i]!, expected, `product ${i}`));
    // The values above go forward only; the gradients come from tfjs-core's other kernels, checked here too.
    const grads = await onBoth({ a: input([3, 5, 7], 26), b: input([3, 7, 4], 27), bias: input([4], 28) }, (t) =>
      tf.grads((a: Tensor, b: Tensor, bias: Tensor) => tf.fused.matMul({ a, b, bias, activation: 'relu' }).sum())([t['a']!, t['b']!, t['bias']!]),
    );
    grads.cpu.forEach((expected, i) => assertClose(grads.wasm[i]!, expected, `gradient ${i}`));
  });

  it('GatherV2: rows (a training batch), middle and last axes, 2-D and repeated indices, int32 data; out-of-range indices throw', async () => {
    const rows = Int32Array.from([7, 0, 49, 7, 23, 1]);
    const { wasm, cpu } = await onBoth({ x: input([50, 4, 3], 30), v: input([6, 9], 31) }, (t) => [
      tf.gather(t['x']!, tf.tensor1d(rows, 'int32')),
      tf.gather(t['x']!, tf.tensor2d([3, 0, 2, 3], [2, 2], 'int32'), 1),
      tf.gather(t['x']!, tf.tensor1d([2, 2, 0], 'int32'), 2),
      tf.gather(t['v']!, tf.tensor1d([8, 1], 'int32'), -1),
      tf.gather(t['x']!.mul(1000).toInt(), tf.tensor1d(rows, 'int32')).toFloat(),
    ]);
    // No gradient: model.fit gathers data, not weights (and wasm has no UnsortedSegmentSum, which a gather's gradient needs).
    cpu.forEach((expected, i) => assertClose(wasm[i]!, expected, `gather ${i}`, 0));
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 2]);
    assert.throws(() => tf.gather(x, tf.tensor1d([4], 'int32')), /index value 4 is not in \[0, 3\]/);
    x.dispose();
  });

  it('Identity shares the buffer (no copy) and keeps it alive until both tensors are gone', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const buffers = backend.numDataIds();
    const a = tf.tensor2d([1, -2, 3.5, Number.NaN], [2, 2]);
    const b = tf.clone(a);
    assert.equal(backend.numDataIds(), buffers + 1);
    a.dispose();
    assert.deepEqual(Array.from(await b.data()), [1, -2, 3.5, Number.NaN]);
    b.dispose();
    assert.equal(backend.numDataIds(), buffers);
    // Recorded gradients clone what they keep; the values still match the cpu backend's.
    const { wasm, cpu } = await onBoth({ x: input([4, 6], 40), w: input([6, 3], 41) }, (t) =>
      tf.grads((x: Tensor, w: Tensor) => tf.relu(tf.matMul(x, w)).square().sum())([t['x']!, t['w']!]),
    );
    cpu.forEach((expected, i) => assertClose(wasm[i]!, expected, `gradient ${i}`));
  });

  it('gradients of a small conv net (conv, relu, max-pool, strided conv, dense) agree with cpu', async () => {
    const shapes = { x: [4, 12, 12, 2], w1: [3, 3, 2, 6], w2: [3, 3, 6, 5], w3: [45, 10], b3: [10] };
    const inputs = Object.fromEntries(Object.entries(shapes).map(([k, s], i) => [k, input(s, 20 + i)]));
    const { wasm, cpu } = await onBoth(inputs, (t) => {
      const loss = (x: Tensor, w1: Tensor, w2: Tensor, w3: Tensor, b3: Tensor) => {
        let h: Tensor4D = tf.relu(tf.conv2d(x as Tensor4D, w1 as Tensor4D, 1, 'same')); // [4, 12, 12, 6]
        h = tf.maxPool(h, 2, 2, 'valid'); // [4, 6, 6, 6]
        h = tf.relu(tf.conv2d(h, w2 as Tensor4D, 2, 'same')); // [4, 3, 3, 5]
        const logits = tf.add(tf.matMul(tf.reshape(h, [4, 45]), w3), b3);
        return tf.mean(tf.square(tf.sub(tf.softmax(logits), 0.1)));
      };
      return tf.grads(loss as never)([t['x']!, t['w1']!, t['w2']!, t['w3']!, t['b3']!]);
    });
    ['dX', 'dW1', 'dW2', 'dW3', 'db3'].forEach((name, i) => assertClose(wasm[i]!, cpu[i]!, name, 1e-3));
  });

  it('a tf.layers CNN trains on wasm with the same first-step weights as on cpu', async () => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [10, 10, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
        ],
      });
      model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
      const x = tf.tensor(randomArray(8 * 100, 30), [8, 10, 10, 1]);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
      await model.trainOnBatch(x, y);
      const weights = await Promise.all(model.getWeights().map(async (w) => Float32Array.from(await w.data() as Float32Array)));
      tf.dispose([x, y]);
      model.dispose();
      return weights;
    };
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    cpu.forEach((expected, i) => assertClose(wasm[i]!, expected, `weight ${i}`, 1e-4));
  });
});

/**
 * The numeric fast paths behind the weight kernels (src/core/numeric) give the
 * same numbers as the straightforward code they replaced.
 */
describe('numeric fast paths match their reference arithmetic', function () {
  this.timeout(60_000);

  it('roundBounded and roundHalfUp are Math.round (ties up, −0 kept) for |y| < 2^52', () => {
    const special = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994, 0.5000000000000001, -0.5000000000000001,
      NaN, Infinity, -Infinity, 127.5, -127.5, 4503599627370495.5, -4503599627370495.5, Number.MIN_VALUE, -Number.MIN_VALUE, -1e-300, 1e15 + 0.5];
    const r = rng(40);
    const values = [...special, ...Array.from({ length: 200_000 }, (_, i) => (i % 2 ? (r() - 0.5) * 600 : Math.round((r() - 0.5) * 600) / 2))];
    for (const y of values) {
      assert.ok(Object.is(roundHalfUp(y), Math.round(y)), `roundHalfUp(${y})`);
      assert.ok(Object.is(roundBounded(y), Math.round(y)), `roundBounded(${y})`);
      assert.ok(Object.is(roundInt8(y), Math.round(Math.max(-127, Math.min(127, y)))), `roundInt8(${y})`);
    }
  });

  it('radix sort orders float32 values exactly as TypedArray sort (−0 before +0, ±Infinity, subnormals)', () => {
    for (const n of [1, 7, 4096, 50_001, 1_000_003]) {
      const v = randomArray(n, n);
      // Weight-like magnitudes too: a few exponents hold most values, so buckets are large (the in-bucket passes).
      if (n > 100_000) for (let i = 0; i < n; i += 2) v[i] = v[i]! * 0.01;
      for (let i = 0; i < n; i += 11) v[i] = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, v[i]!][i % 8]!;
      const out = new Float32Array(n);
      assert.equal(radixSortFloat32(v, out), true);
      const expected = Float32Array.from(v).sort();
      assert.ok(expected.every((x, i) => Object.is(x, out[i])), `n=${n}`);
    }
  });

  it('radix sort declines a NaN of either sign and SortedValues then sorts by comparison', () => {
    for (const nan of [NaN, -NaN, new Float32Array(new Uint32Array([0x7fc00001]).buffer)[0]!, new Float32Array(new Uint32Array([0xffffffff]).buffer)[0]!]) {
      const v = randomArray(10_000, 5);
      v[1234] = nan;
      const out = new Float32Array(v.length);
      assert.equal(radixSortFloat32(v, out), false);
      assert.ok(out.every((x) => x === 0), 'nothing written');
      const data = new SortedValues(v);
      const ref = Float64Array.from(v).sort();
      assert.ok(ref.every((x, i) => Object.is(x, data.sorted[i])));
      assert.ok(Number.isNaN(data.at(v.length - 1)), 'NaN sorts last, as in TypedArray sort');
    }
  });

  it('radix selection of |w| gives the quickselect answer, and declines NaN', () => {
    const v = randomArray(100_003, 41);
    for (let i = 0; i < v.length; i += 97) v[i] = 0;
    for (const f of [0, 0.25, 0.5, 0.9, 0.999]) {
      const k = Math.floor(f * v.length);
      assert.ok(Object.is(kthSmallestMagnitude(v, k), selectInPlace(absolute(v), k)), `fraction ${f}`);
      assert.ok(Object.is(magnitudeQuantile(v, f), selectInPlace(absolute(v), k)));
    }
    assert.equal(kthSmallestMagnitude(Float32Array.from([1, NaN, 2]), 1), null);
  });

  it('SortedValues keeps float32 input float32 but sums bit-identically to float64 prefix sums', () => {
    const v = randomArray(20_000, 42);
    const data = new SortedValues(v);
    // (Also a length that is a whole number of prefix blocks.)
    const whole = randomArray(64 * 300, 44);
    const wholeRef = Float64Array.from(whole).sort();
    const wholeData = new SortedValues(whole);
    let running = 0;
    for (const x of wholeRef) running += x;
    assert.ok(Object.is(wholeData.sum(0, whole.length), running));
    const ref = Float64Array.from(v).sort();
    assert.ok(ref.every((x, i) => Object.is(x, data.sorted[i])));
    const prefix = new Float64Array(ref.length + 1);
    const prefixSq = new Float64Array(ref.length + 1);
    for (let i = 0; i < ref.length; i++) {
      prefix[i + 1] = prefix[i]! + ref[i]!;
      prefixSq[i + 1] = prefixSq[i]! + ref[i]! * ref[i]!;
    }
    const r = rng(43);
    for (let t = 0; t < 500; t++) {
      const a = Math.floor(r() * ref.length);
      const b = a + Math.floor(r() * (ref.length - a + 1));
      assert.ok(Object.is(data.sum(a, b), prefix[b]! - prefix[a]!), `sum ${a}..${b}`);
      assert.ok(Object.is(data.sumSq(a, b), prefixSq[b]! - prefixSq[a]!), `sumSq ${a}..${b}`);
    }
    // The same clustering from the float32 path and the float64 path.
    const k32 = kmeans1d(data, 16);
    const k64 = kmeans1d(new SortedValues(Float64Array.from(v)), 16);
    assert.deepEqual(Array.from(k32.centroids), Array.from(k64.centroids));
    assert.equal(k32.sse, k64.sse);
  });

  it('blocked Gram products equal row-by-row rank-1 updates', () => {
    const reference = (a: Float32Array, rows: number, cols: number) => {
      const g = new Float64Array(cols * cols);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < cols; i++) {
          const ai = a[r * cols + i]!;
          if (ai === 0) continue;
          for (let j = i; j < cols; j++) g[i * cols + j] = g[i * cols + j]! + ai * a[r * cols + j]!;
        }
      }
      for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) g[i * cols + j] = g[j * cols + i]!;
      return g;
    };
    for (const [rows, cols] of [[9, 7], [33, 18], [64, 64]] as const) {
      const a = randomArray(rows * cols, rows + cols);
      for (let i = 0; i < a.length; i += 5) a[i] = 0;
      const { g, side } = gram(a, rows, cols);
      assert.equal(side, 'cols');
      const expected = reference(a, rows, cols);
      assert.ok(expected.every((x, i) => Object.is(x, g[i])), `${rows}×${cols}`);
    }
  });

  it('eigenvalues without vectors (row-wise tridiagonalisation) match those computed with vectors', () => {
    const a = randomArray(40 * 30, 44);
    const { g, n } = gram(a, 40, 30);
    const fast = symmetricEigen(g, n, false).values;
    const full = symmetricEigen(g, n, true).values;
    fast.forEach((x, i) => assert.ok(Math.abs(x - full[i]!) <= 1e-12 * Math.abs(full[0]!), `eigenvalue ${i}`));
  });

  it('int8 per-channel quantization keeps the old per-unit results on both memory orders', () => {
    const units = 6;
    const fanIn = 11;
    const v = randomArray(units * fanIn, 45);
    v[3] = 0;
    v[4] = -0;
    for (const index of [(u: number, p: number) => p * units + u, (u: number, p: number) => u * fanIn + p]) {
      const out = new Float32Array(v.length);
      const { scale } = quantizeAffine(v, out, 'int8', { units, fanIn, index });
      for (let u = 0; u < units; u++) {
        let max = 0;
        for (let p = 0; p < fanIn; p++) max = Math.max(max, Math.abs(v[index(u, p)]!));
        const s = max / 127 || 1;
        assert.equal(scale[u], Math.fround(s));
        for (let p = 0; p < fanIn; p++) {
          const i = index(u, p);
          assert.ok(Object.is(out[i], Math.fround(Math.max(-127, Math.min(127, Math.round(v[i]! / s))) * s)), `unit ${u} position ${p}`);
        }
      }
      // In place (as the compress method does it) gives the same; a unit holding a NaN keeps scale 1, as it always had.
      const w = Float32Array.from(v);
      w[index(2, 3)] = NaN;
      const apart = new Float32Array(w.length);
      const a = quantizeAffine(w, apart, 'int8', { units, fanIn, index });
      const same = Float32Array.from(w);
      const b = quantizeAffine(same, same, 'int8', { units, fanIn, index });
      assert.deepEqual(Array.from(b.scale), Array.from(a.scale));
      assert.ok(apart.every((x, i) => Object.is(x, same[i])), 'in place');
      assert.equal(a.scale[2], 1);
      assert.ok(Number.isNaN(apart[index(2, 3)]!));
    }
  });

  it('per-unit quantization: uint8 per unit on both orders, empty tensors, and a layout that is not strided is refused', () => {
    const units = 5;
    const fanIn = 7;
    const v = randomArray(units * fanIn, 46);
    for (const index of [(u: number, p: number) => p * units + u, (u: number, p: number) => u * fanIn + p]) {
      const out = new Float32Array(v.length);
      const { scale, zeroPoint } = quantizeAffine(v, out, 'uint8', { units, fanIn, index });
      for (let u = 0; u < units; u++) {
        let min = 0;
        let max = 0;
        for (let p = 0; p < fanIn; p++) {
          min = Math.min(min, v[index(u, p)]!);
          max = Math.max(max, v[index(u, p)]!);
        }
        const s = (max - min) / 255 || 1;
        const zp = Math.round(-min / s);
        assert.equal(scale[u], Math.fround(s));
        assert.equal(zeroPoint[u], zp);
        for (let p = 0; p < fanIn; p++) {
          const i = index(u, p);
          assert.equal(out[i], Math.fround((Math.max(0, Math.min(255, Math.round(v[i]! / s) + zp)) - zp) * s), `unit ${u} position ${p}`);
        }
      }
    }
    // Zero units or zero positions: nothing to quantize, and the layout is never asked about a unit.
    const never = () => {
      throw new Error('asked for an element of an empty tensor');
    };
    assert.deepEqual(Array.from(quantizeAffine(new Float32Array(0), new Float32Array(0), 'int8', { units: 0, fanIn: 4, index: never }).scale), []);
    assert.deepEqual(Array.from(quantizeAffine(new Float32Array(0), new Float32Array(0), 'uint8', { units: 3, fanIn: 0, index: never }).scale), [1, 1, 1]);
    // A permuted layout would quantize the wrong elements with the strides: refused.
    const shuffled = (u: number, p: number) => (p * units + u) ^ (p === fanIn - 1 ? 1 : 0);
    assert.throws(() => quantizeAffine(v, new Float32Array(v.length), 'int8', { units, fanIn, index: shuffled }), /not a strided one/);
  });
});
