import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../../src/core/data/mnist';
import { openModel } from '../../src/core/formats/registry';
import { diskModelHandler, openTfjsRunner } from '../../src/core/evaluate/runners/tfjs';
import { compileInferencePlan, type InferencePlan } from '../../src/core/runtime/plan/inferencePlan';
import { loadTf, type Tf } from '../../src/core/runtime/tfjs';
import { mulberry32 as rng } from '../../src/core/numeric/random';

/**
 * The inference plan (src/core/runtime/plan) against stock TF.js: on real
 * models (the examples, the nsfwjs MobileNetV2 from npm) and on models built
 * here from every layer kind it covers, its outputs must equal
 * model.predict's to float tolerance, on the wasm backend and on the cpu
 * reference backend; models with a layer it does not cover get no plan.
 */
type LayersModel = import('@tensorflow/tfjs').LayersModel;
type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = (id: string) => path.join(ROOT, 'examples', id, 'model.json');
const NSFWJS = path.join(ROOT, 'test/fixtures/real/tfjs-layers/nsfwjs_mobilenet_v2/model.json');


function randomInput(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
}

function predict(tf: Tf, model: LayersModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor(x, shape, 'float32'));
    return (Array.isArray(y) ? y[0]! : y).dataSync() as Float32Array;
  });
}

/** |plan − predict| ≤ tol × max(1, max |predict|), element by element. */
function assertClose(actual: Float32Array, expected: Float32Array, label: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= tol * scale)) assert.fail(`${label}: element ${i} is ${actual[i]}, model.predict gives ${expected[i]} (|Δ| ${diff})`);
  }
}

/** Every weight set to seeded values; batch-norm variances positive, so the folded scales vary. */
function randomizeWeights(tf: Tf, model: LayersModel, seed: number): void {
  const r = rng(seed);
  const values = model.weights.map((w) => {
    const n = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const variance = /moving_variance/.test(w.name);
    const data = Float32Array.from({ length: n }, () => (variance ? 0.2 + r() * 2 : (r() * 2 - 1) * 0.6));
    return tf.tensor(data, w.shape as number[]);
  });
  model.setWeights(values);
  tf.dispose(values);
}

function compile(tf: Tf, model: LayersModel): InferencePlan {
  const c = compileInferencePlan(tf, model);
  assert.ok(c.plan, `no plan: ${c.reason}`);
  return c.plan;
}

describe('inference plan', function () {
  this.timeout(120_000);
  let tf: Tf;
  const models: LayersModel[] = [];
  const load = async (file: string) => {
    const m = await tf.loadLayersModel(diskModelHandler(tf, file));
    models.push(m);
    return m;
  };

  before(async () => {
    tf = (await loadTf('wasm')).tf;
  });
  afterEach(async () => {
    await tf.setBackend('wasm');
  });
  after(() => {
    for (const m of models) m.dispose();
  });

  for (const backend of ['wasm', 'cpu']) {
    describe(`on the ${backend} backend`, () => {
      beforeEach(async () => {
        await tf.setBackend(backend);
      });

      for (const id of ['mnist-mlp', 'mnist-cnn']) {
        it(`examples/${id}: the same outputs as model.predict on MNIST digits at batch 1, 7 and 32`, async () => {
          const model = await load(EXAMPLE(id));
          const plan = compile(tf, model);
          const digits = loadMnist('test', 40);
          for (const [start, n] of [[0, 1], [1, 7], [8, 32]] as const) {
            const x = digits.x.subarray(start * 784, (start + n) * 784);
            const shape = [n, 28, 28, 1];
            const out = plan.run(x, shape);
            assert.deepEqual(out.shape, [n, 10]);
            assertClose(out.values, predict(tf, model, x, shape), `${id} batch ${n}`);
          }
          plan.dispose();
        });
      }

      it('a functional model of every covered layer kind (BN folded or not, residual add, concat, pooling, nested Sequential)', () => {
        const model = buildConvModel(tf);
        models.push(model);
        randomizeWeights(tf, model, 7);
        const plan = compile(tf, model);
        // Folded: conv→BN, depthwise→BN, separable's pointwise→BN; not folded: BN after an Add.
        assert.equal(plan.fused.batchNorms, 3);
        assert.equal(plan.fused.paddings, 1);
        assert.ok(plan.fused.activations >= 3, plan.summary);
        for (const n of [1, 5]) {
          const shape = [n, 12, 12, 3];
          const x = randomInput(shape, 100 + n);
          const out = plan.run(x, shape);
          assert.deepEqual(out.shape, [n, 6]);
          assertClose(out.values, predict(tf, model, x, shape), `conv model batch ${n}`);
        }
        plan.dispose();
      });

      it('a model of dense, reshape, permute, merge and activation layers (Dense on a rank-3 input, every merge kind)', () => {
        const model = buildDenseModel(tf);
        models.push(model);
        randomizeWeights(tf, model, 11);
        const plan = compile(tf, model);
        for (const n of [1, 4]) {
          const shape = [n, 6, 8];
          const x = randomInput(shape, 200 + n);
          const out = plan.run(x, shape);
          assertClose(out.values, predict(tf, model, x, shape), `dense model batch ${n}`);
        }
        plan.dispose();
      });
    });
  }

  it('nsfwjs MobileNetV2 (a real third-party layers model): same outputs, 52 batch norms and 5 paddings folded, fewer kernel calls than layers', async () => {
    const model = await load(NSFWJS);
    const plan = compile(tf, model);
    assert.equal(plan.fused.batchNorms, 52);
    assert.equal(plan.fused.paddings, 5);
    assert.ok(plan.kernels < plan.layers / 2, plan.summary);
    const shape = [2, 224, 224, 3];
    const x = randomInput(shape, 5).map((v) => (v + 1) / 2);
    const out = plan.run(x, shape);
    assert.deepEqual(out.shape, [2, 5]);
    assertClose(out.values, predict(tf, model, x, shape), 'nsfwjs', 1e-4);
    plan.dispose();
  });

  it('leaves no buffers behind: a run frees everything it made; dispose frees the folded weights', () => {
    const model = buildConvModel(tf);
    models.push(model);
    randomizeWeights(tf, model, 3);
    const backend = tf.backend();
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds();
    const plan = compile(tf, model);
    const made = tf.memory().numTensors - tensorsBefore;
    assert.ok(made >= 6, `folding made ${made} tensors`); // three folded weight/bias pairs
    plan.run(randomInput([3, 12, 12, 3], 1), [3, 12, 12, 3]);
    assert.equal(backend.numDataIds(), buffersBefore + made);
    // Kernels trust their inputs (a wrong shape can make a wasm kernel write out of bounds): shapes are checked first.
    assert.throws(() => plan.run(randomInput([1, 12, 12, 4], 1), [1, 12, 12, 4]), /expected input of shape \[any, 12, 12, 3\] but got \[1, 12, 12, 4\]/);
    assert.equal(backend.numDataIds(), buffersBefore + made);
    plan.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(backend.numDataIds(), buffersBefore);
    assert.throws(() => plan.run(randomInput([1, 12, 12, 3], 1), [1, 12, 12, 3]), /disposed/);
  });

  it('a run that fails part-way (an image too small for a valid convolution) frees what it made', () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [null, null, 3], kernelSize: 3, filters: 2, name: 'c3' }), tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 2 })] });
    models.push(model);
    const plan = compile(tf, model);
    const buffers = tf.backend().numDataIds();
    const ok = plan.run(randomInput([2, 5, 4, 3], 2), [2, 5, 4, 3]);
    assertClose(ok.values, predict(tf, model, randomInput([2, 5, 4, 3], 2), [2, 5, 4, 3]), 'any-size input');
    assert.throws(() => plan.run(randomInput([1, 2, 2, 3], 2), [1, 2, 2, 3]), /layer 'c3' expects .*room for a 3×3 window, got \[1, 2, 2, 3\]/);
    assert.equal(tf.backend().numDataIds(), buffers);
    plan.dispose();
  });

  it('weights moved to another backend by model.predict are moved back before the next batch', async () => {
    const model = await load(EXAMPLE('mnist-mlp'));
    const plan = compile(tf, model);
    const x = loadMnist('test', 2).x;
    const shape = [2, 28, 28, 1];
    const first = plan.run(x, shape).values;
    await tf.setBackend('cpu');
    const onCpu = predict(tf, model, x, shape); // moves the weights to cpu
    await tf.setBackend('wasm');
    const again = plan.run(x, shape).values;
    assertClose(again, first, 'after the move', 0);
    assertClose(again, onCpu, 'against cpu predict');
    plan.dispose();
  });

  it('a Sequential made in code is built by compiling, as model.predict would build it', () => {
    const seq = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, name: 'out' })] });
    models.push(seq);
    assert.equal(seq.outputLayers.length, 0);
    const plan = compile(tf, seq);
    assert.deepEqual(seq.outputLayers.map((l) => l.name), ['out']);
    const x = randomInput([2, 4, 4, 1], 4);
    assertClose(plan.run(x, [2, 4, 4, 1]).values, predict(tf, seq, x, [2, 4, 4, 1]), 'sequential');
    plan.dispose();
  });

  it('models with a layer outside the plan get no plan and a reason naming the layer', () => {
    const input = tf.input({ shape: [8, 3] });
    const lstm = tf.layers.lstm({ units: 4, name: 'the_lstm' }).apply(input) as SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(lstm) as SymbolicTensor;
    const recurrent = tf.model({ inputs: input, outputs: out });
    models.push(recurrent);
    const c = compileInferencePlan(tf, recurrent);
    assert.equal(c.plan, null);
    assert.match(c.reason!, /the_lstm.*LSTM/);

    const seq = tf.sequential({ layers: [tf.layers.upSampling2d({ inputShape: [4, 4, 1], size: [2, 2], name: 'up' }), tf.layers.flatten()] });
    models.push(seq);
    assert.match(compileInferencePlan(tf, seq).reason!, /'up' \(UpSampling2D\)/);

    const dilated = tf.sequential({ layers: [tf.layers.depthwiseConv2d({ inputShape: [9, 9, 2], kernelSize: 3, dilationRate: 2, name: 'dw' })] });
    models.push(dilated);
    assert.match(compileInferencePlan(tf, dilated).reason!, /'dw'.*dilation/);
  });

  describe('the evaluate runner', () => {
    it('runs layers models through the plan by default, with model.predict’s values', async () => {
      const doc = await openModel(EXAMPLE('mnist-cnn'));
      const runner = await openTfjsRunner(doc, 'wasm');
      assert.match(runner.inference!, /^inference plan \(7 kernel calls for 7 layers/);
      const digits = loadMnist('test', 9);
      const model = await load(EXAMPLE('mnist-cnn'));
      for (let round = 0; round < 2; round++) {
        // The first batch is checked against model.predict; later ones run the plan alone.
        const r = await runner.run(digits.x, 9, [28, 28, 1]);
        assert.equal(r.width, 10);
        assertClose(r.values, predict(tf, model, digits.x, [9, 28, 28, 1]), `round ${round}`);
      }
      assert.deepEqual(runner.notes, []);
      await runner.dispose();
    });

    it('falls back to model.predict, with a note, for a model the plan does not cover', async () => {
      const doc = await openModel(EXAMPLE('mnist-mlp'));
      const runner = await openTfjsRunner(doc, 'wasm');
      assert.match(runner.inference!, /^inference plan/);
      await runner.dispose();
      // A layers model with an UpSampling2D, saved to disk and opened like any model, has no plan.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-plan-'));
      try {
        const seq = tf.sequential({ layers: [tf.layers.upSampling2d({ inputShape: [4, 4, 1], size: [2, 2] }), tf.layers.flatten(), tf.layers.dense({ units: 3 })] });
        await seq.save(
          tf.io.withSaveHandler(async (a) => {
            writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
            writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
            return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
          }),
        );
        const upDoc = await openModel(path.join(dir, 'model.json'));
        const up = await openTfjsRunner(upDoc, 'wasm');
        assert.equal(up.inference, 'model.predict');
        assert.match(up.notes.join(' '), /runs through model\.predict: layer '.*' \(UpSampling2D\)/);
        const x = randomInput([2, 4, 4, 1], 9);
        const r = await up.run(x, 2, [4, 4, 1]);
        assertClose(r.values, predict(tf, seq, x, [2, 4, 4, 1]), 'upsampling model');
        await up.dispose();
        seq.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

/**
 * [12, 12, 3] → 6 probabilities, through: Conv2D (no bias) → BN → ReLU(6); a
 * DepthwiseConv2D (multiplier 2) → BN → relu; ZeroPadding2D → Conv2D valid,
 * stride 2; SeparableConv2D → BN → LeakyReLU; a residual Add feeding a BN (not
 * foldable); Concatenate with a max-pooled branch; a nested Sequential
 * (average pooling, ELU conv); global average and max pooling averaged; Dense
 * tanh → Dropout → Dense softmax.
 */
function buildConvModel(tf: Tf): LayersModel {
  const L = tf.layers;
  const apply = (layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown }, x: SymbolicTensor | SymbolicTensor[]) => layer.apply(x) as SymbolicTensor;
  const input = tf.input({ shape: [12, 12, 3] });
  let x = apply(L.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }), input);
  x = apply(L.batchNormalization(), x);
  x = apply(L.reLU({ maxValue: 6 }), x);
  x = apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }), x); // 16 channels
  x = apply(L.batchNormalization({ center: false }), x);
  x = apply(L.activation({ activation: 'relu' }), x);
  x = apply(L.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), x); // 13 × 13
  x = apply(L.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }), x); // 6 × 6
  let branch = apply(L.separableConv2d({ filters: 12, kernelSize: 3, padding: 'same' }), x);
  branch = apply(L.batchNormalization({ scale: false }), branch);
  branch = apply(L.leakyReLU({ alpha: 0.2 }), branch);
  let y = apply(L.add(), [x, branch]);
  y = apply(L.batchNormalization(), y);
  const pooled = apply(L.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }), y);
  y = apply(L.concatenate(), [y, pooled]); // 24 channels
  const nested = tf.sequential({
    layers: [
      L.averagePooling2d({ inputShape: [6, 6, 24], poolSize: 2 }), // 3 × 3
      L.conv2d({ filters: 10, kernelSize: 2, padding: 'same', activation: 'elu' }),
    ],
  });
  y = apply(nested, y);
  const mean = apply(L.globalAveragePooling2d({}), y);
  const max = apply(L.globalMaxPooling2d({}), y);
  let z = apply(L.average(), [mean, max]);
  z = apply(L.dense({ units: 9, activation: 'tanh' }), z);
  z = apply(L.dropout({ rate: 0.5 }), z);
  const out = apply(L.dense({ units: 6, activation: 'softmax' }), z);
  return tf.model({ inputs: input, outputs: out });
}

/**
 * [6, 8] → 5 values, through: Dense on a rank-3 input (sigmoid), Permute,
 * Reshape, Multiply / Maximum / Minimum / Subtract-free merges, Dense with
 * relu6, selu and softplus activations, Flatten, and a Softmax layer.
 */
function buildDenseModel(tf: Tf): LayersModel {
  const L = tf.layers;
  const apply = (layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown }, x: SymbolicTensor | SymbolicTensor[]) => layer.apply(x) as SymbolicTensor;
  const input = tf.input({ shape: [6, 8] });
  const a = apply(L.dense({ units: 8, activation: 'sigmoid' }), input); // [6, 8]
  const b = apply(L.dense({ units: 8, activation: 'relu6' }), input);
  const t = apply(L.permute({ dims: [2, 1] }), apply(L.reshape({ targetShape: [8, 6] }), a)); // [6, 8]
  let m = apply(L.multiply(), [a, b, t]);
  m = apply(L.maximum(), [m, apply(L.dense({ units: 8, activation: 'selu' }), b)]);
  m = apply(L.minimum(), [m, apply(L.dense({ units: 8, activation: 'softplus' }), a)]);
  const f = apply(L.flatten(), m);
  const d = apply(L.dense({ units: 5 }), f);
  const out = apply(L.softmax(), d);
  return tf.model({ inputs: input, outputs: out });
}
