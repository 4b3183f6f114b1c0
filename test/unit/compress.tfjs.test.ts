import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { lowRank } from '../../src/core/compress/lowRank';
import { compressModel, type CompressResult, type CompressStep } from '../../src/core/compress/pipeline';
import { METHODS } from '../../src/core/compress/methods';
import { structuredPrune } from '../../src/core/compress/structuredPrune';
import type { FactorizeEdit, ModelChange, RemoveUnitsEdit } from '../../src/core/compress/types';
import { loadMnist, type LabelledImages } from '../../src/core/data/mnist';
import { CancelledError, ModelFormatError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats/registry';
import { tfjsWriter } from '../../src/core/formats/tfjs/write';
import { loadTf, type Tf } from '../../src/core/runtime/tfjs';
import { fileHandler, loadGraphModelFromFile, loadLayersModelFromFile, saveLayersModelToFile } from '../helpers/tfjsFiles';

const root = path.resolve(__dirname, '../..');
const examples = path.join(root, 'examples');
const realFixtures = path.join(root, 'test/fixtures/real');

type Model = tfTypes.LayersModel;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** sha256 of every file now in `dir`: the originals, which no run may change. */
function snapshot(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((f) => [f, sha256(path.join(dir, f))]));
}

function assertUnchanged(dir: string, before: Map<string, string>): void {
  for (const [f, hash] of before) assert.equal(sha256(path.join(dir, f)), hash, `${f} changed`);
}

/** Layers with a kernel (rank ≥ 2 weight), in model order. */
function weighted(model: Model): tfTypes.layers.Layer[] {
  return model.layers.filter((l) => l.getWeights().some((w) => w.rank >= 2));
}

function kernelValues(layer: tfTypes.layers.Layer): { values: Float32Array; shape: number[] } {
  const k = layer.getWeights().find((w) => w.rank >= 2)!;
  return { values: k.dataSync() as Float32Array, shape: k.shape };
}

function countZeros(v: Float32Array): number {
  let n = 0;
  for (const x of v) if (x === 0) n++;
  return n;
}

/** The probabilities for `n` digits, as [n, 10]; the input is shaped as the model expects. */
function predict(tf: Tf, model: Model, data: LabelledImages, n = data.count): Float32Array {
  return tf.tidy(() => {
    const shape = model.inputs[0]!.shape;
    const x = tf.tensor(data.x.subarray(0, n * 784), shape.length === 2 ? [n, 784] : [n, 28, 28, 1]);
    return (model.predict(x) as tfTypes.Tensor).dataSync() as Float32Array;
  });
}

function top1(probs: Float32Array): Int32Array {
  const n = probs.length / 10;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
    out[i] = best;
  }
  return out;
}

function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

function accuracy(pred: Int32Array, labels: Uint8Array): number {
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / pred.length;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Sets one weight of a layer (by index) to new values. */
function setWeight(tf: Tf, layer: tfTypes.layers.Layer, index: number, values: Float32Array): void {
  const ws = layer.getWeights();
  layer.setWeights(ws.map((w, i) => (i === index ? tf.tensor(values, w.shape) : w)));
}

/**
 * Parameters after removing ⌊s·units⌋ units from every Dense/Conv2D but the
 * last, worked out from the architecture alone (Sequential models).
 */
function expectedStructuredParams(model: Model, sparsity: number): number {
  const kernels = weighted(model);
  const last = kernels[kernels.length - 1];
  const inShape = model.inputs[0]!.shape;
  let channels = inShape[inShape.length - 1]!;
  let original = channels;
  let total = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    if (cls === 'Dense' || cls === 'Conv2D') {
      const units = Number(cls === 'Dense' ? cfg.units : cfg.filters);
      const kept = layer === last ? units : units - Math.min(units - 1, Math.floor(sparsity * units));
      const window = cls === 'Conv2D' ? (cfg.kernelSize as number[]).reduce((a, b) => a * b, 1) : 1;
      total += window * channels * kept + (cfg.useBias === false ? 0 : kept);
      channels = kept;
      original = units;
    } else if (cls === 'BatchNormalization') {
      total += layer.getWeights().length * channels;
    } else if (cls === 'Flatten') {
      const s = (layer.input as tfTypes.SymbolicTensor).shape as number[];
      const positions = (s.slice(1).reduce((a, b) => a * b, 1) / original) | 0;
      channels *= positions;
      original *= positions;
    } else {
      assert.equal(layer.getWeights().length, 0, `unexpected weighted layer ${cls}`);
    }
  }
  return total;
}

describe('TF.js writer: compressed models load in stock TF.js', function () {
  this.timeout(240_000);
  let tf: Tf;
  let work: string;
  let digits: LabelledImages;

  before(async () => {
    tf = (await loadTf()).tf;
    work = mkdtempSync(path.join(tmpdir(), 'parsimony-tfjs-write-'));
    digits = loadMnist('test', 1000);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const example of ['mnist-mlp', 'mnist-cnn'] as const) {
    describe(example, () => {
      let dir: string;
      let file: string;
      let original: Model;
      let originalTop1: Int32Array;
      let hashes: Map<string, string>;

      before(async function () {
        const source = path.join(examples, example);
        assert.ok(existsSync(path.join(source, 'model.json')), `${source}/model.json is missing (npm run make:examples)`);
        dir = path.join(work, example);
        mkdirSync(dir);
        for (const f of readdirSync(source)) if (f === 'model.json' || f.endsWith('.bin') || /shard/.test(f)) cpSync(path.join(source, f), path.join(dir, f));
        file = path.join(dir, 'model.json');
        hashes = snapshot(dir);
        original = await loadLayersModelFromFile(file);
        originalTop1 = top1(predict(tf, original, digits));
        console.log(`      ${example}: original accuracy ${(accuracy(originalTop1, digits.y) * 100).toFixed(1)}% on ${digits.count} test digits, ${original.countParams()} params`);
      });

      /** Runs the pipeline, checks the source is untouched, and loads the output with stock TF.js. */
      async function run(steps: CompressStep[]): Promise<{ result: CompressResult; model: Model }> {
        const result = await compressModel(file, steps);
        assertUnchanged(dir, hashes);
        assert.equal(path.dirname(result.output), dir);
        const model = await loadLayersModelFromFile(result.output);
        return { result, model };
      }

      function report(name: string, model: Model): { agree: number; acc: number } {
        const pred = top1(predict(tf, model, digits));
        const agree = agreement(pred, originalTop1);
        const acc = accuracy(pred, digits.y);
        console.log(`      ${example} ${name}: accuracy ${(acc * 100).toFixed(1)}%, top-1 agreement with the original ${(agree * 100).toFixed(1)}%, ${model.countParams()} params`);
        return { agree, acc };
      }

      for (const dtype of ['float16', 'uint8'] as const) {
        it(`quantize ${dtype}: manifest uses the converter's encoding and ≥ 99% of predictions agree`, async () => {
          const { result, model } = await run([{ method: 'quantize', options: { dtype } }]);
          assert.equal(path.basename(result.output), `model.${dtype}.json`);
          const json = JSON.parse(readFileSync(result.output, 'utf8'));
          assert.deepEqual(json.weightsManifest[0].paths, [`model.${dtype}.weights.bin`]);
          assert.equal(json.format, 'layers-model');
          assert.deepEqual(json.userDefinedMetadata.parsimony, { method: dtype, source: 'model.json' });
          for (const w of json.weightsManifest[0].weights) {
            assert.equal(w.dtype, 'float32');
            assert.equal(w.quantization.dtype, dtype);
            if (dtype === 'uint8') assert.ok(typeof w.quantization.min === 'number' && w.quantization.scale > 0);
          }
          const bytes = readFileSync(path.join(dir, json.weightsManifest[0].paths[0])).length;
          assert.equal(bytes, original.countParams() * (dtype === 'float16' ? 2 : 1));
          const { agree } = report(dtype, model);
          assert.ok(agree >= 0.99, `top-1 agreement ${agree}`);
        });
      }

      for (const scope of ['global', 'layer'] as const) {
        it(`prune 0.5 (${scope}): exact sparsity in the pruned kernels, first and last layers unchanged`, async () => {
          const { model } = await run([{ method: 'prune', options: { sparsity: 0.5, scope } }]);
          const before = weighted(original);
          const after = weighted(model);
          assert.equal(after.length, before.length);
          assert.ok(before.length > 2, 'the example needs more than two weighted layers for end-skipping to apply');
          let zeros = 0;
          let total = 0;
          for (const [i, layer] of after.entries()) {
            const ws = layer.getWeights();
            const orig = before[i]!.getWeights();
            const ends = i === 0 || i === after.length - 1;
            for (const [j, w] of ws.entries()) {
              const v = w.dataSync() as Float32Array;
              if (ends || w.rank < 2) {
                assert.deepEqual(v, orig[j]!.dataSync(), `${layer.name} weight ${j} must be unchanged`);
                continue;
              }
              const z = countZeros(v);
              if (scope === 'layer') assert.equal(z, Math.floor(0.5 * v.length), `${layer.name}: zeros`);
              zeros += z;
              total += v.length;
            }
          }
          assert.equal(zeros, Math.floor(0.5 * total));
          report(`prune-50 ${scope}`, model);
        });
      }

      it('prune --pattern 2:4 on one layer: every 4 consecutive input weights of a unit keep their 2 largest, other layers unchanged', async () => {
        const target = weighted(original)[1]!.name;
        const { result, model } = await run([{ method: 'prune', options: { pattern: { keep: 2, group: 4 }, layers: [target] } }]);
        assert.equal(path.basename(result.output), 'model.prune-2of4.json');
        const before = weighted(original);
        const after = weighted(model);
        for (const [i, layer] of after.entries()) {
          const ws = layer.getWeights();
          const orig = before[i]!.getWeights();
          for (const [j, w] of ws.entries()) {
            const v = w.dataSync() as Float32Array;
            const o = orig[j]!.dataSync() as Float32Array;
            if (layer.name !== target || w.rank < 2) {
              assert.deepEqual(v, o, `${layer.name} weight ${j} must be unchanged`);
              continue;
            }
            // Keras [in, out] / [kh, kw, in, out]: unit u's fan-in position p is element p·units + u.
            const units = w.shape[w.rank - 1]!;
            const fanIn = v.length / units;
            let groups = 0;
            for (let u = 0; u < units; u++) {
              for (let p = 0; p + 4 <= fanIn; p += 4) {
                const idx = [0, 1, 2, 3].map((k) => (p + k) * units + u);
                const zeroed = idx.filter((x) => v[x] === 0);
                assert.equal(zeroed.length, 2, `${layer.name} unit ${u} group ${p / 4}: two zeros`);
                const kept = idx.filter((x) => v[x] !== 0);
                for (const x of kept) assert.equal(v[x], o[x], 'kept weights keep their values');
                assert.ok(Math.min(...kept.map((x) => Math.abs(o[x]!))) >= Math.max(...zeroed.map((x) => Math.abs(o[x]!))), `${layer.name} unit ${u} group ${p / 4}: the 2 largest stay`);
                groups++;
              }
              for (let p = fanIn - (fanIn % 4); p < fanIn; p++) assert.equal(v[p * units + u], o[p * units + u], 'a partial last group stays dense');
            }
            assert.equal(countZeros(v), 2 * groups);
            assert.ok(groups > 0);
          }
        }
        report(`prune 2:4 ${target}`, model);
      });

      it('structured-prune 0.25: parameters drop by the amount worked out by hand, and the model runs', async () => {
        assert.equal(expectedStructuredParams(original, 0), original.countParams());
        const { model, result } = await run([{ method: 'structured-prune', options: { sparsity: 0.25 } }]);
        const expected = expectedStructuredParams(original, 0.25);
        // By hand for the bundled examples: MLP 784→192→96→10; CNN conv 6 and 12 filters, 5·5·12 → 24 → 10.
        const byHand: Record<string, number> = {
          'mnist-mlp': 784 * 192 + 192 + 192 * 96 + 96 + 96 * 10 + 10,
          'mnist-cnn': 9 * 6 + 6 + 9 * 6 * 12 + 12 + 5 * 5 * 12 * 24 + 24 + 24 * 10 + 10,
        };
        if (original.countParams() === { 'mnist-mlp': 235_146, 'mnist-cnn': 14_410 }[example]) assert.equal(expected, byHand[example]);
        assert.equal(model.countParams(), expected);
        assert.equal(original.countParams() - model.countParams(), original.countParams() - expected);
        assert.equal(result.after.params, expected);
        const n = 16;
        const y = tf.tidy(() => (model.predict(tf.tensor(digits.x.subarray(0, n * 784), [n, 28, 28, 1])) as tfTypes.Tensor).shape);
        assert.deepEqual(y, [n, 10]);
        report('structured-25', model);

        // Same function as the original with the removed units' outgoing weights zeroed.
        const doc = await openModel(file);
        const change = await structuredPrune.apply(doc, { sparsity: 0.25 });
        const reference = await loadLayersModelFromFile(file);
        for (const edit of change.architecture as RemoveUnitsEdit[]) zeroConsumerInputs(tf, reference, edit);
        const diff = maxAbsDiff(predict(tf, model, digits, 200), predict(tf, reference, digits, 200));
        assert.ok(diff < 1e-4, `max |Δp| ${diff}`);
      });

      it('low-rank: the factorized model computes W ≈ A·B exactly as the SVD says', async () => {
        const rank = example === 'mnist-mlp' ? 16 : 8;
        const { model } = await run([{ method: 'low-rank', options: { rank } }]);
        const doc = await openModel(file);
        const change = await lowRank.apply(doc, { rank });
        const edits = change.architecture as FactorizeEdit[];
        assert.ok(edits.length > 0);
        // Expected parameters: (fanIn + units)·K + bias for each factorized layer, the rest untouched.
        let expected = original.countParams();
        const reference = await loadLayersModelFromFile(file);
        for (const e of edits) {
          const layer = reference.getLayer(e.layer);
          const { shape } = kernelValues(layer);
          const units = shape[shape.length - 1]!;
          const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
          expected += (fanIn + units) * e.rank - fanIn * units;
          const w = new Float32Array(fanIn * units);
          for (let u = 0; u < units; u++)
            for (let p = 0; p < fanIn; p++) {
              let s = 0;
              for (let r = 0; r < e.rank; r++) s += e.a[u * e.rank + r]! * e.b[r * fanIn + p]!;
              w[p * units + u] = s;
            }
          setWeight(tf, layer, 0, w);
          assert.ok(model.getLayer(`${e.layer}_lowrank`), `${e.layer}_lowrank exists`);
        }
        assert.equal(model.countParams(), expected);
        if (example === 'mnist-mlp' && original.countParams() === 235_146) {
          // Dense 784→256 and 256→128 factorized at K = 16; the 128→10 output would not shrink and is kept.
          assert.equal(model.countParams(), (784 + 256) * 16 + 256 + (256 + 128) * 16 + 128 + 128 * 10 + 10);
        }
        const diff = maxAbsDiff(predict(tf, model, digits, 200), predict(tf, reference, digits, 200));
        assert.ok(diff < 1e-4, `max |Δp| ${diff}`);
        report(`rank-${rank}`, model);
      });

      it('cluster 16 with Huffman: ≤ 16 distinct values per kernel, coded size in the notes', async () => {
        const { model, result } = await run([{ method: 'cluster', options: { clusters: 16, huffman: true } }]);
        for (const layer of weighted(model)) {
          const distinct = new Set(kernelValues(layer).values);
          assert.ok(distinct.size <= 16, `${layer.name}: ${distinct.size} distinct values`);
        }
        assert.ok(result.notes.some((n) => /bits per weight with Huffman-coded indices/.test(n)), result.notes.join(' | '));
        report('cluster-16-huffman', model);
      });

      it('prune → cluster → Huffman chain: sparsity survives, provenance names the whole chain', async () => {
        const { model, result } = await run([
          { method: 'prune', options: { sparsity: 0.5 } },
          { method: 'cluster', options: { clusters: 16 } },
          { method: 'huffman', options: {} },
        ]);
        assert.equal(path.basename(result.output), 'model.prune-50.cluster-16.huffman.json');
        const meta = JSON.parse(readFileSync(result.output, 'utf8')).userDefinedMetadata.parsimony;
        assert.deepEqual(meta, { method: 'prune-50,cluster-16,huffman', source: 'model.json' });
        // Clustering keeps an exact-zero centroid, so (nearly all of) the pruned zeros survive.
        let zeros = 0;
        let total = 0;
        for (const layer of weighted(model).slice(1, -1)) {
          const { values } = kernelValues(layer);
          assert.ok(new Set(values).size <= 16);
          zeros += countZeros(values);
          total += values.length;
        }
        assert.ok(zeros >= 0.45 * total, `${zeros} of ${total} zeros after clustering`);
        assert.ok(result.notes.some((n) => /Huffman-coded/.test(n)));
        report('prune-50→cluster-16→huffman', model);
      });

      for (const ternary of [false, true]) {
        it(`binarize${ternary ? ' (ternary)' : ''}: every output unit of a binarized kernel has ${ternary ? '{−α, 0, α}' : 'one |w|'}`, async () => {
          const { model } = await run([{ method: 'binarize', options: { ternary } }]);
          const layers = weighted(model);
          for (const [i, layer] of layers.entries()) {
            const { values, shape } = kernelValues(layer);
            const orig = kernelValues(weighted(original)[i]!).values;
            if (i === 0 || i === layers.length - 1) {
              assert.deepEqual(values, orig, `${layer.name} (an end layer) is kept`);
              continue;
            }
            const units = shape[shape.length - 1]!;
            for (let u = 0; u < units; u++) {
              const set = new Set<number>();
              for (let p = u; p < values.length; p += units) set.add(values[p]!);
              const mags = new Set([...set].filter((v) => v !== 0).map(Math.abs));
              assert.ok(mags.size <= 1, `${layer.name} unit ${u}: magnitudes ${[...mags]}`);
              if (ternary) assert.ok(set.size <= 3);
              else assert.ok(!set.has(0) || set.size === 1);
            }
          }
          report(ternary ? 'ternary' : 'binary', model);
        });
      }

      it('a cancelled run leaves no new files and the source unchanged', async () => {
        const files = readdirSync(dir).sort();
        let progressed = false;
        await assert.rejects(
          compressModel(file, [{ method: 'prune', options: { sparsity: 0.3 } }], {
            onProgress: () => (progressed = true),
            isCancelled: () => progressed,
          }),
          CancelledError,
        );
        assert.deepEqual(readdirSync(dir).sort(), files);
        assertUnchanged(dir, hashes);
      });
    });
  }

  describe('topology rewrites', () => {
    /** A fresh folder holding `model` saved by TF.js. */
    async function saved(name: string, model: Model): Promise<string> {
      const d = path.join(work, name);
      mkdirSync(d);
      const f = path.join(d, 'model.json');
      await saveLayersModelToFile(model, f);
      return f;
    }

    function randomInput(n: number, features: number): tfTypes.Tensor {
      return tf.randomUniform([n, features], -1, 1, 'float32', 7);
    }

    it('moves batch_input_shape to the new first layer when a Sequential first Dense or Conv2D is factorized', async () => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ inputShape: [40], units: 30, activation: 'relu', name: 'first' }));
      m.add(tf.layers.dense({ units: 5, activation: 'softmax', name: 'out' }));
      const f = await saved('seq-first', m);
      const r = await compressModel(f, [{ method: 'low-rank', options: { rank: 3, layers: ['first'] } }]);
      const layers = JSON.parse(readFileSync(r.output, 'utf8')).modelTopology.config.layers;
      assert.deepEqual(
        layers.map((l: { config: { name: string } }) => l.config.name),
        ['first_lowrank', 'first', 'out'],
      );
      assert.deepEqual(layers[0].config.batch_input_shape, [null, 40]);
      assert.equal(layers[1].config.batch_input_shape, undefined);
      const loaded = await loadLayersModelFromFile(r.output);
      assert.equal(loaded.countParams(), (40 + 30) * 3 + 30 + 30 * 5 + 5);
      const x = randomInput(8, 40);
      const y = loaded.predict(x) as tfTypes.Tensor;
      assert.deepEqual(y.shape, [8, 5]);
      tf.dispose([x, y]);

      // The same for a first Conv2D: k×k conv to K filters, then a 1×1 conv keeping the name.
      const c = tf.sequential();
      c.add(tf.layers.conv2d({ inputShape: [9, 9, 3], filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv' }));
      c.add(tf.layers.flatten({ name: 'flat' }));
      const cf = await saved('seq-conv-first', c);
      const cr = await compressModel(cf, [{ method: 'low-rank', options: { rank: 2 } }]);
      const convLayers = JSON.parse(readFileSync(cr.output, 'utf8')).modelTopology.config.layers;
      assert.deepEqual(convLayers[0].config.batch_input_shape, [null, 9, 9, 3]);
      assert.deepEqual([convLayers[0].config.kernel_size, convLayers[0].config.strides, convLayers[0].config.filters], [[3, 3], [2, 2], 2]);
      assert.deepEqual([convLayers[1].config.kernel_size, convLayers[1].config.strides, convLayers[1].config.filters], [[1, 1], [1, 1], 12]);
      const convModel = await loadLayersModelFromFile(cr.output);
      assert.equal(convModel.countParams(), 27 * 2 + 2 * 12 + 12);
      const xi = tf.randomUniform([2, 9, 9, 3]);
      const yi = convModel.predict(xi) as tfTypes.Tensor;
      assert.deepEqual(yi.shape, [2, 5 * 5 * 12]);
      tf.dispose([xi, yi]);
    });

    it('rewires a functional model: factorize and unit removal keep inbound references valid', async () => {
      const input = tf.input({ shape: [24], name: 'inp' });
      const h1 = tf.layers.dense({ units: 20, activation: 'relu', name: 'h1' }).apply(input) as tfTypes.SymbolicTensor;
      const d = tf.layers.dropout({ rate: 0.2, name: 'drop' }).apply(h1) as tfTypes.SymbolicTensor;
      const h2 = tf.layers.dense({ units: 16, activation: 'tanh', name: 'h2' }).apply(d) as tfTypes.SymbolicTensor;
      const out = tf.layers.dense({ units: 4, name: 'out' }).apply(h2) as tfTypes.SymbolicTensor;
      const f = await saved('functional', tf.model({ inputs: input, outputs: out }));

      const lr = await compressModel(f, [{ method: 'low-rank', options: { rank: 4, layers: ['h1'] } }]);
      const topo = JSON.parse(readFileSync(lr.output, 'utf8')).modelTopology.config;
      const h1Entry = topo.layers.find((l: { name: string }) => l.name === 'h1');
      const lowEntry = topo.layers.find((l: { name: string }) => l.name === 'h1_lowrank');
      assert.deepEqual(lowEntry.inbound_nodes, [[['inp', 0, 0, {}]]]);
      assert.deepEqual(h1Entry.inbound_nodes, [[['h1_lowrank', 0, 0, {}]]]);
      const factorized = await loadLayersModelFromFile(lr.output);
      assert.equal(factorized.countParams(), (24 + 20) * 4 + 20 + (20 * 16 + 16) + (16 * 4 + 4));

      const sp = await compressModel(f, [{ method: 'structured-prune', options: { sparsity: 0.5 } }]);
      const pruned = await loadLayersModelFromFile(sp.output);
      assert.equal(pruned.countParams(), 24 * 10 + 10 + (10 * 8 + 8) + (8 * 4 + 4));
      const change = await structuredPrune.apply(await openModel(f), { sparsity: 0.5 });
      const reference = await loadLayersModelFromFile(f);
      for (const e of change.architecture as RemoveUnitsEdit[]) zeroConsumerInputs(tf, reference, e);
      const x = randomInput(32, 24);
      const diff = maxAbsDiff((pruned.predict(x) as tfTypes.Tensor).dataSync() as Float32Array, (reference.predict(x) as tfTypes.Tensor).dataSync() as Float32Array);
      assert.ok(diff < 1e-4, `max |Δ| ${diff}`);
      x.dispose();
    });

    it('refuses unit removal into a merge or a fan-out, naming the layer', async () => {
      const input = tf.input({ shape: [12], name: 'inp' });
      const a = tf.layers.dense({ units: 8, name: 'a' }).apply(input) as tfTypes.SymbolicTensor;
      const b = tf.layers.dense({ units: 8, name: 'b' }).apply(a) as tfTypes.SymbolicTensor;
      const c = tf.layers.dense({ units: 8, name: 'c' }).apply(a) as tfTypes.SymbolicTensor;
      const sum = tf.layers.add({ name: 'sum' }).apply([b, c]) as tfTypes.SymbolicTensor;
      const out = tf.layers.dense({ units: 3, name: 'out' }).apply(sum) as tfTypes.SymbolicTensor;
      const f = await saved('merge', tf.model({ inputs: input, outputs: out }));
      const dirFiles = readdirSync(path.dirname(f)).sort();
      await assert.rejects(compressModel(f, [{ method: 'structured-prune', options: { sparsity: 0.25, layers: ['b'] } }]), (e: Error) => {
        assert.ok(e instanceof ModelFormatError);
        assert.match(e.message, /^b: .*merge layer 'sum'/);
        return true;
      });
      await assert.rejects(compressModel(f, [{ method: 'structured-prune', options: { sparsity: 0.25, layers: ['a'] } }]), /a: 'a' feeds 2 consumers \(b, c\)/);
      assert.deepEqual(readdirSync(path.dirname(f)).sort(), dirFiles);
    });

    it('writes 4 MiB shards for large models, named like the converter', async () => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ inputShape: [1100], units: 1000, name: 'big' }));
      const f = await saved('big', m);
      const r = await compressModel(f, [{ method: 'prune', options: { sparsity: 0.5 } }]);
      const json = JSON.parse(readFileSync(r.output, 'utf8'));
      assert.deepEqual(json.weightsManifest[0].paths, ['model.prune-50.weights.group1-shard1of2.bin', 'model.prune-50.weights.group1-shard2of2.bin']);
      assert.equal(readFileSync(path.join(path.dirname(f), json.weightsManifest[0].paths[0])).length, 4 * 1024 * 1024);
      const loaded = await loadLayersModelFromFile(r.output);
      const k = loaded.getLayer('big').getWeights()[0]!.dataSync() as Float32Array;
      assert.equal(countZeros(k), 550_000);
    });
  });

  describe('what TF.js cannot store', () => {
    it('check() refuses bfloat16, int8 and per-channel scales, and architecture edits on graph models', async () => {
      const doc = await openModel(path.join(realFixtures, 'tfjs-graph/blazeface/blazeface.json'));
      const t = doc.layers.flatMap((l) => l.tensors.map((x) => ({ l, x }))).find(({ x }) => x.dtype === 'float32' && x.shape.length === 4)!;
      const values = new Float32Array(t.x.count);
      const change = (storage: ModelChange['tensors'][number]['storage']): ModelChange => ({ method: 'x', tensors: [{ layer: t.l.name, tensor: t.x.name, values, storage }], architecture: [], notes: [] });
      assert.match(tfjsWriter.check(doc, change({ kind: 'bfloat16' })).join(), /bfloat16/);
      assert.match(tfjsWriter.check(doc, change({ kind: 'affine', dtype: 'int8', scale: new Float32Array([1]), zeroPoint: new Int32Array([0]), axisUnits: false })).join(), /int8/);
      assert.match(
        tfjsWriter.check(doc, change({ kind: 'affine', dtype: 'uint8', scale: new Float32Array([1, 1]), zeroPoint: new Int32Array([0, 0]), axisUnits: true })).join(),
        /per-channel/,
      );
      assert.deepEqual(tfjsWriter.check(doc, change({ kind: 'float16' })), []);
      const arch: ModelChange = { method: 'x', tensors: [], architecture: [{ kind: 'remove-units', layer: t.l.name, keep: [0], units: 2 }], notes: [] };
      assert.match(tfjsWriter.check(doc, arch).join(), /graph models have no Keras layers/);
    });
  });

  describe('other TF.js flavours', () => {
    function copyFixture(rel: string): string {
      const d = path.join(work, path.basename(rel));
      cpSync(path.join(realFixtures, rel), d, { recursive: true });
      return d;
    }

    it('graph model (blazeface): pruned output loads with tf.loadGraphModel; int32 weights are copied as they were', async () => {
      const d = copyFixture('tfjs-graph/blazeface');
      const f = path.join(d, 'blazeface.json');
      const hashes = snapshot(d);
      const r = await compressModel(f, [{ method: 'prune', options: { sparsity: 0.3 } }]);
      assertUnchanged(d, hashes);
      assert.equal(path.basename(r.output), 'blazeface.prune-30.json');
      const src = JSON.parse(readFileSync(f, 'utf8'));
      const out = JSON.parse(readFileSync(r.output, 'utf8'));
      assert.deepEqual(out.modelTopology, src.modelTopology);
      const ints = (m: { weightsManifest: { weights: { dtype: string }[] }[] }) => m.weightsManifest.flatMap((g) => g.weights).filter((w) => w.dtype === 'int32');
      assert.deepEqual(ints(out), ints(src));
      const g = await loadGraphModelFromFile(r.output);
      const x = tf.zeros(g.inputs[0]!.shape!.map((d) => (d < 0 ? 1 : d)));
      const ys = ([] as tfTypes.Tensor[]).concat(g.execute(x));
      assert.ok(ys.length > 0 && ys.every((y) => y.size > 0));
      tf.dispose([x, ...ys]);
      const original = await tf.loadGraphModel(fileHandler(f));
      const int32 = (m: tfTypes.GraphModel) => Object.entries(m.weights).filter(([, v]) => v[0]!.dtype === 'int32').map(([k, v]) => [k, Array.from(v[0]!.dataSync())]);
      assert.deepEqual(int32(g), int32(original));
    });

    it('uint8-quantized MobileNetV2 (nsfwjs): units removed through BN, ReLU, padding and a depthwise conv; every byte not sliced is copied', async () => {
      const d = copyFixture('tfjs-layers/nsfwjs_mobilenet_v2');
      const f = path.join(d, 'model.json');
      const options = { sparsity: 0.25, layers: ['block_3_expand'] };
      const r = await compressModel(f, [{ method: 'structured-prune', options }]);
      const src = JSON.parse(readFileSync(f, 'utf8'));
      const out = JSON.parse(readFileSync(r.output, 'utf8'));
      assert.ok(out.modelTopology.model_config, 'the Keras model_config wrapper is kept');
      const srcSpecs = new Map<string, { shape: number[]; quantization: unknown }>(src.weightsManifest[0].weights.map((w: { name: string }) => [w.name, w]));
      const srcBytes = manifestBytes(f);
      const outBytes = manifestBytes(r.output);
      const sliced: string[] = [];
      for (const w of out.weightsManifest[0].weights) {
        const s = srcSpecs.get(w.name)!;
        assert.deepEqual(w.quantization, s.quantization, `${w.name} keeps its uint8 min/scale`);
        if (JSON.stringify(w.shape) === JSON.stringify(s.shape)) assert.ok(outBytes.get(w.name)!.equals(srcBytes.get(w.name)!), `${w.name} bytes`);
        else sliced.push(w.name);
      }
      assert.equal(out.weightsManifest[0].weights.length, srcSpecs.size);
      const bn = (l: string) => ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((v) => `${l}/${v}`);
      assert.deepEqual(
        sliced.sort(),
        ['block_3_expand/kernel', ...bn('block_3_expand_BN'), 'block_3_depthwise/depthwise_kernel', ...bn('block_3_depthwise_BN'), 'block_3_project/kernel'].sort(),
      );

      // Same function as the original with the project conv's inputs from removed channels zeroed.
      const edit = (await structuredPrune.apply(await openModel(f), options)).architecture[0] as RemoveUnitsEdit;
      assert.equal(edit.keep.length, 144 - 36);
      const model = await loadLayersModelFromFile(r.output);
      const reference = await loadLayersModelFromFile(f);
      const project = reference.getLayer('block_3_project');
      const k = Float32Array.from(project.getWeights()[0]!.dataSync());
      const keep = new Set(edit.keep);
      for (let c = 0; c < 144; c++) if (!keep.has(c)) k.fill(0, c * 32, (c + 1) * 32);
      setWeight(tf, project, 0, k);
      const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 3);
      const [a, b] = [model, reference].map((m) => (m.predict(x) as tfTypes.Tensor).dataSync() as Float32Array);
      assert.ok(maxAbsDiff(a!, b!) < 1e-5, `max |Δp| ${maxAbsDiff(a!, b!)}`);
      assert.equal(model.countParams(), reference.countParams() - 36 * (24 + 4 + 9 + 4 + 32));
      x.dispose();
    });

    for (const [method, options] of [
      ['prune', { sparsity: 0.5 }],
      ['cluster', { clusters: 16 }],
    ] as const) {
      it(`uint8-quantized MobileNetV2 (nsfwjs), ${method}: weights go back to uint8, the output is not larger, pruned zeros load as exact zeros`, async () => {
        const d = copyFixture('tfjs-layers/nsfwjs_mobilenet_v2');
        const f = path.join(d, 'model.json');
        const r = await compressModel(f, [{ method, options }]);
        const size = (files: string[]) => files.reduce((s, x) => s + readFileSync(x).length, 0);
        const binsIn = readdirSync(d).filter((x) => !x.endsWith('.json') && !x.includes(method));
        const binsOut = r.files.filter((x) => !x.endsWith('.json'));
        assert.ok(size(binsOut) <= size(binsIn.map((x) => path.join(d, x))), `weights ${size(binsOut)} B vs ${size(binsIn.map((x) => path.join(d, x)))} B in the source`);
        assert.ok(size(r.files) <= size([f, ...binsIn.map((x) => path.join(d, x))]) + 4096, 'whole output not larger (model.json ± a little)');
        const out = JSON.parse(readFileSync(r.output, 'utf8'));
        for (const w of out.weightsManifest[0].weights) assert.equal(w.quantization?.dtype, 'uint8', `${w.name} stored as uint8`);
        const note = r.notes.find((n) => n.includes('re-quantized'));
        assert.ok(note, r.notes.join('\n'));
        assert.match(note, /uint8; zero stays exactly 0\).*dB SNR, max error/);
        if (method === 'cluster') assert.match(note, /cluster value/);

        // What the method decided, before re-quantization: the reference the loaded output is held to.
        const change = await METHODS[method].apply(await openModel(f), options);
        const edits = new Map(change.tensors.map((e) => [e.tensor, e.values]));
        const model = await loadLayersModelFromFile(r.output);
        const reference = await loadLayersModelFromFile(f);
        let pruned = 0;
        for (const w of model.weights) {
          const values = edits.get(w.originalName);
          if (!values) continue;
          const loaded = w.read().dataSync() as Float32Array;
          for (let i = 0; i < values.length; i++) {
            if (values[i] === 0) {
              pruned++;
              assert.ok(Object.is(loaded[i], 0), `${w.originalName}[${i}] loads as ${loaded[i]}, not 0`);
            }
          }
          reference.weights.find((v) => v.originalName === w.originalName)!.write(tf.tensor(values, w.shape as number[]));
        }
        if (method === 'prune') assert.ok(pruned > 1_000_000, `${pruned} pruned weights checked`);
        const x = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 7);
        const [a, b] = [model, reference].map((m) => (m.predict(x) as tfTypes.Tensor).dataSync() as Float32Array);
        const diff = maxAbsDiff(a!, b!);
        console.log(`      ${method}: ${size(binsOut)} B of weights, max |Δp| vs unre-quantized ${diff.toExponential(2)}; ${note}`);
        assert.ok(diff < (method === 'prune' ? 0.02 : 0.1), `max |Δp| ${diff}`);
        x.dispose();
      });
    }

    it('float16-stored graph model (facemesh), prune: weights stay float16, output not larger, loads in tf.loadGraphModel with exact zeros', async () => {
      const d = copyFixture('tfjs-graph/facemesh');
      const f = path.join(d, 'facemesh.json');
      const r = await compressModel(f, [{ method: 'prune', options: { sparsity: 0.5 } }]);
      const src = JSON.parse(readFileSync(f, 'utf8'));
      const out = JSON.parse(readFileSync(r.output, 'utf8'));
      const storage = (m: { weightsManifest: { weights: { name: string; dtype: string; quantization?: { dtype: string } }[] }[] }) =>
        m.weightsManifest.flatMap((g) => g.weights).map((w) => `${w.name}:${w.quantization?.dtype ?? w.dtype}`);
      assert.deepEqual(storage(out), storage(src));
      const bin = (m: { weightsManifest: { paths: string[] }[] }, file: string) => m.weightsManifest.flatMap((g) => g.paths).reduce((s, p) => s + readFileSync(path.join(path.dirname(file), p)).length, 0);
      assert.equal(bin(out, r.output), bin(src, f));
      assert.ok(r.notes.some((n) => /re-quantized .*float16/.test(n)), r.notes.join('\n'));
      const change = await METHODS.prune.apply(await openModel(f), { sparsity: 0.5 });
      const g = await loadGraphModelFromFile(r.output);
      let zeros = 0;
      for (const e of change.tensors) {
        const loaded = g.weights[e.tensor]![0]!.dataSync() as Float32Array;
        for (let i = 0; i < e.values.length; i++) if (e.values[i] === 0) (assert.ok(Object.is(loaded[i], 0), `${e.tensor}[${i}]`), zeros++);
      }
      assert.ok(zeros > 100_000, `${zeros} zeros checked`);
    });

    it('weights-only manifest (face-api): output is a manifest array the reader opens again', async () => {
      const d = copyFixture('tfjs-weights/face_expression');
      const f = path.join(d, 'face_expression_model-weights_manifest.json');
      const r = await compressModel(f, [{ method: 'quantize', options: { dtype: 'float16' } }]);
      assert.equal(path.basename(r.output), 'face_expression_model-weights_manifest.float16.json');
      const out = JSON.parse(readFileSync(r.output, 'utf8'));
      assert.ok(Array.isArray(out) && out.length === 1);
      assert.deepEqual(out[0].paths, ['face_expression_model-weights_manifest.float16.weights.bin']);
      const doc = await openModel(r.output);
      assert.equal(doc.format, 'tfjs-weights');
      assert.equal(r.after.params, r.before.params);
    });
  });
});

/** Each weight's stored bytes, by name, from a model.json and its shards (fixed-size dtypes only). */
function manifestBytes(file: string): Map<string, Buffer> {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const size: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };
  const out = new Map<string, Buffer>();
  for (const g of json.weightsManifest as { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[]) {
    const data = Buffer.concat(g.paths.map((p) => readFileSync(path.join(path.dirname(file), p))));
    let at = 0;
    for (const w of g.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1) * size[w.quantization?.dtype ?? w.dtype]!;
      out.set(w.name, data.subarray(at, at + n));
      at += n;
    }
  }
  return out;
}

/**
 * In a Sequential or single-chain model, zeroes the weights through which the
 * removed units of `edit.layer` reach the next Dense/Conv2D (mapping channels
 * through Flatten as row = position·C + c). The result computes exactly what the
 * model with those units removed computes.
 */
function zeroConsumerInputs(tf: Tf, model: Model, edit: RemoveUnitsEdit): void {
  const removed = Array.from({ length: edit.units }, (_, u) => u).filter((u) => !edit.keep.includes(u));
  const start = model.layers.findIndex((l) => l.name === edit.layer);
  let channels = edit.units;
  let rows = removed;
  for (const layer of model.layers.slice(start + 1)) {
    const cls = layer.getClassName();
    if (cls === 'Flatten') {
      const s = (layer.input as tfTypes.SymbolicTensor).shape as number[];
      const positions = s.slice(1, -1).reduce((a, b) => a * b, 1);
      const mapped: number[] = [];
      for (let p = 0; p < positions; p++) for (const c of rows) mapped.push(p * channels + c);
      rows = mapped;
      channels *= positions;
      continue;
    }
    if (cls !== 'Dense' && cls !== 'Conv2D') continue;
    const kernel = layer.getWeights()[0]!;
    const values = Float32Array.from(kernel.dataSync());
    const out = kernel.shape[kernel.shape.length - 1]!;
    const inAxis = kernel.shape[kernel.shape.length - 2]!;
    const removedSet = new Set(rows);
    for (let i = 0; i < values.length; i++) if (removedSet.has(Math.floor(i / out) % inAxis)) values[i] = 0;
    setWeight(tf, layer, 0, values);
    return;
  }
  throw new Error(`no consumer after ${edit.layer}`);
}
