// Models on a virtual file system: a real FileSystemProvider registered in the
// extension host, added as a workspace folder. The Models view finds them (by
// walking the folder: findFiles needs a search provider the scheme lacks), reads
// them through vscode.workspace.fs, hovers and Analyze Model work, a truncated
// file is a clean error row, a file over the size limit is refused unread, and
// compressing is refused with a message instead of writing to the provider.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount } from '../../src/core/format';
import { api, descriptionText, hoverTexts, metrics, MLP, repoRoot, tooltipText, topology, waitFor, workspaceDir, type ModelTreeElement, type ParsimonyApi } from './helpers';
import { MemFs } from './memfs';

const SCHEME = 'parsimony-memfs';

describe('models on a virtual file system', function () {
  this.timeout(120_000);
  let p: ParsimonyApi;
  let memfs: MemFs;
  let registration: vscode.Disposable;
  let folderIndex = -1;
  let mlpParams: number;
  /** memfs path → parameters (from the fixture manifest and metrics.json, not from the extension). */
  const expected = new Map<string, number>();

  const fixture = (rel: string) => fsp.readFile(path.join(repoRoot(), 'test/fixtures/generated', rel));
  const virtualModels = async () => (await p.ctx.tree.getChildren()).filter((e) => e.uri.scheme === SCHEME);
  const element = async (p2: string) => (await virtualModels()).find((e) => e.uri.path === p2);

  before(async () => {
    p = await api();
    memfs = new MemFs(SCHEME);
    registration = vscode.workspace.registerFileSystemProvider(SCHEME, memfs, { isCaseSensitive: true });
    mlpParams = (await metrics(MLP)).params;
    memfs.writeFile(memfs.uri('/models/mlp.onnx'), await fixture('onnx/mlp.onnx'));
    memfs.writeFile(memfs.uri('/models/keras/mlp.h5'), await fixture('keras/keras2_mlp.h5'));
    for (const f of ['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      memfs.writeFile(memfs.uri(`/models/sharded/${f}`), await fixture(`safetensors/sharded/${f}`));
    }
    for (const f of ['model.json', 'weights.bin']) memfs.writeFile(memfs.uri(`/mnist/${f}`), await fsp.readFile(path.join(workspaceDir(), 'mnist-mlp', f)));
    // Under a folder parsimony.exclude leaves out (**/node_modules/**): never listed.
    memfs.writeFile(memfs.uri('/node_modules/pkg/bundled.onnx'), await fixture('onnx/mlp.onnx'));
    const onnx = await fixture('onnx/cnn.onnx');
    memfs.writeFile(memfs.uri('/broken/cut.onnx'), onnx.subarray(0, onnx.length >> 1));
    expected.set('/models/mlp.onnx', 2410).set('/models/keras/mlp.h5', 1002).set('/mnist/model.json', mlpParams);
    // The index and, as on disk, each shard by itself.
    expected.set('/models/sharded/model.safetensors.index.json', 6800).set('/models/sharded/model-00001-of-00002.safetensors', 3392).set('/models/sharded/model-00002-of-00002.safetensors', 3408);

    const added = new Promise<void>((resolve) => {
      const sub = vscode.workspace.onDidChangeWorkspaceFolders(() => {
        sub.dispose();
        resolve();
      });
    });
    folderIndex = vscode.workspace.workspaceFolders?.length ?? 0;
    assert.ok(vscode.workspace.updateWorkspaceFolders(folderIndex, 0, { uri: memfs.uri('/'), name: 'virtual models' }), 'the folder was not added');
    await added;
  });

  after(async () => {
    await vscode.workspace.getConfiguration('parsimony').update('virtualFiles.maxSizeMB', undefined, vscode.ConfigurationTarget.Global);
    if (folderIndex >= 0 && vscode.workspace.workspaceFolders?.[folderIndex]?.uri.scheme === SCHEME) {
      const removed = new Promise<void>((resolve) => {
        const sub = vscode.workspace.onDidChangeWorkspaceFolders(() => {
          sub.dispose();
          resolve();
        });
      });
      vscode.workspace.updateWorkspaceFolders(folderIndex, 1);
      await removed;
    }
    registration?.dispose();
    await vscode.commands.executeCommand('parsimony.refreshModels');
  });

  it('lists the models of the virtual folder, read through the provider, with their parameter counts', async () => {
    const listed = await waitFor('the virtual folder in the Models view', async () => {
      const found = await virtualModels();
      return found.length === expected.size + 1 ? found : undefined;
    }, { timeout: 20_000 });
    assert.deepEqual(listed.map((e) => e.uri.path).sort(), [...expected.keys(), '/broken/cut.onnx'].sort());
    for (const [file, params] of expected) {
      const item = await p.ctx.tree.getTreeItem((await element(file))!);
      assert.match(descriptionText(item), new RegExp(`^${formatCount(params).replace('.', '\\.')} params · `), file);
      assert.equal(item.contextValue, 'model.virtual', `${file}: the local-only menu entries must not show`);
      assert.match(tooltipText(item), new RegExp(`\\| parameters \\| ${params.toLocaleString('en-US')} \\|`));
    }
    // Bytes came through the provider: the files and a shard (a TF.js weights file is only stat'ed: analysis needs no values).
    for (const f of ['/models/mlp.onnx', '/models/keras/mlp.h5', '/models/sharded/model-00002-of-00002.safetensors', '/mnist/model.json']) {
      assert.ok((memfs.reads.get(f) ?? 0) > 0, `${f} was never read through the provider`);
    }
    // Layers of the MLP, as on disk.
    const want = await topology(MLP);
    const mnist = (await element('/mnist/model.json'))!;
    const layers = await p.ctx.tree.getChildren(mnist);
    assert.deepEqual(await Promise.all(layers.map(async (l) => String((await p.ctx.tree.getTreeItem(l)).label))), want.map((l) => l.name));
  });

  it('shows a truncated file on it as one clean error row naming its URI', async () => {
    const broken = (await element('/broken/cut.onnx'))!;
    const item = await p.ctx.tree.getTreeItem(broken);
    assert.equal(item.description, 'cannot read');
    assert.equal(item.contextValue, 'model.virtual.error');
    const children = await p.ctx.tree.getChildren(broken);
    assert.deepEqual(children.map((c) => c.kind), ['error']);
    const error = children[0] as Extract<ModelTreeElement, { kind: 'error' }>;
    assert.equal(error.code, 'truncated');
    assert.match(error.message, new RegExp(`^${SCHEME}:/broken/cut\\.onnx: `));
  });

  it('hovers layers in a model.json on it and analyzes it with Analyze Model', async () => {
    const uri = memfs.uri('/mnist/model.json');
    const doc = await vscode.workspace.openTextDocument(uri);
    const hidden1 = (await topology(MLP)).find((l) => l.name === 'hidden1')!;
    const at = doc.getText().indexOf('"hidden1"') + 3;
    assert.ok(at > 3);
    const hovers = await hoverTexts(uri, doc.positionAt(at));
    assert.ok(hovers.some((h) => h.includes(`| parameters | ${hidden1.params.toLocaleString('en-US')}`)), `hovers: ${JSON.stringify(hovers)}`);
    const summary = await vscode.commands.executeCommand<{ totalParams: number; format: string } | undefined>('parsimony.analyzeModel', uri);
    assert.equal(summary?.format, 'tfjs-layers');
    assert.equal(summary?.totalParams, mlpParams);
    await vscode.window.showTextDocument(doc);
    await waitFor('the status bar to show the virtual model', () => p.statusBar.text.includes(`${formatCount(mlpParams)} params`));
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('refuses to compress or compute hints for it, and writes nothing to the provider', async () => {
    const uri = memfs.uri('/models/mlp.onnx');
    const before = memfs.readDirectory(memfs.uri('/models')).map(([n]) => n).sort();
    const result = await vscode.commands.executeCommand('parsimony.compressModel', uri, { method: 'quantize', args: ['--dtype', 'float16'] });
    assert.equal(result, undefined);
    assert.deepEqual(memfs.readDirectory(memfs.uri('/models')).map(([n]) => n).sort(), before);
    await assert.rejects(p.ctx.models.hints(uri, 0.01), /Finding redundancy needs a model on the local disk: parsimony-memfs:\/models\/mlp\.onnx is on the 'parsimony-memfs' file system/);
  });

  it('lists a model written to it later (its file watcher), and refuses one over the size limit unread', async () => {
    await vscode.workspace.fs.writeFile(memfs.uri('/models/later.safetensors'), await fixture('safetensors/mixed_dtypes.safetensors'));
    const later = await waitFor('later.safetensors in the Models view', () => element('/models/later.safetensors'), { timeout: 20_000 });
    assert.match(descriptionText(await p.ctx.tree.getTreeItem(later)), new RegExp(`^${formatCount(157)} params`));

    // 1 KB: the 10 KB ONNX file is now too large to pull into memory.
    await vscode.workspace.getConfiguration('parsimony').update('virtualFiles.maxSizeMB', 1 / 1024, vscode.ConfigurationTarget.Global);
    const readsBefore = memfs.reads.get('/models/mlp.onnx') ?? 0;
    await vscode.commands.executeCommand('parsimony.refreshModels');
    const mlp = (await element('/models/mlp.onnx'))!;
    const [error] = await p.ctx.tree.getChildren(mlp);
    assert.equal(error?.kind, 'error');
    const e = error as Extract<ModelTreeElement, { kind: 'error' }>;
    assert.equal(e.code, 'too-large');
    assert.match(e.message, /parsimony\.virtualFiles\.maxSizeMB/);
    assert.equal(memfs.reads.get('/models/mlp.onnx') ?? 0, readsBefore, 'the file was read although it is over the limit');
  });
});
