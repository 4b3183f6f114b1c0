import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../../src/core/errors';
import { loadMnist, MNIST_SPLIT_DESCRIPTION, resolveMnistDir } from '../../src/core/data/mnist';

/** The package's digit files read independently of the loader: one flat array per class. */
function rawDigits(): number[][] {
  const dir = path.join(resolveMnistDir(), 'src', 'digits');
  return Array.from({ length: 10 }, (_, digit) =>
    (JSON.parse(fs.readFileSync(path.join(dir, `${digit}.json`), 'utf8')) as { data: number[] }).data);
}

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('loadMnist', function () {
  this.timeout(30_000);
  const raw = rawDigits();
  const perClass = raw.map((data) => data.length / 784);

  it('splits every sample of every digit file into train or test, 1 in 5 to test', () => {
    const train = loadMnist('train');
    const test = loadMnist('test');
    const total = perClass.reduce((a, b) => a + b, 0);
    assert.equal(train.count + test.count, total);
    // i % 5 === 4 → test: floor(n / 5) test samples per class.
    assert.equal(test.count, perClass.reduce((sum, n) => sum + Math.floor(n / 5), 0));
    assert.ok(Math.abs(test.count / total - 0.2) < 0.01, `test fraction ${test.count / total}`);
    assert.match(MNIST_SPLIT_DESCRIPTION, /i % 5 === 4/);
    const fmt = (n: number) => n.toLocaleString('en-US');
    assert.ok(MNIST_SPLIT_DESCRIPTION.includes(`${fmt(test.count)} test / ${fmt(train.count)} train`), 'description states the real sizes');
  });

  it('has 784 values in [0, 1] per sample and labels 0–9', () => {
    for (const split of ['train', 'test'] as const) {
      const data = loadMnist(split);
      assert.deepEqual(data.shape, [28, 28, 1]);
      assert.equal(data.x.length, data.count * 784);
      assert.equal(data.y.length, data.count);
      const outside = data.x.findIndex((v) => !(v >= 0 && v <= 1)); // NaN counts as outside
      assert.equal(outside, -1, `value ${data.x[outside]} at ${outside}`);
      assert.ok(Math.max(...data.y) <= 9);
    }
  });

  it('orders each split round-robin over classes, so any prefix is class-balanced', () => {
    const test = loadMnist('test');
    assert.deepEqual(Array.from(test.y.subarray(0, 10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(Array.from(test.y.subarray(10, 20)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(Array.from(loadMnist('train', 10).y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Exactly balanced while every class still has samples: 10 × the smallest class.
    const smallest = Math.min(...perClass.map((n) => Math.floor(n / 5)));
    const counts = new Array<number>(10).fill(0);
    for (const label of test.y.subarray(0, 10 * smallest)) counts[label]!++;
    assert.deepEqual(counts, new Array<number>(10).fill(smallest));
    assert.ok(MNIST_SPLIT_DESCRIPTION.includes(`for N up to ${(10 * smallest).toLocaleString('en-US')}`));
  });

  it('takes the samples the documented rule names', () => {
    const pixels = (digit: number, index: number) => Float32Array.from(raw[digit]!.slice(index * 784, (index + 1) * 784));
    const test = loadMnist('test', 13);
    const train = loadMnist('train', 13);
    // Test sample 0 is sample 4 of class 0; test sample 12 is sample 9 (2nd test sample) of class 2.
    assert.ok(sameBytes(test.x.subarray(0, 784), pixels(0, 4)));
    assert.ok(sameBytes(test.x.subarray(12 * 784, 13 * 784), pixels(2, 9)));
    // Train sample 3 is sample 0 of class 3; train sample 11 is sample 1 of class 1.
    assert.ok(sameBytes(train.x.subarray(3 * 784, 4 * 784), pixels(3, 0)));
    assert.ok(sameBytes(train.x.subarray(11 * 784, 12 * 784), pixels(1, 1)));
  });

  it('returns identical arrays on every call, and copies that callers may change', () => {
    const a = loadMnist('test');
    a.x.fill(0.5);
    a.y.fill(3);
    const b = loadMnist('test');
    const c = loadMnist('test');
    assert.ok(sameBytes(b.x, c.x));
    assert.ok(sameBytes(b.y, c.y));
    assert.notEqual(b.y[1], 3);
  });

  it('keeps the first `limit` samples', () => {
    const full = loadMnist('test');
    const some = loadMnist('test', 25);
    assert.equal(some.count, 25);
    assert.equal(some.x.length, 25 * 784);
    assert.ok(sameBytes(some.x, full.x.subarray(0, 25 * 784)));
    assert.ok(sameBytes(some.y, full.y.subarray(0, 25)));
    assert.equal(loadMnist('test', 0).count, 0);
    assert.equal(loadMnist('test', 1e9).count, full.count);
    for (const bad of [-1, 2.5, Number.NaN]) {
      assert.throws(() => loadMnist('test', bad), (err: unknown) => err instanceof ModelFormatError && err.code === 'invalid-option');
    }
  });

  it('says where it looked when the package is not where it was told', () => {
    assert.throws(
      () => loadMnist('test', 1, { dir: '/nonexistent/mnist' }),
      (err: unknown) => err instanceof ModelFormatError && err.code === 'not-found' && err.message.includes('/nonexistent/mnist'),
    );
    assert.equal(loadMnist('test', 3, { dir: resolveMnistDir() }).count, 3);
  });
});
