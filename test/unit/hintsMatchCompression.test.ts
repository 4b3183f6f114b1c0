/**
 * Redundancy hints against the compressions they offer: every hint's action
 * (hintActions.ts, what "Apply a Hint…" starts) is run through the real
 * `parsimony compress` (the pipeline and the format's writer), and the
 * parameters and bytes it really removes are compared with the hint's
 * savingsParams / savingsBytes (issue #4: "within a few percent").
 */
import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { computeHints, type Hint, type HintsResult } from '../../src/core/analysis/hints';
import { actionForHint } from '../../src/core/analysis/hintActions';
import type { SizeStats } from '../../src/core/compress/stats';
import { openModel } from '../../src/core/formats/registry';
import type { FormatId } from '../../src/core/model';
import { huffmanSize } from '../../src/core/numeric/huffman';
import { loadTf, type Tf } from '../../src/core/runtime/tfjs';
import { cli } from '../helpers/cli';
import { matmul, randomMatrix, rng } from '../helpers/synthetic';
import { loadLayersModelFromFile, saveLayersModelToFile } from '../helpers/tfjsFiles';
import { loadMnist } from '../../src/core/data/mnist';

const ROOT = path.resolve(__dirname, '../..');
/** "Within a few percent". */
const TOLERANCE = 0.03;
/**
 * Whole-file byte counts also carry the output's own metadata (model.json
 * quantization entries, the parsimony method tag, ONNX node and tensor names):
 * a few hundred bytes whatever the tensor's size, allowed on top.
 */
const METADATA_SLACK = 1024;

interface Applied {
  before: SizeStats;
  after: SizeStats;
  output: string;
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'parsimony-hints-vs-compress-'));
  dirs.push(d);
  return d;
}

/** A fresh copy of a model folder, so every compression starts from the original. */
function copyModel(file: string): string {
  const dir = tempDir();
  cpSync(path.dirname(file), dir, { recursive: true });
  return path.join(dir, path.basename(file));
}

/** Runs the hint's action as the extension does: `parsimony compress <model> --method … --layers <layer>`. */
async function apply(file: string, h: Hint, format: FormatId, extra: string[] = []): Promise<Applied> {
  const a = actionForHint(h, format);
  assert.ok(a, `${h.layer} ${h.kind} has an action`);
  const copy = copyModel(file);
  const r = await cli('compress', copy, '--method', a.method, ...a.args, '--layers', a.layers.join(','), ...extra, '--no-record', '--json');
  assert.equal(r.code, 0, `${a.method} ${a.args.join(' ')}: ${r.stdout}${r.stderr}`);
  const json = JSON.parse(r.stdout) as Applied;
  return json;
}

async function tensorValues(file: string, name: string): Promise<Float32Array | null> {
  const doc = await openModel(file);
  for (const l of doc.layers) for (const t of l.tensors) if (t.name === name) return Float32Array.from(await t.read!());
  return null;
}

/** Stored bytes of every tensor (quantization scales and zero points included; no container metadata). */
async function weightBytes(file: string): Promise<number> {
  const doc = await openModel(file);
  return doc.layers.reduce((s, l) => s + l.tensors.reduce((a, t) => a + t.bytes, 0), 0);
}

/** Bytes saved: the stored weights within a few percent, the files within that plus the metadata slack. */
async function checkBytes(file: string, r: Applied, h: Hint, what: string): Promise<number> {
  near((await weightBytes(file)) - (await weightBytes(r.output)), h.savingsBytes, `${what} weight bytes`);
  const onDisk = r.before.bytesOnDisk - r.after.bytesOnDisk;
  near(onDisk, h.savingsBytes, `${what} bytes on disk`, TOLERANCE, METADATA_SLACK);
  return onDisk;
}

function zeros(v: Float32Array): number {
  let n = 0;
  for (const x of v) if (x === 0) n++;
  return n;
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    s += a[i]! ** 2;
  }
  return Math.sqrt(d / s);
}

function near(actual: number, expected: number, what: string, tolerance = TOLERANCE, slack = 0): void {
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.abs(expected) + slack, `${what}: hint says ${expected}, compression gives ${actual} (${((actual / expected - 1) * 100).toFixed(2)}%)`);
}

/**
 * Applies one hint and checks what really changed against it, by kind.
 * Returns a line for the log of what was compared.
 */
async function check(file: string, format: FormatId, h: Hint): Promise<string> {
  const what = `${path.basename(path.dirname(file))}/${h.layer} ${h.kind}`;
  const original = (await tensorValues(file, h.tensor))!;
  switch (h.kind) {
    case 'prunable':
    case 'sparse': {
      const r = await apply(file, h, format);
      const after = (await tensorValues(r.output, h.tensor))!;
      // The parameters a sparse encoding need not store: the tensor's zeros after pruning.
      assert.equal(zeros(after), h.savingsParams, `${what}: zeros after pruning`);
      assert.equal(r.before.nonzeroParams - r.after.nonzeroParams, h.savingsParams - zeros(original), `${what}: non-zero parameters removed`);
      near(relativeError(original, after), h.error, `${what} error`, 0.05);
      return `${what}: ${h.savingsParams} zeros, as estimated`;
    }
    case 'low-rank': {
      const r = await apply(file, h, format);
      assert.equal(r.before.params - r.after.params, h.savingsParams, `${what}: parameters removed`);
      const onDisk = await checkBytes(file, r, h, what);
      return `${what}: ${h.savingsParams} params, ${onDisk} B on disk (hint ${h.savingsBytes} B)`;
    }
    case 'clusterable': {
      const r = await apply(file, h, format);
      const after = (await tensorValues(r.output, h.tensor))!;
      // Stock runtimes store shared values as floats; the saving is the codebook + Huffman-coded indices.
      const counts = new Map<number, number>();
      for (const v of after) counts.set(v, (counts.get(v) ?? 0) + 1);
      assert.ok(counts.size <= (h.detail.clusters as number), `${what}: ${counts.size} distinct values`);
      const coded = huffmanSize([...counts.values()]).bytes + counts.size * 4;
      near(original.length * 4 - coded, h.savingsBytes, `${what} coded bytes saved`);
      near(relativeError(original, after), h.error, `${what} error`, 0.05);
      return `${what}: ${original.length * 4 - coded} B saved coded (hint ${h.savingsBytes} B)`;
    }
    case 'quantizable': {
      const r = await apply(file, h, format);
      const onDisk = await checkBytes(file, r, h, what);
      // ONNX QDQ renames the weight (<name>_quantized, integers); elsewhere it keeps its name and reads dequantized.
      const after = await tensorValues(r.output, h.tensor);
      if (after) near(relativeError(original, after), h.error, `${what} error`, 0.05);
      return `${what}: ${onDisk} B on disk (hint ${h.savingsBytes} B)`;
    }
    case 'dead-units': {
      const r = await apply(file, h, format);
      assert.equal(r.before.params - r.after.params, h.savingsParams, `${what}: parameters removed`);
      await checkBytes(file, r, h, what);
      return `${what} (${String(h.detail.basis)}): ${h.savingsParams} params`;
    }
    case 'separable': {
      // Applying it trains (one short epoch here); the parameter count is the architecture's.
      const r = await apply(file, h, format, ['--data', 'mnist:train:64', '--eval-data', 'mnist:64', '--epochs', '1']);
      assert.equal(r.before.params - r.after.params, h.savingsParams, `${what}: parameters removed`);
      return `${what}: ${h.savingsParams} params`;
    }
    case 'duplicate-units': {
      // The merge: the second unit of each pair goes, its outgoing weights added to the first's.
      const r = await apply(file, h, format);
      assert.equal(r.before.params - r.after.params, h.savingsParams, `${what}: parameters removed`);
      await checkBytes(file, r, h, what);
      return `${what}: ${h.savingsParams} params`;
    }
    case '2:4': {
      const r = await apply(file, h, format);
      const after = (await tensorValues(r.output, h.tensor))!;
      // Two of every four fan-in weights become zeros; the shape (and the parameter count) stays.
      assert.equal(zeros(after), h.savingsParams, `${what}: zeros after 2:4 pruning`);
      assert.equal(r.before.params, r.after.params, `${what}: the tensor keeps its shape`);
      assert.equal(r.before.nonzeroParams - r.after.nonzeroParams, h.savingsParams - zeros(original), `${what}: non-zero parameters removed`);
      near(relativeError(original, after), h.error, `${what} error`, 0.05);
      return `${what}: ${h.savingsParams} zeros, error ${relativeError(original, after).toExponential(2)} (hint ${h.error.toExponential(2)})`;
    }
  }
}

async function checkAll(file: string, result: HintsResult, kinds: readonly string[]): Promise<string[]> {
  const doc = await openModel(file);
  const lines: string[] = [];
  for (const h of result.hints) {
    if (!kinds.includes(h.kind)) continue;
    if (!actionForHint(h, doc.format)) continue;
    lines.push(await check(file, doc.format, h));
  }
  return lines;
}

describe('hint savings match what the compression really removes', function () {
  this.timeout(600_000);
  let tf: Tf;
  before(async () => {
    tf = (await loadTf()).tf;
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('examples/mnist-mlp and mnist-cnn (trained TF.js models): every hint with an action, weights and data', async () => {
    const seen = new Set<string>();
    for (const name of ['mnist-mlp', 'mnist-cnn']) {
      const file = path.join(ROOT, 'examples', name, 'model.json');
      const weights = await computeHints(await openModel(file));
      const lines = await checkAll(file, weights, ['prunable', 'sparse', 'low-rank', 'clusterable', 'quantizable', 'dead-units', 'separable']);
      const data = await computeHints(await openModel(file), {}, {}, { data: 'mnist:500' });
      const dead = data.hints.filter((h) => h.kind === 'dead-units');
      assert.ok(dead.length > 0, `${name}: trained ReLU layers have units dead on MNIST`);
      lines.push(...(await checkAll(file, data, ['dead-units'])));
      for (const l of lines) seen.add(l.split(': ')[0]!.split(' ').slice(1).join(' ').replace(/ \(.*/, ''));
    }
    for (const kind of ['quantizable', 'clusterable', 'separable', 'dead-units']) assert.ok([...seen].some((s) => s.endsWith(kind)), `${kind} compared (${[...seen].join(', ')})`);
  });

  it('a TF.js model built with known redundancy: low-rank, sparse, prunable, clusterable, quantizable, duplicate and dead units', async () => {
    const r = rng(11);
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [256], units: 320, activation: 'relu', name: 'lowrank' }));
    m.add(tf.layers.dense({ units: 384, activation: 'relu', name: 'wide' }));
    m.add(tf.layers.dense({ units: 192, activation: 'relu', name: 'sparse' }));
    m.add(tf.layers.dense({ units: 128, activation: 'relu', name: 'units' }));
    m.add(tf.layers.dense({ units: 128, activation: 'relu', name: 'levels' }));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output' }));
    const set = (name: string, kernel: Float32Array, bias?: Float32Array) => {
      const layer = m.getLayer(name);
      const [k, b] = layer.getWeights() as [tfTypes.Tensor, tfTypes.Tensor];
      layer.setWeights([tf.tensor(kernel, k.shape), bias ? tf.tensor(bias, b.shape) : b]);
    };
    // Rank 8 of 256×320 (exact spectrum), rank 10 of 320×384 (both sides above 256: the randomized sketch).
    set('lowrank', matmul(randomMatrix(256, 8, 1), randomMatrix(8, 320, 2), 256, 8, 320));
    set('wide', matmul(randomMatrix(320, 10, 5), randomMatrix(10, 384, 6), 320, 10, 384));
    // 60% exact zeros, 10% near-zeros (10⁻⁶ of the scale), the rest Gaussian.
    const sparse = randomMatrix(384, 192, 3);
    for (let i = 0; i < sparse.length; i++) {
      const u = r();
      if (u < 0.6) sparse[i] = 0;
      else if (u < 0.7) sparse[i] = sparse[i]! * 1e-6;
    }
    set('sparse', sparse);
    // Unit 7 copies unit 3 (kernel and bias); unit 10 has zero weights and a negative bias.
    const units = randomMatrix(192, 128, 4);
    const bias = Float32Array.from({ length: 128 }, () => 0.1 * r());
    for (let p = 0; p < 192; p++) {
      units[p * 128 + 7] = units[p * 128 + 3]!;
      units[p * 128 + 10] = 0;
    }
    bias[7] = bias[3]!;
    bias[10] = -1;
    set('units', units, bias);
    // 16 distinct values.
    const levels = Array.from({ length: 16 }, (_, i) => (i - 7.5) / 20);
    set('levels', Float32Array.from({ length: 128 * 128 }, () => levels[Math.floor(r() * 16)]!));
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();

    const result = await computeHints(await openModel(file));
    const kinds = new Set(result.hints.map((h) => `${h.layer} ${h.kind}`));
    for (const k of ['lowrank low-rank', 'wide low-rank', 'sparse sparse', 'sparse prunable', 'units duplicate-units', 'units dead-units', 'levels clusterable', 'lowrank quantizable']) assert.ok(kinds.has(k), `${k} in ${[...kinds].join(', ')}`);
    const lines = await checkAll(file, result, ['prunable', 'sparse', 'low-rank', 'clusterable', 'quantizable', 'dead-units', 'duplicate-units']);
    assert.ok(lines.length >= 8, lines.join('\n'));
    assert.equal(result.hints.find((h) => h.layer === 'wide' && h.kind === 'low-rank')!.detail.exact, false);
  });

  it('2:4: a Dense kernel whose every 4 consecutive inputs hold 2 tiny weights (TF.js): zeros and error as the hint says', async () => {
    const r = rng(31);
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [64], units: 96, activation: 'relu', name: 'nm' }));
    m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output' }));
    // Keras [in, out]: rows 4g…4g+3 of each column are one group; two of them 10⁻³ of the rest.
    const kernel = randomMatrix(64, 96, 32);
    for (let u = 0; u < 96; u++) {
      for (let g = 0; g < 16; g++) {
        const a = Math.floor(r() * 4);
        const b = (a + 1 + Math.floor(r() * 3)) % 4;
        for (const k of [a, b]) kernel[(4 * g + k) * 96 + u] = kernel[(4 * g + k) * 96 + u]! * 1e-3;
      }
    }
    const layer = m.getLayer('nm');
    const [k, b] = layer.getWeights() as [tfTypes.Tensor, tfTypes.Tensor];
    layer.setWeights([tf.tensor(kernel, k.shape), b]);
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();
    const result = await computeHints(await openModel(file));
    const nm = result.hints.find((h) => h.kind === '2:4');
    assert.ok(nm && nm.layer === 'nm', `2:4 hint on nm: ${result.hints.map((h) => `${h.layer} ${h.kind}`).join(', ')}`);
    assert.equal(nm.savingsParams, 64 * 96 / 2);
    const lines = await checkAll(file, result, ['2:4']);
    assert.equal(lines.length, 1, lines.join('\n'));
  });

  it('duplicate units merged into their twins: predictions unchanged on MNIST, parameters as the hint says (Dense, and Conv → Flatten)', async () => {
    const digits = loadMnist('test', 200);
    const build = (conv: boolean): tfTypes.Sequential => {
      const m = tf.sequential();
      if (conv) {
        m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name: 'twins' }));
        m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
        m.add(tf.layers.flatten({ name: 'flat' }));
      } else {
        m.add(tf.layers.dense({ inputShape: [784], units: 64, activation: 'relu', name: 'twins' }));
        m.add(tf.layers.dropout({ rate: 0.1, name: 'drop' }));
      }
      m.add(tf.layers.dense({ units: 32, activation: 'relu', name: 'next' }));
      m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'output' }));
      // Unit 5 a copy of unit 2; unit 6 half of unit 4 (parallel, not equal: merged with α = ½ under ReLU).
      const layer = m.getLayer('twins');
      const [k, b] = layer.getWeights() as [tfTypes.Tensor, tfTypes.Tensor];
      const kv = Float32Array.from(k.dataSync());
      const bv = Float32Array.from(b.dataSync()).map((_, i) => 0.01 * (i % 3));
      const units = k.shape[k.shape.length - 1]!;
      for (let p = 0; p < kv.length / units; p++) {
        kv[p * units + 5] = kv[p * units + 2]!;
        kv[p * units + 6] = 0.5 * kv[p * units + 4]!;
      }
      bv[5] = bv[2]!;
      bv[6] = 0.5 * bv[4]!;
      layer.setWeights([tf.tensor(kv, k.shape), tf.tensor(bv, b.shape)]);
      return m;
    };
    const predict = (m: tfTypes.LayersModel, conv: boolean): Float32Array =>
      tf.tidy(() => (m.predict(tf.tensor(digits.x.subarray(0, 200 * 784), conv ? [200, 28, 28, 1] : [200, 784])) as tfTypes.Tensor).dataSync() as Float32Array);
    for (const conv of [false, true]) {
      const m = build(conv);
      const file = path.join(tempDir(), 'model.json');
      await saveLayersModelToFile(m, file);
      m.dispose();
      const result = await computeHints(await openModel(file));
      const dup = result.hints.find((h) => h.kind === 'duplicate-units' && h.layer === 'twins');
      assert.ok(dup, `duplicate-units on twins: ${result.hints.map((h) => `${h.layer} ${h.kind}`).join(', ')}`);
      assert.deepEqual(dup.detail.pairs, [[2, 5], [4, 6]]);
      assert.equal(actionForHint(dup, 'tfjs-layers')!.args.join(' '), '--merge 2:5,4:6');
      const lines = await checkAll(file, result, ['duplicate-units']);
      assert.equal(lines.length, 1);
      // The merged model itself: its predictions against the original's, in stock TF.js.
      const r = await apply(file, dup, 'tfjs-layers');
      const [before, after] = [await loadLayersModelFromFile(file), await loadLayersModelFromFile(r.output)];
      assert.equal(before.countParams() - after.countParams(), dup.savingsParams);
      assert.equal((after.getLayer('twins').getWeights()[0]!.shape as number[]).at(-1), (conv ? 8 : 64) - 2);
      const [pa, pb] = [predict(before, conv), predict(after, conv)];
      let maxDiff = 0;
      for (let i = 0; i < pa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[i]! - pb[i]!));
      assert.ok(maxDiff < 1e-5, `${conv ? 'conv' : 'dense'}: max |Δ| ${maxDiff}`);
      console.log(`      ${conv ? 'Conv → pool → Flatten' : 'Dense → Dropout'}: ${dup.savingsParams} params merged away, max |Δ prob| ${maxDiff.toExponential(2)} on 200 digits`);
      before.dispose();
      after.dispose();
    }
  });

  it('merge refuses a batch norm between the twins and their consumer, saying why', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [16], units: 8, activation: 'relu', name: 'twins' }));
    m.add(tf.layers.batchNormalization({ name: 'bn' }));
    m.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'output' }));
    const file = path.join(tempDir(), 'model.json');
    await saveLayersModelToFile(m, file);
    m.dispose();
    const res = await cli('compress', file, '--method', 'structured-prune', '--merge', '0:1', '--layers', 'twins', '--no-record', '--json');
    assert.notEqual(res.code, 0);
    assert.match(res.stdout + res.stderr, /through 'bn' \(BatchNormalization\).*not be exact/);
  });

  it('ONNX (int8 per channel) and safetensors (float16): quantizable bytes as written', async () => {
    // A safetensors checkpoint of two Linear layers ([out, in] weights and biases), as torch.save_file lays it out.
    const st = path.join(tempDir(), 'linear.safetensors');
    const tensors: [string, number[], Float32Array][] = [
      ['fc1.weight', [256, 128], randomMatrix(256, 128, 21)],
      ['fc1.bias', [256], randomMatrix(1, 256, 22)],
      ['fc2.weight', [10, 256], randomMatrix(10, 256, 23)],
      ['fc2.bias', [10], randomMatrix(1, 10, 24)],
    ];
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, shape, v] of tensors) {
      header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + v.byteLength] };
      offset += v.byteLength;
    }
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(st, Buffer.concat([length, json, ...tensors.map(([, , v]) => Buffer.from(v.buffer))]));

    for (const file of [path.join(ROOT, 'test/fixtures/generated/onnx/lenet_torch.onnx'), st]) {
      const result = await computeHints(await openModel(file));
      const lines = await checkAll(file, result, ['quantizable', 'low-rank', 'prunable']);
      assert.ok(lines.some((l) => l.includes('quantizable')), `${file}: ${lines.join('\n')}`);
    }
  });
});
