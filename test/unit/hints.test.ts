import * as assert from 'node:assert/strict';
import { computeHints } from '../../src/core/analysis/hints';
import { prunableFraction } from '../../src/core/analysis/hints/prunable';
import { clusterValues } from '../../src/core/compress/cluster';
import { huffmanCodeLengths, huffmanSize, canonicalCodes } from '../../src/core/numeric/huffman';
import { kmeans1d, SortedValues } from '../../src/core/numeric/kmeans1d';
import { factorize, spectrum, rankForEnergy } from '../../src/core/numeric/lowRank';
import { magnitudeQuantile } from '../../src/core/numeric/select';
import { matmul, memoryTensor, randomMatrix, rng, syntheticDoc } from '../helpers/synthetic';

describe('redundancy hints on layers with known answers', function () {
  this.timeout(60_000);

  it('a Dense kernel made as 256×8 · 8×128 reports rank 8; a full-rank Gaussian kernel gets no low-rank hint', async () => {
    const kernel = matmul(randomMatrix(256, 8, 1), randomMatrix(8, 128, 2), 256, 8, 128);
    const full = randomMatrix(256, 128, 3);
    const doc = syntheticDoc('tfjs-layers', [
      { name: 'lowrank', type: 'Dense', tensors: [memoryTensor('lowrank/kernel', [256, 128], kernel)] },
      { name: 'fullrank', type: 'Dense', tensors: [memoryTensor('fullrank/kernel', [256, 128], full)] },
    ]);
    const { hints } = await computeHints(doc);
    const low = hints.filter((h) => h.kind === 'low-rank');
    assert.equal(low.length, 1);
    assert.equal(low[0]!.layer, 'lowrank');
    assert.equal(low[0]!.detail.rank, 8);
    assert.equal(low[0]!.savingsParams, 256 * 128 - (256 + 128) * 8);
    assert.ok(low[0]!.error < 1e-3);
  });

  it('large kernels (both sides > 256) are sketched on TF.js: rank 12 of a 1024×600 product is found, a Gaussian kernel gets no hint', async () => {
    const kernel = matmul(randomMatrix(1024, 12, 31), randomMatrix(12, 600, 32), 1024, 12, 600);
    const doc = syntheticDoc('tfjs-layers', [
      { name: 'lowrank', type: 'Dense', tensors: [memoryTensor('lowrank/kernel', [1024, 600], kernel)] },
      { name: 'fullrank', type: 'Dense', tensors: [memoryTensor('fullrank/kernel', [1024, 600], randomMatrix(1024, 600, 33))] },
    ]);
    const { hints } = await computeHints(doc);
    const low = hints.filter((h) => h.kind === 'low-rank');
    assert.deepEqual(low.map((h) => h.layer), ['lowrank']);
    assert.equal(low[0]!.detail.rank, 12);
    assert.equal(low[0]!.detail.exact, false);
    assert.equal(low[0]!.savingsParams, 1024 * 600 - (1024 + 600) * 12);
    assert.ok(low[0]!.error < 1e-3, `error ${low[0]!.error}`);
  });

  it('a kernel with 60% exact zeros reports zeroFraction 0.60', async () => {
    const r = rng(4);
    const values = randomMatrix(100, 50, 5);
    const idx = Array.from(values.keys()).sort(() => r() - 0.5).slice(0, 3000);
    for (const i of idx) values[i] = 0;
    const doc = syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [100, 50], values)] }]);
    const { hints } = await computeHints(doc);
    const sparse = hints.find((h) => h.kind === 'sparse')!;
    assert.equal(sparse.detail.zeroFraction, 0.6);
    assert.ok((sparse.detail.nearZeroFraction as number) >= 0.6);
  });

  it('a conv layer with two copied filters reports that pair', async () => {
    // Keras layout [kh, kw, in, out]; copy filter 3 into filter 7.
    const [kh, kw, cin, cout] = [3, 3, 4, 10];
    const values = randomMatrix(kh * kw * cin, cout, 6);
    for (let p = 0; p < kh * kw * cin; p++) values[p * cout + 7] = values[p * cout + 3]!;
    const doc = syntheticDoc('keras', [{ name: 'conv', type: 'Conv2D', tensors: [memoryTensor('conv/kernel', [kh, kw, cin, cout], values)] }]);
    const { hints } = await computeHints(doc);
    const dup = hints.find((h) => h.kind === 'duplicate-units')!;
    assert.deepEqual(dup.detail.pairs, [[3, 7]]);
    assert.equal(dup.savingsParams, kh * kw * cin);
  });

  it('a ReLU unit with zero weights and a negative bias is dead; one with a positive bias is not', async () => {
    const kernel = randomMatrix(20, 6, 7); // [in, out]
    for (let i = 0; i < 20; i++) {
      kernel[i * 6 + 2] = 0;
      kernel[i * 6 + 4] = 0;
    }
    const bias = Float32Array.from([0.1, 0.1, -0.5, 0.1, 0.3, 0.1]);
    // Keras .h5 has no writer, so the saving is the layer's own column and bias (20 + 1).
    const doc = syntheticDoc('keras', [
      { name: 'hidden', type: 'Dense', config: { activation: 'relu' }, tensors: [memoryTensor('hidden/kernel', [20, 6], kernel), memoryTensor('hidden/bias', [6], bias)] },
    ]);
    const { hints } = await computeHints(doc, { minParams: 1 });
    const dead = hints.find((h) => h.kind === 'dead-units')!;
    assert.deepEqual(dead.detail.units, [2]);
    assert.equal(dead.detail.basis, 'weights');
    assert.equal(dead.savingsParams, 21);
  });

  it('int8 SQNR of a Gaussian kernel is about 40 dB and float16 is safe', async () => {
    const doc = syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [64, 256], randomMatrix(64, 256, 8))] }]);
    const { hints } = await computeHints(doc);
    const q = hints.find((h) => h.kind === 'quantizable')!;
    const db = q.detail.sqnrDb as number;
    assert.ok(db > 30 && db < 45, `SQNR ${db}`);
    assert.equal(q.detail.float16Safe, true);
    // PyTorch has no writer: int8 per channel, one byte per weight plus a scale and zero point per channel.
    assert.equal(q.detail.dtype, 'int8');
    assert.equal(q.savingsBytes, 64 * 256 * 3 - 64 * 5);
  });

  it('a kernel with 16 distinct values is clusterable with ≤ 16 centroids at 4 bits', async () => {
    const r = rng(9);
    const levels = Array.from({ length: 16 }, (_, i) => (i - 7.5) / 10);
    const values = Float32Array.from({ length: 4096 }, () => levels[Math.floor(r() * 16)]!);
    const doc = syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [64, 64], values)] }]);
    const { hints } = await computeHints(doc);
    const c = hints.find((h) => h.kind === 'clusterable')!;
    assert.ok((c.detail.clusters as number) <= 16);
    assert.equal(c.detail.bits, Math.ceil(Math.log2(c.detail.clusters as number)));
  });

  it('clustering a kernel above 2M weights from a sample: coded size and error as clustering all of it gives', async () => {
    const [fanIn, units] = [2500, 1000];
    const values = randomMatrix(fanIn, units, 44);
    const doc = syntheticDoc('keras', [{ name: 'fc', type: 'Dense', tensors: [memoryTensor('fc/kernel', [fanIn, units], values)] }]);
    const { hints } = await computeHints(doc, { epsilon: 0.05 });
    const c = hints.find((h) => h.kind === 'clusterable')!;
    assert.equal(c.detail.sample, 1 << 21);
    const k = c.detail.clusters as number;
    const full = clusterValues(values, k, 'linear');
    const coded = huffmanSize(full.counts).bytes + full.centroids.length * 4;
    const within = (a: number, b: number, tol: number) => Math.abs(a / b - 1) <= tol;
    assert.ok(within(c.detail.huffmanBytes as number, coded, 0.01), `${String(c.detail.huffmanBytes)} vs ${coded}`);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < values.length; i++) {
      err += (values[i]! - full.values[i]!) ** 2;
      norm += values[i]! ** 2;
    }
    assert.ok(within(c.error, Math.sqrt(err / norm), 0.05), `${c.error} vs ${Math.sqrt(err / norm)}`);
  });

  it('2:4 is reachable when every group of 4 already has two zeros', async () => {
    const values = randomMatrix(32, 64, 10);
    for (let i = 0; i < values.length; i += 4) {
      values[i] = 0;
      values[i + 2] = 0;
    }
    const doc = syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [32, 64], values)] }]);
    const { hints } = await computeHints(doc);
    const h = hints.find((x) => x.kind === '2:4')!;
    assert.equal(h.error, 0);
    assert.equal(h.savingsParams, 32 * 64 / 2);
  });

  it('separable: a conv kernel built from depthwise × pointwise fits exactly; parameters follow k·k·I + I·O', async () => {
    const [k, cin, cout] = [3, 8, 16];
    const dw = randomMatrix(k * k, cin, 11); // [s, i]
    const pw = randomMatrix(cin, cout, 12); // [i, o]
    const kernel = new Float32Array(k * k * cin * cout); // Keras [kh, kw, in, out]
    for (let s = 0; s < k * k; s++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) kernel[(s * cin + i) * cout + o] = dw[s * cin + i]! * pw[i * cout + o]!;
    const doc = syntheticDoc('keras', [{ name: 'conv', type: 'Conv2D', tensors: [memoryTensor('conv/kernel', [k, k, cin, cout], kernel)] }]);
    const { hints } = await computeHints(doc);
    const sep = hints.find((h) => h.kind === 'separable')!;
    assert.equal(sep.detail.params, k * k * cin + cin * cout);
    assert.equal(sep.savingsParams, k * k * cin * cout - (k * k * cin + cin * cout));
    assert.ok(sep.error < 1e-3, `fit error ${sep.error}`);
  });

  it('cancellation stops the run with CancelledError', async () => {
    const doc = syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [64, 64], randomMatrix(64, 64, 13))] }]);
    await assert.rejects(computeHints(doc, {}, { isCancelled: () => true }), { name: 'CancelledError' });
  });
});

describe('numeric kernels', () => {
  it('Huffman size equals the sum of count × code length, and codes are prefix-free', () => {
    const counts = [45, 13, 12, 16, 9, 5];
    const lengths = huffmanCodeLengths(counts);
    assert.deepEqual(Array.from(lengths), [1, 3, 3, 3, 4, 4]); // the textbook example
    const size = huffmanSize(counts);
    assert.equal(size.bits, counts.reduce((s, c, i) => s + c * lengths[i]!, 0));
    assert.equal(size.bits, 224);
    const codes = canonicalCodes(lengths);
    const words = Array.from(codes, (c, i) => c.toString(2).padStart(lengths[i]!, '0'));
    for (const a of words) for (const b of words) if (a !== b) assert.ok(!b.startsWith(a), `${a} prefixes ${b}`);
  });

  it('k-means on sorted values recovers well separated clusters exactly', () => {
    const values = [...Array(100).fill(-1), ...Array(50).fill(0.5), ...Array(30).fill(2)];
    const r = kmeans1d(new SortedValues(values), 3, { init: 'kmeans++', seed: 3 });
    assert.deepEqual(Array.from(r.centroids), [-1, 0.5, 2]);
    assert.deepEqual(Array.from(r.counts), [100, 50, 30]);
    assert.equal(r.sse, 0);
  });

  it('prunable fraction keeps the removed energy under ε²', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => (i + 1) / 1000);
    const { fraction, error } = prunableFraction(values, 0.1);
    assert.ok(error <= 0.1);
    // Removing one more weight would exceed the bound.
    const n = Math.round(fraction * 1000);
    let total = 0;
    let removed = 0;
    for (let i = 0; i < 1000; i++) total += values[i]! ** 2;
    for (let i = 0; i <= n; i++) removed += values[i]! ** 2;
    assert.ok(Math.sqrt(removed / total) > 0.1);
  });

  it('prunable fraction from bit histograms equals the sorted-order answer (ties, zeros, a wide range)', () => {
    const r = rng(41);
    const cases = [
      randomMatrix(1, 5000, 42),
      Float32Array.from({ length: 6000 }, () => [0, 0.5, -0.5, 1, 2][Math.floor(r() * 5)]!),
      Float32Array.from({ length: 7000 }, () => (r() - 0.5) * 10 ** Math.floor(r() * 8 - 4)),
    ];
    for (const values of cases) {
      for (const eps of [0.01, 0.1, 0.5]) {
        const mags = Array.from(values, Math.abs).sort((a, b) => a - b);
        const total = mags.reduce((s, m) => s + m * m, 0);
        let removed = 0;
        let count = 0;
        while (count < mags.length && removed + mags[count]! ** 2 <= eps * eps * total) removed += mags[count++]! ** 2;
        const got = prunableFraction(values, eps);
        assert.equal(got.count, count, `ε=${eps}`);
        assert.ok(Math.abs(got.error - Math.sqrt(removed / total)) < 1e-9);
      }
    }
  });

  it('int8 SQNR and 2:4 read Keras [in, out] storage directly and agree with the unit-major computation', async () => {
    const [fanIn, units] = [36, 20];
    const keras = randomMatrix(fanIn, units, 43);
    const torch = new Float32Array(fanIn * units);
    for (let p = 0; p < fanIn; p++) for (let u = 0; u < units; u++) torch[u * fanIn + p] = keras[p * units + u]!;
    const a = await computeHints(syntheticDoc('keras', [{ name: 'fc', type: 'Dense', tensors: [memoryTensor('fc/kernel', [fanIn, units], keras)] }]), { epsilon: 0.9 });
    const b = await computeHints(syntheticDoc('pytorch', [{ name: 'fc', type: 'Linear', tensors: [memoryTensor('fc.weight', [units, fanIn], torch)] }]), { epsilon: 0.9 });
    for (const kind of ['quantizable', '2:4'] as const) {
      const x = a.hints.find((h) => h.kind === kind)!;
      const y = b.hints.find((h) => h.kind === kind)!;
      assert.ok(Math.abs(x.error - y.error) < 1e-12, `${kind}: ${x.error} vs ${y.error}`);
      if (kind === 'quantizable') assert.ok(Math.abs((x.detail.sqnrDb as number) - (y.detail.sqnrDb as number)) < 1e-9);
    }
  });

  it('magnitude quantile matches a sort', () => {
    const v = randomMatrix(1, 1001, 14);
    const sorted = Array.from(v, Math.abs).sort((a, b) => a - b);
    assert.equal(magnitudeQuantile(v, 0.3), Math.fround(sorted[300]!));
  });

  it('factorize reproduces a rank-4 matrix and its spectrum has rank 4', () => {
    const a = matmul(randomMatrix(40, 4, 15), randomMatrix(4, 30, 16), 40, 4, 30);
    const f = factorize(a, 40, 30, 4);
    const back = matmul(f.left, f.right, 40, 4, 30);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < a.length; i++) {
      err += (a[i]! - back[i]!) ** 2;
      norm += a[i]! ** 2;
    }
    assert.ok(Math.sqrt(err / norm) < 1e-4);
    assert.equal(rankForEnergy(spectrum(a, 40, 30), 1 - 1e-6), 4);
  });
});
