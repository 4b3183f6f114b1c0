import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { summarize } from '../../../src/core/analysis/summary';
import { ModelFormatError } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats/registry';
import { allTensors, layerParams, type ModelDoc } from '../../../src/core/model';

const root = path.resolve(__dirname, '../../..');
const fixtures = path.join(root, 'test/fixtures');
const PYTHON = '/usr/bin/python3';

interface ManifestRow {
  file: string;
  format?: string;
  totalParams?: number;
  error?: string;
  accept?: string[];
}

function rows(manifest: string, pick: (r: ManifestRow) => boolean): ManifestRow[] {
  const file = path.join(fixtures, manifest);
  if (!existsSync(file)) return [];
  const data = JSON.parse(readFileSync(file, 'utf8')) as ManifestRow[] | { rows: ManifestRow[] };
  return (Array.isArray(data) ? data : data.rows).filter(pick);
}

const params = (doc: ModelDoc) => doc.layers.reduce((s, l) => s + layerParams(l), 0);

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

/** Fixtures written with h5py in the Keras 2 and Keras 3 layouts, with known values. */
const MAKE_FIXTURES = String.raw`
import h5py, json, numpy as np, sys, zipfile, io
out = sys.argv[1]
dense = lambda name, units, **kw: {"class_name": "Dense", "config": dict(name=name, units=units, use_bias=True, **kw)}
# Keras 2 full model: Sequential [Dense(3) frozen, BatchNormalization, Dense(2)], input [None, 4]
cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
  {"class_name": "InputLayer", "config": {"name": "inp", "batch_input_shape": [None, 4]}},
  dense("d1", 3, trainable=False),
  {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1}},
  dense("d2", 2)]}}
with h5py.File(out + "/k2.h5", "w") as f:
    f.attrs["model_config"] = json.dumps(cfg)
    f.attrs["keras_version"] = "2.15.0"
    f.attrs["backend"] = "tensorflow"
    mw = f.create_group("model_weights")
    mw.attrs["layer_names"] = [b"inp", b"d1", b"bn", b"d2"]
    mw.create_group("inp").attrs["weight_names"] = np.array([], dtype="S1")
    def put(layer, names_arrays):
        g = mw.create_group(layer)
        g.attrs["weight_names"] = [n.encode() for n, _ in names_arrays]
        for n, a in names_arrays: g.create_dataset(n, data=a)
    put("d1", [("d1/kernel:0", np.arange(12, dtype="f4").reshape(4, 3)), ("d1/bias:0", np.array([1, 2, 3], "f4"))])
    put("bn", [("bn/gamma:0", np.ones(3, "f4")), ("bn/beta:0", np.zeros(3, "f4")),
               ("bn/moving_mean:0", np.full(3, 0.5, "f4")), ("bn/moving_variance:0", np.full(3, 2, "f4"))])
    put("d2", [("d2/kernel:0", np.arange(6, dtype="f4").reshape(3, 2) / 2), ("d2/bias:0", np.array([-1, 1], "f2"))])
    ow = f.create_group("optimizer_weights")
    ow.create_dataset("Adam/iter:0", data=np.int64(7))
# Keras 3 .keras, DEFLATED (exercises the inflate path); functional, nested Sequential, LSTM with a cell sublayer
kt = lambda layer: {"class_name": "__keras_tensor__", "config": {"shape": [None, 5, 3], "dtype": "float32", "keras_history": [layer, 0, 0]}}
config = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "trainable": True, "layers": [
  {"module": "keras.layers", "class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 5, 3], "name": "x"}, "inbound_nodes": []},
  {"module": "keras.layers", "class_name": "LSTM", "name": "rnn", "config": {"name": "rnn", "units": 4, "return_sequences": False}, "build_config": {"input_shape": [None, 5, 3]}, "inbound_nodes": [{"args": [kt("x")], "kwargs": {}}]},
  {"module": "keras", "class_name": "Sequential", "name": "head", "config": {"name": "head", "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "head_in"}},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "h1", "units": 2}},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "h2", "units": 1, "use_bias": False}}]},
   "inbound_nodes": [{"args": [kt("rnn")], "kwargs": {}}]}],
  "input_layers": [["x", 0, 0]], "output_layers": [["head", 0, 0]]}}
buf = io.BytesIO()
with h5py.File(buf, "w") as f:
    f.create_group("layers/input_layer/vars")
    c = f.create_group("layers/lstm/cell/vars")
    c.create_dataset("0", data=np.ones((3, 16), "f4")); c.create_dataset("1", data=np.ones((4, 16), "f4")); c.create_dataset("2", data=np.arange(16, dtype="f4"))
    f.create_group("layers/lstm/vars")
    s = f.create_group("layers/sequential/layers")
    s.create_group("dense/vars").create_dataset("0", data=np.ones((4, 2), "f4"))
    s["dense/vars"].create_dataset("1", data=np.array([5, 6], "f4"))
    s.create_group("dense_1/vars").create_dataset("0", data=np.ones((2, 1), "f4"))
    f.create_group("layers/sequential/vars")
    f.create_group("vars")
    o = f.create_group("optimizer/vars"); o.create_dataset("0", data=np.int64(3)); o.create_dataset("1", data=np.zeros((3, 16), "f4"))
with zipfile.ZipFile(out + "/k3.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2024-01-01@00:00:00"}))
    z.writestr("config.json", json.dumps(config))
    z.writestr("model.weights.h5", buf.getvalue())
`;

describe('keras reader', function () {
  // The first test loads h5wasm's 4 MB wasm glue; under tsx that transform alone can take ~20 s.
  this.timeout(120_000);
  let dir: string;
  let python = true;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'parsimony-keras-'));
    try {
      execFileSync(PYTHON, ['-c', MAKE_FIXTURES, dir], { stdio: 'pipe' });
    } catch {
      python = false;
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('legacy Keras 2 .h5: weight_names, trainable flags, optimizer state, values', async function () {
    if (!python) this.skip();
    const doc = await openModel(path.join(dir, 'k2.h5'));
    assert.equal(doc.format, 'keras');
    assert.equal(doc.metadata.keras_version, '2.15.0');
    assert.equal(params(doc), 12 + 3 + 12 + 6 + 2);
    assert.deepEqual(doc.layers.map((l) => l.name), ['inp', 'd1', 'bn', 'd2', 'optimizer_weights']);
    const [, d1, bn, d2, opt] = doc.layers;
    assert.deepEqual(d1!.tensors.map((t) => [t.name, t.trainable]), [['d1/kernel', false], ['d1/bias', false]], 'layer trainable: false');
    assert.deepEqual(bn!.tensors.map((t) => [t.name, t.trainable]), [
      ['bn/gamma', true],
      ['bn/beta', true],
      ['bn/moving_mean', false],
      ['bn/moving_variance', false],
    ]);
    assert.equal(opt!.type, 'optimizer state');
    assert.equal(opt!.tensors[0]!.isParameter, false);
    assert.deepEqual(d1!.outputShape, [null, 3]);
    assert.equal(d1!.macs, 12);
    assert.equal(bn!.macs, 3);
    assert.equal(d2!.macs, 6);
    const s = await summarize(doc);
    // d1 is frozen (15) and moving statistics are never trained (6): 35 − 21
    assert.equal(s.trainableParams, 14);
    assert.deepEqual(Array.from(await d1!.tensors[0]!.read!()), Array.from({ length: 12 }, (_, i) => i));
    const bias2 = d2!.tensors[1]!;
    assert.equal(bias2.dtype, 'float16');
    assert.equal(bias2.bytes, 4);
    assert.deepEqual(Array.from(await bias2.read!()), [-1, 1]);
  });

  it('Keras 3 .keras (deflated): snake_case layer groups, nested model, LSTM cell vars', async function () {
    if (!python) this.skip();
    const doc = await openModel(path.join(dir, 'k3.keras'));
    assert.equal(doc.format, 'keras');
    assert.equal(doc.metadata.keras_version, '3.6.0');
    assert.deepEqual(doc.layers.map((l) => l.name), ['x', 'rnn', 'head/head_in', 'head/h1', 'head/h2', 'optimizer']);
    const rnn = doc.layers[1]!;
    assert.deepEqual(rnn.tensors.map((t) => t.name), ['rnn/kernel', 'rnn/recurrent_kernel', 'rnn/bias']);
    assert.equal(layerParams(rnn), 3 * 16 + 4 * 16 + 16);
    // LSTM: 4 gates · (3·4 + 4·4) · 5 steps = 560
    assert.equal(rnn.macs, 560);
    assert.deepEqual(rnn.outputShape, [null, 4]);
    const h1 = doc.layers[3]!;
    assert.deepEqual(h1.tensors.map((t) => t.name), ['head/h1/kernel', 'head/h1/bias']);
    assert.deepEqual(doc.layers[2]!.inputs, ['rnn'], 'the nested model input is fed by the outer layer');
    assert.deepEqual(h1.inputs, ['head/head_in']);
    assert.equal(h1.macs, 8);
    assert.deepEqual(Array.from(await h1.tensors[1]!.read!()), [5, 6]);
    assert.equal(params(doc), 128 + 10 + 2);
    assert.equal(doc.layers[5]!.tensors.every((t) => !t.isParameter), true, 'optimizer slots are not parameters');
    const s = await summarize(doc);
    assert.equal(s.macs, 560 + 8 + 2);
  });

  describe('generated fixtures (h5py)', () => {
    const expected: Record<string, number> = {
      'keras/keras2_mlp.h5': 20 * 32 + 32 + 32 * 10 + 10,
      'keras/keras2_mlp_weights_only.h5': 1002,
      'keras/keras3_mlp_legacy.h5': 1002,
      'keras/keras2_cnn_bn.h5': 9 * 8 + 8 + 4 * 8 + 200 * 10 + 10,
      'keras/keras3_cnn_bn.keras': 2122,
      'keras/keras3_functional_lambda_nested.keras': 16 * 8 + 8 + 8 * 8 + 8 + 8 * 4 + 4,
      'keras/keras2_functional_lambda.h5': 16 * 8 + 8 + 8 * 4 + 4,
    };
    const manifestRows = rows('generated/manifest.json', (r) => r.format === 'keras');
    for (const r of manifestRows) if (r.totalParams !== undefined) expected[r.file] = r.totalParams;
    for (const [file, total] of Object.entries(expected)) {
      it(`${file}: ${total} params`, async function () {
        const full = path.join(fixtures, 'generated', file);
        if (!existsSync(full)) this.skip();
        const doc = await openModel(full);
        assert.equal(doc.format, 'keras');
        assert.equal(params(doc), total);
        for (const t of allTensors(doc).slice(0, 3)) assert.equal((await t.read!()).length, t.count);
      });
    }

    it('keras3_cnn_bn.keras: MACs per layer by hand, BN moving stats not trainable', async function () {
      const full = path.join(fixtures, 'generated/keras/keras3_cnn_bn.keras');
      if (!existsSync(full)) this.skip();
      const s = await summarize(await openModel(full));
      const byName = new Map(s.layers.map((l) => [l.name, l]));
      assert.equal(byName.get('conv2d')!.macs, 10 * 10 * 9 * 1 * 8);
      assert.equal(byName.get('batch_normalization')!.macs, 800);
      assert.equal(byName.get('dense')!.macs, 2000);
      assert.equal(s.trainableParams, 2122 - 16);
    });
  });

  describe('real architectures from keras.applications (real-writers/)', () => {
    interface AppRow extends ManifestRow {
      trainableParams: number;
      nonTrainableParams: number;
      operationCount: number;
      macs: Record<string, number>;
      dtypePolicy?: string;
    }
    const apps = rows('real-writers/manifest.json', (r) => r.format === 'keras') as AppRow[];
    it('has the .keras and the legacy .h5 model', () => assert.equal(apps.length, 2));
    for (const r of apps) {
      it(`${r.file}: Keras' counts, its functional graph, and Conv/Dense MACs from Keras' output shapes`, async function () {
        this.timeout(60_000);
        const doc = await openModel(path.join(fixtures, 'real-writers', r.file));
        const s = await summarize(doc);
        assert.equal(s.totalParams, r.totalParams);
        assert.equal(s.trainableParams, r.trainableParams, 'BatchNorm moving statistics are non-trainable');
        assert.equal(doc.layers.length, r.operationCount, 'every operation of the functional graph is listed');
        const byName = new Map(s.layers.map((l) => [l.name, l]));
        for (const [layer, macs] of Object.entries(r.macs)) assert.equal(byName.get(layer)?.macs, macs, `MACs of ${layer}`);
        if (r.dtypePolicy === 'float16') {
          assert.ok(allTensors(doc).every((t) => t.dtype === 'float16'), 'every variable is float16');
          assert.equal(s.bytesInMemory, 2 * r.totalParams!);
        }
        const kernel = allTensors(doc).find((t) => t.shape.length === 4)!;
        const values = await kernel.read!();
        assert.equal(values.length, kernel.count);
        assert.ok(values.some((v) => v !== 0) && values.every((v) => Number.isFinite(v)));
      });
    }
  });

  describe('corrupt files', () => {
    for (const row of rows('generated/manifest.json', (r) => r.file.startsWith('keras/') && r.error !== undefined)) {
      it(`generated ${row.file} → ${row.error}`, async function () {
        const full = path.join(fixtures, 'generated', row.file);
        if (!existsSync(full)) this.skip();
        await expectCode(openModel(full), [row.error!, ...(row.accept ?? [])]);
      });
    }
    for (const row of rows('corrupt/manifest.json', (r) => r.file.startsWith('keras/'))) {
      it(`${row.file} → ${row.error}`, async () => {
        await expectCode(openModel(path.join(fixtures, 'corrupt', row.file)), [row.error!, ...(row.accept ?? [])]);
      });
    }

    it('truncated, garbage and randomly damaged HDF5 end in ModelFormatError, never an abort', async function () {
      if (!python) this.skip();
      const good = readFileSync(path.join(dir, 'k2.h5'));
      writeFileSync(path.join(dir, 'half.h5'), good.subarray(0, good.length >> 1));
      await expectCode(openModel(path.join(dir, 'half.h5')), ['truncated']);
      writeFileSync(path.join(dir, 'text.h5'), 'just some text, not HDF5\n'.repeat(20));
      await expectCode(openModel(path.join(dir, 'text.h5')), ['bad-magic']);
      // Damage bytes after the superblock: object headers, B-trees, heaps.
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      for (let k = 0; k < 8; k++) {
        const bad = Buffer.from(good);
        for (let i = 0; i < 40; i++) bad[96 + Math.floor(rand() * (bad.length - 96))] = Math.floor(rand() * 256);
        const file = path.join(dir, `damaged${k}.h5`);
        writeFileSync(file, bad);
        try {
          const doc = await openModel(file);
          for (const t of allTensors(doc)) await t.read!().catch((e: unknown) => assert.ok(e instanceof ModelFormatError, String(e)));
        } catch (e) {
          assert.ok(e instanceof ModelFormatError, `damaged${k}: ${String(e)}`);
        }
      }
      // The library still works afterwards.
      assert.equal(params(await openModel(path.join(dir, 'k2.h5'))), 35);
    });

    it('an .h5 on which the HDF5 library loops forever ends in not-a-model naming the file; the next file reads', async () => {
      // A corrupt global heap under keras_version: h5wasm never returns (fuzz seed 2 case 145).
      const hang = path.join(fixtures, 'fuzz-crashes/keras/s2-c145/keras2_mlp_weights_only.h5');
      const e = await expectCode(openModel(hang, { limits: { hdf5TimeoutMs: 1000 } }), ['not-a-model']);
      assert.equal(e.file, hang);
      assert.match(e.message, /HDF5 library did not finish reading the file structure within 1 s and was stopped/);
      // The stuck worker was replaced: the same reader serves the next file, values included.
      const doc = await openModel(path.join(fixtures, 'generated/keras/keras2_mlp.h5'));
      assert.equal(params(doc), 1002);
      const kernel = allTensors(doc).find((t) => t.name.endsWith('kernel'))!;
      const values = await kernel.read!();
      assert.equal(values.length, kernel.count);
      assert.ok(values.some((v) => v !== 0));
    });
  });
});
