/**
 * safetensors reader: library-written fixtures, spec-written files for values
 * and errors, and a 3 GB sparse file that must be analyzed from its header alone.
 */
import * as assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isModelFormatError } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats/registry';
import { nodeFileAccess, type FileAccess } from '../../../src/core/io/fileAccess';
import { floatToBfloat16, floatToHalf } from '../../../src/core/io/halfFloat';
import { allTensors, layerParams, type ModelDoc } from '../../../src/core/model';

const GEN = 'test/fixtures/generated';
const tmp = mkdtempSync(path.join(tmpdir(), 'parsimony-st-'));

function params(doc: ModelDoc): number {
  return doc.layers.reduce((s, l) => s + layerParams(l), 0);
}

async function expectError(file: string, codes: string[], fs?: FileAccess): Promise<void> {
  try {
    await openModel(file, fs ? { fs } : {});
  } catch (e) {
    assert.ok(isModelFormatError(e), `expected ModelFormatError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `code ${e.code} not in ${codes.join('|')}: ${e.message}`);
    return;
  }
  assert.fail(`${file} opened without error`);
}

/** Writes a safetensors file from the spec: u64 header length, JSON header, data. */
function writeSafetensors(name: string, header: Record<string, unknown>, data: Buffer): string {
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(tmp, name);
  writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}

/** A FileAccess that counts the bytes actually read. */
function countingFs(): { fs: FileAccess; bytesRead: () => number } {
  let total = 0;
  const fs: FileAccess = {
    ...nodeFileAccess,
    async open(file) {
      const source = await nodeFileAccess.open(file);
      return {
        path: source.path,
        size: source.size,
        read: async (offset, length) => {
          total += length;
          return source.read(offset, length);
        },
        close: () => source.close(),
      };
    },
  };
  return { fs, bytesRead: () => total };
}

describe('safetensors reader', () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('reads mixed_dtypes.safetensors: dtypes, metadata, integer tensors not parameters', async function () {
    const file = path.join(GEN, 'safetensors/mixed_dtypes.safetensors');
    if (!existsSync(file)) this.skip();
    const doc = await openModel(file);
    assert.equal(doc.format, 'safetensors');
    assert.equal(params(doc), 129 + 8 + 4 + 16);
    assert.equal(doc.metadata.format, 'pt');
    for (const t of allTensors(doc)) {
      assert.equal(t.isParameter, /^(float|bfloat)/.test(t.dtype), t.name);
      assert.equal(t.bytes, t.memoryBytes);
      const values = await t.read!();
      assert.equal(values.length, t.count, t.name);
    }
  });

  it('opens a sharded index: every shard header, tensors from both, files listed', async function () {
    const file = path.join(GEN, 'safetensors/sharded/model.safetensors.index.json');
    if (!existsSync(file)) this.skip();
    const doc = await openModel(file);
    assert.equal(doc.files.length, 3);
    assert.equal(params(doc), 6800);
    const shards = new Set(allTensors(doc).map((t) => path.basename(t.location!.file)));
    assert.equal(shards.size, 2);
    assert.equal(doc.metadata.shards, '2');
    // One shard alone is an ordinary model.
    const one = await openModel(path.join(GEN, 'safetensors/sharded/model-00001-of-00002.safetensors'));
    assert.equal(one.files.length, 1);
    assert.ok(params(one) < 6800);
  });

  it('decodes F32/F16/BF16/I64 values and groups layers (spec-written file)', async () => {
    const f32 = Buffer.from(new Float32Array([1, -2, 3.5, 0, 0.25, 8]).buffer);
    const bias = Buffer.from(new Float32Array([0.5, -0.5]).buffer);
    const f16 = Buffer.alloc(4);
    f16.writeUInt16LE(floatToHalf(1.5), 0);
    f16.writeUInt16LE(floatToHalf(-3), 2);
    const bf16 = Buffer.alloc(4);
    bf16.writeUInt16LE(floatToBfloat16(2), 0);
    bf16.writeUInt16LE(floatToBfloat16(-0.125), 2);
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(7n, 0);
    i64.writeBigInt64LE(-1n, 8);
    const parts = [f32, bias, f16, bf16, i64];
    const offsets: [number, number][] = [];
    let at = 0;
    for (const p of parts) offsets.push([at, (at += p.length)]);
    const file = writeSafetensors(
      'values.safetensors',
      {
        __metadata__: { format: 'pt' },
        'model.layers.0.mlp.up_proj.weight': { dtype: 'F32', shape: [2, 3], data_offsets: offsets[0] },
        'model.layers.0.mlp.up_proj.bias': { dtype: 'F32', shape: [2], data_offsets: offsets[1] },
        'model.norm.weight': { dtype: 'F16', shape: [2], data_offsets: offsets[2] },
        'model.embed_tokens.weight': { dtype: 'BF16', shape: [1, 2], data_offsets: offsets[3] },
        'model.position_ids': { dtype: 'I64', shape: [2], data_offsets: offsets[4] },
      },
      Buffer.concat(parts),
    );
    const doc = await openModel(file);
    const byName = new Map(allTensors(doc).map((t) => [t.name, t]));
    assert.deepEqual([...(await byName.get('model.layers.0.mlp.up_proj.weight')!.read!())], [1, -2, 3.5, 0, 0.25, 8]);
    assert.deepEqual([...(await byName.get('model.norm.weight')!.read!())], [1.5, -3]);
    assert.deepEqual([...(await byName.get('model.embed_tokens.weight')!.read!())], [2, -0.125]);
    assert.deepEqual([...(await byName.get('model.position_ids')!.read!())], [7, -1]);
    assert.equal(byName.get('model.position_ids')!.isParameter, false);
    assert.equal(params(doc), 6 + 2 + 2 + 2);
    const layers = new Map(doc.layers.map((l) => [l.name, l]));
    assert.equal(layers.get('model.layers.0.mlp.up_proj')?.type, 'Linear');
    assert.equal(layers.get('model.layers.0.mlp.up_proj')?.macs, 6);
    assert.equal(layers.get('model.norm')?.type, 'Norm');
    assert.equal(layers.get('model.embed_tokens')?.type, 'Embedding');
    assert.equal(layers.get('model.embed_tokens')?.macs, null);
  });

  it('analyzes a 3 GB file from its header alone', async function () {
    this.timeout(20_000);
    const rows = 32768;
    const cols = 24576; // 32768·24576·4 bytes = 3 GiB of float32
    const length = rows * cols * 4;
    let json = Buffer.from(JSON.stringify({ 'lm_head.weight': { dtype: 'F32', shape: [rows, cols], data_offsets: [0, length] } }));
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(tmp, 'huge.safetensors');
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.concat([len, json]));
    ftruncateSync(fd, 8 + json.length + length); // sparse: no data blocks written
    closeSync(fd);
    const { fs, bytesRead } = countingFs();
    const started = Date.now();
    const doc = await openModel(file, { fs });
    const elapsed = Date.now() - started;
    assert.equal(params(doc), rows * cols);
    assert.equal(allTensors(doc)[0]!.bytes, length);
    assert.ok(bytesRead() < 64 * 1024, `read ${bytesRead()} bytes: only the header may be read`);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });

  it('fails with the right code on bad headers (spec-written files)', async () => {
    const w = (name: string, header: Record<string, unknown>, bytes = 16) => writeSafetensors(name, header, Buffer.alloc(bytes));
    await expectError(w('dtype.safetensors', { x: { dtype: 'Q7', shape: [4], data_offsets: [0, 4] } }), ['unsupported-dtype']);
    await expectError(w('past.safetensors', { x: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), ['truncated']);
    await expectError(w('mismatch.safetensors', { x: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }), ['not-a-model', 'truncated']);
    await expectError(w('negative.safetensors', { x: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }), ['not-a-model']);
    await expectError(w('overflow.safetensors', { x: { dtype: 'F32', shape: [2 ** 31, 2 ** 31, 2 ** 31], data_offsets: [0, 16] } }), ['too-large']);
    const notJson = path.join(tmp, 'notjson.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(8n);
    writeFileSync(notJson, Buffer.concat([len, Buffer.from('{garbage')]));
    await expectError(notJson, ['bad-magic', 'not-a-model']);
    const huge = path.join(tmp, 'hugeheader.safetensors');
    len.writeBigUInt64LE(1n << 63n);
    writeFileSync(huge, Buffer.concat([len, Buffer.from('{}')]));
    await expectError(huge, ['truncated', 'too-large']);
  });

  it('refuses a shard path that escapes the model folder', async () => {
    const index = path.join(tmp, 'evil.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: { w: '../../etc/passwd.safetensors' } }));
    await expectError(index, ['unsafe']);
  });

  for (const set of ['generated', 'corrupt']) {
    const manifest = path.join('test/fixtures', set, 'manifest.json');
    if (!existsSync(manifest)) continue;
    type Row = { file: string; totalParams?: number; error?: string; accept?: string[]; tensors?: Record<string, { shape: number[]; dtype: string; count: number; isParameter?: boolean }> };
    const rows = (JSON.parse(readFileSync(manifest, 'utf8')) as Row[]).filter((r) => r.file.startsWith('safetensors/'));
    for (const row of rows) {
      const file = path.join('test/fixtures', set, row.file);
      it(`${set} manifest: ${row.file}`, async () => {
        if (row.error) return expectError(file, [row.error, ...(row.accept ?? [])]);
        const doc = await openModel(file);
        assert.equal(params(doc), row.totalParams);
        const byName = new Map(allTensors(doc).map((t) => [t.name, t]));
        for (const [name, want] of Object.entries(row.tensors ?? {})) {
          const got = byName.get(name);
          assert.ok(got, `tensor ${name}`);
          assert.deepEqual(got.shape, want.shape, name);
          assert.equal(got.dtype, want.dtype, name);
          assert.equal(got.isParameter, want.isParameter ?? true, name);
        }
      });
    }
  }
});

describe('safetensors as transformers 5.18 save_pretrained writes it (real-writers/)', () => {
  const dir = 'test/fixtures/real-writers/safetensors';

  it('GPT-2, 5 shards: the index total matches its metadata.total_parameters; the tied lm_head is stored once', async () => {
    const index = JSON.parse(readFileSync(path.join(dir, 'gpt2_tiny_sharded/model.safetensors.index.json'), 'utf8')) as { metadata: { total_parameters: number; total_size: number } };
    const doc = await openModel(path.join(dir, 'gpt2_tiny_sharded/model.safetensors.index.json'));
    assert.equal(params(doc), index.metadata.total_parameters);
    assert.equal(allTensors(doc).reduce((s, t) => s + t.bytes, 0), index.metadata.total_size);
    assert.equal(doc.files.length, 6, 'the index and its 5 shards');
    assert.ok(!allTensors(doc).some((t) => t.name.startsWith('lm_head')));
    assert.deepEqual(allTensors(doc).find((t) => t.name === 'transformer.h.0.attn.c_attn.weight')!.shape, [32, 96], 'Conv1D stores [in, out]');
  });

  it('Llama in bfloat16: GQA projections, RMSNorm weights, values decode', async () => {
    const doc = await openModel(path.join(dir, 'llama_tiny_bf16/model.safetensors'));
    assert.ok(allTensors(doc).every((t) => t.dtype === 'bfloat16'));
    const k = allTensors(doc).find((t) => t.name === 'model.layers.0.self_attn.k_proj.weight')!;
    assert.deepEqual(k.shape, [16, 32], '2 KV heads of 8');
    const norm = allTensors(doc).find((t) => t.name === 'model.layers.0.input_layernorm.weight')!;
    assert.deepEqual([...(await norm.read!())], new Array(32).fill(1), 'RMSNorm starts at ones');
  });
});
