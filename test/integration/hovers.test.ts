// Hovers in model.json and in source code, and the status bar item, through
// VS Code's own hover and editor machinery.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes, formatCount } from '../../src/core/format';
import { api, hoverTexts, metrics, MLP, removeFiles, topology, waitFor, workspaceDir, wsUri, type ParsimonyApi } from './helpers';

/** Hovers that came from Parsimony (the JSON and TS language features add their own). */
const fromParsimony = (texts: string[]) => texts.filter((t) => /\| parameters \||parameters\*\*|parameters depend/.test(t));

describe('hovers', function () {
  this.timeout(60_000);
  let p: ParsimonyApi;
  const written: string[] = [];

  before(async () => {
    p = await api();
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await removeFiles(...written);
  });

  describe('in model.json', () => {
    let doc: vscode.TextDocument;
    let hidden1: { params: number };

    before(async () => {
      doc = await vscode.workspace.openTextDocument(wsUri(MLP));
      hidden1 = (await topology(MLP)).find((l) => l.name === 'hidden1')!;
    });

    it('is the one-line JSON TF.js writes', () => {
      assert.equal(doc.lineCount, 1);
    });

    it("over a layer's name shows its parameter count", async () => {
      const at = doc.getText().indexOf('"name":"hidden1"');
      assert.ok(at > 0, 'no "name":"hidden1" in the file');
      const position = doc.positionAt(at + '"name":"hid'.length);
      const hovers = fromParsimony(await hoverTexts(doc.uri, position));
      assert.equal(hovers.length, 1, `expected one Parsimony hover, got ${JSON.stringify(hovers)}`);
      assert.match(hovers[0]!, /\*\*hidden1\*\*/);
      assert.ok(hovers[0]!.includes(`| parameters | ${hidden1.params.toLocaleString('en-US')} (`), hovers[0]);
      assert.ok(hovers[0]!.includes('`[784, 256]`'), 'the hover lists the kernel shape');
    });

    it(`over the layer's "class_name": "Dense" shows the same layer`, async () => {
      const text = doc.getText();
      const nameAt = text.indexOf('"name":"hidden1"');
      // hidden1's own class_name is the last "Dense" before its name.
      const classAt = text.lastIndexOf('"class_name":"Dense"', nameAt);
      assert.ok(classAt > 0);
      const position = doc.positionAt(classAt + '"class_name":"De'.length);
      const hovers = fromParsimony(await hoverTexts(doc.uri, position));
      assert.equal(hovers.length, 1, JSON.stringify(hovers));
      assert.match(hovers[0]!, /\*\*hidden1\*\* · `Dense`/);
      assert.ok(hovers[0]!.includes(hidden1.params.toLocaleString('en-US')));
    });

    it('over something that is not a layer shows nothing from Parsimony', async () => {
      const at = doc.getText().indexOf('"activation":"relu"');
      assert.ok(at > 0);
      assert.deepEqual(fromParsimony(await hoverTexts(doc.uri, doc.positionAt(at + 3))), []);
    });
  });

  describe('in source code', () => {
    async function write(name: string, text: string): Promise<vscode.TextDocument> {
      const file = path.join(workspaceDir(), name);
      written.push(file);
      await fsp.writeFile(file, text);
      return vscode.workspace.openTextDocument(vscode.Uri.file(file));
    }
    const pos = (doc: vscode.TextDocument, needle: string, into = 1) => {
      const at = doc.getText().indexOf(needle);
      assert.ok(at >= 0, `no ${needle}`);
      return doc.positionAt(at + into);
    };

    it('over nn.Linear(784, 512) in Python shows 401,920 parameters and a low-rank alternative', async () => {
      const doc = await write('net.py', [
        'import torch.nn as nn',
        '',
        'class Net(nn.Module):',
        '    def __init__(self):',
        '        super().__init__()',
        '        self.fc1 = nn.Linear(784, 512)',
        '        self.fc2 = nn.Linear(512, 10)',
        '',
        'answer = 42',
        '',
      ].join('\n'));
      assert.equal(doc.languageId, 'python');
      const hovers = fromParsimony(await hoverTexts(doc.uri, pos(doc, 'Linear(784', 2)));
      assert.equal(hovers.length, 1, JSON.stringify(hovers));
      const h = hovers[0]!;
      assert.match(h, /\*\*nn\.Linear\*\* \(PyTorch\)/);
      assert.ok(h.includes('**401,920 parameters**'), h); // 784·512 + 512
      assert.match(h, /\| rank-\d+ factorization/, `no rank alternative in ${h}`);
      // The second layer is its own hover: 512·10 + 10.
      const second = fromParsimony(await hoverTexts(doc.uri, pos(doc, 'Linear(512', 2)));
      assert.ok(second[0]?.includes('**5,130 parameters**'), JSON.stringify(second));
    });

    it('outside any layer call in Python shows nothing from Parsimony', async () => {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(workspaceDir(), 'net.py')));
      assert.deepEqual(fromParsimony(await hoverTexts(doc.uri, pos(doc, 'answer', 2))), []);
      assert.deepEqual(fromParsimony(await hoverTexts(doc.uri, pos(doc, 'import torch', 3))), []);
    });

    it('over tf.layers.dense({units: 64, inputShape: [784]}) in TypeScript shows 50,240 parameters', async function () {
      this.timeout(120_000); // the TypeScript server starts on the first hover
      const doc = await write('model.ts', [
        "import * as tf from '@tensorflow/tfjs';",
        '',
        'const model = tf.sequential();',
        'model.add(tf.layers.dense({units: 64, inputShape: [784]}));',
        'const epochs = 3;',
        '',
      ].join('\n'));
      assert.equal(doc.languageId, 'typescript');
      const hovers = fromParsimony(await hoverTexts(doc.uri, pos(doc, 'dense({', 2)));
      assert.equal(hovers.length, 1, JSON.stringify(hovers));
      assert.match(hovers[0]!, /\*\*tf\.layers\.dense\*\* \(TF\.js\)/);
      assert.ok(hovers[0]!.includes('**50,240 parameters**'), hovers[0]); // 784·64 + 64
      assert.deepEqual(fromParsimony(await hoverTexts(doc.uri, pos(doc, 'epochs', 2))), []);
    });
  });

  describe('status bar', () => {
    it('shows the parameters and size of the model open in the editor', async () => {
      const { params } = await metrics(MLP);
      await vscode.window.showTextDocument(wsUri(MLP));
      const uri = await waitFor('the status bar to follow the editor', () => p.statusBar.update());
      assert.equal(uri.fsPath, wsUri(MLP).fsPath);
      const size = (await fsp.stat(wsUri(MLP).fsPath)).size + (await fsp.stat(path.join(workspaceDir(), 'mnist-mlp', 'weights.bin'))).size;
      assert.equal(p.statusBar.text, `$(symbol-class) ${formatCount(params)} params · ${formatBytes(size)}`);
    });

    it('hides for a file that is not a model', async () => {
      await vscode.window.showTextDocument(vscode.Uri.file(path.join(workspaceDir(), 'net.py')));
      assert.equal(await p.statusBar.update(), undefined);
    });
  });
});
