import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, measureLatency } from '../../src/core/evaluate/latency';
import { argmaxRows, computeMetrics, logProbabilities, outputKind } from '../../src/core/evaluate/metrics';
import { dominates, paretoFrontier } from '../../src/core/evaluate/pareto';
import { deleteRun, listRuns, workspaceRoot, writeRun, type NewRunRecord } from '../../src/core/evaluate/runs';
import { pickEvenly } from '../../src/core/evaluate/sweep';

/** Temp folders made here, removed after the run. */
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const f32 = (...v: number[]) => Float32Array.from(v);

describe('evaluate: metrics', () => {
  it('tells probabilities from logits', () => {
    assert.equal(outputKind(f32(0.2, 0.8, 0.5, 0.5), 2, 2), 'probabilities');
    assert.equal(outputKind(f32(2, -1, 0.5, 0.5), 2, 2), 'logits');
    assert.equal(outputKind(f32(0.2, 0.7), 1, 2), 'logits'); // sums to 0.9
  });

  it('log-softmax of logits equals the log of their softmax', () => {
    const lp = logProbabilities(f32(1, 2, 3), 1, 3, 'logits');
    const e = [1, 2, 3].map(Math.exp);
    const s = e.reduce((a, b) => a + b);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(lp[k]! - Math.log(e[k]! / s)) < 1e-9);
  });

  it('accuracy, top-5 (ties count in) and cross-entropy', () => {
    // 2 samples × 6 classes, probabilities.
    const p = f32(0.5, 0.1, 0.1, 0.1, 0.1, 0.1, /**/ 0.3, 0.2, 0.15, 0.15, 0.1, 0.1);
    const m = computeMetrics({ values: p, width: 6, n: 2 }, Int32Array.from([0, 5]), null);
    assert.equal(m.accuracy, 0.5);
    // Sample 2's class 5 (0.1) ties with class 4 at the 5th place: in the top 5.
    assert.equal(m.top5, 1);
    assert.ok(Math.abs(m.loss! - (-Math.log(0.5) - Math.log(0.1)) / 2) < 1e-6);
    assert.equal(m.agreement, null);
    const notTop5 = computeMetrics({ values: f32(0.3, 0.25, 0.2, 0.15, 0.09, 0.01), width: 6, n: 1 }, Int32Array.from([5]), null);
    assert.equal(notTop5.top5, 0);
    assert.equal(computeMetrics({ values: f32(0.6, 0.4), width: 2, n: 1 }, Int32Array.from([0]), null).top5, null);
  });

  it('agreement, KL(ref‖model) and MSE against a reference', () => {
    const ref = { values: f32(0.5, 0.5, 0.9, 0.1), width: 2, n: 2 };
    const model = { values: f32(0.25, 0.75, 0.8, 0.2), width: 2, n: 2 };
    const m = computeMetrics(model, null, ref);
    assert.equal(m.agreement, 0.5);
    const kl = (0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75) + 0.9 * Math.log(0.9 / 0.8) + 0.1 * Math.log(0.1 / 0.2)) / 2;
    assert.ok(Math.abs(m.klDivergence! - kl) < 1e-6);
    assert.ok(Math.abs(m.mse! - (0.0625 * 2 + 0.01 * 2) / 4) < 1e-7);
    assert.equal(computeMetrics(model, null, model).klDivergence, 0);
    assert.throws(() => computeMetrics(model, null, { values: f32(1, 2, 3), width: 3, n: 1 }), /reference model gives 3 outputs per sample but the model gives 2/);
  });

  it('labels outside the model’s classes are an error naming the label', () => {
    assert.throws(() => computeMetrics({ values: f32(0.5, 0.5), width: 2, n: 1 }, Int32Array.from([7]), null), /label 7 of sample 0 is out of range: the model has 2 outputs \(classes 0–1\)/);
  });

  it('argmax takes the first of tied maxima', () => {
    assert.deepEqual(Array.from(argmaxRows([1, 3, 3, 0, 0, 0], 2, 3)), [1, 0]);
  });
});

describe('evaluate: latency and Pareto helpers', () => {
  it('median and a timed loop (numbers are not asserted beyond being times)', async () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    let calls = 0;
    const ms = await measureLatency(async () => void calls++, 4, { budgetMs: 5 });
    assert.ok(ms >= 0 && calls >= 5);
  });

  it('the frontier is exactly the non-dominated points', () => {
    const pts = [
      { b: 100, a: 0.9 },
      { b: 50, a: 0.9 }, // dominates the first
      { b: 50, a: 0.85 }, // dominated by the second (same size, lower accuracy)
      { b: 20, a: 0.7 },
      { b: 30, a: 0.6 }, // dominated by the fourth
      { b: 20, a: 0.7 }, // a duplicate of a frontier point: neither dominates
      { b: 10, a: null },
    ];
    const frontier = paretoFrontier(pts, (p) => p.b, (p) => p.a);
    assert.deepEqual(frontier, [3, 5, 1]);
    // brute force agrees
    const usable = pts.map((p, i) => ({ i, cost: p.b, value: p.a })).filter((p): p is { i: number; cost: number; value: number } => p.value !== null);
    const brute = usable.filter((p) => !usable.some((q) => dominates(q, p))).map((p) => p.i);
    assert.deepEqual([...frontier].sort(), brute.sort());
  });

  it('pickEvenly spreads n settings over a ladder, strongest included', () => {
    const ladder = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    assert.deepEqual(pickEvenly(ladder, 3), [0.1, 0.5, 0.95]);
    assert.deepEqual(pickEvenly(ladder, 1), [0.95]);
    assert.deepEqual(pickEvenly(ladder, 50), ladder);
    assert.deepEqual(pickEvenly([256, 64, 16, 8, 4, 2], 3), [256, 16, 2]);
  });
});

describe('evaluate: run records', () => {
  const record = (over: Partial<NewRunRecord> = {}): NewRunRecord => ({
    kind: 'evaluate',
    method: 'evaluate',
    model: 'models/m.onnx',
    modelHash: 'abcdef0123456789',
    format: 'onnx',
    output: null,
    outputHash: null,
    options: {},
    dataset: 'mnist:10',
    sweepId: null,
    setting: null,
    metrics: null,
    sizes: null,
    sizesBefore: null,
    latencyMs: null,
    backend: null,
    notes: [],
    started: '2025-01-02T03:04:05.678Z',
    finished: '2025-01-02T03:04:06.000Z',
    ...over,
  });

  it('finds the workspace root: the flag, else the nearest .parsimony/ or .git/, else the model folder', async () => {
    const root = tempDir('parsimony-ws-');
    mkdirSync(path.join(root, 'a', 'b', 'c'), { recursive: true });
    const model = path.join(root, 'a', 'b', 'c', 'm.onnx');
    assert.equal(await workspaceRoot(model), path.join(root, 'a', 'b', 'c'));
    mkdirSync(path.join(root, '.git'));
    assert.equal(await workspaceRoot(model), root);
    mkdirSync(path.join(root, 'a', '.parsimony'));
    assert.equal(await workspaceRoot(model), path.join(root, 'a'));
    assert.equal(await workspaceRoot(model, '/elsewhere'), path.resolve('/elsewhere'));
  });

  it('writes <timestamp>-<method>-<shorthash>.json, lists and deletes records (never models)', async () => {
    const ws = tempDir('parsimony-runs-');
    writeFileSync(path.join(ws, 'm.onnx'), 'model bytes');
    const a = await writeRun(ws, record());
    assert.equal(a.id, '2025-01-02T03-04-05-678Z-evaluate-abcdef01');
    const b = await writeRun(ws, record()); // same second, same model: a fresh name
    assert.equal(b.id, `${a.id}-2`);
    const c = await writeRun(ws, record({ kind: 'sweep', method: 'prune,cluster', outputHash: '99887766554433', started: '2025-01-01T00:00:00.000Z' }));
    assert.equal(c.id, '2025-01-01T00-00-00-000Z-prune+cluster-99887766');
    const dir = path.join(ws, '.parsimony', 'runs');
    assert.deepEqual(readdirSync(dir).sort(), [a.id, b.id, c.id].map((id) => `${id}.json`).sort());
    assert.equal(JSON.parse(readFileSync(path.join(dir, `${a.id}.json`), 'utf8')).model, 'models/m.onnx');
    writeFileSync(path.join(dir, 'garbage.json'), '{ not json');
    const runs = await listRuns(ws);
    assert.deepEqual(runs.map((r) => r.id), [c.id, a.id, b.id]);
    assert.equal(await deleteRun(ws, a.id), true);
    assert.equal(await deleteRun(ws, a.id), false);
    await assert.rejects(deleteRun(ws, '../m'), /not a run id/);
    assert.ok(existsSync(path.join(ws, 'm.onnx')));
    assert.deepEqual((await listRuns(ws)).map((r) => r.id), [c.id, b.id]);
    assert.deepEqual(await listRuns(path.join(ws, 'nowhere')), []);
  });
});
