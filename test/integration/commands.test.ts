// The commands, run the way the tree, the explorer and quick fixes run them:
// with a URI, a tree element or a preset, so no quick pick waits for a person.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HintsResult } from '../../src/core/analysis/hints';
import type { ModelDiff } from '../../src/core/analysis/diff';
import type { ModelSummary } from '../../src/core/analysis/summary';
import type { LabPanel } from '../../src/extension/lab/labPanel';
import {
  api, CNN, exists, listedModels, metrics, MLP, modelElement, removeFiles, sha256, topology, waitFor,
  workspaceDir, wsUri, type ParsimonyApi,
} from './helpers';

interface CompressJson {
  output: string;
  method: string;
  files: string[];
  before: { params: number; nonzeroParams: number; bytesOnDisk: number };
  after: { params: number; nonzeroParams: number; bytesOnDisk: number };
}

/** Files in the example folders now, so the suite can remove what it made. */
async function snapshot(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const dir of ['mnist-mlp', 'mnist-cnn']) {
    for (const f of await fsp.readdir(path.join(workspaceDir(), dir))) out.add(path.join(workspaceDir(), dir, f));
  }
  return out;
}

describe('commands', function () {
  this.timeout(90_000);
  let p: ParsimonyApi;
  let before0: Set<string>;

  before(async () => {
    p = await api();
    before0 = await snapshot();
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const made = [...(await snapshot())].filter((f) => !before0.has(f));
    await removeFiles(...made, path.join(workspaceDir(), '.parsimony', 'recipes'));
    await vscode.commands.executeCommand('parsimony.refreshModels');
  });

  it('Analyze Model returns the summary and opens a report of every layer', async () => {
    const { params } = await metrics(MLP);
    const layers = await topology(MLP);
    const summary = await vscode.commands.executeCommand<ModelSummary>('parsimony.analyzeModel', wsUri(MLP));
    assert.ok(summary, 'analyzeModel returned nothing');
    assert.equal(summary.totalParams, params);
    assert.equal(summary.format, 'tfjs-layers');
    assert.deepEqual(summary.layers.map((l) => [l.name, l.params]), layers.map((l) => [l.name, l.params]));
    const report = await waitFor('the report document to open', () =>
      vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'parsimony-report' && d.uri.path.endsWith(`${MLP}.md`)),
    );
    const text = report.getText();
    assert.ok(text.includes(`| parameters | ${params.toLocaleString('en-US')} `), text.slice(0, 500));
    for (const l of layers) assert.match(text, new RegExp(`\\| ${l.name} \\| ${l.className} \\| ${l.params.toLocaleString('en-US')} \\|`));
  });

  it('Show Redundancy Hints returns hints, and the layers get a lightbulb', async () => {
    const result = await vscode.commands.executeCommand<HintsResult>('parsimony.showHints', wsUri(MLP));
    assert.ok(result, 'showHints returned nothing');
    assert.ok(result.hints.length > 0, 'no hints for the MLP');
    const weighted = (await topology(MLP)).filter((l) => l.params > 0).map((l) => l.name);
    for (const h of result.hints) {
      assert.ok(weighted.includes(h.layer), `hint for unknown layer ${h.layer}`);
      assert.ok(h.savingsBytes >= 0 && h.error >= 0 && h.error <= 1, JSON.stringify(h));
    }
    assert.equal(p.ctx.models.cachedHints(wsUri(MLP))?.hints.length, result.hints.length);
    const hinted = new Set(result.hints.map((h) => h.layer));
    const model = (await modelElement(p, MLP))!;
    for (const layer of await p.ctx.tree.getChildren(model)) {
      const item = await p.ctx.tree.getTreeItem(layer);
      const name = String(item.label);
      if (hinted.has(name)) {
        assert.equal(item.contextValue, 'layer.weighted.hinted', name);
        assert.equal((item.iconPath as vscode.ThemeIcon).id, 'lightbulb', name);
        assert.match(typeof item.tooltip === 'object' ? item.tooltip.value : '', /Redundancy hints/, name);
      } else {
        assert.doesNotMatch(item.contextValue ?? '', /hinted/, name);
      }
    }
    assert.ok(hinted.has('hidden1'), 'the biggest layer has no hint');
  });

  it('Show Redundancy Hints with a dataset selected measures dead units on it, and the report says so', async () => {
    const config = path.join(workspaceDir(), '.parsimony', 'config.json');
    const previous = await fsp.readFile(config, 'utf8').catch(() => null);
    await fsp.mkdir(path.dirname(config), { recursive: true });
    await fsp.writeFile(config, JSON.stringify({ datasets: { [CNN]: 'mnist:300' } }));
    try {
      const result = await vscode.commands.executeCommand<HintsResult>('parsimony.showHints', wsUri(CNN));
      assert.ok(result, 'showHints returned nothing');
      assert.equal(result.basis, 'data');
      assert.equal(result.data?.dataset, 'mnist:300');
      assert.equal(result.data?.samples, 300);
      // The trained CNN's hidden Dense layer has ReLU units that never fire on MNIST.
      const dead = result.hints.find((h) => h.kind === 'dead-units' && h.layer === 'hidden');
      assert.ok(dead, JSON.stringify(result.hints.map((h) => `${h.layer} ${h.kind}`)));
      assert.equal(dead.detail.basis, 'data');
      assert.ok((dead.detail.units as number[]).length > 0);
      assert.equal(p.ctx.models.cachedHints(wsUri(CNN)), result);
      const report = await waitFor('the hints report', () =>
        vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'parsimony-report' && /hints/.test(d.uri.path) && d.getText().includes('mnist:300')),
      );
      assert.match(report.getText(), /\*\*Basis:\*\* dead units measured on \*\*mnist:300\*\* \(300 samples/);
      // A weights-only request (the tree's) is served by the data result: nothing is recomputed.
      assert.equal(await p.ctx.models.hints(wsUri(CNN), p.ctx.config.hintsEpsilon), result);
    } finally {
      if (previous === null) await removeFiles(config);
      else await fsp.writeFile(config, previous);
    }
  });

  let float16: string;

  it('Compress Model with a float16 preset writes a new model next to the original and leaves the original alone', async () => {
    const dir = path.join(workspaceDir(), 'mnist-mlp');
    const originals = [path.join(dir, 'model.json'), path.join(dir, 'weights.bin')];
    const hashes = await Promise.all(originals.map(sha256));
    const result = await vscode.commands.executeCommand<CompressJson>('parsimony.compressModel', {
      uri: wsUri(MLP), method: 'quantize', args: ['--dtype', 'float16'],
    });
    assert.ok(result, 'compressModel returned nothing (see the Parsimony output channel)');
    float16 = result.output;
    assert.equal(float16, path.join(dir, 'model.float16.json'));
    assert.ok(await exists(float16));
    assert.ok(await exists(path.join(dir, 'model.float16.weights.bin')), `files written: ${result.files.join(', ')}`);
    assert.deepEqual(await Promise.all(originals.map(sha256)), hashes, 'the original model changed');
    assert.equal(result.after.params, result.before.params);
    // float16 halves the weights: 940,584 → 470,292 bytes, plus the JSON.
    assert.ok(result.after.bytesOnDisk < result.before.bytesOnDisk * 0.55, `${result.before.bytesOnDisk} → ${result.after.bytesOnDisk}`);
    // The command refreshed the tree: the new model is listed and readable.
    const listed = await waitFor('model.float16.json in the Models view', async () => (await listedModels(p)).includes('mnist-mlp/model.float16.json'));
    assert.ok(listed);
    const analysis = await p.ctx.models.analyze(vscode.Uri.file(float16));
    assert.ok(analysis.ok && analysis.summary.totalParams === (await metrics(MLP)).params);
  });

  it('Compare Models reports the same parameters per layer and float16 weights for the copy', async () => {
    assert.ok(float16, 'needs the float16 model from the previous test');
    const diff = await vscode.commands.executeCommand<ModelDiff>('parsimony.compareModels', wsUri(MLP), vscode.Uri.file(float16));
    assert.ok(diff, 'compareModels returned nothing');
    const layers = await topology(MLP);
    assert.deepEqual(diff.layers.map((r) => r.layer), layers.map((l) => l.name));
    for (const row of diff.layers) {
      assert.ok(row.a && row.b, row.layer);
      assert.equal(row.b.params, row.a.params, row.layer);
      assert.equal(row.b.nonzeroParams, row.a.nonzeroParams, row.layer);
      if (row.a.params > 0) {
        assert.equal(row.a.dtype, 'float32', row.layer);
        assert.equal(row.b.dtype, 'float16', row.layer);
        assert.equal(row.b.bytes * 2, row.a.bytes, row.layer);
      }
    }
    assert.equal(diff.totals.a.params, diff.totals.b.params);
    await waitFor('the compare report', () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'parsimony-report' && d.uri.path.startsWith('/compare/')));
  });

  it('Compress This Layer from a layer row prunes only that layer', async () => {
    const model = (await modelElement(p, MLP))!;
    const layers = await p.ctx.tree.getChildren(model);
    const hidden1 = layers.find((l) => l.kind === 'layer' && l.index === 1)!;
    assert.equal((await p.ctx.tree.getTreeItem(hidden1)).label, 'hidden1');
    const result = await vscode.commands.executeCommand<CompressJson>('parsimony.compressLayer', hidden1, { method: 'prune', args: ['--sparsity', '0.5'] });
    assert.ok(result, 'compressLayer returned nothing');
    const kernel = 784 * 256;
    assert.equal(result.before.nonzeroParams - result.after.nonzeroParams, kernel / 2, 'half of hidden1/kernel set to zero');
    const diff = await vscode.commands.executeCommand<ModelDiff>('parsimony.compareModels', wsUri(MLP), vscode.Uri.file(result.output));
    for (const row of diff!.layers) {
      if (row.layer === 'hidden1') assert.equal(row.b!.nonzeroParams, row.a!.params - kernel / 2);
      else assert.equal(row.b!.nonzeroParams, row.a!.nonzeroParams, `${row.layer} was touched`);
    }
  });

  it('Open Compression Lab twice on one model shows one panel', async () => {
    const first = await vscode.commands.executeCommand<LabPanel>('parsimony.openLab', wsUri(CNN));
    assert.ok(first, 'openLab returned nothing');
    const second = await vscode.commands.executeCommand<LabPanel>('parsimony.openLab', wsUri(CNN));
    assert.equal(second, first);
    assert.equal(first.panel.title, 'Lab: model.json');
    assert.equal(first.uri.fsPath, wsUri(CNN).fsPath);
    const labTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview && /parsimony\.lab$/.test(t.input.viewType));
    await waitFor('the Lab tab', () => labTabs().length > 0);
    assert.deepEqual(labTabs().map((t) => t.label), ['Lab: model.json'], 'one Lab tab');
    // The webview loaded its script and said it is ready (the host then sent it the model).
    await waitFor('the Lab webview to say ready', () => first['ready'], { timeout: 30_000 });
    const other = await vscode.commands.executeCommand<LabPanel>('parsimony.openLab', wsUri(MLP));
    assert.notEqual(other, first, 'another model gets its own panel');
    other!.panel.dispose();
    first.panel.dispose();
  });

  it('closing the Lab while it is still loading leaves no error behind', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const lab = await vscode.commands.executeCommand<LabPanel>('parsimony.openLab', wsUri(MLP));
      assert.ok(lab);
      // Close it as soon as the webview says ready: the host is then still gathering
      // the init message (sizes, gzip of 900 KiB of weights, run records).
      await waitFor('the Lab webview to say ready', () => lab['ready'], { timeout: 30_000, interval: 5 });
      lab.panel.dispose();
      await new Promise((r) => setTimeout(r, 2_000));
      assert.deepEqual(rejections.map(String), []);
      // A new panel opens fine afterwards.
      const again = await vscode.commands.executeCommand<LabPanel>('parsimony.openLab', wsUri(MLP));
      assert.notEqual(again, lab);
      await waitFor('the new Lab to say ready', () => again!['ready'], { timeout: 30_000 });
      again!.panel.dispose();
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('Run Recipe runs the steps of .parsimony/recipes/x.json', async () => {
    const recipes = path.join(workspaceDir(), '.parsimony', 'recipes');
    await fsp.mkdir(recipes, { recursive: true });
    const recipe = path.join(recipes, 'x.json');
    await fsp.writeFile(recipe, JSON.stringify({ source: CNN, steps: [{ method: 'prune', sparsity: 0.5 }, { method: 'quantize', dtype: 'float16' }] }, null, 2));
    const result = await vscode.commands.executeCommand<{ output: string; steps: { method: string; output: string }[] }>('parsimony.runRecipe', vscode.Uri.file(recipe));
    assert.ok(result, 'runRecipe returned nothing');
    assert.deepEqual(result.steps.map((s) => s.method), ['prune', 'quantize']);
    assert.equal(result.output, result.steps[1]!.output);
    for (const s of result.steps) assert.ok(await exists(s.output), s.output);
    assert.equal(path.dirname(result.output), path.join(workspaceDir(), 'mnist-cnn'));
    const diff = await vscode.commands.executeCommand<ModelDiff>('parsimony.compareModels', wsUri(CNN), vscode.Uri.file(result.output));
    const { params } = await metrics(CNN);
    assert.equal(diff!.totals.b.params, params);
    assert.ok(diff!.totals.b.nonzeroParams < params * 0.6, `pruned: ${diff!.totals.b.nonzeroParams} of ${params} non-zero`);
    assert.ok(diff!.layers.filter((r) => r.b && r.b.params > 0).every((r) => r.b!.dtype === 'float16'));
    const rel = path.relative(workspaceDir(), result.output).split(path.sep).join('/');
    await waitFor(`${rel} in the Models view`, async () => (await listedModels(p)).includes(rel));
  });
});
