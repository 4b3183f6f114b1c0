// The Models view's data, as the tree shows it: labels, descriptions, tooltips,
// order, sorting, error rows and updates from the file watcher.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes, formatCount } from '../../src/core/format';
import {
  api, childLabels, CNN, descriptionText, listedModels, metrics, MLP, modelElement, removeFiles, repoRoot,
  tooltipText, topology, waitFor, workspaceDir, type ModelTreeElement, type ParsimonyApi,
} from './helpers';

/** On-disk bytes of a TF.js model: model.json plus its weight files, summed independently of the extension. */
async function tfjsBytes(model: string): Promise<number> {
  const file = path.join(workspaceDir(), model);
  const json = JSON.parse(await fsp.readFile(file, 'utf8'));
  const shards: string[] = json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths);
  let total = (await fsp.stat(file)).size;
  for (const s of shards) total += (await fsp.stat(path.join(path.dirname(file), s))).size;
  return total;
}

describe('Models view', function () {
  this.timeout(60_000);
  let p: ParsimonyApi;

  before(async () => {
    p = await api();
  });

  after(async () => {
    // Leave the setting as the tests found it, whatever failed.
    await vscode.commands.executeCommand('parsimony.sortByOrder');
  });

  it('lists both example models with their parameter count and size on disk', async () => {
    const listed = await listedModels(p);
    assert.ok(listed.includes(MLP) && listed.includes(CNN), `listed: ${JSON.stringify(listed)}`);
    for (const model of [MLP, CNN]) {
      const { params } = await metrics(model);
      const element = await modelElement(p, model);
      assert.ok(element);
      const item = await p.ctx.tree.getTreeItem(element);
      assert.equal(item.label, model);
      assert.equal(item.contextValue, 'model');
      assert.equal(descriptionText(item), `${formatCount(params)} params · ${formatBytes(await tfjsBytes(model))}`);
      assert.match(tooltipText(item), new RegExp(`\\| parameters \\| ${params.toLocaleString('en-US')} \\|`));
    }
    // The figures a person reads for the MLP (metrics.json: 235,146 params; 921 KiB on disk).
    const mlp = await p.ctx.tree.getTreeItem((await modelElement(p, MLP))!);
    assert.equal(descriptionText(mlp), '235K params · 921 KiB');
  });

  it("lists the MLP's layers in model order with parameter counts that add up to metrics.json's", async () => {
    const expected = await topology(MLP);
    const { params: total } = await metrics(MLP);
    assert.equal(expected.reduce((s, l) => s + l.params, 0), total, 'metrics.json and the weights manifest disagree');
    const element = (await modelElement(p, MLP))!;
    const layers = await p.ctx.tree.getChildren(element);
    assert.deepEqual(await childLabels(p, element), expected.map((l) => l.name));
    let sum = 0;
    for (const [i, layer] of layers.entries()) {
      const want = expected[i]!;
      assert.equal(layer.kind, 'layer');
      const item = await p.ctx.tree.getTreeItem(layer);
      const tooltip = tooltipText(item);
      const shown = /\| parameters \| ([\d,]+) \(/.exec(tooltip);
      assert.ok(shown, `${want.name}: no parameter row in its tooltip:\n${tooltip}`);
      const n = Number(shown[1]!.replace(/,/g, ''));
      assert.equal(n, want.params, `${want.name}: tooltip says ${n} parameters`);
      sum += n;
      assert.ok(tooltip.includes(`\`${want.className}\``), `${want.name}: tooltip does not name ${want.className}`);
      if (want.params > 0) {
        assert.match(descriptionText(item), new RegExp(`^${formatCount(want.params).replace('.', '\\.')} params · [\\d.]+%`));
        assert.match(item.contextValue ?? '', /^layer\.weighted/);
        for (const t of want.tensors) assert.ok(tooltip.includes(`\`[${t.shape.join(', ')}]\``), `${want.name}: tooltip lacks the shape of ${t.name}`);
      } else {
        assert.equal(descriptionText(item), want.className);
        assert.equal(item.contextValue, 'layer');
      }
    }
    assert.equal(sum, total);
  });

  it('shows the tensors under a layer with their shapes and dtypes', async () => {
    const expected = (await topology(MLP)).find((l) => l.name === 'hidden1')!;
    const element = (await modelElement(p, MLP))!;
    const layers = await p.ctx.tree.getChildren(element);
    const hidden1 = layers[1]!;
    assert.equal((await p.ctx.tree.getTreeItem(hidden1)).label, 'hidden1');
    const tensors = await p.ctx.tree.getChildren(hidden1);
    assert.equal(tensors.length, expected.tensors.length);
    const items = await Promise.all(tensors.map((t) => p.ctx.tree.getTreeItem(t)));
    assert.deepEqual(items.map((i) => i.label), ['kernel', 'bias']);
    assert.deepEqual(
      items.map((i) => descriptionText(i).split(' · ')[0]),
      expected.tensors.map((t) => `[${t.shape.join('×')}] float32`),
    );
    // 784×256 float32 = 802,816 bytes = 784 KiB
    assert.equal(descriptionText(items[0]!), '[784×256] float32 · 784 KiB');
    // reveal() works from a tensor up: getParent leads back to the model.
    const parent = p.ctx.tree.getParent(tensors[0]!);
    assert.equal(parent?.kind, 'layer');
    assert.equal(p.ctx.tree.getParent(parent!)?.kind, 'model');
  });

  it('sorts layers by size and back to model order with the toolbar commands', async () => {
    const expected = await topology(MLP);
    const bySize = [...expected].sort((a, b) => b.params - a.params).map((l) => l.name);
    assert.notDeepEqual(bySize, expected.map((l) => l.name), 'the test needs a model whose order differs by size');
    await vscode.commands.executeCommand('parsimony.sortBySize');
    assert.equal(vscode.workspace.getConfiguration('parsimony').get('tree.sortBySize'), true);
    assert.deepEqual(await childLabels(p, (await modelElement(p, MLP))!), bySize);
    await vscode.commands.executeCommand('parsimony.sortByOrder');
    assert.equal(vscode.workspace.getConfiguration('parsimony').get('tree.sortBySize'), false);
    assert.deepEqual(await childLabels(p, (await modelElement(p, MLP))!), expected.map((l) => l.name));
  });

  it('shows a corrupt model file as one error row, and follows it being created and deleted', async () => {
    const broken = path.join(workspaceDir(), 'broken.onnx');
    let changes = 0;
    const sub = p.ctx.tree.onDidChangeTreeData(() => changes++);
    try {
      await fsp.copyFile(path.join(repoRoot(), 'test', 'fixtures', 'corrupt', 'onnx', 'json.onnx'), broken);
      // No refresh command: the file watcher must notice.
      const element = await waitFor('broken.onnx in the Models view', () => modelElement(p, 'broken.onnx'), { timeout: 15_000 });
      assert.ok(changes > 0, 'the tree did not fire onDidChangeTreeData');
      const item = await p.ctx.tree.getTreeItem(element);
      assert.equal(item.label, 'broken.onnx');
      assert.equal(item.description, 'cannot read');
      assert.equal(item.contextValue, 'model.error');
      const children = await p.ctx.tree.getChildren(element);
      assert.equal(children.length, 1);
      const error = children[0]! as Extract<ModelTreeElement, { kind: 'error' }>;
      assert.equal(error.kind, 'error');
      const errorItem = await p.ctx.tree.getTreeItem(error);
      const tooltip = tooltipText(errorItem);
      assert.match(tooltip, /broken\.onnx/, tooltip);
      assert.match(tooltip, /ONNX/, tooltip);
      assert.match(tooltip, /JSON/, `the tooltip should say what the file really is: ${tooltip}`);
      assert.match(tooltip, /\[[a-z-]+\]$/, `the tooltip should end with the error code: ${tooltip}`);
      assert.equal(errorItem.contextValue, 'error');
      assert.equal(errorItem.collapsibleState, vscode.TreeItemCollapsibleState.None);

      await fsp.rm(broken);
      await waitFor('broken.onnx to leave the Models view', async () => !(await modelElement(p, 'broken.onnx')), { timeout: 15_000 });
      assert.ok((await listedModels(p)).includes(MLP));
    } finally {
      sub.dispose();
      await removeFiles(broken);
    }
  });

  it('lists a file added behind its back after Refresh Models', async () => {
    const broken = path.join(workspaceDir(), 'mnist-mlp', 'broken.onnx');
    try {
      await fsp.copyFile(path.join(repoRoot(), 'test', 'fixtures', 'corrupt', 'onnx', 'json.onnx'), broken);
      const count = await vscode.commands.executeCommand<number>('parsimony.refreshModels');
      const listed = await listedModels(p);
      assert.ok(listed.includes('mnist-mlp/broken.onnx'), JSON.stringify(listed));
      assert.equal(count, listed.length);
      const children = await p.ctx.tree.getChildren((await modelElement(p, 'mnist-mlp/broken.onnx'))!);
      assert.deepEqual(children.map((c) => c.kind), ['error']);
    } finally {
      await removeFiles(broken);
      await vscode.commands.executeCommand('parsimony.refreshModels');
    }
  });
});
