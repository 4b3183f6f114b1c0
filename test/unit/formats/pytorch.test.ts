/**
 * PyTorch zip checkpoints: torch.save-written fixtures (state dicts, nested
 * training checkpoints, shared storages), TorchScript, and hostile pickles that
 * must be refused without any side effect.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isModelFormatError } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats/registry';
import { allTensors, layerParams, type ModelDoc, type TensorInfo } from '../../../src/core/model';

const GEN = 'test/fixtures/generated/pytorch';
const PYTHON = '/usr/bin/python3';
const tmp = mkdtempSync(path.join(tmpdir(), 'parsimony-pt-'));

function params(doc: ModelDoc): number {
  return doc.layers.reduce((s, l) => s + layerParams(l), 0);
}
function tensors(doc: ModelDoc): Map<string, TensorInfo> {
  return new Map(allTensors(doc).map((t) => [t.name, t]));
}

async function expectError(file: string, codes: string[], pattern?: RegExp): Promise<void> {
  try {
    await openModel(file);
  } catch (e) {
    assert.ok(isModelFormatError(e), `expected ModelFormatError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `code ${e.code} not in ${codes.join('|')}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return;
  }
  assert.fail(`${file} opened without error`);
}

/** Runs Debian's python3 (which has torch) in the temp folder; false when unavailable. */
function python(script: string, asFile = false): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, asFile ? [script] : ['-c', script], { cwd: tmp, stdio: 'pipe', timeout: 120_000 });
    return true;
  } catch {
    return false;
  }
}

describe('pytorch reader', function () {
  this.timeout(60_000);
  after(() => rmSync(tmp, { recursive: true, force: true }));


  it('reads lenet.pt: Conv/Linear layers, Linear MACs, float32 bytes', async function () {
    if (!existsSync(path.join(GEN, 'lenet.pt'))) this.skip();
    const doc = await openModel(path.join(GEN, 'lenet.pt'));
    assert.equal(doc.format, 'pytorch');
    assert.equal(params(doc), 156 + 2416 + 30840 + 10164 + 850);
    const layers = new Map(doc.layers.map((l) => [l.name, l]));
    assert.equal(layers.get('conv1')?.type, 'Conv');
    assert.equal(layers.get('conv1')?.macs, null);
    assert.equal(layers.get('fc1')?.type, 'Linear');
    assert.equal(layers.get('fc1')?.macs, 120 * 256);
    const fc1 = tensors(doc).get('fc1.weight')!;
    assert.deepEqual(fc1.shape, [120, 256]);
    assert.equal(fc1.bytes, 120 * 256 * 4);
    assert.equal((await fc1.read!()).length, 120 * 256);
  });

  it('reads mixed_dtypes.pth: float16/bfloat16/float64 storages, num_batches_tracked is a counter', async function () {
    if (!existsSync(path.join(GEN, 'mixed_dtypes.pth'))) this.skip();
    const doc = await openModel(path.join(GEN, 'mixed_dtypes.pth'));
    assert.equal(params(doc), 224 + 32 + 36 + 4);
    const t = tensors(doc);
    assert.equal(t.get('conv.weight')?.dtype, 'float16');
    assert.equal(t.get('fc.weight')?.dtype, 'bfloat16');
    assert.equal(t.get('class_weights')?.dtype, 'float64');
    const counter = t.get('bn.num_batches_tracked')!;
    assert.equal(counter.dtype, 'int64');
    assert.equal(counter.isParameter, false);
    assert.deepEqual([...(await counter.read!())], [17]);
    assert.deepEqual([...(await t.get('class_weights')!.read!())], [0.5, 1, 1.5, 2]);
  });

  it('reads a nested training checkpoint: model params counted, optimizer state not', async function () {
    if (!existsSync(path.join(GEN, 'checkpoint_nested.pt'))) this.skip();
    const doc = await openModel(path.join(GEN, 'checkpoint_nested.pt'));
    assert.equal(params(doc), 404);
    const t = tensors(doc);
    assert.deepEqual(t.get('model.0.weight')?.shape, [16, 20]);
    const optimizer = allTensors(doc).filter((x) => x.name.startsWith('optimizer.'));
    assert.ok(optimizer.length > 0);
    assert.ok(optimizer.every((x) => !x.isParameter && x.detail?.optimizerState === true));
    assert.equal(doc.metadata['checkpoint.epoch'], '3');
    assert.equal(doc.metadata['checkpoint.best_acc'], '0.9125');
    assert.match(doc.warnings.join(' '), /optimizer/);
  });

  it('reads views of one storage: strides, offsets, an exact alias counted once', async function () {
    if (!existsSync(path.join(GEN, 'shared_storage.pt'))) this.skip();
    const doc = await openModel(path.join(GEN, 'shared_storage.pt'));
    const t = tensors(doc);
    const tied = t.get('tied.weight')!;
    assert.equal(tied.isParameter, false);
    assert.equal(tied.detail?.aliasOf, 'encoder.weight');
    assert.equal(tied.bytes, 0);
    // encoder 60 + decoder 40 + transposed 100 + every_other 50; the alias adds nothing.
    assert.equal(params(doc), 250);
    assert.ok(allTensors(doc).reduce((s, x) => s + x.bytes, 0) <= 400, 'the 400-byte storage is counted once');
    const tr = await t.get('transposed')!.read!();
    assert.deepEqual(t.get('transposed')!.shape, [10, 10]);
    for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) assert.ok(Math.abs(tr[i * 10 + j]! - (j * 10 + i) / 100) < 1e-6);
    const odd = await t.get('every_other')!.read!();
    assert.equal(odd.length, 50);
    odd.forEach((v, k) => assert.ok(Math.abs(v - (1 + 2 * k) / 100) < 1e-6));
    const dec = await t.get('decoder.weight')!.read!();
    assert.ok(Math.abs(dec[0]! - 0.6) < 1e-6);
  });

  it('recognises a zip pytorch_model.bin by its bytes', async function () {
    if (!existsSync(path.join(GEN, 'hf/pytorch_model.bin'))) this.skip();
    const doc = await openModel(path.join(GEN, 'hf/pytorch_model.bin'));
    assert.equal(doc.format, 'pytorch');
    assert.equal(params(doc), 6800);
    const layers = new Map(doc.layers.map((l) => [l.name, l]));
    assert.equal(layers.get('model.layers.0.self_attn.q_proj')?.type, 'Linear');
    assert.equal(layers.get('model.embed_tokens')?.type, 'Embedding');
    assert.equal(layers.get('model.layers.0.input_layernorm')?.type, 'Norm');
  });

  it('refuses eval and whole-module pickles with the right codes', async function () {
    if (!existsSync(path.join(GEN, 'bad'))) this.skip();
    await expectError(path.join(GEN, 'bad/eval_pickle.pt'), ['unsafe'], /eval/);
    await expectError(path.join(GEN, 'bad/whole_module.pt'), ['unsafe'], /gen_torch\.TinyNet/);
  });

  describe('legacy (pre-1.6, non-zip) torch.save streams', () => {
    it('reads legacy_format.pt (torch 1.13, _use_new_zipfile_serialization=False): shapes, and values read after each storage count', async () => {
      const doc = await openModel(path.join(GEN, 'legacy_format.pt'));
      assert.equal(params(doc), 404);
      assert.equal(doc.metadata.serializationVersion, '1001');
      assert.match(doc.metadata.serialization ?? '', /legacy stream/);
      const t = tensors(doc);
      assert.deepEqual([...t.keys()], ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
      assert.deepEqual(t.get('fc1.weight')!.shape, [16, 20]);
      // The storage bytes follow the pickles; each tensor's location skips the 8-byte element count.
      const loc = t.get('fc2.bias')!.location!;
      const raw = readFileSync(path.join(GEN, 'legacy_format.pt'));
      assert.equal(raw.readBigInt64LE(loc.offset - 8), 4n, 'the int64 count before the data');
      const values = await t.get('fc2.bias')!.read!();
      assert.deepEqual([...values], [0, 1, 2, 3].map((i) => raw.readFloatLE(loc.offset + 4 * i)));
    });

    it('reads LPIPS and DISTS weights as torchmetrics ships them (Python 2 OrderedDict, saved on cuda:0): values equal torch.load', async () => {
      const rows = JSON.parse(readFileSync('test/fixtures/real/manifest.json', 'utf8')) as {
        file: string;
        totalParams: number;
        details?: { tensors?: Record<string, { shape: number[]; sum: number }> };
      }[];
      const legacy = rows.filter((r) => r.file.startsWith('pytorch/'));
      assert.equal(legacy.length, 4);
      for (const row of legacy) {
        const doc = await openModel(path.join('test/fixtures/real', row.file));
        assert.equal(params(doc), row.totalParams, row.file);
        const got = tensors(doc);
        for (const [name, want] of Object.entries(row.details!.tensors!)) {
          const tensor = got.get(name);
          assert.ok(tensor, `${row.file}: ${name}`);
          assert.deepEqual(tensor.shape, want.shape);
          const values = await tensor.read!();
          const sum = values.reduce((s, v) => s + v, 0);
          assert.ok(Math.abs(sum - want.sum) < 1e-4 * Math.max(1, Math.abs(want.sum)), `${row.file} ${name}: sum ${sum} vs torch ${want.sum}`);
        }
      }
    });

    it('refuses a hostile, a truncated and an inconsistent legacy stream; a plain pickle is not a checkpoint', async () => {
      await expectError('test/fixtures/corrupt/pytorch/legacy_os_system.pt', ['unsafe'], /os\.system/);
      await expectError('test/fixtures/corrupt/pytorch/legacy_truncated.pt', ['truncated'], /past the end/);
      await expectError('test/fixtures/corrupt/pytorch/legacy_count_mismatch.pt', ['not-a-model'], /5 elements, but the pickle says 4/);
      const plain = path.join(tmp, 'plain.pt');
      writeFileSync(plain, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e])); // pickle.dumps({}, protocol=2)
      await expectError(plain, ['unsupported-format'], /plain pickle without torch\.save's magic number/);
    });

    it('grows its window for a pickle larger than 1 MiB (a 1.5 MB string in the checkpoint)', async function () {
      this.timeout(60_000);
      const made = python(`import torch
torch.save({'notes': 'x' * 1500000, 'w': torch.arange(6.0).reshape(2, 3)}, 'big_pickle.pt', _use_new_zipfile_serialization=False)`);
      if (!made) this.skip();
      const doc = await openModel(path.join(tmp, 'big_pickle.pt'));
      assert.equal(params(doc), 6);
      assert.deepEqual([...(await tensors(doc).get('w')!.read!())], [0, 1, 2, 3, 4, 5]);
    });
  });

  it('refuses a __reduce__ to subprocess/os.system and nothing runs', async function () {
    const marker = path.join(tmp, 'pwned');
    const made = python(`
import pickle, zipfile, subprocess, os
class Evil:
    def __reduce__(self):
        return (subprocess.call, (['touch', ${JSON.stringify(marker)}],))
class EvilOs:
    def __reduce__(self):
        return (os.system, ('touch ${marker}',))
for name, obj in (('evil_subprocess', Evil()), ('evil_os', EvilOs())):
    with zipfile.ZipFile(name + '.pt', 'w') as z:
        z.writestr(name + '/data.pkl', pickle.dumps({'w': obj}, protocol=2))
        z.writestr(name + '/version', '3\\n')
    with zipfile.ZipFile(name + '_p4.pt', 'w') as z:
        z.writestr(name + '_p4/data.pkl', pickle.dumps([obj], protocol=4))
`);
    if (!made) this.skip();
    // Protocol 2 writes Python 2 names: subprocess.call is pickled as commands.call.
    await expectError(path.join(tmp, 'evil_subprocess.pt'), ['unsafe'], /(subprocess|commands)\.call/);
    await expectError(path.join(tmp, 'evil_subprocess_p4.pt'), ['unsafe'], /subprocess\.call/);
    await expectError(path.join(tmp, 'evil_os.pt'), ['unsafe'], /(posix|os)\.system/);
    await expectError(path.join(tmp, 'evil_os_p4.pt'), ['unsafe'], /(posix|os)\.system/);
    assert.equal(existsSync(marker), false, 'the marker file must not exist');
  });

  it('reads the tensors of a TorchScript archive', async function () {
    const script = path.join(tmp, 'make_ts.py');
    writeFileSync(
      script,
      `import torch
class M(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.fc = torch.nn.Linear(3, 2); s.bn = torch.nn.BatchNorm1d(2)
    def forward(s, x): return s.bn(s.fc(x))
torch.jit.script(M()).save('scripted.pt')
`,
    );
    // torch.jit.script needs the class source, so the script runs from a file.
    if (!python(script, true)) this.skip();
    const doc = await openModel(path.join(tmp, 'scripted.pt'));
    assert.equal(doc.metadata.kind, 'TorchScript');
    const t = tensors(doc);
    assert.deepEqual(t.get('fc.weight')?.shape, [2, 3]);
    assert.equal(t.get('bn.num_batches_tracked')?.isParameter, false);
    assert.equal(params(doc), 8 + 8);
  });

  it('fails cleanly on a zip without data.pkl and on a storage the zip lacks', async function () {
    const made = python(`
import zipfile, pickle
with zipfile.ZipFile('nodata.pt', 'w') as z:
    z.writestr('x/readme.txt', 'hi')
# data.pkl refers to storage '7', which the archive does not contain.
pk = (b'\\x80\\x02}X\\x01\\x00\\x00\\x00wctorch._utils\\n_rebuild_tensor_v2\\n((X\\x07\\x00\\x00\\x00storagectorch\\nFloatStorage\\n'
      b'X\\x01\\x00\\x00\\x007X\\x03\\x00\\x00\\x00cpuK\\x04tQK\\x00K\\x04\\x85K\\x01\\x85\\x89ccollections\\nOrderedDict\\n)RtRs.')
with zipfile.ZipFile('nostorage.pt', 'w') as z:
    z.writestr('nostorage/data.pkl', pk)
`);
    if (!made) this.skip();
    await expectError(path.join(tmp, 'nodata.pt'), ['not-a-model'], /data\.pkl/);
    await expectError(path.join(tmp, 'nostorage.pt'), ['truncated'], /storage 7/);
  });

  for (const set of ['generated', 'corrupt']) {
    const manifest = path.join('test/fixtures', set, 'manifest.json');
    if (!existsSync(manifest)) continue;
    type Row = { file: string; totalParams?: number; totalParamsByName?: number; error?: string; accept?: string[]; tensors?: Record<string, { shape: number[]; dtype: string; count: number; isParameter?: boolean }> };
    const rows = (JSON.parse(readFileSync(manifest, 'utf8')) as Row[]).filter((r) => r.file.startsWith('pytorch/'));
    for (const row of rows) {
      const file = path.join('test/fixtures', set, row.file);
      it(`${set} manifest: ${row.file}`, async () => {
        rmSync('/tmp/parsimony_pwned', { force: true });
        if (row.error) {
          await expectError(file, [row.error, ...(row.accept ?? [])]);
          assert.equal(existsSync('/tmp/parsimony_pwned'), false);
          return;
        }
        const doc = await openModel(file);
        const byName = tensors(doc);
        for (const [name, want] of Object.entries(row.tensors ?? {})) {
          const got = byName.get(name);
          assert.ok(got, `tensor ${name}`);
          assert.deepEqual(got.shape, want.shape, name);
          assert.equal(got.dtype, want.dtype, name);
          assert.equal(got.count, want.count, name);
        }
        // Exact aliases count once (the manifest's totalParams says so); totalParamsByName counts them per name.
        const aliases = allTensors(doc).filter((t) => t.detail?.aliasOf).reduce((s, t) => s + t.count, 0);
        assert.equal(params(doc), row.totalParams);
        if (row.totalParamsByName !== undefined) assert.equal(params(doc) + aliases, row.totalParamsByName);
      });
    }
  }
});
