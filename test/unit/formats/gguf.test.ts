/**
 * GGUF reader: the gguf-py-written fixtures, plus files written here from the
 * spec (a minimal writer below) to check dequantization and hostile counts.
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isModelFormatError } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats/registry';
import { floatToHalf } from '../../../src/core/io/halfFloat';
import { allTensors, layerParams, type ModelDoc } from '../../../src/core/model';

const GEN = 'test/fixtures/generated';
const tmp = mkdtempSync(path.join(tmpdir(), 'parsimony-gguf-'));

function params(doc: ModelDoc): number {
  return doc.layers.reduce((s, l) => s + layerParams(l), 0);
}

async function expectError(file: string, codes: string[]): Promise<Error> {
  try {
    await openModel(file);
  } catch (e) {
    assert.ok(isModelFormatError(e), `expected ModelFormatError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `code ${e.code} not in ${codes.join('|')}: ${e.message}`);
    return e;
  }
  return assert.fail(`${file} opened without error`);
}

/** A spec-following GGUF v3 writer for tests (little-endian, alignment 32). */
class GgufWriter {
  private parts: Buffer[] = [];
  private kvs: Buffer[] = [];
  private infos: Buffer[] = [];
  private datas: Buffer[] = [];
  private dataSize = 0;
  tensorCountOverride?: bigint;

  private str(s: string): Buffer {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([len, b]);
  }
  u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  }
  u64(v: bigint | number): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  }
  kvString(key: string, value: string): this {
    this.kvs.push(Buffer.concat([this.str(key), this.u32(8), this.str(value)]));
    return this;
  }
  kvU32(key: string, value: number): this {
    this.kvs.push(Buffer.concat([this.str(key), this.u32(4), this.u32(value)]));
    return this;
  }
  kvStringArray(key: string, values: string[]): this {
    this.kvs.push(Buffer.concat([this.str(key), this.u32(9), this.u32(8), this.u64(values.length), ...values.map((v) => this.str(v))]));
    return this;
  }
  kvRaw(bytes: Buffer): this {
    this.kvs.push(bytes);
    return this;
  }
  tensor(name: string, ne: number[], type: number, data: Buffer): this {
    const pad = (32 - (this.dataSize % 32)) % 32;
    if (pad) {
      this.datas.push(Buffer.alloc(pad));
      this.dataSize += pad;
    }
    this.infos.push(Buffer.concat([this.str(name), this.u32(ne.length), ...ne.map((d) => this.u64(d)), this.u32(type), this.u64(this.dataSize)]));
    this.datas.push(data);
    this.dataSize += data.length;
    return this;
  }
  build(): Buffer {
    const head = Buffer.concat([
      Buffer.from('GGUF'),
      this.u32(3),
      this.u64(this.tensorCountOverride ?? BigInt(this.infos.length)),
      this.u64(this.kvs.length),
      ...this.kvs,
      ...this.infos,
    ]);
    const pad = Buffer.alloc((32 - (head.length % 32)) % 32);
    this.parts = [head, pad, ...this.datas];
    return Buffer.concat(this.parts);
  }
  write(name: string): string {
    const file = path.join(tmp, name);
    writeFileSync(file, this.build());
    return file;
  }
}

function half(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(floatToHalf(v));
  return b;
}

describe('gguf reader', () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('reads tiny-llama.gguf (gguf-py): blocks, dtypes, bytes, metadata', async function () {
    const file = path.join(GEN, 'gguf/tiny-llama.gguf');
    if (!existsSync(file)) this.skip();
    const doc = await openModel(file);
    assert.equal(doc.format, 'gguf');
    assert.equal(params(doc), 14432);
    assert.equal(doc.metadata.architecture, 'llama');
    assert.equal(doc.metadata.contextLength, '128');
    assert.equal(doc.metadata.fileType, 'Q4_0');
    assert.equal(doc.metadata.vocabularySize, '64');
    const block = doc.layers.find((l) => l.name === 'blk.0');
    assert.equal(block?.type, 'transformer block');
    assert.equal(block?.macs, null);
    assert.equal(doc.layers.find((l) => l.name === 'token_embd')?.type, 'Embedding');
    for (const t of allTensors(doc)) {
      const blocks = t.dtype === 'q4_0' ? 18 / 32 : t.dtype === 'q8_0' ? 34 / 32 : t.dtype === 'float16' ? 2 : 4;
      assert.equal(t.bytes, t.count * blocks, t.name);
      assert.equal(t.memoryBytes, t.bytes, 'llama.cpp keeps the stored type');
    }
  });

  it('reads aligned64.gguf: alignment 64, row-major shapes, every metadata value type', async function () {
    const file = path.join(GEN, 'gguf/aligned64.gguf');
    if (!existsSync(file)) this.skip();
    const doc = await openModel(file);
    assert.equal(params(doc), 3 + 35 + 192 + 192 + 192);
    const byName = new Map(allTensors(doc).map((t) => [t.name, t]));
    assert.deepEqual(byName.get('cube.bf16')?.shape, [2, 3, 32]);
    assert.deepEqual(byName.get('matrix.f16')?.shape, [5, 7]);
    assert.equal(byName.get('blk.0.q8.weight')?.bytes, 3 * 2 * 34);
    assert.equal(byName.get('blk.0.q4.weight')?.bytes, 2 * 3 * 18);
    for (const t of byName.values()) assert.equal(t.location!.offset % 64, 0, `${t.name} aligned`);
    const raw = doc.raw as { metadata: Record<string, unknown>; alignment: number };
    assert.equal(raw.alignment, 64);
    assert.equal(raw.metadata['test.utf8'], 'naïve ✓');
    assert.equal(raw.metadata['test.i64'], -(2 ** 40));
    assert.deepEqual(raw.metadata['test.array_of_strings'], ['a', 'bc', '']);
    assert.deepEqual(raw.metadata['test.array_of_arrays'], [[1, 2], [3, 4, 5]]);
    // f32 values decode exactly; f16 within half precision.
    const odd = await byName.get('odd.f32')!.read!();
    assert.equal(odd.length, 3);
  });

  it('dequantizes Q8_0 and Q4_0 blocks and decodes F16 (spec-written file)', async () => {
    // Q8_0: d = 0.5, q = -16..15 → x = q/2.
    const q8 = Buffer.concat([half(0.5), Buffer.from(Int8Array.from({ length: 32 }, (_, i) => i - 16).buffer)]);
    // Q4_0: d = 2, byte j = (lo = j % 16, hi = 15 - j) → x[j] = (lo-8)·2, x[j+16] = (hi-8)·2.
    const q4 = Buffer.concat([half(2), Buffer.from(Array.from({ length: 16 }, (_, j) => (j % 16) | ((15 - j) << 4)))]);
    const f16 = Buffer.concat([half(1.5), half(-0.25)]);
    const file = new GgufWriter()
      .kvString('general.architecture', 'test')
      .kvU32('general.file_type', 7)
      .tensor('token_embd.weight', [2], 1, f16)
      .tensor('blk.0.q8', [32], 8, q8)
      .tensor('blk.0.q4', [32], 2, q4)
      .tensor('output.weight', [32, 1], 8, q8)
      .write('quant.gguf');
    const doc = await openModel(file);
    const byName = new Map(allTensors(doc).map((t) => [t.name, t]));
    assert.deepEqual([...(await byName.get('blk.0.q8')!.read!())], Array.from({ length: 32 }, (_, i) => (i - 16) / 2));
    const x4 = await byName.get('blk.0.q4')!.read!();
    assert.deepEqual([...x4.subarray(0, 16)], Array.from({ length: 16 }, (_, j) => (j - 8) * 2));
    assert.deepEqual([...x4.subarray(16)], Array.from({ length: 16 }, (_, j) => (15 - j - 8) * 2));
    assert.deepEqual([...(await byName.get('token_embd.weight')!.read!())], [1.5, -0.25]);
    assert.equal(doc.metadata.fileType, 'Q8_0');
    const head = doc.layers.find((l) => l.name === 'output');
    assert.equal(head?.type, 'Linear');
    assert.equal(head?.macs, 32, 'ne0·ne1 per token');
    assert.deepEqual(byName.get('output.weight')?.shape, [1, 32]);
  });

  it('leaves read() undefined for K-quants and says so', async () => {
    const file = new GgufWriter().tensor('blk.0.k', [256], 12, Buffer.alloc(144)).write('q4k.gguf');
    const doc = await openModel(file);
    const t = allTensors(doc)[0]!;
    assert.equal(t.dtype, 'q4_k');
    assert.equal(t.bytes, 144);
    assert.equal(t.read, undefined);
    assert.match(doc.warnings.join(' '), /q4_k/);
  });

  it('skips a 150k-token vocabulary without keeping it, keeping its length', async () => {
    const tokens = Array.from({ length: 150_000 }, (_, i) => `tok${i}`);
    const file = new GgufWriter().kvStringArray('tokenizer.ggml.tokens', tokens).tensor('output_norm.weight', [4], 0, Buffer.alloc(16)).write('vocab.gguf');
    const started = Date.now();
    const doc = await openModel(file);
    assert.ok(Date.now() - started < 5000);
    assert.equal(doc.metadata.vocabularySize, '150000');
    assert.equal((doc.raw as { metadata: Record<string, unknown> }).metadata['tokenizer.ggml.tokens'], '[150000 × string]');
    assert.equal(doc.layers[0]?.type, 'Norm');
  });

  it('refuses hostile counts and lengths before allocating', async () => {
    const w = new GgufWriter().tensor('w', [4], 0, Buffer.alloc(16));
    w.tensorCountOverride = 1n << 40n;
    await expectError(w.write('count.gguf'), ['too-large', 'truncated']);
    const huge = new GgufWriter();
    huge.kvRaw(Buffer.concat([huge.u64(3), Buffer.from('big'), huge.u32(9), huge.u32(0), huge.u64(1n << 62n)]));
    await expectError(huge.write('array.gguf'), ['too-large', 'truncated']);
    await expectError(new GgufWriter().tensor('w', [4], 99, Buffer.alloc(16)).write('type.gguf'), ['unsupported-dtype']);
    await expectError(new GgufWriter().tensor('w', [33], 8, Buffer.alloc(34)).write('rows.gguf'), ['not-a-model']);
    const v1 = new GgufWriter().build();
    v1.writeUInt32LE(1, 4);
    writeFileSync(path.join(tmp, 'v1.gguf'), v1);
    await expectError(path.join(tmp, 'v1.gguf'), ['unsupported-version']);
    const cut = new GgufWriter().tensor('w', [64], 0, Buffer.alloc(256)).build();
    writeFileSync(path.join(tmp, 'cut.gguf'), cut.subarray(0, cut.length - 10));
    await expectError(path.join(tmp, 'cut.gguf'), ['truncated']);
  });

  for (const set of ['generated', 'corrupt']) {
    const manifest = path.join('test/fixtures', set, 'manifest.json');
    if (!existsSync(manifest)) continue;
    type Row = { file: string; format?: string; totalParams?: number; error?: string; accept?: string[]; tensors?: Record<string, { shape: number[]; dtype: string; count: number; bytes?: number }> };
    const rows = (JSON.parse(readFileSync(manifest, 'utf8')) as Row[]).filter((r) => r.file.startsWith('gguf/'));
    for (const row of rows) {
      const file = path.join('test/fixtures', set, row.file);
      it(`${set} manifest: ${row.file}`, async () => {
        if (row.error) return void (await expectError(file, [row.error, ...(row.accept ?? [])]));
        const doc = await openModel(file);
        assert.equal(params(doc), row.totalParams);
        const byName = new Map(allTensors(doc).map((t) => [t.name, t]));
        for (const [name, want] of Object.entries(row.tensors ?? {})) {
          const got = byName.get(name);
          assert.ok(got, `tensor ${name}`);
          assert.deepEqual(got.shape, want.shape, name);
          assert.equal(got.dtype, want.dtype, name);
          assert.equal(got.count, want.count, name);
          if (want.bytes !== undefined) assert.equal(got.bytes, want.bytes, name);
        }
      });
    }
  }
});
