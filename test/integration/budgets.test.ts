// .parsimony/budget.json: diagnostics on the budget and the model files, the
// quick fix, and the status bar's over-budget warning.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CheckResult } from '../../src/core/budget/check';
import { api, CNN, metrics, MLP, removeFiles, waitFor, workspaceDir, wsUri, type ParsimonyApi } from './helpers';

const budgetFile = () => path.join(workspaceDir(), '.parsimony', 'budget.json');
const ours = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'parsimony');

async function writeBudget(models: Record<string, Record<string, number>>): Promise<string> {
  await fsp.mkdir(path.dirname(budgetFile()), { recursive: true });
  const text = JSON.stringify({ models }, null, 2) + '\n';
  await fsp.writeFile(budgetFile(), text);
  return text;
}

/**
 * Re-checks until a check of the file as it is now has been published. The file
 * watcher starts checks of its own, and a newer check cancels an older one
 * (which then returns no results), so one call may not be enough.
 */
async function refreshed(p: ParsimonyApi, expectModels: number): Promise<CheckResult> {
  return waitFor('a budget check to finish', async () => {
    const results = await p.budgets.refresh();
    const r = results.find((x) => x.budget === budgetFile());
    return r && r.models.length === expectModels ? r : undefined;
  }, { timeout: 30_000, interval: 300 });
}

describe('budgets', function () {
  this.timeout(60_000);
  let p: ParsimonyApi;

  before(async () => {
    p = await api();
  });

  after(async () => {
    await removeFiles(budgetFile());
    await p.budgets.refresh();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('publishes no diagnostics when the models meet their limits', async () => {
    const { params } = await metrics(MLP);
    await writeBudget({ [MLP]: { maxParams: params, maxBytesOnDisk: 2_000_000 } });
    const result = await refreshed(p, 1);
    assert.equal(result.ok, true);
    assert.equal(result.models[0]!.measured?.params, params);
    assert.deepEqual(ours(vscode.Uri.file(budgetFile())), []);
    assert.deepEqual(ours(wsUri(MLP)), []);
    assert.equal(p.budgets.resultFor(wsUri(MLP).fsPath)?.ok, true);
  });

  it('warns on the budget file and on the model file when a model has too many parameters', async () => {
    const { params } = await metrics(MLP);
    const limit = params - 1_000;
    const text = await writeBudget({ [MLP]: { maxParams: limit } });
    const result = await refreshed(p, 1);
    assert.equal(result.ok, false);
    assert.deepEqual(result.models[0]!.violations.map((v) => [v.key, v.limit, v.actual]), [['maxParams', limit, params]]);

    const onBudget = ours(vscode.Uri.file(budgetFile()));
    assert.equal(onBudget.length, 1, JSON.stringify(onBudget));
    const d = onBudget[0]!;
    assert.equal(d.severity, vscode.DiagnosticSeverity.Warning);
    assert.equal(d.code, 'maxParams');
    assert.ok(d.message.startsWith(`${MLP}: `), d.message);
    assert.ok(d.message.includes(params.toLocaleString('en-US')) && d.message.includes(limit.toLocaleString('en-US')), d.message);
    // The range covers the model's key, quotes included.
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(budgetFile()));
    assert.equal(doc.getText(d.range), JSON.stringify(MLP));
    assert.equal(doc.getText(), text);

    const onModel = ours(wsUri(MLP));
    assert.equal(onModel.length, 1, JSON.stringify(onModel));
    assert.equal(onModel[0]!.severity, vscode.DiagnosticSeverity.Warning);
    assert.match(onModel[0]!.message, /^Over budget \(budget\.json\): params .* exceeds maxParams/);
    assert.deepEqual(ours(wsUri(CNN)), [], 'a model without a budget gets no diagnostics');
  });

  it('shows "over budget" in the status bar for that model', async () => {
    const { params } = await metrics(MLP);
    await writeBudget({ [MLP]: { maxParams: params - 1_000 } });
    await refreshed(p, 1);
    await vscode.window.showTextDocument(wsUri(MLP));
    await waitFor('the status bar to show the MLP', async () => (await p.statusBar.update())?.fsPath === wsUri(MLP).fsPath);
    assert.match(p.statusBar.text, /^\$\(warning\) 235K params · 921 KiB · over budget$/);
    // Within budget again: the warning goes away.
    await writeBudget({ [MLP]: { maxParams: params } });
    await refreshed(p, 1);
    await p.statusBar.update();
    assert.doesNotMatch(p.statusBar.text, /over budget/);
  });

  it('offers a Parsimony compression as the quick fix on the budget file', async () => {
    const { params } = await metrics(CNN);
    // 60,725 bytes on disk; float16 halves the weights and meets 40,000.
    await writeBudget({ [MLP]: { maxParams: (await metrics(MLP)).params }, [CNN]: { maxBytesOnDisk: 40_000, maxParams: params } });
    const result = await refreshed(p, 2);
    assert.deepEqual(result.models.map((m) => [m.model, m.ok]), [[MLP, true], [CNN, false]]);
    const uri = vscode.Uri.file(budgetFile());
    const doc = await vscode.workspace.openTextDocument(uri);
    const diagnostics = ours(uri);
    assert.equal(diagnostics.length, 1);
    assert.equal(doc.getText(diagnostics[0]!.range), JSON.stringify(CNN));
    const actions = await waitFor('code actions', () =>
      vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, diagnostics[0]!.range, vscode.CodeActionKind.QuickFix.value),
    );
    const fix = actions.find((a) => a.title.startsWith('Parsimony: '));
    assert.ok(fix, `no Parsimony quick fix among ${JSON.stringify(actions.map((a) => a.title))}`);
    assert.equal(fix.title, 'Parsimony: quantize to float16 to meet the budget');
    assert.equal(fix.isPreferred, true);
    assert.equal(fix.command?.command, 'parsimony.compressModel');
    const preset = fix.command?.arguments?.[0] as { uri: vscode.Uri; method: string; args: string[] };
    assert.equal(preset.uri.fsPath, wsUri(CNN).fsPath);
    assert.equal(preset.method, 'quantize');
    assert.deepEqual(preset.args, ['--dtype', 'float16']);
  });

  it('offers low-rank at a rank that meets maxParams alone, and applying it passes the budget', async () => {
    // No size-on-disk limit and no hints offering a factorization: only an architecture change removes parameters.
    await writeBudget({ [MLP]: { maxParams: 150_000 } });
    const result = await refreshed(p, 1);
    assert.deepEqual(result.models[0]!.violations.map((v) => v.key), ['maxParams']);
    const uri = vscode.Uri.file(budgetFile());
    const diagnostics = ours(uri);
    assert.equal(diagnostics.length, 1);
    const actions = await waitFor('code actions', () =>
      vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, diagnostics[0]!.range, vscode.CodeActionKind.QuickFix.value),
    );
    const fix = actions.find((a) => a.title.startsWith('Parsimony: '));
    assert.ok(fix, `no Parsimony quick fix among ${JSON.stringify(actions.map((a) => a.title))}`);
    assert.match(fix.title, /^Parsimony: low-rank factorization at rank \d+ \(removes [\d,]+ parameters\) to meet the budget$/);
    // Apply it as the light bulb does: the command with its arguments.
    const compressed = await vscode.commands.executeCommand<{ output: string }>(fix.command!.command, ...(fix.command!.arguments ?? []));
    assert.ok(compressed?.output, 'the quick fix wrote nothing');
    const output = path.relative(workspaceDir(), compressed.output).split(path.sep).join('/');
    try {
      await writeBudget({ [output]: { maxParams: 150_000 } });
      const after = await refreshed(p, 1);
      assert.equal(after.models[0]!.ok, true, JSON.stringify(after.models[0]));
      assert.ok(after.models[0]!.measured!.params <= 150_000);
    } finally {
      await removeFiles(compressed.output, compressed.output.replace(/\.json$/, '.weights.bin'), compressed.output.replace(/\.json$/, '.parsimony.json'));
    }
  });
});
