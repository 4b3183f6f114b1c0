import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseBudget, violations } from '../../src/core/budget/budget';
import { diffModels, netronAttachment, type ModelDiff } from '../../src/core/analysis/diff';
import { loadMnist } from '../../src/core/data/mnist';
import { loadTf } from '../../src/core/runtime/tfjs';
import { loadLayersModelFromFile } from '../helpers/tfjsFiles';
import { compressModel } from '../../src/core/compress/pipeline';
import { openModel } from '../../src/core/formats/registry';
import { summarize } from '../../src/core/analysis/summary';
import { cli } from '../helpers/cli';
import { hashTree, tempCopy } from '../helpers/tempCopy';
import { listRuns, type RunRecord } from '../../src/core/evaluate/runs';
import { optionKeysFor, recipeJson, runRecipe, type RecipeMethod } from '../../src/core/recipe/recipe';
import { METHOD_IDS } from '../../src/core/compress/types';
import { TRAIN_METHOD_IDS } from '../../src/core/train/types';
import { recipeFromRuns, recipeNameProblem } from '../../src/core/recipe/fromRuns';
import { isCancelled } from '../../src/core/errors';
import type { CheckResult } from '../../src/core/budget/check';
import { fixCandidates, fixesFor, kernelShapes } from '../../src/core/budget/suggest';
import type { Hint } from '../../src/core/analysis/hints';

const FIXTURE = 'test/fixtures/generated/safetensors/sharded';
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('budgets: parsimony check', function () {
  this.timeout(60_000);

  it('passes (exit 0) when every limit holds and fails (exit 1) naming the broken limit', async () => {
    const ws = path.dirname(tempCopy(FIXTURE));
    const model = 'sharded/model.safetensors.index.json';
    const s = await summarize(await openModel(path.join(ws, model)));
    mkdirSync(path.join(ws, '.parsimony'), { recursive: true });
    const budgetFile = path.join(ws, '.parsimony', 'budget.json');
    writeFileSync(budgetFile, JSON.stringify({ models: { [model]: { maxParams: s.totalParams, maxBytesOnDisk: s.bytesOnDisk + 1 } } }));
    const ok = await cli('check', '--workspace', ws, '--json');
    assert.equal(ok.code, 0, ok.stderr);
    const okJson = JSON.parse(ok.stdout) as { ok: boolean; models: { ok: boolean; measured: { params: number } }[] };
    assert.equal(okJson.ok, true);
    assert.equal(okJson.models[0]!.measured.params, s.totalParams);

    writeFileSync(budgetFile, JSON.stringify({ models: { [model]: { maxParams: s.totalParams - 1 } } }));
    const bad = await cli('check', '--workspace', ws);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`params ${s.totalParams.toLocaleString('en-US')} exceeds maxParams ${(s.totalParams - 1).toLocaleString('en-US')}`));
    assert.match(bad.stdout, /FAIL/);
  });

  it('a malformed budget is bad input (exit 2) naming the key', async () => {
    const ws = path.dirname(tempCopy(FIXTURE));
    mkdirSync(path.join(ws, '.parsimony'));
    writeFileSync(path.join(ws, '.parsimony', 'budget.json'), JSON.stringify({ models: { 'x.onnx': { maxParms: 3 } } }));
    const r = await cli('check', '--workspace', ws);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown budget key 'maxParms'/);
  });

  it('an unknown figure breaks its limit rather than passing silently', () => {
    const b = parseBudget(JSON.stringify({ models: { m: { maxMacs: 10, minAccuracy: 0.9, dataset: 'mnist:10' } } }), 'budget.json');
    const v = violations(b.models.m!, { params: 1, bytesOnDisk: 1, bytesGzip: 1, bytesInMemory: 1, macs: null, accuracy: 0.95 });
    assert.deepEqual(v.map((x) => x.key), ['maxMacs']);
    assert.throws(() => parseBudget(JSON.stringify({ models: { m: { minAccuracy: 0.9 } } }), 'b.json'), /no dataset/);
  });
});

describe('recipes: parsimony run', function () {
  this.timeout(120_000);

  it('runs prune → cluster → huffman end to end, twice, with byte-identical outputs and a run record per step', async () => {
    const ws = path.dirname(tempCopy(FIXTURE));
    mkdirSync(path.join(ws, '.parsimony', 'recipes'), { recursive: true });
    const recipe = path.join(ws, '.parsimony', 'recipes', 'deep.json');
    writeFileSync(
      recipe,
      JSON.stringify({
        source: 'sharded/model.safetensors.index.json',
        seed: 7,
        steps: [
          { method: 'prune', sparsity: 0.6, scope: 'layer', includeEnds: true },
          { method: 'cluster', clusters: 8 },
          { method: 'huffman' },
        ],
      }),
    );
    const first = await cli('run', recipe, '--json');
    assert.equal(first.code, 0, first.stderr);
    const second = await cli('run', recipe, '--json');
    assert.equal(second.code, 0, second.stderr);
    const a = JSON.parse(first.stdout) as { output: string; steps: { output: string; runId: string }[] };
    const b = JSON.parse(second.stdout) as typeof a;
    assert.equal(a.steps.length, 3);
    assert.notEqual(a.output, b.output, 'second run writes new files, never overwriting');
    for (let i = 0; i < 3; i++) assert.equal(sha(a.steps[i]!.output), sha(b.steps[i]!.output), `step ${i + 1} output identical`);
    assert.ok(a.steps.every((s) => typeof s.runId === 'string'));
    const final = await openModel(a.output);
    for (const layer of final.layers) for (const t of layer.tensors) {
      if (!t.isParameter || t.shape.length < 2) continue;
      const distinct = new Set(await t.read!());
      assert.ok(distinct.size <= 8 + 1, `${t.name}: ${distinct.size} distinct values`);
    }
  });

  it('a recipe with an unknown option fails with exit 2 before writing anything', async () => {
    const ws = path.dirname(tempCopy(FIXTURE));
    mkdirSync(path.join(ws, '.parsimony', 'recipes'), { recursive: true });
    const recipe = path.join(ws, '.parsimony', 'recipes', 'bad.json');
    writeFileSync(recipe, JSON.stringify({ source: 'sharded/model.safetensors.index.json', steps: [{ method: 'prune', sparsty: 0.5 }] }));
    const r = await cli('run', recipe);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option 'sparsty'/);
  });
});

describe('diff: a model against its pruned version', function () {
  this.timeout(60_000);

  it('reports each layer’s sparsity exactly, and exports a Netron attachment', async () => {
    const dir = tempCopy(FIXTURE);
    const index = path.join(dir, 'model.safetensors.index.json');
    const pruned = await compressModel(index, [{ method: 'prune', options: { sparsity: 0.5, scope: 'layer', includeEnds: true } }]);
    const diff = await diffModels(index, pruned.output);
    const weighted = diff.layers.filter((l) => l.a && l.a.params > 0);
    assert.ok(weighted.length > 0);
    for (const row of weighted) {
      // Per layer: every ≥2-D tensor was pruned to exactly half (floor), 1-D tensors untouched.
      const doc = await openModel(index);
      const layer = doc.layers.find((l) => l.name === row.layer)!;
      const expectedZeros = layer.tensors.filter((t) => t.isParameter && t.shape.length >= 2).reduce((s, t) => s + Math.floor(t.count / 2), 0);
      assert.equal(row.b!.params, row.a!.params);
      assert.equal(row.a!.params - row.b!.nonzeroParams - (row.a!.params - row.a!.nonzeroParams), expectedZeros, `${row.layer} zeros`);
      assert.ok(Math.abs(row.b!.sparsity - expectedZeros / row.b!.params) < 1e-9);
    }
    const r = await cli('diff', index, pruned.output, '--json', '--netron', path.join(dir, 'pruned.netron.json'));
    assert.equal(r.code, 0, r.stderr);
    const attachment = JSON.parse(readFileSync(path.join(dir, 'pruned.netron.json'), 'utf8')) as { signature: string; metrics: { kind: string; target: string; name: string; value: unknown }[] };
    assert.equal(attachment.signature, 'netron:attachment');
    const first = weighted[0]!;
    const sparsity = attachment.metrics.find((m) => m.target === first.layer && m.name === 'parsimony.sparsity')!;
    assert.equal(sparsity.value, Number(first.b!.sparsity.toFixed(4)));
    assert.equal(JSON.parse(netronAttachment(diff, 'a')).metrics.length > 0, true);
  });
});

describe('diff --data: per-layer output SNR (example MLP, TF.js)', function () {
  this.timeout(120_000);
  const MLP = 'examples/mnist-mlp';

  /** 10·log10(Σa²/Σ(a−b)²) of the hidden1 outputs, computed with stock TF.js and truncated models. */
  async function hidden1Snr(a: string, b: string, samples: number): Promise<number> {
    const { tf } = await loadTf();
    const digits = loadMnist('test', samples);
    const x = tf.tensor(digits.x, [digits.count, ...digits.shape]);
    const outputs: Float32Array[] = [];
    for (const file of [a, b]) {
      const model = await loadLayersModelFromFile(file);
      const truncated = tf.model({ inputs: model.inputs, outputs: model.getLayer('hidden1').output as import('@tensorflow/tfjs').SymbolicTensor });
      const y = truncated.predict(x) as import('@tensorflow/tfjs').Tensor;
      outputs.push(y.dataSync() as Float32Array);
      y.dispose();
      model.dispose();
    }
    x.dispose();
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < outputs[0]!.length; i++) {
      signal += outputs[0]![i]! ** 2;
      noise += (outputs[0]![i]! - outputs[1]![i]!) ** 2;
    }
    return 10 * Math.log10(signal / noise);
  }

  it('reports identical outputs against itself, and finite per-layer SNRs lower for 90% pruning than for 8-bit quantization', async () => {
    const dir = tempCopy(MLP);
    const model = path.join(dir, 'model.json');
    const self = await cli('diff', model, model, '--data', 'mnist:300', '--json');
    assert.equal(self.code, 0, self.stderr);
    const selfDiff = JSON.parse(self.stdout) as ModelDiff;
    assert.deepEqual(selfDiff.snrData, { dataset: 'mnist:300', samples: 300, shapeMismatch: [] });
    assert.deepEqual(selfDiff.layers.map((l) => [l.layer, l.outputIdentical, l.outputSnrDb]), [
      ['flatten', true, null],
      ['hidden1', true, null],
      ['hidden2', true, null],
      ['output', true, null],
    ]);

    const quantized = (await compressModel(model, [{ method: 'quantize', options: { dtype: 'uint8' } }])).output;
    const pruned = (await compressModel(model, [{ method: 'prune', options: { sparsity: 0.9, includeEnds: true } }])).output;
    const q = JSON.parse((await cli('diff', model, quantized, '--data', 'mnist:300', '--json')).stdout) as ModelDiff;
    const p = JSON.parse((await cli('diff', model, pruned, '--data', 'mnist:300', '--json')).stdout) as ModelDiff;
    for (const layer of ['hidden1', 'hidden2', 'output']) {
      const qs = q.layers.find((l) => l.layer === layer)!;
      const ps = p.layers.find((l) => l.layer === layer)!;
      assert.equal(qs.outputIdentical, false, layer);
      assert.equal(ps.outputIdentical, false, layer);
      assert.ok(Number.isFinite(qs.outputSnrDb) && Number.isFinite(ps.outputSnrDb), `${layer}: ${qs.outputSnrDb} / ${ps.outputSnrDb}`);
      assert.ok(ps.outputSnrDb! < qs.outputSnrDb!, `${layer}: pruned ${ps.outputSnrDb} dB should be below quantized ${qs.outputSnrDb} dB`);
    }
    // 8-bit affine weights: roughly 6 dB per bit, far above the pruned model.
    assert.ok(q.layers.find((l) => l.layer === 'hidden1')!.outputSnrDb! > 30);
    for (const [file, diff] of [[quantized, q], [pruned, p]] as const) {
      const expected = await hidden1Snr(model, file, 300);
      const got = diff.layers.find((l) => l.layer === 'hidden1')!.outputSnrDb!;
      assert.ok(Math.abs(got - expected) < 0.1, `${path.basename(file)} hidden1: ${got} dB vs ${expected} dB computed with stock TF.js`);
    }

    // The table and the Netron attachment carry the same figures.
    const table = await cli('diff', model, pruned, '--data', 'mnist:300', '--netron', path.join(dir, 'pruned.netron.json'));
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /SNR dB/);
    assert.match(table.stdout, /flatten .* identical/);
    const hidden2 = p.layers.find((l) => l.layer === 'hidden2')!;
    assert.match(table.stdout, new RegExp(`hidden2 .* ${hidden2.outputSnrDb!.toFixed(1)}\\n`));
    const attachment = JSON.parse(readFileSync(path.join(dir, 'pruned.netron.json'), 'utf8')) as { metrics: { target: string; name: string; value: unknown }[] };
    assert.equal(attachment.metrics.find((m) => m.target === 'hidden2' && m.name === 'parsimony.outputSnrDb')!.value, Number(hidden2.outputSnrDb!.toFixed(2)));
    assert.equal(attachment.metrics.find((m) => m.target === 'flatten' && m.name === 'parsimony.outputSnrDb')!.value, 'identical');
  });

  it('gives no SNR where structured pruning changed a layer’s output shape, and still measures the rest', async () => {
    const model = path.join(tempCopy(MLP), 'model.json');
    const shrunk = (await compressModel(model, [{ method: 'structured-prune', options: { sparsity: 0.3 } }])).output;
    const r = await cli('diff', model, shrunk, '--data', 'mnist:100', '--limit', '50', '--json');
    assert.equal(r.code, 0, r.stderr);
    const diff = JSON.parse(r.stdout) as ModelDiff;
    assert.deepEqual(diff.snrData, { dataset: 'mnist:100', samples: 50, shapeMismatch: ['hidden1', 'hidden2'] });
    const row = (l: string) => diff.layers.find((x) => x.layer === l)!;
    assert.deepEqual([row('hidden1').outputSnrDb, row('hidden1').outputIdentical], [null, null]);
    assert.ok(Number.isFinite(row('output').outputSnrDb), `output: ${row('output').outputSnrDb}`);
    assert.equal(row('output').outputIdentical, false);
  });

  it('refuses non-TF.js models and --limit without --data (exit 2)', async () => {
    const index = path.join(tempCopy(FIXTURE), 'model.safetensors.index.json');
    const r = await cli('diff', index, index, '--data', 'mnist:10');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /TF\.js layers models/);
    const usage = await cli('diff', index, index, '--limit', '5');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--limit needs --data/);
  });
});

describe('recipes with training steps (example MLP)', function () {
  this.timeout(180_000);

  /** A workspace holding a copy of the example MLP and a recipe: prune 0.8 → finetune 1 epoch → cluster 16. */
  function workspace(steps?: unknown[], dataset: string | null = 'mnist:train:1000'): { ws: string; recipe: string } {
    const ws = path.dirname(tempCopy('examples/mnist-mlp'));
    mkdirSync(path.join(ws, '.parsimony', 'recipes'), { recursive: true });
    const recipe = path.join(ws, '.parsimony', 'recipes', 'tuned.json');
    writeFileSync(
      recipe,
      JSON.stringify({
        source: 'mnist-mlp/model.json',
        dataset,
        seed: 3,
        steps: steps ?? [{ method: 'prune', sparsity: 0.8 }, { method: 'finetune', epochs: 1 }, { method: 'cluster', clusters: 16 }],
      }),
    );
    return { ws, recipe };
  }

  it('prune → finetune → cluster: same bytes and same recorded metrics twice; fine-tuning beats the pruned model', async () => {
    const runs: { result: { output: string; steps: { method: string; output: string; runId: string }[] }; ws: string }[] = [];
    for (let n = 0; n < 2; n++) {
      const { ws, recipe } = workspace();
      const r = await cli('run', recipe, '--json');
      assert.equal(r.code, 0, r.stderr);
      runs.push({ result: JSON.parse(r.stdout), ws });
    }
    const [first, second] = runs as [(typeof runs)[0], (typeof runs)[0]];
    assert.deepEqual(first.result.steps.map((s) => s.method), ['prune', 'finetune', 'cluster']);
    const modelFiles = (ws: string) => Object.fromEntries(Object.entries(hashTree(path.join(ws, 'mnist-mlp'))).filter(([f]) => !f.endsWith('.parsimony.json')));
    const a = modelFiles(first.ws);
    assert.deepEqual(a, modelFiles(second.ws), 'every model file of every step is byte-identical');
    assert.equal(Object.keys(a).length, 3 + 3 * 2, 'the source folder (model, weights, metrics) + three steps, each model.json + weights');

    const records = (ws: string) => listRuns(ws);
    const [ra, rb] = [await records(first.ws), await records(second.ws)];
    assert.equal(ra.length, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(ra[i]!.id, first.result.steps[i]!.runId);
      assert.deepEqual(ra[i]!.metrics, rb[i]!.metrics, `step ${i + 1} metrics`);
      assert.equal(ra[i]!.outputHash, rb[i]!.outputHash);
    }
    // Each step starts from the previous step's output.
    assert.equal(ra[1]!.model, ra[0]!.output);
    assert.equal(ra[2]!.model, ra[1]!.output);
    const finetune = ra[1]!;
    assert.equal(finetune.method, 'finetune');
    assert.equal(finetune.dataset, 'mnist:train:1000');
    assert.equal((finetune.options as { seed: number }).seed, 3);
    // The pruned model (the finetune step's input), evaluated independently on the same held-out digits.
    const pruned = await cli('evaluate', path.join(first.ws, ra[0]!.output!), '--data', 'mnist', '--no-record', '--no-latency', '--json');
    const prunedAccuracy = (JSON.parse(pruned.stdout) as { accuracy: number }).accuracy;
    assert.ok(finetune.metrics!.accuracy! > prunedAccuracy, `fine-tuned ${finetune.metrics!.accuracy} should beat pruned ${prunedAccuracy}`);
    assert.equal(finetune.metrics!.samples, 1996);
    // Clustering keeps the zeros and at most 16 other values per kernel.
    const final = await openModel(first.result.output);
    for (const layer of final.layers) for (const t of layer.tensors) {
      if (!t.isParameter || t.shape.length < 2) continue;
      assert.ok(new Set(await t.read!()).size <= 16 + 1, t.name);
    }
  });

  it('rejects an unknown training option or a training step without data (exit 2, naming the recipe and the step), before writing anything', async () => {
    const typo = workspace([{ method: 'prune', sparsity: 0.5 }, { method: 'finetune', epoch: 1 }]);
    const r = await cli('run', typo.recipe);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tuned\.json: step 2 \(finetune\): unknown option 'epoch'/);
    const noData = workspace([{ method: 'finetune', epochs: 1 }], null);
    const r2 = await cli('run', noData.recipe);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /tuned\.json: step 1 \(finetune\) trains: set "dataset"/);
    const badValue = workspace([{ method: 'prune', sparsity: 0.5 }, { method: 'finetune', epochs: 0 }]);
    const r3 = await cli('run', badValue.recipe);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /step 2 \(finetune\): epochs must be a positive integer/);
    for (const w of [typo, noData, badValue]) assert.deepEqual(readdirSync(path.join(w.ws, 'mnist-mlp')).sort(), ['metrics.json', 'model.json', 'weights.bin']);
  });

  it('a recipe cancelled in its last step leaves no outputs and no run records', async () => {
    const { ws, recipe } = workspace();
    let cancel = false;
    await assert.rejects(
      runRecipe(recipe, {
        workspace: ws,
        onProgress: (_f, m) => {
          if (m.startsWith('step 3/3')) cancel = true;
        },
        isCancelled: () => cancel,
      }),
      (e: unknown) => isCancelled(e),
    );
    assert.ok(cancel);
    assert.deepEqual(readdirSync(path.join(ws, 'mnist-mlp')).sort(), ['metrics.json', 'model.json', 'weights.bin']);
    assert.deepEqual(await listRuns(ws), []);
  });
});

describe('budget quick fix for maxParams alone', function () {
  this.timeout(120_000);

  it('offers low-rank at a chosen rank, then structured pruning, each applied as the quick fix does passing parsimony check', async () => {
    const ws = path.dirname(tempCopy('examples/mnist-mlp'));
    const model = 'mnist-mlp/model.json';
    const file = path.join(ws, model);
    mkdirSync(path.join(ws, '.parsimony'));
    const budgetFile = path.join(ws, '.parsimony', 'budget.json');
    writeFileSync(budgetFile, JSON.stringify({ models: { [model]: { maxParams: 150_000 } } }));
    const failing = await cli('check', '--workspace', ws, '--json');
    assert.equal(failing.code, 1);
    const check = (JSON.parse(failing.stdout) as CheckResult).models[0]!;
    assert.equal(check.measured!.params, 235_146);
    assert.deepEqual(check.violations.map((v) => v.key), ['maxParams']);

    // No hints: nothing but an architecture change can remove parameters.
    const fixes = await fixesFor(file, check.budget, check.measured!, []);
    assert.deepEqual(fixes.map((f) => f.method), ['low-rank', 'structured-prune']);
    // The highest rank that fits: hidden1 (784→256) and hidden2 (256→128) factorized, the output layer (break-even 9) not.
    const rank = Number(fixes[0]!.args[1]);
    const params = (r: number) => 235_146 - (784 * 256 - 1040 * r) - (r < 86 ? 256 * 128 - 384 * r : 0) - (r < 10 ? 1280 - 138 * r : 0);
    assert.ok(params(rank) <= 150_000 && params(rank + 1) > 150_000, `rank ${rank}`);
    assert.equal(fixes[0]!.estimate.params, params(rank));
    assert.equal(fixes[1]!.args[0], '--sparsity');

    for (const fix of fixes) {
      // The quick fix runs `parsimony compress <model> --method <method> <args…>` (Compress Model with a preset).
      const r = await cli('compress', file, '--method', fix.method, ...fix.args, '--workspace', ws, '--json');
      assert.equal(r.code, 0, r.stderr);
      const output = path.relative(ws, (JSON.parse(r.stdout) as { output: string }).output).split(path.sep).join('/');
      writeFileSync(budgetFile, JSON.stringify({ models: { [output]: { maxParams: 150_000 } } }));
      const passing = await cli('check', '--workspace', ws, '--json');
      assert.equal(passing.code, 0, `${fix.label}: ${passing.stdout}`);
      const measured = (JSON.parse(passing.stdout) as CheckResult).models[0]!.measured!;
      assert.equal(measured.params, fix.estimate.params, `${fix.label}: the estimate is the written model's count`);
    }
  });

  it('magnitude pruning does not count: params are every parameter, zero or not', async () => {
    const doc = await openModel('examples/mnist-mlp/model.json');
    const m = { params: 235_146, bytesOnDisk: 940_584, bytesGzip: 870_000, bytesInMemory: 940_584, macs: 235_000, accuracy: null };
    const hints = [{ kind: 'prunable', layer: 'hidden1', savingsParams: 150_000, savingsBytes: 600_000 }] as unknown as Hint[];
    const fixes = fixCandidates(doc.format, { maxParams: 200_000 }, m, hints, await kernelShapes(doc));
    assert.ok(fixes.length > 0 && fixes.every((f) => f.method !== 'prune' && f.method !== 'quantize'));
    // Without kernels (a weights-only format) there is no way to meet maxParams.
    assert.deepEqual(fixCandidates('safetensors', { maxParams: 200_000 }, m, hints), []);
  });
});

describe('recipes from recorded runs (the Lab’s Save as recipe…)', function () {
  this.timeout(180_000);

  it('follows a chain of runs back to the original model, and the recipe reproduces the output bytes', async () => {
    const ws = path.dirname(tempCopy('examples/mnist-mlp'));
    mkdirSync(path.join(ws, '.parsimony'));
    const compress = async (file: string, ...args: string[]) => {
      const r = await cli('compress', file, ...args, '--workspace', ws, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { output: string; runId: string };
    };
    const pruned = await compress(path.join(ws, 'mnist-mlp', 'model.json'), '--method', 'prune', '--sparsity', '0.7');
    const tuned = await compress(pruned.output, '--method', 'finetune', '--data', 'mnist:train:500', '--eval-data', 'mnist:300', '--epochs', '1', '--sparsity', '0.7');
    const last = await compress(tuned.output, '--method', 'prune,cluster,huffman', '--sparsity', '0.75', '--clusters', '8');
    // An unrelated run on the original model is not part of the chain.
    await compress(path.join(ws, 'mnist-mlp', 'model.json'), '--method', 'quantize', '--dtype', 'float16');

    const recipe = recipeFromRuns(await listRuns(ws), last.runId, ws);
    assert.equal(recipe.source, 'mnist-mlp/model.json');
    assert.equal(recipe.dataset, 'mnist:train:500');
    assert.deepEqual(recipe.steps.map((s) => s.method), ['prune', 'finetune', 'prune', 'cluster', 'huffman']);
    assert.equal(recipe.steps[0]!.options.sparsity, 0.7);
    assert.deepEqual(
      { ...recipe.steps[1]!.options },
      { evalData: 'mnist:300', epochs: 1, sparsity: 0.7, batchSize: 64, learningRate: 5e-4, seed: 1 },
      'the training options as resolved when it ran, the data moved to the recipe',
    );
    assert.equal(recipe.steps[3]!.options.clusters, 8);

    // Run the saved recipe in a fresh workspace holding only the original model: same files, same bytes.
    const fresh = path.dirname(tempCopy('examples/mnist-mlp'));
    mkdirSync(path.join(fresh, '.parsimony', 'recipes'), { recursive: true });
    const file = path.join(fresh, '.parsimony', 'recipes', 'chain.json');
    writeFileSync(file, recipeJson(recipe.source, recipe.steps, recipe.dataset, recipe.seed));
    const r = await cli('run', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { output: string; steps: { output: string }[] };
    assert.equal(path.basename(result.output), path.basename(last.output));
    const outputs = (root: string, main: string) => {
      const json = JSON.parse(readFileSync(main, 'utf8')) as { weightsManifest: { paths: string[] }[] };
      return [main, ...json.weightsManifest.flatMap((g) => g.paths.map((p) => path.join(path.dirname(main), p)))].map((f) => [path.relative(root, f), sha(f)]);
    };
    assert.deepEqual(outputs(fresh, result.output), outputs(ws, last.output));
  });

  it('refuses evaluations and unknown runs, and validates recipe names', async () => {
    assert.throws(() => recipeFromRuns([], 'nope', '/tmp'), /no run record 'nope'/);
    const evaluation = { id: 'e', kind: 'evaluate', method: 'evaluate', output: null } as unknown as RunRecord;
    assert.throws(() => recipeFromRuns([evaluation], 'e', '/tmp'), /only compressions can be saved as recipes/);
    assert.equal(recipeNameProblem('prune-then-tune_2'), undefined);
    for (const bad of ['', ' ', '../x', 'a/b', 'a b', '.hidden', 'x.json', 'é', 'x'.repeat(101)]) assert.ok(recipeNameProblem(bad), JSON.stringify(bad));
  });
});

describe('recipe JSON schema (completion and validation in the editor)', () => {
  it('lists exactly the methods and, per method, exactly the options parseRecipe accepts', () => {
    const schema = JSON.parse(readFileSync('schemas/recipe.schema.json', 'utf8')) as {
      properties: { steps: { items: { properties: { method: { enum: string[] } }; allOf: { if: { properties: { method: { const: string } } }; then: { properties: Record<string, unknown> } }[] } } };
    };
    const items = schema.properties.steps.items;
    assert.deepEqual(items.properties.method.enum, [...METHOD_IDS, ...TRAIN_METHOD_IDS]);
    assert.deepEqual(items.allOf.map((b) => b.if.properties.method.const), [...METHOD_IDS, ...TRAIN_METHOD_IDS]);
    for (const branch of items.allOf) {
      const method = branch.if.properties.method.const as RecipeMethod;
      assert.deepEqual(Object.keys(branch.then.properties).filter((k) => k !== 'method').sort(), [...optionKeysFor(method)].sort(), method);
    }
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { contributes: { jsonValidation: { fileMatch: string; url: string }[] } };
    assert.ok(pkg.contributes.jsonValidation.some((v) => v.fileMatch === '**/.parsimony/recipes/*.json' && v.url === './schemas/recipe.schema.json'));
  });
});
