import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { summarize } from '../../src/core/analysis/summary';
import { compressModel, type CompressStep } from '../../src/core/compress/pipeline';
import type { MethodId } from '../../src/core/compress/types';
import { loadMnist } from '../../src/core/data/mnist';
import { ModelFormatError } from '../../src/core/errors';
import { OnnxIndex } from '../../src/core/formats/onnx/rewrite';
import { ONNX_WRITE_LIMITS, sliceAxes } from '../../src/core/formats/onnx/write';
import { openModel } from '../../src/core/formats/registry';
import { ProtoBuffer } from '../../src/core/io/protobuf';
import { ProtoWriter } from '../../src/core/io/protobufWriter';
import { allTensors } from '../../src/core/model';
import { rng } from '../helpers/synthetic';

/**
 * The ONNX writer end to end: every method through compressModel, then the
 * output must pass onnx.checker (Debian's python3-onnx), run in onnxruntime-node
 * and agree with the source model as far as the method promises.
 */
const PYTHON = '/usr/bin/python3';
const FIXTURES = path.resolve(__dirname, '../fixtures/generated/onnx');
const MNIST_MLP = path.resolve(__dirname, '../../examples/mnist-mlp');

/** Test models made with onnx.helper: deterministic weights, shapes chosen so results are exact where they can be. */
const MAKE_MODELS = String.raw`
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
out = sys.argv[1]
rng = np.random.default_rng(7)
f32 = lambda a: np.asarray(a, dtype=np.float32)
def raw(name, a): return numpy_helper.from_array(f32(a), name)
def typed(name, a):
    a = f32(a)
    return helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.flatten().tolist())
def vi(name, shape): return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
def save(nodes, name, inputs, outputs, inits, opset=13, ir=7, value_info=()):
    g = helper.make_graph(nodes, name, inputs, outputs, inits, value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)], producer_name='parsimony-test')
    m.ir_version = ir
    onnx.checker.check_model(m)
    onnx.save(m, out + '/' + name + '.onnx')
def lowrank(rows, cols, k): return rng.normal(0, 0.3, (rows, k)) @ rng.normal(0, 0.3, (k, cols))

# classifier: Gemm(transB=0, float_data) -> Relu -> Gemm(transB=1) -> Relu -> MatMul + Add; half the units of the
# first two layers are dead (zero weights and bias), so removing them changes nothing.
W1 = rng.normal(0, 0.3, (64, 48)); b1 = rng.normal(0, 0.1, 48); W1[:, :24] = 0; b1[:24] = 0
W2 = rng.normal(0, 0.3, (32, 48)); b2 = rng.normal(0, 0.1, 32); W2[:16] = 0; b2[:16] = 0
W3 = rng.normal(0, 0.3, (32, 10)); b3 = rng.normal(0, 0.1, 10)
nodes = [
    helper.make_node('Gemm', ['x', 'fc1.weight', 'fc1.bias'], ['h1'], name='fc1'),
    helper.make_node('Relu', ['h1'], ['a1'], name='relu1'),
    helper.make_node('Gemm', ['a1', 'fc2.weight', 'fc2.bias'], ['h2'], name='fc2', transB=1),
    helper.make_node('Relu', ['h2'], ['a2'], name='relu2'),
    helper.make_node('MatMul', ['a2', 'fc3.weight'], ['m3'], name='fc3'),
    helper.make_node('Add', ['m3', 'fc3.bias'], ['logits'], name='fc3_add'),
]
inits = [typed('fc1.weight', W1), raw('fc1.bias', b1), raw('fc2.weight', W2), raw('fc2.bias', b2), raw('fc3.weight', W3), raw('fc3.bias', b3)]
save(nodes, 'classifier', [vi('x', ['N', 64])], [vi('logits', ['N', 10])], inits, value_info=[vi('h1', ['N', 48]), vi('a2', ['N', 32])])
# The same at opset 11 (per-channel DequantizeLinear needs 13) and as IR 3 (initializers listed as graph inputs).
save(nodes, 'classifier_opset11', [vi('x', ['N', 64])], [vi('logits', ['N', 10])], inits, opset=11)
ir3_inputs = [vi('x', ['N', 64])] + [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
save(nodes, 'classifier_ir3', ir3_inputs, [vi('logits', ['N', 10])], inits, opset=10, ir=3)

# lowrank: every weight has rank <= 3, so a rank-3 factorization is exact.
Wc = lowrank(8, 27, 2).reshape(8, 3, 3, 3)
Wg = lowrank(512, 32, 3)    # Gemm transB=0: [fanIn, units]
Wt = lowrank(16, 32, 3)     # Gemm transB=1: [units, fanIn]
Wm = lowrank(16, 10, 2)     # MatMul: [fanIn, units]
nodes = [
    helper.make_node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], name='conv', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node('Relu', ['c'], ['r'], name='relu'),
    helper.make_node('Flatten', ['r'], ['f'], name='flatten', axis=1),
    helper.make_node('Gemm', ['f', 'g.weight', 'g.bias'], ['g'], name='g', alpha=0.5, beta=2.0),
    helper.make_node('Relu', ['g'], ['gr'], name='relu_g'),
    helper.make_node('Gemm', ['gr', 't.weight', 't.bias'], ['t'], name='t', transB=1),
    helper.make_node('Tanh', ['t'], ['tt'], name='tanh'),
    helper.make_node('MatMul', ['tt', 'm.weight'], ['mm'], name='m'),
    helper.make_node('Add', ['mm', 'm.bias'], ['logits'], name='m_add'),
]
inits = [raw('conv.weight', Wc), raw('conv.bias', rng.normal(0, 0.1, 8)), raw('g.weight', Wg), raw('g.bias', rng.normal(0, 0.1, 32)),
         raw('t.weight', Wt), raw('t.bias', rng.normal(0, 0.1, 16)), raw('m.weight', Wm), raw('m.bias', rng.normal(0, 0.1, 10))]
save(nodes, 'lowrank', [vi('x', [1, 3, 8, 8])], [vi('logits', [1, 10])], inits, value_info=[vi('g', [1, 32])])

# cnn_bn: Conv -> BatchNormalization -> Relu -> MaxPool -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm,
# with dead filters (zero weights, bias, BN shift and mean) in both convolutions.
C1 = rng.normal(0, 0.5, (8, 1, 3, 3)); C1[:4] = 0; c1b = rng.normal(0, 0.1, 8); c1b[:4] = 0
bn_s = rng.uniform(0.5, 1.5, 8); bn_b = rng.normal(0, 0.1, 8); bn_b[:4] = 0
bn_m = rng.normal(0, 0.1, 8); bn_m[:4] = 0; bn_v = rng.uniform(0.5, 1.5, 8)
C2 = rng.normal(0, 0.3, (16, 8, 3, 3)); C2[:8] = 0; c2b = rng.normal(0, 0.1, 16); c2b[:8] = 0
nodes = [
    helper.make_node('Conv', ['x', 'c1.weight', 'c1.bias'], ['c1'], name='c1', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node('BatchNormalization', ['c1', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], ['bn'], name='bn'),
    helper.make_node('Relu', ['bn'], ['r1'], name='r1'),
    helper.make_node('MaxPool', ['r1'], ['p1'], name='pool', kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node('Conv', ['p1', 'c2.weight', 'c2.bias'], ['c2'], name='c2', kernel_shape=[3, 3]),
    helper.make_node('Relu', ['c2'], ['r2'], name='r2'),
    helper.make_node('GlobalAveragePool', ['r2'], ['gap'], name='gap'),
    helper.make_node('Flatten', ['gap'], ['flat'], name='flat'),
    helper.make_node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], name='fc', transB=1),
]
inits = [raw('c1.weight', C1), raw('c1.bias', c1b), raw('bn.scale', bn_s), raw('bn.bias', bn_b), raw('bn.mean', bn_m), raw('bn.var', bn_v),
         raw('c2.weight', C2), raw('c2.bias', c2b), raw('fc.weight', rng.normal(0, 0.3, (10, 16))), raw('fc.bias', rng.normal(0, 0.1, 10))]
save(nodes, 'cnn_bn', [vi('x', ['N', 1, 12, 12])], [vi('logits', ['N', 10])], inits, value_info=[vi('c1', ['N', 8, 12, 12]), vi('p1', ['N', 8, 6, 6])])

# The example MNIST MLP (TF.js layers model) as ONNX: Dense kernels are [in, out], i.e. MatMul weights.
if len(sys.argv) > 2:
    import json
    d = sys.argv[2]
    manifest = json.load(open(d + '/model.json'))['weightsManifest'][0]
    blob = open(d + '/' + manifest['paths'][0], 'rb').read()
    weights, offset = {}, 0
    for w in manifest['weights']:
        n = int(np.prod(w['shape']))
        weights[w['name']] = np.frombuffer(blob, dtype=np.float32, count=n, offset=offset).reshape(w['shape'])
        offset += n * 4
    nodes, inits, x = [], [], 'x'
    for i, layer in enumerate(['hidden1', 'hidden2', 'output']):
        inits += [raw(layer + '.kernel', weights[layer + '/kernel']), raw(layer + '.bias', weights[layer + '/bias'])]
        nodes += [helper.make_node('MatMul', [x, layer + '.kernel'], [layer + '_mm'], name=layer),
                  helper.make_node('Add', [layer + '_mm', layer + '.bias'], [layer + '_out'], name=layer + '_bias')]
        x = layer + '_out'
        if layer != 'output':
            nodes.append(helper.make_node('Relu', [x], [layer + '_relu'], name=layer + '_relu'))
            x = layer + '_relu'
    nodes.append(helper.make_node('Softmax', [x], ['probs'], name='softmax', axis=1))
    save(nodes, 'mnist_mlp', [vi('x', ['N', 784])], [vi('probs', ['N', 10])], inits)
print('ok')
`;

/** Runs a Python snippet; returns stdout. */
function py(code: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

/**
 * Outputs to validate with onnx.checker (full_check: with shape inference). They
 * are checked together at the end, in one Python process (it takes a second to start).
 */
const toCheck: string[] = [];
function checkModels(...files: string[]): void {
  toCheck.push(...files);
}

function runChecker(files: string[]): Record<string, string> {
  return JSON.parse(
    py(
      `import sys, json, onnx
result = {}
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(f), full_check=True)
        result[f] = 'ok'
    except Exception as e:
        result[f] = str(e)[:500]
print(json.dumps(result))`,
      ...files,
    ),
  ) as Record<string, string>;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function randomInput(count: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => (r() * 2 - 1) * scale);
}

async function run(file: string, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v.data, v.dims);
    const result = await session.run(inputs);
    return result[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function argmaxRows(a: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (a[r * cols + c]! > a[r * cols + best]!) best = c;
    out.push(best);
  }
  return out;
}

const step = (method: MethodId, options: CompressStep['options'] = {}): CompressStep => ({ method, options });

const havePython = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' }).status === 0;

describe('ONNX writer', function () {
  this.timeout(120_000);
  let dir: string;
  const hashes = new Map<string, string>();
  const model = (name: string) => path.join(dir, name);

  before(function () {
    if (!havePython) this.skip();
    dir = mkdtempSync(path.join(tmpdir(), 'parsimony-onnx-write-'));
    cpSync(FIXTURES, dir, { recursive: true });
    assert.match(py(MAKE_MODELS, dir, ...(existsSync(path.join(MNIST_MLP, 'model.json')) ? [MNIST_MLP] : [])), /ok/);
    for (const f of readdirSync(dir)) if (f.endsWith('.onnx')) hashes.set(f, sha256(model(f)));
    hashes.set('external/model.onnx', sha256(model('external/model.onnx')));
    hashes.set('external/weights.bin', sha256(model('external/weights.bin')));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const classifierInput = (n: number, seed: number) => ({ x: { data: randomInput(n * 64, seed), dims: [n, 64] } });

  describe('values in the original dtype', () => {
    it('prune: zeros land in the file, onnxruntime runs it, and outputs match the pruned weights', async () => {
      const r = await compressModel(model('classifier.onnx'), [step('prune', { sparsity: 0.5, includeEnds: true })]);
      assert.equal(path.basename(r.output), 'classifier.prune-50.onnx');
      checkModels(r.output);
      assert.equal(r.after.params, r.before.params);
      const kernels = 64 * 48 + 32 * 48 + 32 * 10;
      assert.ok(r.after.nonzeroParams <= r.before.params - Math.floor(kernels * 0.5), `${r.after.nonzeroParams} nonzero of ${r.before.params}`);
      // fc1.weight was stored in float_data; it is now raw_data with the same type.
      const info = JSON.parse(
        py(
          `import sys, json, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
print(json.dumps({t.name: [t.data_type, len(t.float_data), bool(t.raw_data), float((numpy_helper.to_array(t) == 0).mean())] for t in m.graph.initializer}))`,
          r.output,
        ),
      ) as Record<string, [number, number, boolean, number]>;
      assert.deepEqual(info['fc1.weight']!.slice(0, 3), [1, 0, true]);
      // Recompute the network from the weights in the written file.
      const doc = await openModel(r.output);
      const w = async (n: string) => (await allTensors(doc).find((t) => t.name === n)!.read!())!;
      const [W1, b1, W2, b2, W3, b3] = await Promise.all(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias'].map(w));
      const feeds = classifierInput(4, 11);
      const y = await run(r.output, feeds);
      const x = feeds.x.data;
      for (let n = 0; n < 4; n++) {
        const a1 = Array.from({ length: 48 }, (_, u) => Math.max(0, b1![u]! + x.subarray(n * 64, n * 64 + 64).reduce((s, v, p) => s + v * W1![p * 48 + u]!, 0)));
        const a2 = Array.from({ length: 32 }, (_, u) => Math.max(0, b2![u]! + a1.reduce((s, v, p) => s + v * W2![u * 48 + p]!, 0)));
        for (let c = 0; c < 10; c++) {
          const expected = b3![c]! + a2.reduce((s, v, p) => s + v * W3![p * 10 + c]!, 0);
          assert.ok(Math.abs(y[n * 10 + c]! - expected) < 1e-4, `sample ${n} class ${c}: ${y[n * 10 + c]} vs ${expected}`);
        }
      }
      const meta = py(`import sys, onnx\nm = onnx.load(sys.argv[1])\nprint({p.key: p.value for p in m.metadata_props}, m.producer_name)`, r.output);
      assert.match(meta, /'parsimony': 'prune-50'/);
      assert.match(meta, /parsimony-test/);
    });

    it('prune --pattern 2:4 on a Gemm(transB=1) [out, in] weight: 2 zeros in every 4 consecutive inputs of a row, the rest untouched, onnxruntime runs it', async () => {
      const r = await compressModel(model('classifier.onnx'), [step('prune', { pattern: { keep: 2, group: 4 }, layers: ['fc2'] })]);
      assert.equal(path.basename(r.output), 'classifier.prune-2of4.onnx');
      checkModels(r.output);
      const [before, after] = [await openModel(model('classifier.onnx')), await openModel(r.output)];
      for (const t of allTensors(before)) {
        const o = Float32Array.from(await t.read!());
        const v = Float32Array.from(await allTensors(after).find((x) => x.name === t.name)!.read!());
        if (t.name !== 'fc2.weight') {
          assert.deepEqual(v, o, `${t.name} unchanged`);
          continue;
        }
        assert.deepEqual(t.shape, [32, 48]);
        for (let u = 0; u < 32; u++) {
          for (let p = 0; p < 48; p += 4) {
            const idx = [0, 1, 2, 3].map((k) => u * 48 + p + k);
            const zeroed = idx.filter((i) => v[i] === 0);
            const kept = idx.filter((i) => v[i] !== 0);
            // Rows 0–15 are dead (all zero) in the fixture: they stay all zero.
            assert.equal(zeroed.length, Math.max(2, idx.filter((i) => o[i] === 0).length), `row ${u} group ${p / 4}`);
            if (u >= 16) assert.equal(zeroed.length, 2, `row ${u} group ${p / 4}`);
            if (!kept.length) continue;
            for (const i of kept) assert.equal(v[i], o[i]);
            assert.ok(Math.min(...kept.map((i) => Math.abs(o[i]!))) >= Math.max(...zeroed.map((i) => Math.abs(o[i]!))), `row ${u} group ${p / 4}: the 2 largest stay`);
          }
        }
      }
      const y = await run(r.output, classifierInput(4, 12));
      assert.ok(y.length === 40 && y.every(Number.isFinite));
    });

    it('prune → cluster → huffman: each step is a valid model with at most k distinct values per tensor', async () => {
      const r = await compressModel(model('classifier.onnx'), [
        step('prune', { sparsity: 0.5, includeEnds: true }),
        step('cluster', { clusters: 8 }),
        step('huffman'),
      ]);
      assert.equal(path.basename(r.output), 'classifier.prune-50.cluster-8.huffman.onnx');
      checkModels(r.output);
      const distinct = JSON.parse(
        py(
          `import sys, json, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
print(json.dumps({t.name: len(np.unique(numpy_helper.to_array(t))) for t in m.graph.initializer if len(t.dims) == 2}))`,
          r.output,
        ),
      ) as Record<string, number>;
      for (const [name, n] of Object.entries(distinct)) assert.ok(n <= 8, `${name} has ${n} distinct values`);
      const meta = py(`import sys, onnx\nm = onnx.load(sys.argv[1])\nprint([(p.key, p.value) for p in m.metadata_props])`, r.output);
      assert.match(meta, /\('parsimony', 'prune-50,cluster-8,huffman'\)/);
      const y = await run(r.output, classifierInput(2, 3));
      assert.equal(y.length, 20);
      assert.ok(y.every(Number.isFinite));
    });

    it('binarize: two magnitudes per output unit, still runs', async () => {
      const r = await compressModel(model('cnn_bn.onnx'), [step('binarize', { includeEnds: true })]);
      checkModels(r.output);
      const y = await run(r.output, { x: { data: randomInput(2 * 144, 5), dims: [2, 1, 12, 12] } });
      assert.equal(y.length, 20);
      const doc = await openModel(r.output);
      const c2 = await allTensors(doc).find((t) => t.name === 'c2.weight')!.read!();
      for (let u = 8; u < 16; u++) assert.equal(new Set(Array.from(c2.subarray(u * 72, u * 72 + 72), Math.abs)).size, 1, `filter ${u}`);
    });

    it('keeps float16 initializers float16 and typed fields of other tensors untouched', async () => {
      const r = await compressModel(model('float16.onnx'), [step('prune', { sparsity: 0.5, includeEnds: true })]);
      checkModels(r.output);
      const doc = await openModel(r.output);
      for (const t of allTensors(doc)) assert.equal(t.dtype, 'float16', t.name);
      // The graph interface is unchanged (float16 in, float16 out).
      const session = await ort.InferenceSession.create(r.output);
      const out = await session.run({ input: new ort.Tensor('float16', new Uint16Array(16).fill(0x3c00), [1, 16]) });
      assert.deepEqual(out.logits!.dims, [1, 4]);
      assert.equal(out.logits!.type, 'float16');
      await session.release();
    });
  });

  describe('float16', () => {
    it('stores every float weight as float16 behind a Cast; outputs stay close', async () => {
      for (const name of ['classifier.onnx', 'lenet_torch.onnx', 'constants.onnx', 'mlp.onnx']) {
        const r = await compressModel(model(name), [step('quantize', { dtype: 'float16' })]);
        checkModels(r.output);
        const doc = await openModel(r.output);
        for (const t of allTensors(doc).filter((x) => x.isParameter)) assert.equal(t.dtype, 'float16', `${name}: ${t.name}`);
        assert.equal(r.after.params, r.before.params);
        assert.ok(r.after.bytesOnDisk < r.before.bytesOnDisk * 0.6, `${name}: ${r.after.bytesOnDisk} vs ${r.before.bytesOnDisk}`);
        const src = await openModel(model(name));
        const dims = (src.inputShape ?? []).map((d) => d ?? 3);
        const count = dims.reduce((a, b) => a * b, 1);
        const inputName = name === 'classifier.onnx' ? 'x' : 'input';
        const feeds = { [inputName]: { data: randomInput(count, 21), dims } };
        const [a, b] = [await run(model(name), feeds), await run(r.output, feeds)];
        assert.ok(maxDiff(a, b) <= 2e-3 * Math.max(1, maxAbs(a)), `${name}: max diff ${maxDiff(a, b)} at scale ${maxAbs(a)}`);
      }
    });

    it('silero_vad.onnx (real): its two 2^20 scalars stay float32 instead of becoming infinity; VAD outputs stay close', async () => {
      const source = path.resolve(__dirname, '../fixtures/real/onnx/silero_vad.onnx');
      const out = path.join(dir, 'silero_vad.f16.onnx');
      const r = await compressModel(source, [step('quantize', { dtype: 'float16' })], { out });
      assert.ok(r.notes.some((n) => /2 tensors with values beyond float16's largest \(65504\).*\(686, 196\)/.test(n)), r.notes.join('\n'));
      const doc = await openModel(r.output);
      const kept = allTensors(doc).filter((t) => t.isParameter && t.dtype === 'float32');
      assert.deepEqual(kept.map((t) => t.name).sort(), ['196', '686']);
      const floats = allTensors(await openModel(source)).filter((t) => t.isParameter && t.dtype === 'float32').length;
      assert.equal(allTensors(doc).filter((t) => t.isParameter && t.dtype === 'float16').length, floats - 2, 'every other float weight is float16');
      const session = async (file: string) => ort.InferenceSession.create(file);
      const [a, b] = [await session(source), await session(r.output)];
      const r0 = rng(5);
      const feeds = {
        input: new ort.Tensor('float32', Float32Array.from({ length: 512 }, () => r0() - 0.5), [1, 512]),
        sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
        h: new ort.Tensor('float32', Float32Array.from({ length: 128 }, () => r0() - 0.5), [2, 1, 64]),
        c: new ort.Tensor('float32', Float32Array.from({ length: 128 }, () => r0() - 0.5), [2, 1, 64]),
      };
      const [ya, yb] = [await a.run(feeds), await b.run(feeds)];
      for (const name of ['output', 'hn', 'cn']) {
        const [p, q] = [ya[name]!.data as Float32Array, yb[name]!.data as Float32Array];
        assert.ok(q.every((v) => Number.isFinite(v)), `${name} is finite`);
        assert.ok(maxDiff(p, q) <= 5e-3 * Math.max(1, maxAbs(p)), `${name}: max diff ${maxDiff(p, q)}`);
      }
      await a.release();
      await b.release();
    });

    it('converts initializers inside If branches and Constant nodes', async () => {
      const r = await compressModel(model('if_subgraph.onnx'), [step('quantize', { dtype: 'float16' })]);
      checkModels(r.output);
      const types = py(
        `import sys, onnx
m = onnx.load(sys.argv[1])
node = [n for n in m.graph.node if n.op_type == 'If'][0]
for a in node.attribute:
    print(a.name, sorted((t.name, t.data_type) for t in a.g.initializer), [n.op_type for n in a.g.node])`,
        r.output,
      );
      assert.match(types, /then_branch \[\('then.bias_fp16', 10\), \('then.weight_fp16', 10\)\] \['Cast', 'Cast', 'MatMul', 'Add'\]/);
      assert.match(types, /else_branch .*'Constant', 'Cast'/);
      for (const cond of [true, false]) {
        const session = await ort.InferenceSession.create(r.output);
        const source = await ort.InferenceSession.create(model('if_subgraph.onnx'));
        const feeds = { input0: new ort.Tensor('float32', randomInput(8, 4), [1, 8]), cond: new ort.Tensor('bool', [cond], []) };
        const [a, b] = [(await source.run(feeds)).out!.data as Float32Array, (await session.run(feeds)).out!.data as Float32Array];
        assert.ok(maxDiff(a, b) < 1e-2 * Math.max(1, maxAbs(a)), `cond ${cond}: ${maxDiff(a, b)}`);
        await session.release();
        await source.release();
      }
    });

    it('keeps an IR 3 model valid: renamed initializers are listed as graph inputs', async () => {
      const r = await compressModel(model('classifier_ir3.onnx'), [step('quantize', { dtype: 'float16' })]);
      checkModels(r.output);
      const inputs = py(`import sys, onnx\nm = onnx.load(sys.argv[1])\nprint(sorted(i.name for i in m.graph.input))`, r.output);
      assert.match(inputs, /'fc1\.weight_fp16'/);
      assert.doesNotMatch(inputs, /'fc1\.weight'[,\]]/);
      const feeds = classifierInput(3, 9);
      assert.ok(maxDiff(await run(model('classifier_ir3.onnx'), feeds), await run(r.output, feeds)) < 1e-2);
    });
  });

  describe('int8 / uint8 (QDQ)', () => {
    it('per channel: DequantizeLinear with the output-channel axis; ≥ 99% top-1 agreement on 200 inputs', async () => {
      const r = await compressModel(model('classifier.onnx'), [step('quantize', { dtype: 'int8', perChannel: true })]);
      checkModels(r.output);
      const graph = py(
        `import sys, onnx
from onnx import helper
m = onnx.load(sys.argv[1])
print(sorted((t.name, t.data_type, list(t.dims)) for t in m.graph.initializer))
print([(n.op_type, list(n.output), [(a.name, helper.get_attribute_value(a)) for a in n.attribute]) for n in m.graph.node if n.op_type == 'DequantizeLinear'])`,
        r.output,
      );
      // Gemm transB=0 and MatMul weights are [fanIn, units] (axis 1); Gemm transB=1 is [units, fanIn] (axis 0).
      assert.match(graph, /\('DequantizeLinear', \['fc1\.weight'\], \[\('axis', 1\)\]\)/);
      assert.match(graph, /\('DequantizeLinear', \['fc2\.weight'\], \[\('axis', 0\)\]\)/);
      assert.match(graph, /\('DequantizeLinear', \['fc3\.weight'\], \[\('axis', 1\)\]\)/);
      assert.match(graph, /\('fc1\.weight_quantized', 3, \[64, 48\]\)/);
      assert.match(graph, /\('fc1\.weight_scale', 1, \[48\]\)/);
      assert.match(graph, /\('fc2\.weight_zero_point', 3, \[32\]\)/);
      assert.doesNotMatch(graph, /\('fc1\.weight', 1/);
      const feeds = classifierInput(200, 77);
      const [a, b] = [await run(model('classifier.onnx'), feeds), await run(r.output, feeds)];
      const [ta, tb] = [argmaxRows(a, 10), argmaxRows(b, 10)];
      const agree = ta.filter((c, i) => c === tb[i]).length / ta.length;
      assert.ok(agree >= 0.99, `top-1 agreement ${agree}`);
      assert.ok(r.after.bytesOnDisk < r.before.bytesOnDisk * 0.45, `${r.after.bytesOnDisk} vs ${r.before.bytesOnDisk}`);
    });

    for (const [dtype, perChannel, file] of [
      ['int8', false, 'classifier.onnx'],
      ['uint8', false, 'classifier.onnx'],
      ['uint8', true, 'cnn_bn.onnx'],
      ['int8', true, 'lenet_torch.onnx'],
      ['int8', true, 'constants.onnx'],
      ['int8', false, 'classifier_ir3.onnx'],
    ] as const) {
      it(`${dtype}${perChannel ? ' per channel' : ''} on ${file}: relative error < 5%`, async () => {
        const r = await compressModel(model(file), [step('quantize', { dtype, perChannel })]);
        checkModels(r.output);
        const src = await openModel(model(file));
        const dims = (src.inputShape ?? []).map((d) => d ?? 8);
        const inputName = file.startsWith('classifier') || file === 'cnn_bn.onnx' ? 'x' : 'input';
        const feeds = { [inputName]: { data: randomInput(dims.reduce((a, b) => a * b, 1), 13), dims } };
        const [a, b] = [await run(model(file), feeds), await run(r.output, feeds)];
        assert.ok(maxDiff(a, b) < 0.05 * maxAbs(a), `max diff ${maxDiff(a, b)} at scale ${maxAbs(a)}`);
        // The reader sees quantized weights under their layers, with scales as non-parameters.
        const doc = await openModel(r.output);
        assert.ok(allTensors(doc).some((t) => t.dtype === dtype && t.isParameter));
        assert.equal(r.after.params, r.before.params);
      });
    }

    it('refuses per-channel below opset 13, naming the reason; per tensor works there', async () => {
      await assert.rejects(
        compressModel(model('classifier_opset11.onnx'), [step('quantize', { dtype: 'int8', perChannel: true })]),
        (e: unknown) => e instanceof ModelFormatError && /opset ≥ 13/.test(e.message) && /opset 11/.test(e.message),
      );
      assert.ok(!existsSync(model('classifier_opset11.int8-pc.onnx')));
      const r = await compressModel(model('classifier_opset11.onnx'), [step('quantize', { dtype: 'int8' })]);
      checkModels(r.output);
      await run(r.output, classifierInput(1, 1));
    });

    it('refuses to edit weights that are already quantized', async () => {
      await assert.rejects(
        compressModel(model('qdq_int8.onnx'), [step('prune', { sparsity: 0.5, includeEnds: true })]),
        (e: unknown) => e instanceof ModelFormatError && /fc1\.weight_quantized: stored as int8 behind a DequantizeLinear/.test(e.message),
      );
    });
  });

  describe('low-rank factorization', () => {
    it('rank K on exactly low-rank weights: exact parameter count and the same outputs', async () => {
      const r = await compressModel(model('lowrank.onnx'), [step('low-rank', { rank: 3 })]);
      checkModels(r.output);
      // conv 8×27, Gemm(transB=0) 32×512, Gemm(transB=1) 16×32, MatMul 10×16 → (units+fanIn)·3 each, plus the biases.
      const expected = (8 + 27) * 3 + 8 + (32 + 512) * 3 + 32 + (16 + 32) * 3 + 16 + (10 + 16) * 3 + 10;
      const doc = await openModel(r.output);
      assert.equal((await summarize(doc)).totalParams, expected);
      assert.equal(r.after.params, expected);
      const feeds = { x: { data: randomInput(192, 8), dims: [1, 3, 8, 8] } };
      const [a, b] = [await run(model('lowrank.onnx'), feeds), await run(r.output, feeds)];
      assert.ok(maxDiff(a, b) < 1e-4 * Math.max(1, maxAbs(a)), `max diff ${maxDiff(a, b)}`);
      const ops = py(
        `import sys, onnx
from onnx import helper
m = onnx.load(sys.argv[1])
for n in m.graph.node: print(n.name, n.op_type, list(n.input), list(n.output), [(a.name, helper.get_attribute_value(a)) for a in n.attribute])`,
        r.output,
      );
      assert.match(ops, /conv_lowrank_0 Conv \['x', 'conv_lowrank_B'\] \['conv_lowrank_hidden'\] \[\('kernel_shape', \[3, 3\]\), \('pads', \[1, 1, 1, 1\]\)\]/);
      assert.match(ops, /conv_lowrank_1 Conv \['conv_lowrank_hidden', 'conv_lowrank_A', 'conv\.bias'\] \['c'\] \[\('kernel_shape', \[1, 1\]\)\]/);
      assert.match(ops, /g_lowrank_1 Gemm \['g_lowrank_hidden', 'g_lowrank_A', 'g\.bias'\] \['g'\] \[\('alpha', 0\.5\), \('beta', 2\.0\)\]/);
      assert.match(ops, /t_lowrank_1 Gemm .*\[\('transB', 1\)\]/);
      assert.match(ops, /m_lowrank_1 MatMul \['m_lowrank_hidden', 'm_lowrank_A'\] \['mm'\]/);
    });

    it('fixtures: Gemm + MatMul MLP and a Conv + Gemm CNN', async () => {
      const mlp = await compressModel(model('mlp.onnx'), [step('low-rank', { rank: 4 })]);
      const cnn = await compressModel(model('cnn.onnx'), [step('low-rank', { rank: 2 })]);
      checkModels(mlp.output, cnn.output);
      assert.equal(mlp.after.params, (32 + 64) * 4 + 32 + (10 + 32) * 4 + 10);
      assert.equal(cnn.after.params, (4 + 9) * 2 + 4 + (10 + 256) * 2 + 10);
      assert.equal((await run(mlp.output, { input: { data: randomInput(64, 1), dims: [1, 64] } })).length, 10);
      assert.equal((await run(cnn.output, { input: { data: randomInput(256, 1), dims: [1, 1, 16, 16] } })).length, 10);
    });
  });

  describe('structured pruning (removed units)', () => {
    it('slices dead units of Gemm(transB=0) → Gemm(transB=1) → MatMul: same outputs, fewer parameters', async () => {
      const r = await compressModel(model('classifier.onnx'), [step('structured-prune', { sparsity: 0.5 })]);
      checkModels(r.output);
      // fc1 48 → 24 units, fc2 32 → 16 units (and fc2/fc3 lose the matching inputs).
      assert.equal(r.after.params, 64 * 24 + 24 + 24 * 16 + 16 + 16 * 10 + 10);
      const feeds = classifierInput(20, 5);
      assert.ok(maxDiff(await run(model('classifier.onnx'), feeds), await run(r.output, feeds)) < 1e-5);
      const vi = py(`import sys, onnx\nm = onnx.load(sys.argv[1])\nprint([v.name for v in m.graph.value_info])`, r.output);
      assert.doesNotMatch(vi, /'h1'/); // its declared width changed: dropped
    });

    it('updates the graph inputs of an IR 3 model (initializers listed as inputs) to the new shapes', async () => {
      const r = await compressModel(model('classifier_ir3.onnx'), [step('structured-prune', { sparsity: 0.5 })]);
      checkModels(r.output);
      const feeds = classifierInput(5, 15);
      assert.ok(maxDiff(await run(model('classifier_ir3.onnx'), feeds), await run(r.output, feeds)) < 1e-5);
    });

    it('slices Conv → BatchNormalization → Relu → MaxPool → Conv → … → GlobalAveragePool → Flatten → Gemm', async () => {
      const r = await compressModel(model('cnn_bn.onnx'), [step('structured-prune', { sparsity: 0.5 })]);
      checkModels(r.output);
      assert.equal(r.after.params, 4 * 9 + 4 + 4 * 4 + 8 * 4 * 9 + 8 + 10 * 8 + 10);
      const feeds = { x: { data: randomInput(3 * 144, 6), dims: [3, 1, 12, 12] } };
      assert.ok(maxDiff(await run(model('cnn_bn.onnx'), feeds), await run(r.output, feeds)) < 1e-5);
    });

    it('leaves a layer whose output is reshaped before its consumer unchanged, naming the node; refuses it when chosen explicitly', async () => {
      const all = await compressModel(model('lenet_torch.onnx'), [step('structured-prune', { sparsity: 0.5 })]);
      assert.ok(all.notes.some((n) => /\/conv2\/Conv left unchanged: .*its output reaches Reshape '\/Reshape'/.test(n)), all.notes.join('\n'));
      assert.ok(all.after.params < all.before.params);
      checkModels(all.output);
      await assert.rejects(
        compressModel(model('lenet_torch.onnx'), [step('structured-prune', { sparsity: 0.5, layers: ['/conv2/Conv'] })]),
        (e: unknown) => e instanceof ModelFormatError && /\/conv2\/Conv: units can't be removed: its output reaches Reshape '\/Reshape'/.test(e.message),
      );
      const r = await compressModel(model('lenet_torch.onnx'), [step('structured-prune', { sparsity: 0.25, layers: ['/conv1/Conv', '/fc1/Gemm', '/fc2/Gemm'] })]);
      checkModels(r.output);
      assert.ok(r.after.params < r.before.params);
      assert.equal((await run(r.output, { input: { data: randomInput(784, 2), dims: [1, 1, 28, 28] } })).length, 10);
    });
  });

  describe('external data', () => {
    it('writes a self-contained model when the source kept its weights in a sibling file', async () => {
      const r = await compressModel(model('external/model.onnx'), [step('prune', { sparsity: 0.3, includeEnds: true })]);
      assert.deepEqual(r.files.map((f) => path.basename(f)), ['model.prune-30.onnx']);
      checkModels(r.output);
      const doc = await openModel(r.output);
      assert.deepEqual(doc.files, [r.output]);
      const feeds = { input: { data: randomInput(16, 3), dims: [1, 16] } };
      assert.equal((await run(r.output, feeds)).length, 8);
    });

    it('keeps weights external when the model is large (limit lowered for the test)', async () => {
      const saved = { ...ONNX_WRITE_LIMITS };
      ONNX_WRITE_LIMITS.inlineBytes = 1000;
      ONNX_WRITE_LIMITS.externalThreshold = 64;
      try {
        const r = await compressModel(model('external/model.onnx'), [step('quantize', { dtype: 'float16' })]);
        assert.deepEqual(r.files.map((f) => path.basename(f)).sort(), ['model.float16.onnx', 'model.float16.onnx.data']);
        checkModels(r.output);
        const locations = py(
          `import sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
print(sorted((t.name, t.data_location, {e.key: e.value for e in t.external_data}.get('location')) for t in m.graph.initializer))`,
          r.output,
        );
        assert.match(locations, /\('fc1\.weight_fp16', 1, 'model\.float16\.onnx\.data'\)/);
        const feeds = { input: { data: randomInput(16, 3), dims: [1, 16] } };
        const [a, b] = [await run(model('external/model.onnx'), feeds), await run(r.output, feeds)];
        assert.ok(maxDiff(a, b) < 1e-2 * Math.max(1, maxAbs(a)));
        const doc = await openModel(r.output);
        assert.equal(doc.files.length, 2);
      } finally {
        Object.assign(ONNX_WRITE_LIMITS, saved);
      }
    });
  });

  it('copies unknown fields and field order of untouched messages byte for byte', async () => {
    // Append an unknown field (number 99) to the ModelProto and to the first node; both must survive.
    const src = readFileSync(model('mlp.onnx'));
    const extra = new ProtoWriter().string(99, 'keep me').finish();
    const withUnknown = path.join(dir, 'unknown.onnx');
    writeFileSync(withUnknown, Buffer.concat([src, extra]));
    const r = await compressModel(withUnknown, [step('quantize', { dtype: 'float16' })]);
    const out = readFileSync(r.output);
    const fields = [...new ProtoBuffer(out).root().fields()];
    const last = fields.filter((f) => f.field === 99);
    assert.equal(last.length, 1);
    assert.equal(Buffer.from(out.subarray(last[0]!.start, last[0]!.end)).toString(), 'keep me');
    // Every top-level field other than the graph and metadata is identical, in the same order.
    const strip = (b: Uint8Array) =>
      [...new ProtoBuffer(b).root().fields()].filter((f) => f.field !== 7 && f.field !== 14).map((f) => Buffer.from(b.subarray(f.keyAt, f.end)).toString('hex'));
    assert.deepEqual(strip(out), strip(Buffer.concat([src, extra])));
    checkModels(r.output);
  });

  describe('the example MNIST MLP exported to ONNX', () => {
    let digits: { x: Float32Array; y: Uint8Array; count: number };
    before(function () {
      if (!existsSync(model('mnist_mlp.onnx'))) this.skip();
      digits = loadMnist('test', 200);
    });
    const accuracy = async (file: string) => {
      const probs = await run(file, { x: { data: digits.x, dims: [digits.count, 784] } });
      return argmaxRows(probs, 10);
    };

    it('int8 per channel and float16 keep the predictions on 200 test digits', async () => {
      const base = await accuracy(model('mnist_mlp.onnx'));
      const correct = base.filter((c, i) => c === digits.y[i]).length / digits.count;
      assert.ok(correct > 0.85, `source accuracy ${correct}`);
      for (const options of [{ dtype: 'int8', perChannel: true }, { dtype: 'float16' }] as const) {
        const r = await compressModel(model('mnist_mlp.onnx'), [step('quantize', options)]);
        checkModels(r.output);
        const pred = await accuracy(r.output);
        const agree = pred.filter((c, i) => c === base[i]).length / digits.count;
        assert.ok(agree >= 0.99, `${options.dtype}: top-1 agreement ${agree}`);
      }
    });

    it('low rank 32: exact parameter count, still a classifier', async () => {
      const r = await compressModel(model('mnist_mlp.onnx'), [step('low-rank', { rank: 32 })]);
      checkModels(r.output);
      // output layer 128→10 is left alone: (10+128)·32 > 1280
      assert.equal(r.after.params, (784 + 256) * 32 + 256 + (256 + 128) * 32 + 128 + 128 * 10 + 10);
      const pred = await accuracy(r.output);
      assert.ok(pred.filter((c, i) => c === digits.y[i]).length / digits.count > 0.5);
    });
  });

  it('names nodes and tensors exactly as the reader does (layer and tensor names resolve)', async () => {
    const files = [...readdirSync(dir).filter((f) => f.endsWith('.onnx') && !f.includes('.', f.indexOf('.') + 1) && f !== 'unknown.onnx'), 'external/model.onnx'];
    assert.ok(files.length >= 10);
    for (const f of files) {
      const doc = await openModel(model(f));
      const ix = new OnnxIndex(doc.file, readFileSync(doc.file));
      for (const layer of doc.layers) {
        if (layer.name.startsWith('(')) continue;
        const node = ix.nodes.get(layer.name);
        assert.ok(node, `${f}: layer ${layer.name}`);
        assert.equal(layer.type.split('.').pop(), node.node.opType, `${f}: ${layer.name}`);
      }
      for (const t of allTensors(doc)) {
        const w = ix.byDisplay.get(t.name);
        assert.ok(w, `${f}: tensor ${t.name}`);
        assert.deepEqual(w.record.dims, t.shape, `${f}: ${t.name}`);
        assert.equal(w.source, t.detail?.source, `${f}: ${t.name}`);
        assert.equal(w.graphPath, (t.detail?.graph as string | undefined) ?? '', `${f}: ${t.name}`);
      }
    }
  });

  describe('outputs and sources', () => {
    it('every output passes onnx.checker.check_model(full_check=True)', () => {
      assert.ok(toCheck.length >= 30, `${toCheck.length} outputs`);
      const result = runChecker(toCheck);
      const failed = Object.entries(result).filter(([, r]) => r !== 'ok');
      assert.deepEqual(failed, []);
      assert.equal(Object.keys(result).length, new Set(toCheck).size);
    });

    it('sources are never modified (sha256 of every source file unchanged)', () => {
      for (const [f, h] of hashes) assert.equal(sha256(model(f)), h, `${f} changed`);
      assert.ok(hashes.size >= 10);
    });
  });
});

describe('protobuf writer', () => {
  it('round-trips varints (negative int64 as 10 bytes), floats, strings and nested messages', () => {
    const inner = new ProtoWriter().varint(1, 300).float(2, 1.5).string(3, 'héllo');
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const w = new ProtoWriter().varint(1, -1).message(2, inner).bytes(3, big).varint(4, 2 ** 40).repeatedVarint(5, [1, 2]).packedVarint(6, [7, 8, 300]);
    const bytes = w.finish();
    const root = new ProtoBuffer(bytes).root();
    const f = [...root.fields()];
    assert.deepEqual(f.map((x) => x.field), [1, 2, 3, 4, 5, 5, 6]);
    assert.equal(root.int(f[0]!), -1);
    assert.equal(f[0]!.end - f[0]!.start, 10);
    const m = root.message(f[1]!);
    const mf = [...m.fields()];
    assert.equal(m.int(mf[0]!), 300);
    assert.equal(m.float(mf[1]!), 1.5);
    assert.equal(m.string(mf[2]!), 'héllo');
    assert.deepEqual(Array.from(root.bytesOf(f[2]!)), Array.from(big));
    assert.equal(root.int(f[3]!), 2 ** 40);
    assert.deepEqual(root.ints(f[6]!, []), [7, 8, 300]);
    assert.equal(w.length, bytes.length);
  });

  it('sliceAxes keeps the listed rows and columns', () => {
    const v = Float32Array.from({ length: 12 }, (_, i) => i); // [3, 4]
    const { values, dims } = sliceAxes(v, [3, 4], new Map([[0, [0, 2]], [1, [1, 3]]]));
    assert.deepEqual(dims, [2, 2]);
    assert.deepEqual(Array.from(values), [1, 3, 9, 11]);
  });
});
