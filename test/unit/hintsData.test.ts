import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { computeHints, type Hint } from '../../src/core/analysis/hints';
import { actionForHint } from '../../src/core/analysis/hintActions';
import { compressModel } from '../../src/core/compress/pipeline';
import { loadMnist } from '../../src/core/data/mnist';
import { openModel } from '../../src/core/formats/registry';
import { loadTf, type Tf } from '../../src/core/runtime/tfjs';
import { bundleCli } from '../helpers/bundleCli';
import { memoryTensor, randomMatrix, syntheticDoc } from '../helpers/synthetic';
import { loadLayersModelFromFile, saveLayersModelToFile } from '../helpers/tfjsFiles';

const ROOT = path.resolve(__dirname, '../..');

/** Replaces one output unit's kernel column (last axis) by zeros and its bias by `bias`. */
function killUnit(tf: Tf, layer: tfTypes.layers.Layer, unit: number, bias: number): void {
  const [kernel, b] = layer.getWeights() as [tfTypes.Tensor, tfTypes.Tensor];
  const k = Float32Array.from(kernel.dataSync());
  const units = kernel.shape[kernel.shape.length - 1]!;
  for (let i = unit; i < k.length; i += units) k[i] = 0;
  const bv = Float32Array.from(b.dataSync());
  bv[unit] = bias;
  layer.setWeights([tf.tensor(k, kernel.shape), tf.tensor(bv, b.shape)]);
}

function deadHints(hints: Hint[], layer: string): Hint[] {
  return hints.filter((h) => h.kind === 'dead-units' && h.layer === layer);
}

describe('dead units measured on data (real TF.js models, real MNIST)', function () {
  this.timeout(120_000);
  let tf: Tf;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'parsimony-hints-data-'));
    dirs.push(d);
    return d;
  };
  before(async () => {
    tf = (await loadTf()).tf;
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** 784 → Dense(16, relu) → Dense(10, softmax); unit 5 has zero weights and bias −1, unit 9 zero weights and bias +0.5. */
  async function denseModel(): Promise<string> {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [784], units: 16, activation: 'relu', name: 'hidden', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'zeros' }));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    killUnit(tf, m.getLayer('hidden'), 5, -1);
    killUnit(tf, m.getLayer('hidden'), 9, 0.5);
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();
    return file;
  }

  it('Dense: a ReLU unit with zero weights and a negative bias is dead on data, with its index; healthy units are not', async () => {
    const file = await denseModel();
    const doc = await openModel(file);
    const result = await computeHints(doc, {}, {}, { data: 'mnist:300' });
    assert.equal(result.basis, 'data');
    assert.deepEqual(result.data, { dataset: 'mnist:300', samples: 300, layers: 2 });
    const dead = deadHints(result.hints, 'hidden');
    assert.equal(dead.length, 1, 'one dead-units hint for the layer: the data hint replaces the weights-only one');
    const h = dead[0]!;
    assert.equal(h.detail.basis, 'data');
    assert.deepEqual(h.detail.units, [5]);
    assert.equal(h.detail.samples, 300);
    const active = h.detail.activeFraction as number[];
    assert.equal(active.length, 16);
    assert.equal(active[5], 0);
    assert.equal(active[9], 1, 'zero weights with a positive bias: always on, not dead');
    // Random weights on non-negative pixels: every other unit fires on some digits and not on others.
    for (const u of [0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14, 15]) assert.ok(active[u]! > 0 && active[u]! < 1, `unit ${u} active ${active[u]}`);
    // Removing unit 5: its kernel column (784) and bias (1), and its row of the output kernel (10).
    assert.equal(h.savingsParams, 784 + 1 + 10);
    assert.equal(h.savingsBytes, (784 + 1 + 10) * 4);
    assert.equal(h.detail.removable, true);
    assert.equal(h.detail.consumer, 'output');
    assert.equal(deadHints(result.hints, 'output').length, 0);
  });

  it('Dense without data: the weights-only rule still finds the unit, with the same saving', async () => {
    const file = await denseModel();
    const result = await computeHints(await openModel(file));
    assert.equal(result.basis, 'weights');
    assert.equal(result.data, null);
    const [h] = deadHints(result.hints, 'hidden');
    assert.ok(h);
    assert.equal(h.detail.basis, 'weights');
    assert.deepEqual(h.detail.units, [5]);
    assert.equal(h.savingsParams, 784 + 1 + 10);
  });

  it('Conv2D: a dead filter is measured after pooling, removed through Flatten, and removing it changes no prediction', async () => {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: 'zeros' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
    m.add(tf.layers.flatten({ name: 'flat' }));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
    killUnit(tf, m.getLayer('conv'), 2, -0.25);
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();

    const result = await computeHints(await openModel(file), {}, {}, { data: 'mnist:200' });
    const [h] = deadHints(result.hints, 'conv');
    assert.ok(h, JSON.stringify(result.hints.map((x) => x.kind)));
    assert.deepEqual(h.detail.units, [2]);
    assert.equal(h.detail.measuredAt, 'pool');
    assert.equal(h.detail.positions, 13 * 13);
    assert.equal((h.detail.activeFraction as number[])[2], 0);
    // 3·3·1 kernel weights + bias, and 13·13 rows of the Dense kernel (10 wide) behind the Flatten.
    assert.equal(h.savingsParams, 9 + 1 + 13 * 13 * 10);

    const action = actionForHint(h, 'tfjs-layers')!;
    assert.deepEqual(action, { method: 'structured-prune', args: ['--units', '2'], layers: ['conv'], label: 'remove 1 dead unit(s) of conv' });
    const out = await compressModel(file, [{ method: 'structured-prune', options: { units: [2], layers: ['conv'] } }]);
    assert.equal(out.before.params - out.after.params, h.savingsParams);
    const digits = loadMnist('test', 200);
    const x = tf.tensor(digits.x, [200, 28, 28, 1]);
    const [a, b] = await Promise.all([loadLayersModelFromFile(file), loadLayersModelFromFile(out.output)]);
    const pa = (a.predict(x) as tfTypes.Tensor).dataSync();
    const pb = (b.predict(x) as tfTypes.Tensor).dataSync();
    let max = 0;
    for (let i = 0; i < pa.length; i++) max = Math.max(max, Math.abs(pa[i]! - pb[i]!));
    assert.ok(max < 1e-6, `max |Δp| ${max}`);
    tf.dispose([x]);
    a.dispose();
    b.dispose();
  });

  it('Conv → BatchNorm → ReLU: units are judged where the next layer reads them; zero weights alone are not called dead', async () => {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, strides: 2, name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }));
    m.add(tf.layers.batchNormalization({ name: 'bn' }));
    m.add(tf.layers.activation({ activation: 'relu', name: 'relu' }));
    m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }));
    // Filter 1: zero weights and bias, but batch norm shifts it to +1: a constant, not dead.
    killUnit(tf, m.getLayer('conv'), 1, 0);
    // Filter 4: healthy weights, but batch norm moves it far below zero, so the ReLU never lets it through.
    const bn = m.getLayer('bn');
    const [gamma, beta, mean, variance] = bn.getWeights().map((w) => Float32Array.from(w.dataSync()));
    beta![1] = 1;
    beta![4] = -100;
    bn.setWeights([gamma!, beta!, mean!, variance!].map((v) => tf.tensor(v)));
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();

    const withData = await computeHints(await openModel(file), {}, {}, { data: 'mnist:100' });
    const [h] = deadHints(withData.hints, 'conv');
    assert.ok(h, JSON.stringify(withData, null, 1));
    assert.deepEqual(h.detail.units, [4]);
    assert.equal(h.detail.measuredAt, 'gap');
    assert.deepEqual(h.detail.through, ['bn', 'relu', 'gap']);
    // Kernel column 3·3·1 + bias 1, four batch-norm vectors, one row of the Dense kernel.
    assert.equal(h.savingsParams, 9 + 1 + 4 + 10);

    const weightsOnly = await computeHints(await openModel(file));
    assert.equal(deadHints(weightsOnly.hints, 'conv').length, 0);
    assert.ok(weightsOnly.notes.some((n) => /conv: 1 unit\(s\) with all-zero weights feed batch normalization/.test(n)), weightsOnly.notes.join('\n'));
  });

  it('other formats with data: a note says dead units on data need a TF.js layers model, weights-only hints still come', async () => {
    const doc = syntheticDoc('onnx', [{ name: 'fc', type: 'Gemm', config: { transB: 1 }, tensors: [memoryTensor('fc.weight', [64, 256], randomMatrix(64, 256, 8))] }]);
    const result = await computeHints(doc, {}, {}, { data: 'mnist:10' });
    assert.equal(result.basis, 'weights');
    assert.equal(result.data, null);
    assert.match(result.notes.join('\n'), /data-driven dead units need a TF\.js layers model/);
    assert.ok(result.hints.some((h) => h.kind === 'quantizable'));
  });

  it('cancelling while the data runs stops with CancelledError', async () => {
    const file = await denseModel();
    let calls = 0;
    await assert.rejects(
      computeHints(await openModel(file), {}, { onProgress: () => calls++, isCancelled: () => calls > 2 }, { data: 'mnist:1000', batchSize: 50 }),
      { name: 'CancelledError' },
    );
  });

  it('CLI: parsimony hints --data reports progress, and SIGTERM mid-run exits 130 with nothing written', async () => {
    const file = await denseModel();
    const dir = path.dirname(file);
    const before = readdirSync(dir).sort();
    const buildDir = tempDir();
    const bundle = await bundleCli(buildDir);
    const run = (killAt: number | null) =>
      new Promise<{ code: number | null; stdout: string; lines: string[] }>((resolve) => {
        const child = spawn(process.execPath, [bundle, 'hints', file, '--data', 'mnist:800', '--batch-size', '16', '--json', '--progress-json'], {
          env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        const lines: string[] = [];
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          for (const line of d.split('\n')) {
            if (!line.startsWith('{')) continue;
            lines.push(line);
            if (killAt !== null && lines.length === killAt) child.kill('SIGTERM');
          }
        });
        child.on('close', (code) => resolve({ code, stdout, lines }));
      });
    const full = await run(null);
    assert.equal(full.code, 0);
    const json = JSON.parse(full.stdout) as { basis: string; hints: Hint[] };
    assert.equal(json.basis, 'data');
    assert.deepEqual(json.hints.find((h) => h.kind === 'dead-units')!.detail.units, [5]);
    assert.ok(full.lines.some((l) => /data: \d+\/800 samples/.test(l)), full.lines.slice(0, 5).join('\n'));
    const cancelled = await run(5);
    assert.equal(cancelled.code, 130);
    assert.deepEqual(JSON.parse(cancelled.stdout), { error: { code: 'cancelled', message: 'cancelled; nothing was written' } });
    assert.deepEqual(readdirSync(dir).sort(), before);
  });
});
