import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { compressModel } from '../../src/core/compress/pipeline';
import { openModel } from '../../src/core/formats/registry';
import { allTensors } from '../../src/core/model';
import { hashTree, tempCopy } from '../helpers/tempCopy';
import { cli } from '../helpers/cli';
import { atomicWriteHooks } from '../../src/core/io/atomicWrite';

const sharded = 'test/fixtures/generated/safetensors/sharded';
const python = '/usr/bin/python3';

/** An independent reader: parses the file by the spec with numpy, as a second opinion on our writer. */
function pythonRead(file: string): Record<string, { dtype: string; shape: number[]; sum: number; zeros: number }> {
  const script = `
import json, struct, sys, numpy as np
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8+n])
base = 8 + n
dt = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'U8': np.uint8, 'I8': np.int8, 'F64': np.float64}
out = {}
for name, e in header.items():
    if name == '__metadata__': continue
    b, end = e['data_offsets']
    raw = data[base+b:base+end]
    if e['dtype'] == 'BF16':
        u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
        arr = u.view(np.float32)
    else:
        arr = np.frombuffer(raw, dtype=dt[e['dtype']])
    assert arr.size == int(np.prod(e['shape'])), name
    out[name] = {'dtype': e['dtype'], 'shape': e['shape'], 'sum': float(arr.astype(np.float64).sum()), 'zeros': int((arr == 0).sum())}
print(json.dumps(out))
`;
  return JSON.parse(execFileSync(python, ['-c', script, file], { encoding: 'utf8' })) as ReturnType<typeof pythonRead>;
}

describe('compress: safetensors', function () {
  this.timeout(60_000);
  const hasPython = existsSync(python);

  it('prunes a sharded checkpoint per layer to exact sparsity into one new file, originals untouched', async function () {
    if (!existsSync(sharded)) this.skip();
    const dir = tempCopy(sharded);
    const index = readdirSync(dir).find((f) => f.endsWith('.index.json'))!;
    const before = hashTree(dir);
    const result = await compressModel(path.join(dir, index), [{ method: 'prune', options: { sparsity: 0.5, scope: 'layer', includeEnds: true } }]);
    assert.deepEqual(Object.fromEntries(Object.entries(hashTree(dir)).filter(([k]) => k in before)), before, 'source files unchanged');
    assert.match(path.basename(result.output), /\.prune-50\.safetensors$/);
    const doc = await openModel(result.output);
    const original = await openModel(path.join(dir, index));
    assert.equal(allTensors(doc).length, allTensors(original).length);
    for (const t of allTensors(doc)) {
      if (!t.isParameter || t.shape.length < 2) continue;
      const v = await t.read!();
      const zeros = v.reduce((s, x) => s + (x === 0 ? 1 : 0), 0);
      assert.equal(zeros, Math.floor(0.5 * v.length), `${t.name} sparsity`);
    }
    assert.equal(result.after.params, result.before.params);
    assert.ok(result.after.nonzeroParams < result.before.nonzeroParams);
    assert.ok(result.after.bytesGzip < result.before.bytesGzip, 'zeros compress');
    assert.ok(existsSync(result.sidecar));
    if (hasPython) {
      const independent = pythonRead(result.output);
      for (const t of allTensors(doc)) {
        assert.deepEqual(independent[t.name]!.shape, t.shape);
        const ours = (await t.read!()).reduce((s, x) => s + x, 0);
        assert.ok(Math.abs(independent[t.name]!.sum - ours) <= 1e-3 * (1 + Math.abs(ours)), `${t.name} values agree with numpy`);
      }
    }
  });

  it('bfloat16 halves the float32 bytes and round-trips through an independent reader', async function () {
    if (!existsSync(sharded)) this.skip();
    const dir = tempCopy(sharded);
    const index = readdirSync(dir).find((f) => f.endsWith('.index.json'))!;
    const result = await compressModel(path.join(dir, index), [{ method: 'quantize', options: { dtype: 'bfloat16' } }]);
    const doc = await openModel(result.output);
    const original = await openModel(path.join(dir, index));
    const origF32 = allTensors(original).filter((t) => t.isParameter && t.dtype === 'float32');
    for (const t of origF32) {
      const out = allTensors(doc).find((x) => x.name === t.name)!;
      assert.equal(out.dtype, 'bfloat16');
      assert.equal(out.bytes * 2, t.bytes);
    }
    if (hasPython) {
      const independent = pythonRead(result.output);
      assert.ok(origF32.every((t) => independent[t.name]!.dtype === 'BF16'));
    }
  });

  it('refuses int8 and architecture changes with the reason (exit 2 from the CLI), writing nothing', async function () {
    if (!existsSync(sharded)) this.skip();
    const dir = tempCopy(sharded);
    const index = readdirSync(dir).find((f) => f.endsWith('.index.json'))!;
    const files = readdirSync(dir).sort();
    const r = await cli('compress', path.join(dir, index), '--method', 'quantize', '--dtype', 'int8');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no standard dequantizing encoding in safetensors/);
    const r2 = await cli('compress', path.join(dir, index), '--method', 'low-rank', '--rank', '2');
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /weights only/);
    assert.deepEqual(readdirSync(dir).sort(), files, 'no output left behind');
  });

  it('--out naming a shard index is refused up front, naming the file and the .safetensors path to use; the default name is that merged file', async function () {
    if (!existsSync(sharded)) this.skip();
    const dir = tempCopy(sharded);
    const index = readdirSync(dir).find((f) => f.endsWith('.index.json'))!;
    const files = readdirSync(dir).sort();
    const out = path.join(dir, 'small', 'model.safetensors.index.json');
    const r = await cli('compress', path.join(dir, index), '--method', 'prune', '--sparsity', '0.5', '--out', out, '--no-record');
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(out), r.stderr);
    assert.match(r.stderr, /one \.safetensors file \(the shards merged, no index\)/);
    assert.ok(r.stderr.includes(`--out ${path.join(dir, 'small', 'model.safetensors')}`), r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), files, 'nothing written, no folder created');
    // The default name for a sharded input is that same single merged file, next to the index.
    const merged = await cli('compress', path.join(dir, index), '--method', 'prune', '--sparsity', '0.5', '--json', '--no-record');
    assert.equal(merged.code, 0, merged.stderr);
    const result = JSON.parse(merged.stdout) as { output: string; files: string[] };
    assert.equal(path.basename(result.output), 'model.prune-50.safetensors');
    assert.deepEqual(result.files, [result.output]);
    assert.equal(allTensors(await openModel(result.output)).length, allTensors(await openModel(path.join(dir, index))).length);
  });

  it('--out into folders that do not exist creates them; a failed run removes the folders it created', async function () {
    if (!existsSync(sharded)) this.skip();
    const dir = tempCopy(sharded);
    const index = readdirSync(dir).find((f) => f.endsWith('.index.json'))!;
    const out = path.join(dir, 'new', 'deeper', 'pruned.safetensors');
    const r = await cli('compress', path.join(dir, index), '--method', 'prune', '--sparsity', '0.5', '--out', out, '--no-record');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(path.dirname(out)).sort(), ['pruned.parsimony.json', 'pruned.safetensors']);
    let zeros = 0;
    for (const t of allTensors(await openModel(out))) if (t.isParameter) zeros += (await t.read!()).filter((x) => x === 0).length;
    assert.ok(zeros > 0, 'the pruned model is in the new folder');
    // A run that fails after the folders were made (here: the disk fills up while writing) leaves no folder behind.
    const failing = path.join(dir, 'other', 'deeper', 'pruned.safetensors');
    atomicWriteHooks.beforeWrite = () => {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    try {
      const r2 = await cli('compress', path.join(dir, index), '--method', 'prune', '--sparsity', '0.5', '--out', failing, '--no-record');
      assert.equal(r2.code, 3, r2.stderr);
      assert.match(r2.stderr, /disk full/);
    } finally {
      delete atomicWriteHooks.beforeWrite;
    }
    assert.equal(existsSync(path.join(dir, 'other')), false, 'created folders removed');
    // A cancelled run leaves none either.
    await assert.rejects(
      compressModel(path.join(dir, index), [{ method: 'prune', options: { sparsity: 0.5 } }], { out: failing, isCancelled: () => existsSync(path.dirname(failing)) }),
      (e: Error) => e.name === 'CancelledError' || /cancel/i.test(e.message),
    );
    assert.equal(existsSync(path.join(dir, 'other')), false, 'created folders removed after cancel');
  });
});
