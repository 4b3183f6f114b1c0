// Runs inside the extension host of a real VS Code (code-server's), with the real
// `vscode` module: scripts/vscode/runIntegrationTests.mjs.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'parsimony.parsimony';

interface MenuEntry { command: string; when?: string; group?: string }
interface Manifest {
  contributes?: { commands?: { command: string }[]; menus?: Record<string, MenuEntry[]> };
}

function extension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded`);
  return ext;
}

describe('activation', () => {
  it(`loads the extension ${EXTENSION_ID} under development`, () => {
    extension();
  });

  it('activates', async () => {
    const ext = extension();
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  it('registers the analyze and refresh commands', async () => {
    await extension().activate();
    const commands = new Set(await vscode.commands.getCommands(true));
    for (const id of ['parsimony.analyzeModel', 'parsimony.refreshModels']) {
      assert.ok(commands.has(id), `command ${id} is not registered`);
    }
  });

  it('registers every command its package.json contributes', async () => {
    const ext = extension();
    await ext.activate();
    const contributed = ((ext.packageJSON as Manifest).contributes?.commands ?? []).map((c) => c.command);
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(contributed.filter((id) => !registered.has(id)), [], 'contributed but not registered');
  });

  it('gates its explorer context menu on built-in resource keys', () => {
    const menus = (extension().packageJSON as Manifest).contributes?.menus?.['explorer/context'] ?? [];
    assert.ok(menus.length > 0, 'no explorer/context menu entries');
    for (const entry of menus) {
      const when = entry.when ?? '';
      // Context keys of our own are unset until the extension activates, and
      // right-clicking a file must not need an active extension.
      assert.match(when, /\bresource(Filename|Extname|Path|Dirname|LangId|Scheme)?\b|\bexplorerResourceIsFolder\b/,
        `${entry.command}: its "when" must test the resource with built-in keys: ${when}`);
      assert.doesNotMatch(when, /\bparsimony\.\w+/, `${entry.command}: its "when" uses a context key of our own: ${when}`);
    }
    const analyze = menus.find((m) => m.command === 'parsimony.analyzeModel');
    assert.ok(analyze, 'no Analyze entry in the explorer context menu');
    assert.match(analyze.when ?? '', /\bresourceFilename\b/, 'Analyze: model.json is matched by resourceFilename');
    assert.match(analyze.when ?? '', /\bresourceExtname\b/, 'Analyze: .onnx/.safetensors/… are matched by resourceExtname');
  });
});

describe('test workspace', () => {
  it('is a copy of examples/ with the example models', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder is open');
    const models = (await vscode.workspace.findFiles('**/model.json')).map((u) => vscode.workspace.asRelativePath(u, false)).sort();
    assert.ok(models.includes('mnist-mlp/model.json'), `found ${JSON.stringify(models)}`);
  });

  it('refreshes the Models view on command', async () => {
    await extension().activate();
    await vscode.commands.executeCommand('parsimony.refreshModels');
  });
});
