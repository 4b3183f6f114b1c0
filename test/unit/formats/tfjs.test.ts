import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { summarize } from '../../../src/core/analysis/summary';
import { ModelFormatError } from '../../../src/core/errors';
import { floatToHalf } from '../../../src/core/io/halfFloat';
import { allTensors, layerParams, type ModelDoc, type TensorInfo } from '../../../src/core/model';
import { openModel } from '../../../src/core/formats/registry';

const root = path.resolve(__dirname, '../../..');
const fixtures = path.join(root, 'test/fixtures');

interface ManifestRow {
  file: string;
  format: string;
  totalParams?: number;
  tensorCount?: number;
  error?: string;
  accept?: string[];
}

function rows(manifest: string, pick: (r: ManifestRow) => boolean): ManifestRow[] {
  const file = path.join(fixtures, manifest);
  if (!existsSync(file)) return [];
  const data = JSON.parse(readFileSync(file, 'utf8')) as ManifestRow[] | { rows: ManifestRow[] };
  return (Array.isArray(data) ? data : data.rows).filter(pick);
}

function params(doc: ModelDoc): number {
  return doc.layers.reduce((s, l) => s + layerParams(l), 0);
}

async function expectCode(p: Promise<unknown>, codes: string[]): Promise<ModelFormatError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `expected ${codes.join('|')}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected an error with code ${codes.join('|')}`);
}

/** Saves a TF.js model with TF.js's own saver into `dir`, cutting the weights into shards of `shardBytes`. */
async function saveWithTfjs(model: tf.LayersModel, dir: string, shardBytes: number): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const data = new Uint8Array(artifacts!.weightData as ArrayBuffer);
  const paths: string[] = [];
  for (let at = 0, i = 1; at < data.length; at += shardBytes, i++) {
    const name = `group1-shard${i}.bin`;
    writeFileSync(path.join(dir, name), data.subarray(at, at + shardBytes));
    paths.push(name);
  }
  writeFileSync(
    path.join(dir, 'model.json'),
    JSON.stringify({
      modelTopology: artifacts!.modelTopology,
      format: 'layers-model',
      generatedBy: 'TensorFlow.js tfjs-layers v' + tf.version.tfjs,
      convertedBy: null,
      weightsManifest: [{ paths, weights: artifacts!.weightSpecs }],
    }),
  );
  return artifacts!;
}

function mlp(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [20], units: 16, activation: 'relu', name: 'hidden' }));
  model.add(tf.layers.batchNormalization({ name: 'bn' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }));
  return model;
}

describe('tfjs reader', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'parsimony-tfjs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a layers model saved by TF.js, with a weight straddling two shards', async () => {
    const model = mlp();
    const sub = path.join(dir, 'plain');
    mkdirSync(sub);
    // 20·16 kernel = 1280 bytes: a 1000-byte shard cut puts 'hidden/kernel' across shards 1 and 2.
    await saveWithTfjs(model, sub, 1000);
    const doc = await openModel(path.join(sub, 'model.json'));
    assert.equal(doc.format, 'tfjs-layers');
    assert.equal(params(doc), model.countParams());
    assert.equal(params(doc), 20 * 16 + 16 + 4 * 16 + 16 * 3 + 3);
    assert.deepEqual(doc.layers.map((l) => l.name), ['hidden', 'bn', 'out']);
    const hidden = doc.layers[0]!;
    assert.equal(hidden.macs, 320);
    assert.deepEqual(hidden.outputShape, [null, 16]);
    assert.equal(doc.layers[1]!.macs, 16, 'BatchNormalization: one MAC per element');
    assert.equal(doc.layers[2]!.macs, 48);
    const s = await summarize(doc);
    assert.equal(s.macs, 320 + 16 + 48);
    assert.equal(s.trainableParams, model.countParams() - 32, 'moving mean/variance are not trainable');
    assert.equal(s.bytesInMemory, model.countParams() * 4);
    const kernel = hidden.tensors.find((t) => t.name.endsWith('kernel'))!;
    assert.equal(kernel.location, undefined, 'a straddling weight has no single location');
    assert.deepEqual((kernel.detail as { spansShards: string[] }).spansShards.length, 2);
    const bias = hidden.tensors.find((t) => t.name.endsWith('bias'))!;
    assert.deepEqual(bias.location, { file: path.join(sub, 'group1-shard2.bin'), offset: 280, length: 64 });
    // read() gives exactly TF.js's values.
    for (const w of model.weights) {
      const t = allTensors(doc).find((x) => x.name === w.originalName || x.name === w.name.replace(/_\d+$/, ''))!;
      assert.ok(t, `tensor for ${w.originalName}`);
      assert.deepEqual(Array.from(await t.read!()), Array.from(w.read().dataSync()));
    }
    assert.equal(doc.files.length, 3);
  });

  it('reads a hand-written uint8/uint16/float16 quantized manifest exactly as TF.js dequantizes it', async () => {
    const model = mlp();
    const sub = path.join(dir, 'quantized');
    mkdirSync(sub);
    const artifacts = await saveWithTfjs(model, sub, 1 << 20);
    const floats = new Float32Array(artifacts.weightData as ArrayBuffer);
    const kinds = ['uint8', 'uint16', 'float16'] as const;
    const specs: tf.io.WeightsManifestEntry[] = [];
    const parts: Uint8Array[] = [];
    let at = 0;
    artifacts.weightSpecs!.forEach((spec, i) => {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const values = floats.subarray(at, at + n);
      at += n;
      const kind = kinds[i % 3]!;
      if (kind === 'float16') {
        const out = new Uint16Array(n);
        values.forEach((v, k) => (out[k] = floatToHalf(v)));
        parts.push(new Uint8Array(out.buffer));
        specs.push({ ...spec, quantization: { dtype: 'float16', original_dtype: 'float32' } } as tf.io.WeightsManifestEntry);
        return;
      }
      let min = Math.min(...values);
      const max = Math.max(...values);
      const levels = kind === 'uint8' ? 255 : 65535;
      const scale = max > min ? (max - min) / levels : 1;
      if (max === min) min = values[0] ?? 0;
      const out = kind === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
      values.forEach((v, k) => (out[k] = Math.round((v - min) / scale)));
      parts.push(new Uint8Array(out.buffer));
      specs.push({ ...spec, quantization: { dtype: kind, min, scale, original_dtype: 'float32' } } as tf.io.WeightsManifestEntry);
    });
    const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      data.set(p, o);
      o += p.length;
    }
    writeFileSync(path.join(sub, 'q.bin'), data);
    writeFileSync(path.join(sub, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['q.bin'], weights: specs }] }));

    // TF.js itself reads this encoding:
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: specs, weightData: data.buffer }));
    const doc = await openModel(path.join(sub, 'model.json'));
    assert.equal(doc.format, 'tfjs-layers', 'no "format" key: told from the topology');
    assert.equal(params(doc), model.countParams());
    const tensors = allTensors(doc);
    assert.equal(tensors.reduce((s, t) => s + t.bytes, 0), data.length);
    assert.equal(tensors.reduce((s, t) => s + t.memoryBytes, 0), model.countParams() * 4, 'TF.js dequantizes to float32 in memory');
    for (const [i, w] of loaded.weights.entries()) {
      const t = tensors.find((x) => x.name === specs[i]!.name)!;
      assert.equal(t.dtype, kinds[i % 3]);
      assert.deepEqual(Array.from(await t.read!()), Array.from(w.read().dataSync()), `${t.name} (${t.dtype})`);
    }
  });

  it('counts custom layer weights and warns; Lambda-like unknowns have null MACs', async () => {
    const sub = path.join(dir, 'custom');
    mkdirSync(sub);
    const topology = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } },
          { class_name: 'MyScale', config: { name: 'my_scale' } },
        ],
      },
    };
    const weights = [
      { name: 'd/kernel', shape: [3, 2], dtype: 'float32' },
      { name: 'd/bias', shape: [2], dtype: 'float32' },
      { name: 'my_scale/alpha', shape: [2], dtype: 'float32' },
    ];
    writeFileSync(path.join(sub, 'w.bin'), new Uint8Array(40));
    writeFileSync(path.join(sub, 'model.json'), JSON.stringify({ modelTopology: topology, weightsManifest: [{ paths: ['w.bin'], weights }] }));
    const doc = await openModel(path.join(sub, 'model.json'));
    assert.equal(params(doc), 10);
    const custom = doc.layers.find((l) => l.name === 'my_scale')!;
    assert.equal(custom.type, 'MyScale');
    assert.equal(custom.macs, null);
    assert.equal(layerParams(custom), 2);
    assert.ok(doc.warnings.some((w) => /MyScale/.test(w)));
    assert.equal((await summarize(doc)).macs, null, 'a weighted layer with unknown cost makes the total unknown');
  });

  it('reads a graph model: groups Consts under their consumer, int32 constants are not parameters', async () => {
    const sub = path.join(dir, 'graph');
    mkdirSync(sub);
    const node = [
      { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '4' }] } }, dtype: { type: 'DT_FLOAT' } } },
      { name: 'dense/kernel', op: 'Const', attr: {} },
      { name: 'dense/kernel/read', op: 'Identity', input: ['dense/kernel'], attr: {} },
      { name: 'dense/bias', op: 'Const', attr: {} },
      { name: 'dense/MatMul', op: 'MatMul', input: ['x', 'dense/kernel/read'], attr: {} },
      { name: 'dense/BiasAdd', op: 'BiasAdd', input: ['dense/MatMul', 'dense/bias'], attr: {} },
      { name: 'shape', op: 'Const', attr: {} },
      { name: 'reshape', op: 'Reshape', input: ['dense/BiasAdd', 'shape'], attr: {} },
      { name: 'unused/w', op: 'Const', attr: {} },
    ];
    const weights = [
      { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' },
      { name: 'dense/bias', shape: [3], dtype: 'float32' },
      { name: 'shape', shape: [3], dtype: 'int32' },
      { name: 'unused/w', shape: [5], dtype: 'float32' },
    ];
    const bytes = new DataView(new ArrayBuffer((12 + 3 + 3 + 5) * 4));
    [-1, 3, 1].forEach((v, i) => bytes.setInt32((15 + i) * 4, v, true));
    writeFileSync(path.join(sub, 'g.bin'), new Uint8Array(bytes.buffer));
    writeFileSync(path.join(sub, 'model.json'), JSON.stringify({ modelTopology: { node, library: {}, versions: {} }, weightsManifest: [{ paths: ['g.bin'], weights }] }));
    const doc = await openModel(path.join(sub, 'model.json'));
    assert.equal(doc.format, 'tfjs-graph');
    assert.deepEqual(doc.layers.map((l) => [l.name, l.type, l.tensors.map((t) => t.name)]), [
      ['dense/MatMul', 'MatMul', ['dense/kernel']],
      ['dense/BiasAdd', 'BiasAdd', ['dense/bias']],
      ['reshape', 'Reshape', ['shape']],
      ['unused', 'tensor group', ['unused/w']],
    ]);
    assert.equal(params(doc), 12 + 3 + 5, 'int32 shape constant excluded');
    assert.equal(doc.layers[0]!.macs, 12);
    assert.deepEqual(doc.layers[0]!.outputShape, [null, 3]);
    assert.deepEqual(doc.layers[2]!.outputShape, [null, 3, 1], 'Reshape target read from the int32 constant');
    assert.deepEqual(Array.from(await doc.layers[2]!.tensors[0]!.read!()), [-1, 3, 1]);
  });

  describe('real third-party files (test/fixtures/real)', () => {
    for (const row of rows('real/manifest.json', (r) => r.format.startsWith('tfjs'))) {
      it(`${row.file}: ${row.totalParams} params`, async () => {
        const doc = await openModel(path.join(fixtures, 'real', row.file));
        assert.equal(doc.format, row.format);
        assert.equal(params(doc), row.totalParams);
        if (row.tensorCount !== undefined) assert.equal(allTensors(doc).length, row.tensorCount);
        // Every tensor decodes to its element count.
        const first = allTensors(doc).find((t) => t.isParameter) as TensorInfo;
        assert.equal((await first.read!()).length, first.count);
      });
    }

    it('nsfwjs MobileNetV2: layer wiring, shapes, trainable split, uint8 sizes', async function () {
      const file = path.join(fixtures, 'real/tfjs-layers/nsfwjs_mobilenet_v2/model.json');
      if (!existsSync(file)) this.skip();
      const doc = await openModel(file);
      const s = await summarize(doc);
      assert.equal(s.trainableParams, 2_279_365);
      assert.equal(s.bytesInMemory, 2_619_461 * 4);
      assert.equal(allTensors(doc).reduce((a, t) => a + t.bytes, 0), 2_619_461);
      assert.deepEqual(doc.inputShape, [null, 224, 224, 3]);
      const conv1 = doc.layers.find((l) => l.name === 'Conv1')!;
      // 224 → stride 2 → 112 (same padding via ZeroPadding + valid)
      assert.deepEqual(conv1.outputShape?.slice(1, 3), [112, 112]);
      assert.ok(s.macs !== null && s.macs > 250e6 && s.macs < 350e6, `MobileNetV2 ≈ 300M MACs, got ${s.macs}`);
    });

    it('face-api weights manifest: tensors grouped by name prefix', async function () {
      const file = path.join(fixtures, 'real/tfjs-weights/face_landmark_68_tiny/face_landmark_68_tiny_model-weights_manifest.json');
      if (!existsSync(file)) this.skip();
      const doc = await openModel(file);
      assert.equal(doc.format, 'tfjs-weights');
      assert.ok(doc.layers.some((l) => l.name === 'dense0/conv0' && l.type === 'tensor group'));
      const t = allTensors(doc)[0]!;
      assert.equal(t.dtype, 'uint8');
      assert.equal(t.memoryBytes, t.count * 4);
      const q = (t.detail as { quantization: { min: number; scale: number } }).quantization;
      const values = await t.read!();
      const lo = Math.min(...values);
      assert.ok(Math.abs(lo - q.min) < q.scale, 'dequantized minimum is at the stored min');
    });
  });

  describe('examples trained with TF.js (examples/*/model.json)', () => {
    for (const name of ['mnist-mlp', 'mnist-cnn']) {
      it(`${name}: total equals TF.js countParams() in metrics.json`, async function () {
        const model = path.join(root, 'examples', name, 'model.json');
        const metrics = path.join(root, 'examples', name, 'metrics.json');
        if (!existsSync(model) || !existsSync(metrics)) this.skip();
        const expected = (JSON.parse(readFileSync(metrics, 'utf8')) as { params: number }).params;
        const doc = await openModel(model);
        assert.equal(doc.format, 'tfjs-layers');
        assert.equal(params(doc), expected);
        const s = await summarize(doc);
        assert.notEqual(s.macs, null, 'every layer of a plain MNIST model has known MACs');
      });
    }
  });

  describe('corrupt files (test/fixtures/corrupt)', () => {
    for (const row of rows('corrupt/manifest.json', (r) => r.file.startsWith('tfjs/'))) {
      it(`${row.file} → ${row.error}`, async () => {
        await expectCode(openModel(path.join(fixtures, 'corrupt', row.file)), [row.error!, ...(row.accept ?? [])]);
      });
    }

    it('a shard shorter than the manifest says is truncated and named', async () => {
      const sub = path.join(dir, 'short');
      mkdirSync(sub);
      writeFileSync(path.join(sub, 'a.bin'), new Uint8Array(8));
      writeFileSync(path.join(sub, 'b.bin'), new Uint8Array(4));
      writeFileSync(
        path.join(sub, 'model.json'),
        JSON.stringify({ weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights: [{ name: 'w', shape: [4], dtype: 'float32' }] }] }),
      );
      const e = await expectCode(openModel(path.join(sub, 'model.json')), ['truncated']);
      assert.match(e.message, /b\.bin/);
    });
  });
});
