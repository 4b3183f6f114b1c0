import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { summarize } from '../../../src/core/analysis/summary';
import { ModelFormatError } from '../../../src/core/errors';
import { tflite } from '../../../src/core/formats/tflite';
import { openModel } from '../../../src/core/formats/registry';
import { allTensors, type ModelDoc, type TensorInfo } from '../../../src/core/model';

const FIXTURES = path.resolve(__dirname, '../../fixtures');

// ---------------------------------------------------------------------------
// A tiny FlatBuffers writer for tests. It lays objects out front to back (every
// child after its parent, so uoffsets are positive) and doesn't bother with
// alignment beyond 4 bytes, which readers of little-endian DataViews don't need.

type Field =
  | { t: 'u8' | 'i8' | 'bool'; v: number }
  | { t: 'i32' | 'u32' | 'f32'; v: number }
  | { t: 'u64'; v: number }
  | { t: 'str'; v: string }
  | { t: 'table'; v: FbTable }
  | { t: 'tables'; v: FbTable[] }
  | { t: 'i32s' | 'f32s' | 'i64s'; v: number[] }
  | { t: 'bytes'; v: Uint8Array };
type FbTable = (Field | undefined)[];

class FbWriter {
  readonly out: number[] = [];
  private view(): DataView {
    return new DataView(new Uint8Array(this.out).buffer);
  }
  pad(align: number): void {
    while (this.out.length % align) this.out.push(0);
  }
  putU32(at: number, v: number): void {
    this.out[at] = v & 0xff;
    this.out[at + 1] = (v >>> 8) & 0xff;
    this.out[at + 2] = (v >>> 16) & 0xff;
    this.out[at + 3] = (v >>> 24) & 0xff;
  }
  push(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i]!);
  }
  table(fields: FbTable): number {
    const size = (f: Field): number => (f.t === 'u8' || f.t === 'i8' || f.t === 'bool' ? 1 : f.t === 'u64' ? 8 : 4);
    const offsets: number[] = [];
    let off = 4;
    for (const f of fields) {
      if (!f) {
        offsets.push(0);
        continue;
      }
      const s = size(f);
      while (off % Math.min(s, 4)) off++;
      offsets.push(off);
      off += s;
    }
    while (off % 4) off++;
    this.pad(4);
    const vtable = this.out.length;
    const vt = new DataView(new ArrayBuffer(4 + 2 * fields.length));
    vt.setUint16(0, 4 + 2 * fields.length, true);
    vt.setUint16(2, off, true);
    offsets.forEach((o, i) => vt.setUint16(4 + 2 * i, o, true));
    this.push(new Uint8Array(vt.buffer));
    this.pad(4);
    const pos = this.out.length;
    const body = new DataView(new ArrayBuffer(off));
    body.setInt32(0, pos - vtable, true);
    const fixups: [number, Field][] = [];
    fields.forEach((f, i) => {
      if (!f) return;
      const at = offsets[i]!;
      switch (f.t) {
        case 'u8':
        case 'bool':
          body.setUint8(at, f.v);
          break;
        case 'i8':
          body.setInt8(at, f.v);
          break;
        case 'i32':
          body.setInt32(at, f.v, true);
          break;
        case 'u32':
          body.setUint32(at, f.v, true);
          break;
        case 'f32':
          body.setFloat32(at, f.v, true);
          break;
        case 'u64':
          body.setBigUint64(at, BigInt(f.v), true);
          break;
        default:
          fixups.push([pos + at, f]);
      }
    });
    this.push(new Uint8Array(body.buffer));
    for (const [at, f] of fixups) this.putU32(at, this.child(f) - at);
    return pos;
  }
  private child(f: Field): number {
    this.pad(4);
    const pos = this.out.length;
    const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
    switch (f.t) {
      case 'str': {
        const b = Buffer.from(f.v);
        this.push([...u32(b.length), ...b, 0]);
        return pos;
      }
      case 'bytes':
        this.push([...u32(f.v.length), ...f.v]);
        return pos;
      case 'i32s':
        this.push([...u32(f.v.length), ...new Uint8Array(new Int32Array(f.v).buffer)]);
        return pos;
      case 'f32s':
        this.push([...u32(f.v.length), ...new Uint8Array(new Float32Array(f.v).buffer)]);
        return pos;
      case 'i64s':
        this.push([...u32(f.v.length), ...new Uint8Array(new BigInt64Array(f.v.map(BigInt)).buffer)]);
        return pos;
      case 'table':
        return this.table(f.v);
      case 'tables': {
        this.push(u32(f.v.length));
        const slots = f.v.map(() => {
          const at = this.out.length;
          this.push([0, 0, 0, 0]);
          return at;
        });
        f.v.forEach((t, i) => this.putU32(slots[i]!, this.table(t) - slots[i]!));
        return pos;
      }
      default:
        throw new Error('not a child');
    }
  }
  /** Root table with the "TFL3" identifier. */
  finish(root: FbTable, identifier = 'TFL3'): Uint8Array {
    this.push([0, 0, 0, 0, ...Buffer.from(identifier)]);
    const pos = this.table(root);
    this.putU32(0, pos);
    void this.view;
    return new Uint8Array(this.out);
  }
}

const i32 = (v: number): Field => ({ t: 'i32', v });
const u32 = (v: number): Field => ({ t: 'u32', v });
const i8 = (v: number): Field => ({ t: 'i8', v });
const str = (v: string): Field => ({ t: 'str', v });
const ints = (v: number[]): Field => ({ t: 'i32s', v });
const floatBytes = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);

/** Tensor table: shape, type, buffer, name, quantization, is_variable, sparsity. */
function tensorT(name: string, shape: number[], type: number, buffer = 0, extra: { quant?: FbTable; sparsity?: FbTable } = {}): FbTable {
  return [
    ints(shape),
    i8(type),
    u32(buffer),
    str(name),
    extra.quant ? { t: 'table', v: extra.quant } : undefined,
    undefined,
    extra.sparsity ? { t: 'table', v: extra.sparsity } : undefined,
  ];
}
const op = (opcode: number, inputs: number[], outputs: number[]): FbTable => [u32(opcode), ints(inputs), ints(outputs)];
const buffer = (data?: Uint8Array): FbTable => (data ? [{ t: 'bytes', v: data }] : []);

const CONV_W = Array.from({ length: 18 }, (_, i) => (i - 9) / 10);
const FC_W = new Int8Array(200).map((_, i) => (i % 11) - 5);
const FC_SCALES = [0.5, 0.25, 1, 2];

/** A small model exercising every code path: float/int8/int32 weights, sparse, shared buffers, custom ops. */
function buildModel(opts: { version?: number; fcType?: number } = {}): Uint8Array {
  const tensors: FbTable[] = [
    tensorT('input', [1, 5, 5, 1], 0), // 0
    tensorT('conv/w', [2, 3, 3, 1], 0, 1), // 1
    tensorT('conv/b', [2], 0, 2), // 2
    tensorT('conv/out', [1, 5, 5, 2], 0), // 3
    tensorT('dw/w', [1, 3, 3, 2], 0, 3), // 4
    tensorT('dw/out', [1, 5, 5, 2], 0), // 5
    tensorT('reshape/shape', [2], 2, 4), // 6
    tensorT('flat', [1, 50], 0), // 7
    tensorT('fc/w', [4, 50], opts.fcType ?? 9, 5, {
      quant: [undefined, undefined, { t: 'f32s', v: FC_SCALES }, { t: 'i64s', v: [0, 0, 0, 0] }, undefined, undefined, i32(0)],
    }), // 8
    tensorT('fc/b', [4], 2, 6, { quant: [undefined, undefined, { t: 'f32s', v: [0.01] }, { t: 'i64s', v: [0] }] }), // 9
    tensorT('fc/out', [1, 4], 0), // 10
    tensorT('gelu/out', [1, 4], 0), // 11
    tensorT('sparse/w', [4, 4], 0, 7, { sparsity: [ints([0, 1])] }), // 12
    tensorT('sparse/dense', [4, 4], 0), // 13
    tensorT('fc2/out', [1, 4], 0), // 14
    tensorT('custom/w', [2, 3, 3, 1], 0, 1), // 15: shares buffer 1 with conv/w
    tensorT('custom/out', [1, 4], 0), // 16
  ];
  const operators = [
    op(1, [0, 1, 2], [3]),
    op(2, [3, 4, -1], [5]),
    op(5, [5, 6], [7]),
    op(0, [7, 8, 9], [10]),
    op(4, [10], [11]),
    op(6, [12], [13]),
    op(0, [11, 13, -1], [14]),
    op(3, [14, 15], [16]),
  ];
  const opcodes: FbTable[] = [
    [i8(9)], // FULLY_CONNECTED
    [i8(3)], // CONV_2D
    [i8(4)], // DEPTHWISE_CONV_2D
    [i8(32), str('MyOp')], // CUSTOM
    [i8(127), undefined, undefined, i32(150)], // placeholder in the deprecated field, GELU in builtin_code
    [i8(22)], // RESHAPE
    [i8(124)], // DENSIFY
  ];
  const buffers: FbTable[] = [
    buffer(),
    buffer(floatBytes(CONV_W)),
    buffer(floatBytes([0.1, -0.1])),
    buffer(floatBytes(CONV_W.map((v) => v * 2))),
    buffer(new Uint8Array(new Int32Array([1, 50]).buffer)),
    buffer(new Uint8Array(FC_W.buffer)),
    buffer(new Uint8Array(new Int32Array([100, -100, 0, 7]).buffer)),
    buffer(floatBytes([3, 4, 5])),
  ];
  const subgraph: FbTable = [
    { t: 'tables', v: tensors },
    ints([0]),
    ints([16]),
    { t: 'tables', v: operators },
    str('main'),
  ];
  return new FbWriter().finish([
    u32(opts.version ?? 3),
    { t: 'tables', v: opcodes },
    { t: 'tables', v: [subgraph] },
    str('hand-built test model'),
    { t: 'tables', v: buffers },
  ]);
}

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

describe('TFLite reader', () => {
  let dir = '';
  const write = (name: string, bytes: Uint8Array): string => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tflite-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('matches on the TFL3 identifier or the .tflite name', () => {
    const head = buildModel().subarray(0, 64);
    assert.equal(tflite.match({ path: '/m.bin', name: 'm.bin', size: 64, head }), true);
    assert.equal(tflite.match({ path: '/m.bin', name: 'm.bin', size: 4, head: new Uint8Array([1, 2, 3, 4]) }), false);
  });

  describe('a hand-built model (test flatbuffer writer)', () => {
    let doc: ModelDoc;
    before(async () => {
      doc = await openModel(write('hand.tflite', buildModel()));
    });

    it('counts weights once, with int32 shapes as non-parameters', () => {
      // conv 18+2, dw 18, fc int8 200 + int32 bias 4 (has a scale), sparse 4×4 dense (3 stored values), custom 18 (shared buffer)
      assert.equal(params(doc), 18 + 2 + 18 + 200 + 4 + 16 + 18);
      assert.equal(tensor(doc, 'reshape/shape').isParameter, false);
      assert.equal(tensor(doc, 'fc/b').isParameter, true);
      assert.equal(doc.metadata.description, 'hand-built test model');
    });

    it('names layers after their output tensors and costs them from the shapes', async () => {
      const s = await summarize(doc);
      const layer = (n: string) => s.layers.find((l) => l.name === n)!;
      assert.equal(layer('conv/out').type, 'CONV_2D');
      assert.equal(layer('conv/out').macs, 5 * 5 * 2 * 3 * 3 * 1);
      assert.equal(layer('dw/out').type, 'DEPTHWISE_CONV_2D');
      assert.equal(layer('dw/out').macs, 5 * 5 * 2 * 3 * 3);
      assert.equal(layer('fc/out').macs, 4 * 50);
      assert.equal(layer('fc2/out').macs, 4 * 4);
      assert.deepEqual(layer('fc2/out').tensors.map((t) => t.name), ['sparse/w'], 'looked through DENSIFY');
      assert.equal(layer('custom/out').type, 'MyOp');
      assert.equal(layer('custom/out').macs, null);
      assert.ok(!s.layers.some((l) => l.type === 'GELU' || l.type === 'RESHAPE'));
      assert.match(s.metadata.ops!, /GELU×1/, 'builtin code = max(deprecated_builtin_code, builtin_code)');
      assert.deepEqual(s.layers.find((l) => l.name === '(constants)')!.tensors.map((t) => t.name), ['reshape/shape']);
    });

    it('keeps int8 storage and dequantizes per channel on read()', async () => {
      const w = tensor(doc, 'fc/w');
      assert.equal(w.dtype, 'int8');
      assert.equal(w.bytes, 200);
      assert.equal(w.memoryBytes, 200);
      assert.deepEqual((w.detail?.quantization as { scale: number[] }).scale, FC_SCALES);
      const values = await w.read!();
      for (let i = 0; i < 200; i++) assert.equal(values[i], FC_W[i]! * FC_SCALES[Math.floor(i / 50)]!);
      const bias = await tensor(doc, 'fc/b').read!();
      [1, -1, 0, 0.07].forEach((v, i) => assert.ok(Math.abs(bias[i]! - v) < 1e-6, `bias ${i}: ${bias[i]}`));
    });

    it('reads float weights from their buffer and counts a shared buffer once', async () => {
      const w = tensor(doc, 'conv/w');
      assert.equal(w.bytes, 72);
      assert.deepEqual(Array.from(await w.read!()), CONV_W.map(Math.fround));
      const shared = tensor(doc, 'custom/w');
      assert.equal(shared.bytes, 0);
      assert.equal(shared.detail?.sharedBuffer, true);
      assert.deepEqual(shared.location, w.location);
    });

    it('counts a sparse tensor by its dense shape and notes the stored values', async () => {
      const sp = tensor(doc, 'sparse/w');
      assert.equal(sp.count, 16);
      assert.deepEqual(sp.shape, [4, 4]);
      assert.equal((sp.detail?.sparse as { storedValues: number }).storedValues, 3);
      assert.equal(sp.read, undefined, 'not decoded until densification exists');
      assert.equal(sp.memoryBytes, 16 * 4, 'DENSIFY gives the runtime a dense float32 copy');
    });
  });

  describe('hand-built bad files', () => {
    it('refuses schema versions before 3, unknown tensor types and a wrong identifier', async () => {
      assert.equal(await errorCode(write('v2.tflite', buildModel({ version: 2 }))), 'unsupported-version');
      assert.equal(await errorCode(write('t99.tflite', buildModel({ fcType: 99 }))), 'unsupported-dtype');
      const bytes = buildModel();
      bytes.set(Buffer.from('ABCD'), 4);
      assert.equal(await errorCode(write('id.tflite', bytes)), 'bad-magic');
    });

    it('reports every cut of a valid model as a ModelFormatError, never a crash', async () => {
      const bytes = buildModel();
      for (const cut of [9, 40, 100, 200, 400, bytes.length - 300, bytes.length - 1]) {
        const code = await errorCode(write(`cut${cut}.tflite`, bytes.subarray(0, cut)));
        assert.ok(['truncated', 'not-a-model'].includes(code), `cut at ${cut}: ${code}`);
      }
    });
  });

  describe('real MediaPipe models', () => {
    const REAL = path.join(FIXTURES, 'real/tflite');
    it('face_detection_short_range.tflite: 101,390 float16 parameters behind DEQUANTIZE', async () => {
      const doc = await openModel(path.join(REAL, 'face_detection_short_range.tflite'));
      assert.equal(params(doc), 101390);
      assert.equal(allTensors(doc).length, 85);
      assert.equal(doc.metadata.ops!.split(', ')[0], 'DEQUANTIZE×74');
      const s = await summarize(doc);
      assert.equal(s.layers.filter((l) => l.type === 'CONV_2D').length, 21);
      assert.equal(s.layers.filter((l) => l.type === 'DEPTHWISE_CONV_2D').length, 16);
      assert.ok(s.macs !== null && s.macs > 0);
      const w = allTensors(doc).find((t) => t.dtype === 'float16' && t.shape.length === 4)!;
      assert.equal(w.memoryBytes, w.count * 4);
      const values = await w.read!();
      assert.equal(values.length, w.count);
      assert.ok(values.every(Number.isFinite));
    });

    it('face_detection_full_range_sparse.tflite: 46 sparse tensors count their dense elements', async () => {
      const doc = await openModel(path.join(REAL, 'face_detection_full_range_sparse.tflite'));
      const sparse = allTensors(doc).filter((t) => t.detail?.sparse);
      assert.equal(sparse.length, 46);
      assert.equal(sparse.reduce((s, t) => s + t.count, 0), 462592);
      assert.equal(sparse.reduce((s, t) => s + (t.detail!.sparse as { storedValues: number }).storedValues, 0), 138776);
      // Manifest: 508,308 dense elements (flatc-based count).
      assert.equal(params(doc), 508308);
      assert.equal(doc.metadata.minRuntimeVersion, '2.2.0');
    });

    it('selfie_segmentation.tflite: a MediaPipe custom transpose convolution keeps its custom_code', async () => {
      const s = await summarize(await openModel(path.join(REAL, 'selfie_segmentation.tflite')));
      assert.equal(s.totalParams, 106401);
      const custom = s.layers.find((l) => l.type === 'Convolution2DTransposeBias')!;
      assert.equal(custom.params, 65);
      assert.equal(custom.macs, 128 * 128 * 16 * 2 * 2, 'each input element feeds O*kh*kw outputs');
      assert.deepEqual(custom.outputShape, [1, 256, 256, 1]);
    });
  });

  describe('a real architecture: MobileNetV2 (alpha 0.35) from TensorFlow 2.21\'s converter, full-integer int8 (real-writers/)', () => {
    it('counts 53 per-channel int8 weights and 53 int32 biases as parameters, the MEAN axes not', async () => {
      const file = path.join(FIXTURES, 'real-writers/tflite/mobilenet_v2_035_int8.tflite');
      const row = (JSON.parse(readFileSync(path.join(FIXTURES, 'real-writers/manifest.json'), 'utf8')) as { file: string; totalParams: number; operators: string[] }[]).find(
        (r) => r.file === 'tflite/mobilenet_v2_035_int8.tflite',
      )!;
      const doc = await openModel(file);
      const all = allTensors(doc);
      assert.equal(all.filter((t) => t.isParameter).reduce((s, t) => s + t.count, 0), row.totalParams);
      assert.equal(all.filter((t) => t.isParameter && t.dtype === 'int8').length, 53);
      assert.equal(all.filter((t) => t.isParameter && t.dtype === 'int32').length, 53);
      assert.deepEqual(all.filter((t) => !t.isParameter).map((t) => [t.dtype, t.count]), [['int32', 2]]);
      const types = new Map<string, number>();
      for (const l of doc.layers) types.set(l.type, (types.get(l.type) ?? 0) + 1);
      for (const op of new Set(row.operators)) assert.ok(types.has(op) || op === 'SOFTMAX' || op === 'ADD' || op === 'MEAN', `op ${op} in ${[...types.keys()]}`);
      const s = await summarize(doc);
      assert.ok(s.macs !== null && s.macs > 0, 'every conv has static shapes');
      const w = all.find((t) => t.dtype === 'int8' && t.shape.length === 4)!;
      const values = await w.read!();
      assert.equal(values.length, w.count);
      assert.ok(values.every((v) => Number.isFinite(v)) && values.some((v) => v !== Math.round(v)), 'dequantized with per-channel scales');
    });
  });

  describe('corrupt fixtures', () => {
    const file = path.join(FIXTURES, 'corrupt/manifest.json');
    const rows = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { file: string; error: string; accept?: string[] }[]).filter((r) => r.file.endsWith('.tflite'))
      : [];
    for (const row of rows) {
      it(`${row.file} → ${row.error}`, async () => {
        const code = await errorCode(path.join(FIXTURES, 'corrupt', row.file));
        assert.ok([row.error, ...(row.accept ?? [])].includes(code), `${row.file}: got ${code}`);
      });
    }
  });
});
