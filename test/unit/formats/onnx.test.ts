import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { summarize } from '../../../src/core/analysis/summary';
import { ModelFormatError } from '../../../src/core/errors';
import { onnx } from '../../../src/core/formats/onnx';
import { openModel } from '../../../src/core/formats/registry';
import { nodeFileAccess } from '../../../src/core/io/fileAccess';
import { allTensors, type ModelDoc, type TensorInfo } from '../../../src/core/model';
import { watchedAccess } from '../../helpers/watchedAccess';

const FIXTURES = path.resolve(__dirname, '../../fixtures');
const GEN = path.join(FIXTURES, 'generated');
const PYTHON = '/usr/bin/python3';

function params(doc: ModelDoc): number {
  return allTensors(doc).reduce((s, t) => s + (t.isParameter ? t.count : 0), 0);
}
function tensor(doc: ModelDoc, name: string): TensorInfo {
  const t = allTensors(doc).find((x) => x.name === name);
  assert.ok(t, `tensor ${name} not found`);
  return t;
}
async function errorCode(file: string): Promise<string> {
  try {
    await openModel(file);
  } catch (e) {
    assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${String(e)}`);
    return e.code;
  }
  return 'opened';
}
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
}
/** Runs a Python snippet (Debian's python3-onnx) and parses its JSON output. */
function py(code: string): unknown {
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}
const havePythonOnnx = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' }).status === 0;

interface Row {
  file: string;
  format?: string;
  totalParams?: number;
  error?: string;
  accept?: string[];
}
function manifest(dir: string): Row[] {
  const file = path.join(FIXTURES, dir, 'manifest.json');
  if (!existsSync(file)) return [];
  const m = JSON.parse(readFileSync(file, 'utf8'));
  return (Array.isArray(m) ? m : (m.rows ?? [])) as Row[];
}

describe('ONNX reader', () => {
  describe('match', () => {
    const probe = (name: string, head: number[]) => ({ path: `/x/${name}`, name, size: head.length, head: new Uint8Array(head) });
    it('accepts a ModelProto prefix and refuses JSON, random bytes and other formats', () => {
      const head = readFileSync(path.join(GEN, 'onnx/mlp.onnx')).subarray(0, 4096);
      assert.equal(onnx.match({ ...probe('mlp.onnx', []), head }), true);
      assert.equal(onnx.match({ ...probe('weights.bin', []), head }), true, 'ir_version first and more fields: matches by content');
      assert.equal(onnx.match(probe('m.onnx', [...Buffer.from('{"a": 1}')])), false);
      assert.equal(onnx.match(probe('m.onnx', [0x0f, 0x01, 0x02])), false);
      assert.equal(onnx.match(probe('m.tflite', [0x18, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33])), false);
      assert.equal(onnx.match(probe('m.onnx', [])), false);
    });
  });

  describe('generated fixtures (onnx 1.12 helper and torch.onnx.export)', () => {
    // Totals from the generator's independent accounting (scripts/fixtures/gen_onnx.py).
    const expected: [string, number, number][] = [
      ['onnx/mlp.onnx', 2410, 4],
      ['onnx/cnn.onnx', 2610, 4],
      ['onnx/constants.onnx', 2411, 7],
      ['onnx/if_subgraph.onnx', 144, 6],
      ['onnx/float16.onnx', 340, 4],
      ['onnx/qdq_int8.onnx', 172, 12],
      ['onnx/lenet_torch.onnx', 44426, 11],
      ['onnx/external/model.onnx', 808, 4],
    ];
    for (const [file, total, tensors] of expected) {
      it(`${file}: ${total} parameters in ${tensors} tensors`, async () => {
        const doc = await openModel(path.join(GEN, file));
        assert.equal(doc.format, 'onnx');
        assert.equal(params(doc), total);
        assert.equal(allTensors(doc).length, tensors);
      });
    }

    it('matches every ONNX row of the generated manifest', async function () {
      const rows = manifest('generated').filter((r) => r.format === 'onnx' || r.file.endsWith('.onnx'));
      if (rows.length === 0) this.skip();
      for (const row of rows) {
        const file = path.join(GEN, row.file);
        if (row.error) assert.ok([row.error, ...(row.accept ?? [])].includes(await errorCode(file)), row.file);
        else assert.equal(params(await openModel(file)), row.totalParams, row.file);
      }
    });

    it('costs a Conv and a Gemm by hand (cnn.onnx)', async () => {
      const s = await summarize(await openModel(path.join(GEN, 'onnx/cnn.onnx')));
      const conv = s.layers.find((l) => l.name === 'conv')!;
      const fc = s.layers.find((l) => l.name === 'fc')!;
      assert.equal(conv.macs, 1 * 16 * 16 * 4 * 9); // 9216
      assert.deepEqual(conv.outputShape, [1, 4, 16, 16]);
      assert.equal(fc.macs, 256 * 10); // 2560: Flatten of MaxPool [1,4,8,8]
      assert.equal(s.macs, 9216 + 2560);
      assert.equal(conv.params, 40);
      assert.equal(s.layers.length, 2, 'Relu/MaxPool/Flatten hold no weights and are not listed');
      assert.match(s.metadata.ops!, /Conv×1/);
      assert.equal(s.metadata.opset, 'ai.onnx:13');
      assert.equal(s.metadata.irVersion, '7');
      assert.equal(s.metadata.inputs, 'input [1, 1, 16, 16]');
    });

    it('groups a MatMul with the bias its Add adds (mlp.onnx)', async () => {
      const doc = await openModel(path.join(GEN, 'onnx/mlp.onnx'));
      const fc2 = doc.layers.find((l) => l.name === 'fc2_matmul')!;
      assert.deepEqual(fc2.tensors.map((t) => t.name), ['fc2.weight', 'fc2.bias']);
      assert.equal(fc2.macs, 32 * 10);
      assert.deepEqual(fc2.inputs, ['fc1']);
      assert.ok(!doc.layers.some((l) => l.type === 'Add'));
    });

    it('counts Constant-node weights and leaves int64 shapes out (constants.onnx)', async () => {
      const doc = await openModel(path.join(GEN, 'onnx/constants.onnx'));
      assert.deepEqual(tensor(doc, 'fc2.weight').detail?.source, 'Constant');
      assert.equal(tensor(doc, 'fc2.weight').isParameter, true);
      assert.equal(tensor(doc, 'scale').count, 1);
      assert.deepEqual(Array.from(await tensor(doc, 'scale').read!()), [0.5]);
      const shape = tensor(doc, 'shape_const');
      assert.equal(shape.isParameter, false);
      assert.equal(shape.dtype, 'int64');
      assert.deepEqual(Array.from(await shape.read!()), [1, 64]);
      assert.equal(tensor(doc, 'out_shape').isParameter, false);
      const fc1 = doc.layers.find((l) => l.name === 'fc1')!;
      assert.equal(fc1.macs, 64 * 32, 'Reshape with a constant target gives the Gemm its input shape');
    });

    it('reads the weights of both If branches (if_subgraph.onnx)', async () => {
      const doc = await openModel(path.join(GEN, 'onnx/if_subgraph.onnx'));
      for (const name of ['then.weight', 'then.bias', 'else.weight', 'else.bias']) assert.ok(tensor(doc, name).detail?.graph);
      const thenLayer = doc.layers.find((l) => l.name === 'then_matmul')!;
      assert.deepEqual(thenLayer.tensors.map((t) => t.name), ['then.weight', 'then.bias']);
      assert.equal(thenLayer.macs, 8 * 4, 'the subgraph sees the main graph shapes');
      assert.equal(tensor(doc, 'else.bias').detail?.source, 'Constant');
      assert.equal(doc.metadata.subgraphs, '2');
    });

    it('keeps float16 storage and decodes it (float16.onnx)', async function () {
      const doc = await openModel(path.join(GEN, 'onnx/float16.onnx'));
      const w = tensor(doc, 'fc1.weight');
      assert.equal(w.dtype, 'float16');
      assert.equal(w.bytes, 16 * 16 * 2);
      assert.equal(w.memoryBytes, 16 * 16 * 2, 'onnxruntime keeps float16');
      assert.ok(w.location && w.location.length === 512);
      if (!havePythonOnnx) return;
      const want = py(
        `import onnx, json; from onnx import numpy_helper as h; m = onnx.load('${path.join(GEN, 'onnx/float16.onnx')}'); ` +
          `print(json.dumps([float(x) for x in h.to_array([t for t in m.graph.initializer if t.name == 'fc1.weight'][0]).ravel()]))`,
      ) as number[];
      close(await w.read!(), want, 0);
    });

    it('reads QDQ int8 weights: stored bytes, scales as non-parameters, dequantized values (qdq_int8.onnx)', async () => {
      const doc = await openModel(path.join(GEN, 'onnx/qdq_int8.onnx'));
      const q = tensor(doc, 'fc1.weight_quantized');
      assert.equal(q.dtype, 'int8');
      assert.equal(q.isParameter, true);
      assert.equal(q.bytes, 128);
      assert.equal(q.memoryBytes, 128);
      const quant = q.detail?.quantization as Record<string, unknown>;
      assert.equal(quant.scale, 'fc1.weight_scale');
      assert.equal(quant.axis, 1);
      for (const n of ['fc1.weight_scale', 'fc1.weight_zero_point', 'x_scale', 'a_zero_point']) assert.equal(tensor(doc, n).isParameter, false, n);
      const layer = doc.layers.find((l) => l.name === 'fc1_matmul')!;
      assert.deepEqual(
        layer.tensors.map((t) => t.name),
        ['fc1.weight_quantized', 'fc1.weight_scale', 'fc1.weight_zero_point', 'fc1.bias'],
        'the weight, its scale and zero point group under the MatMul through DequantizeLinear',
      );
      assert.equal(layer.macs, 16 * 8);
      const values = await q.read!();
      const scales = await tensor(doc, 'fc1.weight_scale').read!();
      const file = readFileSync(q.location!.file);
      const raw = new Int8Array(file.buffer, file.byteOffset + q.location!.offset, 128);
      for (let i = 0; i < 128; i++) assert.ok(Math.abs(values[i]! - raw[i]! * scales[i % 8]!) < 1e-7);
    });

    it('reads external data beside the model (external/model.onnx)', async () => {
      const doc = await openModel(path.join(GEN, 'onnx/external/model.onnx'));
      const bin = path.join(GEN, 'onnx/external/weights.bin');
      assert.deepEqual(doc.files, [path.join(GEN, 'onnx/external/model.onnx'), bin]);
      const w = tensor(doc, 'fc2.weight');
      assert.deepEqual(w.location, { file: bin, offset: 2176, length: 1024 });
      const buf = readFileSync(bin);
      const want = new Float32Array(buf.buffer.slice(buf.byteOffset + 2176, buf.byteOffset + 2176 + 1024));
      close(await w.read!(), want, 0);
    });

    it('sees through torch.onnx.export naming (lenet_torch.onnx)', async () => {
      const s = await summarize(await openModel(path.join(GEN, 'onnx/lenet_torch.onnx')));
      assert.deepEqual(
        s.layers.filter((l) => l.params > 0).map((l) => [l.type, l.params, l.macs]),
        [
          ['Conv', 156, 24 * 24 * 6 * 25],
          ['Conv', 2416, 8 * 8 * 16 * 150],
          ['Gemm', 30840, 256 * 120],
          ['Gemm', 10164, 120 * 84],
          ['Gemm', 850, 84 * 10],
        ],
      );
      assert.equal(s.metadata.producer, 'pytorch 1.13.0');
    });
  });

  describe('real third-party models', () => {
    it('silero_vad.onnx: 444,944 float parameters across If branches; int64 constants are not parameters', async () => {
      const file = path.join(FIXTURES, 'real/onnx/silero_vad.onnx');
      const doc = await openModel(file);
      assert.equal(params(doc), 444944);
      const all = allTensors(doc);
      assert.equal(all.length, 259);
      assert.equal(all.filter((t) => !t.isParameter).reduce((s, t) => s + t.count, 0), 173);
      assert.equal(doc.metadata.producer, 'pytorch 1.12.0');
      assert.equal(doc.metadata.subgraphs, '18');
      assert.equal(doc.metadata.nodes, '250');
      const lstm = doc.layers.filter((l) => l.type === 'LSTM');
      assert.equal(lstm.length, 8);
      assert.ok(lstm.every((l) => l.tensors.length === 3));
      const s = await summarize(doc);
      assert.equal(s.macs, null, 'audio length is dynamic: MACs are unknown, not guessed');
      const w = all.find((t) => t.name === 'model.first_layer.0.dw_conv.0.weight')!;
      const values = await w.read!();
      assert.equal(values.length, 258 * 5);
      assert.ok(values.every((v) => Number.isFinite(v)));
    });

    it('silero_vad_v5.onnx: every weight is a Constant node inside subgraphs (545,286)', async () => {
      const doc = await openModel(path.join(FIXTURES, 'real/onnx/silero_vad_v5.onnx'));
      assert.equal(params(doc), 545286);
      assert.equal(allTensors(doc).length, 341);
      assert.ok(allTensors(doc).every((t) => t.detail?.source === 'Constant'));
      // The LSTM weights are sliced into gates and concatenated before the LSTM: they still group under it.
      const lstm = doc.layers.filter((l) => l.type === 'LSTM' && l.tensors.length > 0);
      assert.equal(lstm.length, 2);
      assert.ok(lstm.every((l) => l.tensors.reduce((s, t) => s + t.count, 0) === 512 * 128 * 2 + 1024));
    });
  });

  it("logreg_iris.onnx (onnxruntime's scikit-learn sample): ai.onnx.ml attribute values are named in a warning, not counted", async () => {
    const row = manifest('real').find((r) => r.file === 'onnx/logreg_iris.onnx') as Row & { details: { onnxMlAttributeValues: number } };
    const doc = await openModel(path.join(FIXTURES, 'real', row.file));
    assert.equal(params(doc), 0);
    assert.equal(row.details.onnxMlAttributeValues, 15);
    assert.ok(doc.warnings.some((w) => w.startsWith('LinearClassifier×1 (ai.onnx.ml) keep 15 learned values')), doc.warnings.join('\n'));
  });

  describe("weight-stripped models: onnx's backend 'light' test models (ConstantOfShape weights)", () => {
    interface LightRow extends Row {
      details: { storedFloatParams: number; generatedByConstantOfShape: { tensors: number; floatElements: number }; convGemmMacs: Record<string, number> };
    }
    const rows = manifest('real').filter((r) => r.file.startsWith('onnx-backend/light/')) as LightRow[];

    it('the corpus has the 9 light models', () => assert.equal(rows.length, 9));

    for (const row of rows) {
      it(`${path.basename(row.file)}: ${row.totalParams} parameters, Conv/Gemm MACs as onnx's shape inference gives them`, async () => {
        const file = path.join(FIXTURES, 'real', row.file);
        const doc = await openModel(file);
        const generated = allTensors(doc).filter((t) => t.detail?.source === 'ConstantOfShape');
        assert.equal(generated.length, row.details.generatedByConstantOfShape.tensors);
        assert.equal(generated.reduce((s, t) => s + t.count, 0), row.details.generatedByConstantOfShape.floatElements);
        assert.ok(generated.every((t) => t.bytes === 0 && t.memoryBytes === t.count * 4 && t.isParameter && !t.read), 'no bytes on disk, float32 in memory, no values');
        assert.equal(params(doc), row.totalParams);
        assert.ok(doc.warnings.some((w) => /ConstantOfShape/.test(w) && w.includes(row.details.generatedByConstantOfShape.floatElements.toLocaleString('en-US'))), doc.warnings.join('\n'));
        for (const [node, macs] of Object.entries(row.details.convGemmMacs)) {
          assert.equal(doc.layers.find((l) => l.name === node)?.macs, macs, `MACs of ${node}`);
        }
        const s = await summarize(doc);
        assert.ok(s.bytesInMemory > 4 * row.details.generatedByConstantOfShape.floatElements - 1, 'memory counts the generated weights');
        assert.ok(s.bytesOnDisk < 300_000, 'while the file stays small');
      });
    }

    it('AlexNet: the first Conv owns its [96,3,11,11] weight; hints and compression say why they skip it', async () => {
      const file = path.join(FIXTURES, 'real/onnx-backend/light/light_bvlc_alexnet.onnx');
      const doc = await openModel(file);
      const conv = doc.layers.find((l) => l.name === 'n0')!;
      assert.deepEqual(conv.tensors.map((t) => [t.name, t.shape]).sort(), [['conv1_b_0', [96]], ['conv1_w_0', [96, 3, 11, 11]]]);
      assert.deepEqual(conv.outputShape, [1, 96, 54, 54]);
      const s = await summarize(doc);
      assert.equal(s.macs, 654_560_384, 'the sum of the Conv/Gemm MACs (LRN, pooling and ReLU cost none here)');
      const { computeHints } = await import('../../../src/core/analysis/hints');
      const hints = await computeHints(doc);
      assert.equal(hints.hints.length, 0);
      assert.ok(hints.skipped.some((x) => x.tensor === 'conv1_w_0' && /ConstantOfShape/.test(x.reason)), JSON.stringify(hints.skipped[0]));
    });
  });

  describe('bad files', () => {
    const cases: [string, string[]][] = [
      ['generated/onnx/bad/truncated.onnx', ['truncated']],
      ['generated/onnx/bad/external_escape.onnx', ['unsafe']],
      ['generated/onnx/bad/external_missing.onnx', ['not-found']],
    ];
    for (const row of manifest('corrupt').filter((r) => r.file.endsWith('.onnx'))) {
      cases.push([`corrupt/${row.file}`, [row.error!, ...(row.accept ?? [])]]);
    }
    for (const [file, codes] of cases) {
      it(`${file} → ${codes[0]}`, async () => {
        assert.ok(codes.includes(await errorCode(path.join(FIXTURES, file))), `${file}: expected ${codes.join('/')}`);
      });
    }

    it('names the missing external file', async () => {
      try {
        await openModel(path.join(GEN, 'onnx/bad/external_missing.onnx'));
        assert.fail('expected an error');
      } catch (e) {
        assert.ok(e instanceof ModelFormatError);
        assert.match(e.message, /missing_weights\.bin/);
      }
    });

    it('refuses an overlong varint, a JSON file and a bare 2-byte file with precise codes', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'onnx-bad-'));
      try {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(path.join(dir, 'long.onnx'), Buffer.from([0x08, ...new Array(10).fill(0xff), 0x01]));
        assert.equal(await errorCode(path.join(dir, 'long.onnx')), 'not-a-model');
        writeFileSync(path.join(dir, 'json.onnx'), '{"graph": {}}');
        assert.equal(await errorCode(path.join(dir, 'json.onnx')), 'bad-magic');
        writeFileSync(path.join(dir, 'nograph.onnx'), Buffer.from([0x08, 0x07]));
        assert.equal(await errorCode(path.join(dir, 'nograph.onnx')), 'not-a-model');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('edge cases built with the onnx Python API', function () {
    let dir = '';
    before(function () {
      if (!havePythonOnnx) this.skip();
      this.timeout(60_000); // two python3-onnx runs on a busy machine
      dir = mkdtempSync(path.join(tmpdir(), 'onnx-edge-'));
      // typed fields (float_data, int32_data float16, int64_data), a sparse initializer,
      // a Loop body whose initializer shadows a main-graph name, value_ints Constant.
      const script = `
import onnx, numpy as np
from onnx import helper, TensorProto, numpy_helper
w = helper.make_tensor('w', TensorProto.FLOAT, [2, 3], [1, 2, 3, 4, 5, 6])          # float_data
h = helper.make_tensor('h', TensorProto.FLOAT16, [3], np.array([0.5, -2, 1], np.float16).view(np.uint16).astype(np.int32).tolist())  # int32_data bits
h.int32_data[:] = np.array([0.5, -2, 1], np.float16).view(np.uint16).astype(np.int32).tolist()
sp = helper.make_sparse_tensor(helper.make_tensor('sp', TensorProto.FLOAT, [2], [7, 9]),
                               helper.make_tensor('sp_idx', TensorProto.INT64, [2], [1, 4]), [2, 3])
body_w = numpy_helper.from_array(np.full((3, 3), 0.25, np.float32), 'w')   # shadows the outer 'w'
body = helper.make_graph(
    [helper.make_node('MatMul', ['x_in', 'w'], ['x_out'], name='body_matmul'),
     helper.make_node('Identity', ['cond_in'], ['cond_out'], name='body_id')],
    'body',
    [helper.make_tensor_value_info('i', TensorProto.INT64, []), helper.make_tensor_value_info('cond_in', TensorProto.BOOL, []),
     helper.make_tensor_value_info('x_in', TensorProto.FLOAT, [1, 3])],
    [helper.make_tensor_value_info('cond_out', TensorProto.BOOL, []), helper.make_tensor_value_info('x_out', TensorProto.FLOAT, [1, 3])],
    initializer=[body_w])
nodes = [
    helper.make_node('Constant', [], ['axes'], name='axes_const', value_ints=[0, -1]),
    helper.make_node('MatMul', ['x', 'w'], ['y'], name='mm'),
    helper.make_node('Add', ['y', 'h_f'], ['z'], name='add'),
    helper.make_node('Cast', ['h'], ['h_f'], name='cast', to=TensorProto.FLOAT),
    helper.make_node('Loop', ['trip', 'cond', 'z'], ['out'], name='loop', body=body),
    helper.make_node('MatMul', ['x', 'sp_dense'], ['unused'], name='mm2'),
]
nodes = [nodes[0], nodes[3], nodes[1], nodes[2], nodes[4]]
g = helper.make_graph(nodes, 'edge',
    [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 2]),
     helper.make_tensor_value_info('trip', TensorProto.INT64, []), helper.make_tensor_value_info('cond', TensorProto.BOOL, [])],
    [helper.make_tensor_value_info('out', TensorProto.FLOAT, [None, 3])],
    initializer=[w, h], sparse_initializer=[sp])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
m.ir_version = 7
onnx.save(m, '${'${DIR}'}/edge.onnx')
print('{}')
`;
      py(script.replace('${DIR}', dir));
      // Six 1 MiB initializers (numpy_helper: raw_data) and a Reshape target whose TensorProto also
      // carries a 40 KB string_data (nonsense for int64, but legal protobuf): the reader must skip
      // the big payloads and still propagate the Reshape's shape.
      py(`
import json, onnx, numpy as np
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(3)
inits, nodes, expected = [], [], {}
cur = 'x'
for i in range(6):
    w = rng.standard_normal((512, 512), dtype=np.float32)
    inits.append(numpy_helper.from_array(w, f'w{i}'))
    expected[f'w{i}'] = [float(w.astype(np.float64).sum()), float(w.flat[0]), float(w.flat[-1])]
    nodes.append(helper.make_node('MatMul', [cur, f'w{i}'], [f'h{i}'], name=f'mm{i}'))
    cur = f'h{i}'
shape = helper.make_tensor('shape', TensorProto.INT64, [2], [4, 512])
shape.string_data.append(b'x' * 40000)
inits.insert(2, shape)
nodes.insert(1, helper.make_node('Reshape', ['h0', 'shape'], ['r'], name='reshape'))
nodes[2].input[0] = 'r'
g = helper.make_graph(nodes, 'big', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2, 2, 512])],
                      [helper.make_tensor_value_info(cur, TensorProto.FLOAT, None)], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]), '${dir}/big.onnx')
json.dump(expected, open('${dir}/big.json', 'w'))
print('{}')
`);
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('analysis reads the graph, not the tensor bytes; read() still returns every value', async () => {
      const file = path.join(dir, 'big.onnx');
      const expected = JSON.parse(readFileSync(path.join(dir, 'big.json'), 'utf8')) as Record<string, number[]>;
      const fs = watchedAccess(nodeFileAccess);
      const doc = await openModel(file, { fs });
      const size = statSync(file).size;
      assert.ok(size > 6e6, `big.onnx is ${size} bytes`);
      // The graph and tensor headers (a few KiB; each read may overshoot into a skipped payload by one
      // 4 KiB window), plus the 40 KB TensorProto of the Reshape target, read back for its values.
      assert.ok(fs.bytesRead < 0.02 * size, `analysis read ${fs.bytesRead} of ${size} bytes`);
      for (const [name, [sum, first, last]] of Object.entries(expected)) {
        const t = tensor(doc, name);
        assert.equal(t.location?.length, t.count * 4, `${name} is a raw byte range`);
        const v = await t.read!();
        assert.equal(v.length, t.count);
        assert.equal(v[0], first);
        assert.equal(v[v.length - 1], last);
        close([v.reduce((a, b) => a + b, 0)], [sum!], 1e-2);
      }
      // The Reshape target lives in a TensorProto whose (unused) 40 KB string_data was skipped: its
      // int64_data is read back from disk for shape propagation.
      const reshape = doc.layers.find((l) => l.name === 'mm1')!;
      assert.deepEqual(reshape.outputShape, [4, 512]);
      const summary = await summarize(doc);
      assert.equal(summary.totalParams, 6 * 512 * 512);
    });

    it('decodes typed fields, counts shadowed and sparse tensors once each', async () => {
      const doc = await openModel(path.join(dir, 'edge.onnx'));
      const names = allTensors(doc).map((t) => t.name).sort();
      assert.deepEqual(names, ['axes', 'h', 'loop/body/w', 'sp', 'w']);
      assert.equal(params(doc), 6 + 3 + 9 + 2);
      assert.deepEqual(Array.from(await tensor(doc, 'w').read!()), [1, 2, 3, 4, 5, 6]);
      assert.equal(tensor(doc, 'w').location, undefined, 'typed fields are not a raw byte range');
      assert.deepEqual(Array.from(await tensor(doc, 'h').read!()), [0.5, -2, 1]);
      assert.equal(tensor(doc, 'h').dtype, 'float16');
      assert.deepEqual(Array.from(await tensor(doc, 'loop/body/w').read!()), new Array(9).fill(0.25));
      const sp = tensor(doc, 'sp');
      assert.deepEqual(sp.shape, [2]);
      assert.deepEqual((sp.detail?.sparse as { denseShape: number[] }).denseShape, [2, 3]);
      assert.deepEqual(Array.from(await sp.read!()), [7, 9]);
      const axes = tensor(doc, 'axes');
      assert.equal(axes.isParameter, false);
      assert.deepEqual(Array.from(await axes.read!()), [0, -1]);
      // h reaches the Add through a Cast; the Add's other input comes from the MatMul, so both join 'mm'.
      const mm = doc.layers.find((l) => l.name === 'mm')!;
      assert.deepEqual(mm.tensors.map((t) => t.name), ['w', 'h']);
      assert.equal(mm.macs, 2 * 3, 'symbolic batch counts as 1');
      assert.deepEqual(mm.outputShape, [null, 3]);
      const body = doc.layers.find((l) => l.name === 'body_matmul')!;
      assert.deepEqual(body.tensors.map((t) => t.name), ['loop/body/w']);
    });
  });
});
