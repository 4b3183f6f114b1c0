/**
 * Models that are not on this disk (VS Code virtual and remote folders) are read
 * from memory through loaderFileAccess/memoryFileAccess. Every format, single- and
 * multi-file, must give the same summary as from disk, under paths the host does
 * not have, and bad input must end in the same coded errors.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { ModelFormatError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats/registry';
import { decodeElements } from '../../src/core/io/decodeElements';
import { loaderFileAccess, memoryFileAccess } from '../../src/core/io/memoryFileAccess';
import { allTensors } from '../../src/core/model';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
/** A root the host does not have: a reader that touched the disk would fail. */
const VIRTUAL = `/parsimony-virtual-${randomBytes(6).toString('hex')}`;

/** Every file of `dir` (not recursive) under the virtual root, as bytes. */
function folderBytes(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isFile()) files.set(path.join(VIRTUAL, path.relative(FIXTURES, full)), readFileSync(full));
  }
  return files;
}

const virtualPath = (fixture: string) => path.join(VIRTUAL, fixture);

async function expectCode(p: Promise<unknown>, code: string): Promise<ModelFormatError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ModelFormatError, `expected a ModelFormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected '${code}'`);
}

describe('models read from memory (virtual file systems)', function () {
  this.timeout(120_000);
  assert.ok(!existsSync(VIRTUAL));

  const cases = [
    'generated/safetensors/mixed_dtypes.safetensors',
    'generated/safetensors/sharded/model.safetensors.index.json',
    'generated/onnx/cnn.onnx',
    'generated/onnx/external/model.onnx',
    'generated/gguf/tiny-llama.gguf',
    'generated/tflite/full_int8.tflite',
    'generated/pytorch/checkpoint_nested.pt',
    'generated/pytorch/hf/pytorch_model.bin',
    'generated/keras/keras2_mlp.h5',
    'generated/keras/keras3_cnn_bn.keras',
    'real/tfjs-graph/blazeface/blazeface.json',
    'real/tfjs-layers/nsfwjs_mobilenet_v2/model.json',
  ];
  for (const fixture of cases) {
    it(`${fixture}: the same summary and values as from disk`, async () => {
      const onDisk = path.join(FIXTURES, fixture);
      const expectedDoc = await openModel(onDisk);
      const expected = await summarize(expectedDoc);
      const fs = memoryFileAccess(folderBytes(path.dirname(onDisk)));
      const doc = await openModel(virtualPath(fixture), { fs });
      const got = await summarize(doc, fs);
      assert.equal(doc.file, virtualPath(fixture));
      assert.equal(got.format, expected.format);
      assert.equal(got.totalParams, expected.totalParams);
      assert.equal(got.bytesOnDisk, expected.bytesOnDisk);
      assert.equal(got.macs, expected.macs);
      assert.deepEqual(got.layers.map((l) => [l.name, l.params]), expected.layers.map((l) => [l.name, l.params]));
      assert.ok(doc.files.every((f) => f.startsWith(VIRTUAL)), `files: ${doc.files.join(', ')}`);
      // Values come from memory too (the HDF5 ones through a temporary copy for h5wasm).
      const tensor = allTensors(doc).find((t) => t.read && t.count > 1 && t.count < 1_000_000)!;
      const want = allTensors(expectedDoc).find((t) => t.name === tensor.name)!;
      assert.deepEqual(Array.from(await tensor.read!()), Array.from(await want.read!()));
    });
  }

  it('element bytes handed over as a Node Buffer view decode that view, not the start of its pool', () => {
    // Buffer.prototype.slice shares memory: copying with it kept the whole pooled buffer (PK\x03\x04 read as floats).
    const file = Buffer.from(new Float32Array([9, 9, 1.5, -2, 0.25]).buffer);
    assert.deepEqual(Array.from(decodeElements(file.subarray(8, 20), 'float32')!), [1.5, -2, 0.25]);
    assert.deepEqual(Array.from(decodeElements(file.subarray(4, 8), 'int32')!), [new Int32Array(new Float32Array([9]).buffer)[0]]);
  });

  it('a truncated file ends in the same coded error as on disk', async () => {
    const bytes = readFileSync(path.join(FIXTURES, 'generated/onnx/cnn.onnx'));
    const file = path.join(VIRTUAL, 'cut.onnx');
    const e = await expectCode(openModel(file, { fs: memoryFileAccess({ [file]: bytes.subarray(0, bytes.length - 100) }) }), 'truncated');
    assert.equal(e.file, file);
    const h5 = readFileSync(path.join(FIXTURES, 'generated/keras/keras2_mlp.h5'));
    const cutH5 = path.join(VIRTUAL, 'cut.h5');
    await expectCode(openModel(cutH5, { fs: memoryFileAccess({ [cutH5]: h5.subarray(0, h5.length >> 1) }) }), 'truncated');
  });

  it('a shard missing from the virtual folder is not-found, naming the shard', async () => {
    const files = folderBytes(path.join(FIXTURES, 'generated/safetensors/sharded'));
    const shard = [...files.keys()].find((f) => f.endsWith('00002-of-00002.safetensors'))!;
    files.delete(shard);
    const e = await expectCode(openModel(virtualPath('generated/safetensors/sharded/model.safetensors.index.json'), { fs: memoryFileAccess(files) }), 'not-found');
    assert.match(e.message, /model-00002-of-00002\.safetensors/);
  });

  it('a file over the size limit is refused before any byte is read', async () => {
    let reads = 0;
    const size = 600 * 1024 * 1024;
    const fs = loaderFileAccess(
      {
        stat: async () => ({ size, mtimeMs: 0 }),
        read: async () => {
          reads++;
          return new Uint8Array(0);
        },
      },
      { maxBytes: 512 * 1024 * 1024, limitName: 'parsimony.virtualFiles.maxSizeMB' },
    );
    const e = await expectCode(openModel(path.join(VIRTUAL, 'huge.safetensors'), { fs }), 'too-large');
    assert.match(e.message, /629145600 bytes, more than the 536870912 read into memory here \(parsimony\.virtualFiles\.maxSizeMB\)/);
    assert.equal(reads, 0);
  });
});
