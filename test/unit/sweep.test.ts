import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../../src/core/data/mnist';
import { openModel } from '../../src/core/formats/registry';
import { listRuns } from '../../src/core/evaluate/runs';
import { rankLadder, sweepModel, type SweepPoint } from '../../src/core/evaluate/sweep';
import { cli } from '../helpers/cli';
import { hashTree, tempCopy } from '../helpers/tempCopy';

const CNN = path.resolve(__dirname, '../../examples/mnist-cnn/model.json');
const MLP = path.resolve(__dirname, '../../examples/mnist-mlp/model.json');

/** Independent brute force: indices no other point dominates (≤ cost, ≥ value, one strict). */
function nonDominated(points: SweepPoint[], cost: (p: SweepPoint) => number | null, value: (p: SweepPoint) => number | null): number[] {
  const rows = points.map((p, i) => ({ i, c: cost(p), v: value(p) })).filter((r): r is { i: number; c: number; v: number } => r.c !== null && r.v !== null);
  return rows.filter((a) => !rows.some((b) => b.c <= a.c && b.v >= a.v && (b.c < a.c || b.v > a.v))).map((r) => r.i).sort((x, y) => x - y);
}

const sweepTemps = () => new Set(readdirSync(os.tmpdir()).filter((f) => f.startsWith('parsimony-sweep-')));

describe('sweep', function () {
  this.timeout(180_000);
  let tempsBefore: Set<string>;
  const temps: string[] = [];
  before(() => (tempsBefore = sweepTemps()));
  after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('prune sweep on the example CNN: accuracy holds to 0.5 sparsity, falls by 0.95; the frontiers are non-dominated', async () => {
    const copy = tempCopy(path.dirname(CNN));
    temps.push(path.dirname(copy));
    const model = path.join(copy, 'model.json');
    const before = hashTree(copy);
    const r = await sweepModel(model, { method: 'prune', data: 'mnist:500', points: 3 });
    assert.deepEqual(r.points.map((p) => p.setting), [null, 0.1, 0.5, 0.95]);
    assert.equal(r.metric, 'accuracy');
    assert.equal(r.parameter, 'sparsity');
    const [original, , half, most] = r.points as [SweepPoint, SweepPoint, SweepPoint, SweepPoint];
    assert.ok(half.accuracy! >= original.accuracy! - 0.02, `accuracy at 0.5 (${half.accuracy}) within 2 points of the original (${original.accuracy})`);
    assert.ok(most.accuracy! < half.accuracy!, `accuracy at 0.95 (${most.accuracy}) below that at 0.5 (${half.accuracy})`);
    // Pruning zeroes weights: fewer non-zeros, smaller gzip, same dense parameter count.
    assert.ok(most.nonzeroParams! < half.nonzeroParams! && half.nonzeroParams! < original.nonzeroParams!);
    assert.ok(most.bytesGzip! < original.bytesGzip!);
    assert.equal(most.params, original.params);
    assert.equal(original.agreement, 1);
    assert.ok(most.agreement! < 1);
    // Frontiers: recomputed independently.
    const acc = (p: SweepPoint) => p.accuracy;
    assert.deepEqual([...r.pareto].sort((a, b) => a - b), nonDominated(r.points, (p) => p.bytesOnDisk, acc));
    assert.deepEqual([...r.paretoGzip].sort((a, b) => a - b), nonDominated(r.points, (p) => p.bytesGzip, acc));
    assert.deepEqual([...r.paretoMacs].sort((a, b) => a - b), nonDominated(r.points, (p) => p.macs, acc));
    for (const i of r.pareto) for (const p of r.points) assert.ok(!(p.bytesOnDisk! <= r.points[i]!.bytesOnDisk! && p.accuracy! >= r.points[i]!.accuracy! && (p.bytesOnDisk! < r.points[i]!.bytesOnDisk! || p.accuracy! > r.points[i]!.accuracy!)));
    assert.ok(r.pareto.length >= 1);
    // One run record per point, grouped by the sweep id; temp models deleted; the source untouched.
    const runs = (await listRuns(copy)).filter((run) => run.sweepId === r.sweepId);
    assert.equal(runs.length, 4);
    assert.deepEqual(runs.map((run) => run.setting).sort(), [0.1, 0.5, 0.95, null].sort());
    assert.ok(runs.every((run) => run.model === 'model.json' && run.kind === 'sweep' && run.method === 'prune'));
    assert.ok(r.points.every((p) => p.output === null));
    assert.equal(r.keptIn, null);
    const after = hashTree(copy);
    for (const [f, h] of Object.entries(before)) assert.equal(after[f], h, `${f} unchanged`);
    assert.deepEqual(Object.keys(after).filter((f) => !f.startsWith('.parsimony')).sort(), Object.keys(before).sort());
  });

  it('quantize sweep (TF.js dtypes) keeps the files with --keep; sizes shrink', async () => {
    const r = await sweepModel(CNN, { method: 'quantize', data: 'mnist:100', record: false, keep: true });
    try {
      assert.deepEqual(r.points.map((p) => p.setting), [null, 'float16', 'uint16', 'uint8']);
      const [orig, f16, , u8] = r.points as [SweepPoint, SweepPoint, SweepPoint, SweepPoint];
      assert.ok(f16.bytesOnDisk! < orig.bytesOnDisk! * 0.6);
      assert.ok(u8.bytesOnDisk! < f16.bytesOnDisk!);
      assert.ok(Math.abs(f16.accuracy! - orig.accuracy!) <= 0.01);
      assert.ok(r.keptIn && r.points.slice(1).every((p) => p.output && existsSync(p.output)));
      const reopened = await openModel(r.points[3]!.output!);
      assert.equal(reopened.format, 'tfjs-layers');
    } finally {
      if (r.keptIn) rmSync(r.keptIn, { recursive: true, force: true });
    }
  });

  it('low-rank ladder halves the largest min dimension down to 1', async () => {
    const doc = await openModel(CNN);
    // hidden is 400×32: D = 32
    assert.deepEqual(rankLadder(doc), [16, 8, 4, 2, 1]);
  });

  it('without labels the frontier uses agreement with the original', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-test-nolabels-'));
    temps.push(dir);
    const d = loadMnist('test', 50);
    const file = path.join(dir, 'x.json');
    writeFileSync(file, JSON.stringify({ x: Array.from({ length: 50 }, (_, i) => Array.from(d.x.subarray(i * 784, (i + 1) * 784))) }));
    const r = await sweepModel(CNN, { method: 'cluster', settings: [16, 2], data: file, record: false });
    assert.equal(r.metric, 'agreement');
    assert.equal(r.points[0]!.agreement, 1);
    assert.equal(r.points[0]!.accuracy, null);
    assert.ok(r.points[2]!.agreement! < 1);
    assert.deepEqual([...r.pareto].sort((a, b) => a - b), nonDominated(r.points, (p) => p.bytesOnDisk, (p) => p.agreement));
  });

  describe('CLI', () => {
    it('sweep --json prints points and pareto', async () => {
      const r = await cli('sweep', CNN, '--method', 'cluster', '--data', 'mnist:100', '--settings', '64,4', '--json', '--no-record');
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.ok(Array.isArray(j.points) && Array.isArray(j.pareto));
      assert.equal(j.points.length, 3);
      for (const p of j.points) for (const key of ['setting', 'params', 'bytesOnDisk', 'bytesGzip', 'accuracy', 'agreement']) assert.ok(key in p, `missing ${key}`);
      assert.equal(j.points[0].setting, null);
      assert.deepEqual(j.points.slice(1).map((p: { setting: number }) => p.setting), [64, 4]);
      assert.ok(j.pareto.every((i: number) => Number.isInteger(i) && i >= 0 && i < 3));
    });
    it('readable output is a table; bad options exit 2', async () => {
      const r = await cli('sweep', MLP, '--method', 'prune', '--data', 'mnist:50', '--settings', '0.5', '--no-record');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /sparsity/);
      assert.match(r.stdout, /original/);
      assert.match(r.stdout, /^1\s+0\.5\s/m);
      const bad = await cli('sweep', MLP, '--method', 'prune', '--data', 'mnist:50', '--settings', '1.5', '--no-record');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /sparsity must be in \[0, 1\)/);
      const noMethod = await cli('sweep', MLP, '--data', 'mnist:50');
      assert.equal(noMethod.code, 2);
      assert.match(noMethod.stderr, /--method is required/);
      const int8 = await cli('sweep', MLP, '--method', 'quantize', '--settings', 'int8', '--data', 'mnist:50', '--no-record');
      assert.equal(int8.code, 2);
      assert.match(int8.stderr, /int8 cannot be loaded by tf\.loadLayersModel/);
    });
  });

  describe('cleanup (runs last)', () => {
    it('leaves no temp folders behind (compressed points are deleted unless kept)', () => {
      const left = [...sweepTemps()].filter((f) => !tempsBefore.has(f));
      assert.deepEqual(left, []);
    });
  });
});
