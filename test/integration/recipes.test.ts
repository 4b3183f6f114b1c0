// The Compression Lab's "Save as recipe…" (the parsimony.saveRecipe command its
// run/saveRecipe message triggers), and Compare Models measuring per-layer
// output SNR on the model's selected dataset.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { ModelDiff } from '../../src/core/analysis/diff';
import { api, MLP, removeFiles, repoRoot, sha256, waitFor, workspaceDir, wsUri } from './helpers';

interface CompressJson {
  output: string;
}

const runsDir = () => path.join(workspaceDir(), '.parsimony', 'runs');

/** The id of the newest run record whose output is `output`. */
async function runIdFor(output: string): Promise<string> {
  const rel = path.relative(workspaceDir(), output).split(path.sep).join('/');
  const ids: string[] = [];
  for (const name of (await fsp.readdir(runsDir())).sort()) {
    const record = JSON.parse(await fsp.readFile(path.join(runsDir(), name), 'utf8')) as { output: string | null };
    if (record.output === rel) ids.push(name.replace(/\.json$/, ''));
  }
  assert.ok(ids.length > 0, `no run record for ${rel}`);
  return ids.at(-1)!;
}

/** A TF.js model's files: model.json and the weight shards it lists. */
async function modelFiles(main: string): Promise<string[]> {
  const json = JSON.parse(await fsp.readFile(main, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  return [main, ...json.weightsManifest.flatMap((g) => g.paths.map((p) => path.join(path.dirname(main), p)))];
}

describe('recipes and comparisons from the editor', function () {
  this.timeout(120_000);
  const written: string[] = [];

  before(async () => {
    await api();
  });

  after(async () => {
    await removeFiles(...written);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('saves a chain of two compressions as a recipe that reproduces the output bytes', async () => {
    const pruned = await vscode.commands.executeCommand<CompressJson>('parsimony.compressModel', { uri: wsUri(MLP), method: 'prune', args: ['--sparsity', '0.6'] });
    assert.ok(pruned?.output);
    const clustered = await vscode.commands.executeCommand<CompressJson>('parsimony.compressModel', { uri: vscode.Uri.file(pruned.output), method: 'cluster', args: ['--clusters', '8'] });
    assert.ok(clustered?.output);
    written.push(...(await modelFiles(pruned.output)), ...(await modelFiles(clustered.output)));
    const runId = await runIdFor(clustered.output);

    // What the pruned model's Lab runs for the clustered run's "Save as recipe…" (the name already asked);
    // the command follows the run's source back to the original model.
    const file = await vscode.commands.executeCommand<string>('parsimony.saveRecipe', vscode.Uri.file(pruned.output), runId, 'lab-chain');
    assert.equal(file, path.join(workspaceDir(), '.parsimony', 'recipes', 'lab-chain.json'));
    written.push(file);
    const recipe = JSON.parse(await fsp.readFile(file, 'utf8')) as { source: string; dataset: string | null; seed: number; steps: Record<string, unknown>[] };
    assert.equal(recipe.source, MLP);
    assert.equal(recipe.dataset, null);
    assert.deepEqual(recipe.steps, [
      { method: 'prune', sparsity: 0.6 },
      { method: 'cluster', clusters: 8 },
    ]);
    await waitFor('the recipe open in an editor', () => vscode.window.activeTextEditor?.document.uri.fsPath === file);

    // A name that is not a file name is refused; nothing is written.
    assert.equal(await vscode.commands.executeCommand('parsimony.saveRecipe', wsUri(MLP), runId, '../escape'), undefined);
    await assert.rejects(fsp.stat(path.join(workspaceDir(), '.parsimony', 'escape.json')));

    // `parsimony run` in a fresh workspace holding only the original model writes the same files, byte for byte.
    const fresh = await fsp.mkdtemp(path.join(os.tmpdir(), 'parsimony-recipe-'));
    await fsp.mkdir(path.join(fresh, 'mnist-mlp'));
    for (const f of await modelFiles(path.join(workspaceDir(), MLP))) await fsp.copyFile(f, path.join(fresh, 'mnist-mlp', path.basename(f)));
    await fsp.mkdir(path.join(fresh, '.parsimony', 'recipes'), { recursive: true });
    await fsp.copyFile(file, path.join(fresh, '.parsimony', 'recipes', 'lab-chain.json'));
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot(), 'dist', 'cli.js'), 'run', path.join(fresh, '.parsimony', 'recipes', 'lab-chain.json'), '--json'], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    const result = JSON.parse(stdout) as { output: string };
    const theirs = await modelFiles(result.output);
    const ours = await modelFiles(clustered.output);
    assert.deepEqual(theirs.map((f) => path.relative(fresh, f)), ours.map((f) => path.relative(workspaceDir(), f)));
    for (let i = 0; i < ours.length; i++) assert.equal(await sha256(theirs[i]!), await sha256(ours[i]!), path.basename(ours[i]!));
    await fsp.rm(fresh, { recursive: true, force: true });
  });

  it('Compare Models measures each layer’s output SNR on the model’s selected dataset', async () => {
    const pruned = await vscode.commands.executeCommand<CompressJson>('parsimony.compressModel', { uri: wsUri(MLP), method: 'prune', args: ['--sparsity', '0.9', '--include-ends'] });
    assert.ok(pruned?.output);
    written.push(...(await modelFiles(pruned.output)));
    const config = path.join(workspaceDir(), '.parsimony', 'config.json');
    const saved = await fsp.readFile(config, 'utf8').catch(() => undefined);
    try {
      await fsp.writeFile(config, JSON.stringify({ datasets: { [MLP]: 'mnist:200' } }));
      const diff = await vscode.commands.executeCommand<ModelDiff>('parsimony.compareModels', wsUri(MLP), vscode.Uri.file(pruned.output));
      assert.ok(diff, 'compareModels returned nothing');
      assert.deepEqual(diff.snrData, { dataset: 'mnist:200', samples: 200, shapeMismatch: [] });
      const snr = Object.fromEntries(diff.layers.map((l) => [l.layer, [l.outputIdentical, l.outputSnrDb]]));
      assert.deepEqual(snr.flatten, [true, null]);
      for (const layer of ['hidden1', 'hidden2', 'output']) {
        assert.equal(snr[layer]![0], false, layer);
        assert.ok(typeof snr[layer]![1] === 'number' && snr[layer]![1]! > 0 && snr[layer]![1]! < 40, `${layer}: ${snr[layer]![1]} dB`);
      }
      const report = await waitFor('the compare report', () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'parsimony-report' && d.uri.path.startsWith('/compare/') && d.getText().includes('SNR dB')));
      assert.match(report.getText(), /Output SNR of B against A on 200 samples of mnist:200/);
      assert.match(report.getText(), /\| flatten \|.*\| identical \|/);
    } finally {
      if (saved === undefined) await removeFiles(config);
      else await fsp.writeFile(config, saved);
    }
  });
});
