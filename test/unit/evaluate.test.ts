import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../../src/core/data/mnist';
import { ModelFormatError } from '../../src/core/errors';
import { evaluateModel, predictAll } from '../../src/core/evaluate/evaluate';
import { listRuns } from '../../src/core/evaluate/runs';
import { openRunner } from '../../src/core/evaluate/runners';
import { openModel } from '../../src/core/formats/registry';
import { loadTf } from '../../src/core/runtime/tfjs';
import { cli } from '../helpers/cli';
import { mlpAsGraphModel } from '../helpers/graphModel';
import { tempCopy } from '../helpers/tempCopy';

const MLP = path.resolve(__dirname, '../../examples/mnist-mlp/model.json');
const DATA = path.resolve(__dirname, '../fixtures/data');
const ONNX = path.resolve(__dirname, '../fixtures/generated/onnx');
const quick = { record: false, latency: false } as const;

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelFormatError, `expected a ModelFormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

/** Temp folders made here, removed at the end. */
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
};

describe('evaluate', function () {
  this.timeout(120_000);
  after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

  describe('TF.js layers model (examples/mnist-mlp)', () => {
    it('accuracy on the whole MNIST test split equals the training script’s and a hand-written TF.js loop’s', async () => {
      const recorded = JSON.parse(readFileSync(path.join(path.dirname(MLP), 'metrics.json'), 'utf8')) as { testAccuracy: number; testCorrect: number; testSamples: number };
      const r = await evaluateModel(MLP, { data: 'mnist', ...quick });
      assert.equal(r.samples, recorded.testSamples);
      assert.equal(r.accuracy, recorded.testAccuracy);
      assert.equal(r.backend, (await loadTf()).backend);
      assert.equal(r.outputKind, 'probabilities');

      // The same number from stock TF.js: fromMemory artifacts, predict, argMax.
      const { tf } = await loadTf();
      const json = JSON.parse(readFileSync(MLP, 'utf8'));
      const bin = readFileSync(path.join(path.dirname(MLP), 'weights.bin'));
      const model = await tf.loadLayersModel(
        tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }),
      );
      const test = loadMnist('test');
      let correct = 0;
      for (let i = 0; i < test.count; i += 500) {
        const n = Math.min(500, test.count - i);
        const predicted = tf.tidy(() => (model.predict(tf.tensor4d(test.x.subarray(i * 784, (i + n) * 784), [n, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor).argMax(-1));
        const p = await predicted.data();
        predicted.dispose();
        for (let k = 0; k < n; k++) if (p[k] === test.y[i + k]) correct++;
      }
      model.dispose();
      assert.equal(correct, recorded.testCorrect);
      assert.equal(r.accuracy, correct / test.count);
      // Sizes come from the analysis (sizeStats).
      assert.equal(r.params, 235146);
      assert.equal(r.nonzeroParams, 235146);
      assert.ok(r.bytesGzip > 0 && r.bytesGzip < r.bytesOnDisk);
      assert.equal(r.macs, 784 * 256 + 256 * 128 + 128 * 10);
    });

    it('the same digits as .npz, .npy, .csv and .json give the same figures as mnist:20', async () => {
      const base = await evaluateModel(MLP, { data: 'mnist:20', ...quick });
      for (const f of ['mnist20.npz', 'mnist20_x.npy', 'mnist20.json', 'mnist20.csv']) {
        const r = await evaluateModel(MLP, { data: path.join(DATA, f), ...quick });
        assert.equal(r.samples, 20, f);
        assert.equal(r.accuracy, base.accuracy, f);
        assert.ok(Math.abs(r.loss! - base.loss!) < 1e-4, f);
      }
    });

    it('an image folder is decoded to the model’s 28×28×1 and scored', async () => {
      const r = await evaluateModel(MLP, { data: path.join(DATA, 'digits'), ...quick });
      assert.equal(r.samples, 21);
      assert.ok(r.accuracy! >= 0.8, `accuracy on 21 PNG/JPEG digits: ${r.accuracy}`);
    });

    it('against itself as reference: agreement 1, KL 0; latency is measured (not asserted); no tensors leak', async () => {
      const { tf } = await loadTf();
      const tensors = tf.memory().numTensors;
      const r = await evaluateModel(MLP, { data: 'mnist:64', reference: MLP, record: false, latencyBudgetMs: 50 });
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(r.agreement, 1);
      assert.ok(r.klDivergence! < 1e-9);
      assert.equal(r.mse, 0);
      assert.equal(typeof r.latencyMs.batch1, 'number');
      assert.equal(typeof r.latencyMs.batch32, 'number');
    });

    it('unlabelled data gives only agreement with the reference', async () => {
      const dir = tempDir('parsimony-unlabelled-');
      const d = loadMnist('test', 8);
      const file = path.join(dir, 'x.json');
      writeFileSync(file, JSON.stringify({ x: Array.from({ length: 8 }, (_, i) => Array.from(d.x.subarray(i * 784, (i + 1) * 784))) }));
      const r = await evaluateModel(MLP, { data: file, reference: MLP, ...quick });
      assert.equal(r.accuracy, null);
      assert.equal(r.loss, null);
      assert.equal(r.agreement, 1);
    });

    it('bad datasets: labels out of range, wrong sample shape, unreadable file', async () => {
      await rejects(evaluateModel(MLP, { data: path.join(DATA, 'bad_labels.npz'), ...quick }), 'invalid-option', /label 12 of sample 2 is out of range: the model has 10 outputs \(classes 0–9\)/);
      await rejects(
        evaluateModel(MLP, { data: path.join(DATA, 'wrong_shape.npz'), ...quick }),
        'invalid-option',
        /samples have shape \[30\] \(30 values\) but the model expects input \[N, 28, 28, 1\] \(784 values per sample\)/,
      );
      await rejects(evaluateModel(MLP, { data: path.join(DATA, 'truncated.npy'), ...quick }), 'truncated', /truncated\.npy/);
    });

    it('writes a run record in the workspace (model path relative, content hash)', async () => {
      const copy = tempCopy(path.dirname(MLP));
      temps.push(path.dirname(copy));
      const model = path.join(copy, 'model.json');
      const r = await evaluateModel(model, { data: 'mnist:10', latency: false });
      assert.ok(r.runId);
      const runs = await listRuns(copy);
      assert.equal(runs.length, 1);
      const run = runs[0]!;
      assert.equal(run.id, r.runId);
      assert.equal(run.kind, 'evaluate');
      assert.equal(run.model, 'model.json');
      assert.match(run.modelHash, /^[0-9a-f]{64}$/);
      assert.match(run.id, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z-evaluate-${run.modelHash.slice(0, 8)}$`));
      assert.equal(run.metrics!.accuracy, r.accuracy);
      assert.equal(run.sizes!.bytesOnDisk, r.bytesOnDisk);
      assert.equal(run.dataset, 'mnist:10');
    });
  });

  it('a TF.js graph model runs through tf.loadGraphModel and matches the layers model', async () => {
    const graph = mlpAsGraphModel(MLP);
    temps.push(path.dirname(graph));
    const r = await evaluateModel(graph, { data: 'mnist:200', reference: MLP, ...quick });
    assert.equal(r.format, 'tfjs-graph');
    const layers = await evaluateModel(MLP, { data: 'mnist:200', ...quick });
    assert.equal(r.accuracy, layers.accuracy);
    assert.equal(r.agreement, 1);
    assert.ok(r.notes.some((n) => /reshaped to \[784\]/.test(n)));
  });

  describe('ONNX through onnxruntime-node', () => {
    it('LeNet exported by torch ([1, 1, 28, 28], fixed batch 1) runs on MNIST; backend onnxruntime-cpu', async () => {
      const r = await evaluateModel(path.join(ONNX, 'lenet_torch.onnx'), { data: 'mnist:40', record: false, latencyBudgetMs: 50 });
      assert.equal(r.backend, 'onnxruntime-cpu');
      assert.equal(r.samples, 40);
      assert.equal(typeof r.accuracy, 'number'); // untrained weights: the value means nothing
      assert.equal(r.outputKind, 'logits');
      assert.equal(typeof r.latencyMs.batch1, 'number');
      assert.equal(typeof r.latencyMs.batch32, 'number');
    });

    it('outputs equal a hand computation from the initializers (MLP [1, 64]: batches split to 1)', async () => {
      const file = path.join(ONNX, 'mlp.onnx');
      const doc = await openModel(file);
      const runner = (await openRunner(doc))!;
      assert.equal(runner.fixedBatch, 1);
      const n = 5;
      const x = Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.37));
      const out = await predictAll(runner, x, n, [64], { batchSize: 4 });
      await runner.dispose();
      const t = Object.fromEntries(await Promise.all(doc.layers.flatMap((l) => l.tensors).map(async (tn) => [tn.name, await tn.read!()] as const)));
      const w1 = t['fc1.weight']!; // [32, 64] (Gemm transB=1)
      const b1 = t['fc1.bias']!;
      const w2 = t['fc2.weight']!; // [32, 10] (MatMul)
      const b2 = t['fc2.bias']!;
      assert.equal(out.width, 10);
      for (let s = 0; s < n; s++) {
        const h = Array.from({ length: 32 }, (_, j) => Math.max(0, b1[j]! + Array.from({ length: 64 }, (_, k) => w1[j * 64 + k]! * x[s * 64 + k]!).reduce((a, b) => a + b)));
        for (let o = 0; o < 10; o++) {
          const expected = b2[o]! + h.reduce((a, v, j) => a + v * w2[j * 10 + o]!, 0);
          assert.ok(Math.abs(out.values[s * 10 + o]! - expected) < 1e-4, `sample ${s} output ${o}: ${out.values[s * 10 + o]} vs ${expected}`);
        }
      }
    });

    it('float16 inputs and outputs are converted (float16.onnx against itself)', async () => {
      const dir = tempDir('parsimony-f16-');
      const file = path.join(dir, 'x.json');
      writeFileSync(file, JSON.stringify({ x: [0, 1, 2].map((s) => Array.from({ length: 16 }, (_, i) => Math.cos(s + i))) }));
      const r = await evaluateModel(path.join(ONNX, 'float16.onnx'), { data: file, reference: path.join(ONNX, 'float16.onnx'), ...quick });
      assert.equal(r.samples, 3);
      assert.equal(r.agreement, 1);
      assert.equal(r.mse, 0);
    });

    it('an image folder is resized to an NCHW model’s 16×16', async () => {
      const r = await evaluateModel(path.join(ONNX, 'cnn.onnx'), { data: path.join(DATA, 'digits'), ...quick });
      assert.equal(r.samples, 21);
      assert.equal(r.backend, 'onnxruntime-cpu');
    });

    it('a dataset that does not fit names both shapes', async () => {
      await rejects(evaluateModel(path.join(ONNX, 'mlp.onnx'), { data: 'mnist:5', ...quick }), 'invalid-option', /\[28, 28, 1\] \(784 values\) but the model expects input \[1, 64\] \(64 values per sample\)/);
    });
  });

  describe('formats without a runtime', () => {
    it('safetensors: sizes, null metrics, no error', async () => {
      const r = await evaluateModel('test/fixtures/generated/safetensors/mixed_dtypes.safetensors', { data: 'mnist:10', ...quick });
      assert.equal(r.format, 'safetensors');
      assert.equal(r.accuracy, null);
      assert.equal(r.samples, null);
      assert.equal(r.backend, null);
      assert.deepEqual(r.latencyMs, { batch1: null, batch32: null });
      assert.ok(r.params > 0 && r.bytesOnDisk > 0);
      assert.match(r.notes.join(' '), /only sizes are reported/);
    });
    it('Keras: unsupported-format, saying only the size is reported', async () => {
      await rejects(evaluateModel('test/fixtures/generated/keras/keras2_mlp.h5', { data: 'mnist:10', ...quick }), 'unsupported-format', /cannot be evaluated yet.*only their size is reported/);
    });
  });

  describe('CLI', () => {
    it('evaluate --json prints the contract keys', async () => {
      const r = await cli('evaluate', MLP, '--data', 'mnist:50', '--json', '--no-record', '--no-latency');
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      for (const key of ['model', 'samples', 'accuracy', 'top5', 'loss', 'agreement', 'klDivergence', 'params', 'bytesOnDisk', 'bytesGzip', 'bytesInMemory', 'macs', 'latencyMs', 'backend']) {
        assert.ok(key in j, `missing key ${key}`);
      }
      assert.ok('batch1' in j.latencyMs && 'batch32' in j.latencyMs);
      assert.equal(j.samples, 50);
      assert.equal(j.agreement, null);
      // Layers models run through the inference plan on wasm and cpu; other backends use model.predict.
      if (j.backend === 'wasm' || j.backend === 'cpu') assert.match(j.inference, /^inference plan \(4 kernel calls for 4 layers/);
      else assert.equal(j.inference, 'model.predict');
    });
    it('readable output is a table; --min-accuracy fails with exit 1', async () => {
      const r = await cli('evaluate', MLP, '--data', 'mnist:50', '--no-record', '--no-latency', '--min-accuracy', '0.999');
      assert.equal(r.code, 1);
      assert.match(r.stdout, /accuracy\s+\d+(\.\d+)?%/);
      assert.match(r.stdout, /bytes on disk\s+\d/);
      assert.match(r.stderr, /below --min-accuracy 0\.999/);
    });
    it('bad input exits 2 with one line (and a JSON error under --json)', async () => {
      const r = await cli('evaluate', MLP, '--data', path.join(DATA, 'bad_labels.npz'), '--no-record', '--no-latency', '--json');
      assert.equal(r.code, 2);
      assert.equal(JSON.parse(r.stdout).error.code, 'invalid-option');
      assert.match(r.stderr, /label 12 of sample 2 is out of range/);
      const k = await cli('evaluate', 'test/fixtures/generated/keras/keras2_mlp.h5', '--data', 'mnist:5', '--no-record');
      assert.equal(k.code, 2);
      assert.match(k.stderr, /unsupported|cannot be evaluated yet/);
      const u = await cli('evaluate', MLP, '--reference', MLP);
      assert.equal(u.code, 2);
      assert.match(u.stderr, /--reference needs --data/);
    });
  });
});
