import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../../src/core/data/mnist';
import { ModelFormatError } from '../../src/core/errors';
import { adaptSamples, imageTargetFor, planInput } from '../../src/core/evaluate/adapt';
import { loadDataset } from '../../src/core/evaluate/datasets';
import { parseCsvDataset } from '../../src/core/evaluate/datasets/csv';
import { decodeImage, imageToTensor, resizeBilinear } from '../../src/core/evaluate/datasets/imageFolder';
import { jsonDataset } from '../../src/core/evaluate/datasets/json';
import { parseNpy } from '../../src/core/evaluate/datasets/npy';
import type { Dataset } from '../../src/core/evaluate/datasets/types';

/** Temp folders made here, removed after the run. */
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const DATA = path.resolve(__dirname, '../fixtures/data');
const at = (f: string) => path.join(DATA, f);
const MNIST20 = loadMnist('test', 20);
const LABELS20 = Array.from(MNIST20.y);

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelFormatError, `expected a ModelFormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('evaluate: dataset readers', function () {
  this.timeout(30_000);

  describe('built-in MNIST', () => {
    it('mnist:N is the first N test digits, [28, 28, 1], with labels', async () => {
      const d = await loadDataset('mnist:20');
      assert.equal(d.count, 20);
      assert.deepEqual(d.sampleShape, [28, 28, 1]);
      assert.deepEqual(Array.from(d.y!), LABELS20);
      assert.deepEqual(d.x, MNIST20.x);
    });
    it('mnist is the whole test split; mnist:train:N the train split', async () => {
      assert.equal((await loadDataset('mnist')).count, 1996);
      const train = await loadDataset('mnist:train:30');
      assert.deepEqual(Array.from(train.y!), Array.from(loadMnist('train', 30).y));
    });
    it('limit caps the sample count', async () => {
      assert.equal((await loadDataset('mnist:100', { limit: 7 })).count, 7);
    });
  });

  describe('NumPy files written by numpy', () => {
    it('.npz with x_test/y_test (deflated) beside a train pair', async () => {
      const d = await loadDataset(at('mnist20.npz'));
      assert.equal(d.count, 20);
      assert.deepEqual(d.sampleShape, [28, 28, 1]);
      assert.deepEqual(Array.from(d.y!), LABELS20);
      assert.deepEqual(d.x, MNIST20.x);
    });
    it('.npy x file picks up its sibling _y labels', async () => {
      const d = await loadDataset(at('mnist20_x.npy'));
      assert.deepEqual(d.sampleShape, [784]);
      assert.deepEqual(Array.from(d.y!), LABELS20);
      assert.deepEqual(d.x, MNIST20.x);
      assert.ok(d.notes.some((n) => /mnist20_y\.npy/.test(n)));
    });
    it('.npz without names uses the first two arrays; one-hot labels become class indices', async () => {
      const d = await loadDataset(at('unnamed.npz'));
      assert.equal(d.count, 6);
      assert.deepEqual(d.sampleShape, [28, 28]);
      assert.deepEqual(Array.from(d.y!), LABELS20.slice(0, 6));
      assert.deepEqual(d.x, MNIST20.x.slice(0, 6 * 784)); // float64 in the file, exact in float32
      assert.ok(d.notes.some((n) => /arr_0/.test(n)) && d.notes.some((n) => /one-hot/.test(n)));
    });
    it('format 2.0 Fortran-order float64 is transposed to C order', async () => {
      const d = await loadDataset(at('fortran_v2.npy'));
      assert.deepEqual(d.sampleShape, [4]);
      assert.deepEqual(Array.from(d.x), Array.from({ length: 12 }, (_, i) => i / 8));
      assert.equal(d.y, null);
    });
    it('format 3.0 big-endian int32, int64, bool and float16', async () => {
      assert.deepEqual(Array.from((await loadDataset(at('bigendian_v3.npy'))).x), [-3, -2, -1, 0, 1, 2]);
      const i64 = parseNpy(new Uint8Array(readFileSync(at('int64.npy'))), 'int64.npy');
      assert.deepEqual(i64.shape, [3, 2]);
      assert.deepEqual(Array.from(i64.values), [0, 1, 2, -5, 2 ** 40, 7]);
      assert.deepEqual(Array.from((await loadDataset(at('bool.npy'))).x), [1, 0, 1]);
      assert.deepEqual(Array.from((await loadDataset(at('float16.npy'))).x), [0.5, -2, 65504]);
    });
    it('bad NumPy files say what is wrong', async () => {
      await rejects(loadDataset(at('structured.npy')), 'unsupported-dtype', /structured/);
      await rejects(loadDataset(at('complex.npy')), 'unsupported-dtype', /'<c8' is not supported/);
      await rejects(loadDataset(at('truncated.npy')), 'truncated', /needs 62720 data bytes but the file has 872/);
      await rejects(loadDataset(at('label_count.npz')), 'invalid-option', /4 labels for 5 samples/);
      assert.throws(() => parseNpy(new TextEncoder().encode('hello world, not numpy'), 'x.npy'), /not a NumPy \.npy file/);
      const v9 = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0, 0, 0, 0, 0]);
      assert.throws(() => parseNpy(v9, 'v9.npy'), /version 9\.0 is not supported/);
    });
  });

  describe('CSV', () => {
    it('784 pixel columns and a label column', async () => {
      const d = await loadDataset(at('mnist20.csv'));
      assert.equal(d.count, 20);
      assert.deepEqual(d.sampleShape, [784]);
      assert.deepEqual(Array.from(d.y!), LABELS20);
      for (let i = 0; i < d.x.length; i++) assert.ok(Math.abs(d.x[i]! - MNIST20.x[i]!) < 1e-6);
    });
    it('quoted header names, a label column in the middle, blank lines', async () => {
      const d = await loadDataset(at('iris_like.csv'));
      assert.deepEqual(d.sampleShape, [3]);
      assert.deepEqual(Array.from(d.y!), [0, 1, 2]);
      assert.deepEqual(Array.from(d.x), [5.1, 3.5, 1.4, 4.9, 3.0, 1.4, 6.2, 3.4, 5.4].map(Math.fround));
    });
    it('--label-column picks a column; without a label column the data is unlabelled', () => {
      const d = parseCsvDataset('a,b,kind\n1,2,0\n3,4,1\n', 'x', 'x.csv', { labelColumn: 'kind' });
      assert.deepEqual(Array.from(d.y!), [0, 1]);
      const u = parseCsvDataset('a,b\n1,2\n3,4\n', 'x', 'x.csv');
      assert.equal(u.y, null);
      assert.deepEqual(u.sampleShape, [2]);
      assert.throws(() => parseCsvDataset('a,b\n1,2\n', 'x', 'x.csv', { labelColumn: 'kind' }), /no column named 'kind' \(columns: a, b\)/);
    });
    it('bad CSVs name the line and column', async () => {
      await rejects(loadDataset(at('bad_cell.csv')), 'invalid-option', /line 3: 'oops' in column 'b' is not a number/);
      assert.throws(() => parseCsvDataset('1,2,3\n4,5,6\n', 'x', 'x.csv'), /needs a header row/);
      assert.throws(() => parseCsvDataset('a,label\n1,0\n2\n', 'x', 'x.csv'), /line 3 has 1 fields but the header has 2/);
      assert.throws(() => parseCsvDataset('a,label\n1,cat\n', 'x', 'x.csv'), /label 'cat' in column 'label' is not a number/);
      assert.throws(() => parseCsvDataset('a,label\n1,-1\n', 'x', 'x.csv'), /label -1 .* not a class index/);
    });
  });

  describe('JSON', () => {
    it('rows of {"x": nested 28×28×1, "y"}', async () => {
      const d = await loadDataset(at('mnist20.json'));
      assert.deepEqual(d.sampleShape, [28, 28, 1]);
      assert.deepEqual(Array.from(d.y!), LABELS20);
      assert.deepEqual(d.x, MNIST20.x);
    });
    it('columns {"x": [[…]], "y": […]}', async () => {
      const d = await loadDataset(at('columns.json'));
      assert.equal(d.count, 4);
      assert.deepEqual(d.sampleShape, [784]);
      assert.deepEqual(Array.from(d.y!), LABELS20.slice(0, 4));
    });
    it('labels are optional; bad layouts are explained', async () => {
      assert.equal(jsonDataset({ x: [[1, 2]] }, 'j', 'j.json').y, null);
      assert.equal(jsonDataset([{ x: [1] }, { x: [2] }], 'j', 'j.json').y, null);
      await rejects(loadDataset(at('ragged.json')), 'invalid-option', /sample 1 has shape different from sample 0/);
      assert.throws(() => jsonDataset([{ x: [1], y: 0 }, { x: [2] }], 'j', 'j.json'), /item 1 has no "y"/);
      assert.throws(() => jsonDataset({ images: [] }, 'j', 'j.json'), /expected \[\{"x"/);
      assert.throws(() => jsonDataset({ x: [[1]], y: [1.5] }, 'j', 'j.json'), /label 1\.5 .* not a class index/);
    });
  });

  describe('image folders', () => {
    it('classes are the sorted subfolders; PNG and JPEG are decoded, gray, resized, in [0, 1]', async () => {
      const d = await loadDataset(at('digits'), { image: { height: 28, width: 28, channels: 1 } });
      assert.deepEqual(d.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      assert.equal(d.count, 21);
      assert.deepEqual(d.sampleShape, [28, 28, 1]);
      // class by class, files sorted: a.png, b.jpg (and 7/c-large.png)
      assert.deepEqual(Array.from(d.y!), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 9, 9]);
      const sample = (i: number) => d.x.subarray(i * 784, (i + 1) * 784);
      const digit = (k: number) => MNIST20.x.subarray(k * 784, (k + 1) * 784);
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      assert.ok(maxDiff(sample(0), digit(0)) <= 0.5 / 255 + 1e-6, 'PNG pixels are the digit to 8-bit rounding');
      let meanJpegError = 0;
      for (let k = 10; k < 20; k++) {
        const i = 2 * (k - 10) + 1 + (k - 10 >= 8 ? 1 : 0); // b.jpg rows; class 7 has one more file after it
        const s = sample(i);
        const ref = digit(k);
        meanJpegError += s.reduce((m, v, j) => m + Math.abs(v - ref[j]!), 0) / 784 / 10;
      }
      assert.ok(meanJpegError < 0.02, `JPEG digits are close to the originals (mean error ${meanJpegError})`);
      // 56×56 RGB upscale resized back to 28×28: close to the digit.
      assert.ok(maxDiff(sample(16), digit(7)) < 0.35);
      assert.ok(d.x.every((v) => v >= 0 && v <= 1));
      assert.ok(d.notes.some((n) => /ignored 1 file/.test(n)));
    });
    it('decodes to RGB when the model has 3 channels, at the model size', async () => {
      const d = await loadDataset(at('digits'), { image: { height: 14, width: 14, channels: 3 }, limit: 3 });
      assert.deepEqual(d.sampleShape, [14, 14, 3]);
      assert.equal(d.count, 3);
      assert.equal(d.x.length, 3 * 14 * 14 * 3);
    });
    it('an unreadable image or an empty folder is reported', async () => {
      await rejects(loadDataset(at('broken_images')), 'not-a-model', /cat\/x\.png: not a readable PNG/);
      const empty = tempDir('parsimony-empty-');
      await rejects(loadDataset(empty), 'invalid-option', /one subfolder per class/);
      const notImage = tempDir('parsimony-noimg-');
      mkdirSync(path.join(notImage, 'a'));
      writeFileSync(path.join(notImage, 'a', 'x.jpg'), 'not a jpeg');
      await rejects(loadDataset(notImage), 'not-a-model', /a\/x\.jpg: neither a PNG nor a JPEG/);
    });
    it('bilinear resize with half-pixel centres', () => {
      // 2×2 → 4×4: corners keep their values, the middle interpolates.
      const out = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 2, 2, 1, 4, 4);
      assert.deepEqual(Array.from(out.subarray(0, 4)), [0, 0.25, 0.75, 1]);
      assert.deepEqual(Array.from(out.subarray(12, 16)), [2, 2.25, 2.75, 3]);
      // 4×4 → 2×2 averages 2×2 blocks of a ramp.
      const ramp = Float32Array.from({ length: 16 }, (_, i) => i);
      assert.deepEqual(Array.from(resizeBilinear(ramp, 4, 4, 1, 2, 2)), [2.5, 4.5, 10.5, 12.5]);
    });
    it('grayscale uses luminance and composites alpha over black', async () => {
      const img = { width: 1, height: 2, rgba: Uint8Array.from([255, 0, 0, 255, 255, 255, 255, 0]) };
      const g = imageToTensor(img, { height: 2, width: 1, channels: 1 });
      assert.ok(Math.abs(g[0]! - 0.299) < 1e-6);
      assert.equal(g[1], 0);
      await assert.rejects(decodeImage(new Uint8Array([1, 2, 3]), 'x.bin'), /neither a PNG nor a JPEG/);
    });
  });

  it('unknown files and paths are reported', async () => {
    await rejects(loadDataset(at('nope.npy')), 'not-found', /dataset not found: .*nope\.npy \(give mnist/);
    await rejects(loadDataset(at('manifest.json')), 'invalid-option', /expected \[\{"x"/);
    const dir = tempDir('parsimony-data-');
    writeFileSync(path.join(dir, 'x.bin'), Buffer.from([1, 2, 3, 4]));
    await rejects(loadDataset(path.join(dir, 'x.bin')), 'unsupported-format', /not a dataset format/);
  });
});

describe('evaluate: fitting samples to the model input', () => {
  const ds = (shape: number[], x: number[]): Dataset => ({ name: 'd', count: 1, sampleShape: shape, x: Float32Array.from(x), y: null, notes: [] });

  it('reshapes when element counts match (flat ↔ image, NCHW with one channel)', () => {
    assert.deepEqual(planInput([28, 28, 1], [null, 784]).shape, [784]);
    assert.equal(planInput([28, 28, 1], [null, 1, 28, 28]).transform, null);
    assert.deepEqual(planInput([784], [null, 28, 28, 1]).shape, [28, 28, 1]);
    assert.equal(planInput([28, 28, 1], [null, 28, 28, 1]).note, undefined);
  });
  it('transposes H×W×C to C×H×W for NCHW models with several channels, and back', () => {
    const plan = planInput([1, 2, 3], [null, 3, 1, 2]);
    assert.ok(plan.transform);
    // pixel (0,0) = [1,2,3], pixel (0,1) = [4,5,6]
    assert.deepEqual(Array.from(adaptSamples(ds([1, 2, 3], [1, 2, 3, 4, 5, 6]), plan)), [1, 4, 2, 5, 3, 6]);
    const back = planInput([3, 1, 2], [null, 1, 2, 3]);
    assert.deepEqual(Array.from(adaptSamples(ds([3, 1, 2], [1, 4, 2, 5, 3, 6]), back)), [1, 2, 3, 4, 5, 6]);
  });
  it('takes unknown dimensions from the data', () => {
    assert.deepEqual(planInput([28, 28, 1], [null, null, null, 1]).shape, [28, 28, 1]);
    assert.deepEqual(planInput([28, 28, 1], [null, null]).shape, [784]);
    assert.deepEqual(planInput([5], null).shape, [5]);
  });
  it('names both shapes when they cannot fit', () => {
    assert.throws(
      () => planInput([28, 28, 1], [null, 64]),
      /the dataset's samples have shape \[28, 28, 1\] \(784 values\) but the model expects input \[N, 64\] \(64 values per sample\)/,
    );
    assert.throws(() => planInput([28, 28, 1], [null, null, null, 3]), /expects input \[N, N, N, 3\]/);
  });
  it('image targets from model inputs', () => {
    assert.deepEqual(imageTargetFor([null, 28, 28, 1]), { height: 28, width: 28, channels: 1 });
    assert.deepEqual(imageTargetFor([1, 3, 32, 32]), { height: 32, width: 32, channels: 3 });
    assert.deepEqual(imageTargetFor([null, 784]), { height: 28, width: 28, channels: 1 });
    assert.deepEqual(imageTargetFor([null, 3072]), { height: 32, width: 32, channels: 3 });
    assert.equal(imageTargetFor([null, 64 + 1]), null);
  });
});
