/**
 * The bundled example models load with plain TF.js and score exactly what their
 * metrics.json says on the test split.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadMnist, MNIST_SPLIT_DESCRIPTION, type LabelledImages } from '../../src/core/data/mnist';
import { fileHandler } from '../helpers/tfjsFiles';

const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', 'examples');

function accuracy(model: tf.LayersModel, data: LabelledImages, batchSize = 500): number {
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(data.x.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < n; i++) if (predicted[i] === data.y[start + i]) correct++;
  }
  return correct / data.count;
}

interface Metrics {
  testAccuracy: number;
  testSamples: number;
  trainSamples: number;
  params: number;
  split: string;
  backend: string;
  weightsSha256: string;
}

describe('example models', function () {
  this.timeout(120_000);
  let test: LabelledImages;

  before(async () => {
    tf.enableProdMode(); // quiet: no "install tfjs-node" banner
    await tf.setBackend('cpu'); // the backend metrics.json was measured on
    test = loadMnist('test');
  });

  for (const id of ['mnist-mlp', 'mnist-cnn']) {
    it(`${id} loads with tf.loadLayersModel and scores metrics.json's test accuracy`, async () => {
      const dir = path.join(EXAMPLES_DIR, id);
      const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as Metrics;
      const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(modelJson['format'], 'layers-model');
      assert.equal(modelJson['generatedBy'], `TensorFlow.js tfjs-layers v${tf.version.tfjs}`);
      assert.equal(modelJson['convertedBy'], null);
      assert.deepEqual((modelJson['weightsManifest'] as Array<{ paths: string[] }>).map((g) => g.paths), [['weights.bin']]);
      assert.equal(createHash('sha256').update(fs.readFileSync(path.join(dir, 'weights.bin'))).digest('hex'), metrics.weightsSha256);
      assert.equal(metrics.split, MNIST_SPLIT_DESCRIPTION);
      assert.equal(metrics.testSamples, test.count);
      assert.equal(metrics.backend, 'cpu');

      const model = await tf.loadLayersModel(fileHandler(path.join(dir, 'model.json')));
      try {
        assert.deepEqual(model.inputs[0]!.shape, [null, 28, 28, 1]);
        assert.deepEqual(model.outputs[0]!.shape, [null, 10]);
        assert.equal(model.countParams(), metrics.params);
        const measured = accuracy(model, test);
        assert.ok(Math.abs(measured - metrics.testAccuracy) < 1e-6, `measured ${measured}, metrics.json ${metrics.testAccuracy}`);
      } finally {
        model.dispose();
      }
    });
  }
});
