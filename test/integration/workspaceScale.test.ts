// A workspace with 1,000 model files: the Models view lists them all without
// freezing the extension host, parses them lazily (a few at a time, after the
// rows are shown), and follows files being deleted and rewritten.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount } from '../../src/core/format';
import { api, descriptionText, metrics, repoRoot, waitFor, workspaceDir, type ModelTreeElement, type ParsimonyApi } from './helpers';

const FOLDER = 'scale';
/** 10 × 10 leaf folders, each with one model of every kind below: 1,000 files. */
const TOP = 10;
const SUB = 10;

interface Kind {
  /** The file name in each leaf folder. */
  name: string;
  /** Where it is copied from (repo-relative), with its companions (a TF.js shard). */
  from: string;
  extra?: string[];
  /** Parameters, from the fixture manifest (or metrics.json), not from the extension. */
  params: number;
}

async function kinds(): Promise<Kind[]> {
  const manifest = JSON.parse(await fsp.readFile(path.join(repoRoot(), 'test/fixtures/generated/manifest.json'), 'utf8')) as { file: string; totalParams?: number }[];
  const params = (file: string) => {
    const row = manifest.find((r) => r.file === file);
    assert.ok(row?.totalParams, `no parameter count for ${file} in the manifest`);
    return row.totalParams;
  };
  const g = (file: string, name: string): Kind => ({ name, from: `test/fixtures/generated/${file}`, params: params(file) });
  return [
    g('gguf/tiny-llama.gguf', 'llama.gguf'),
    g('keras/keras2_mlp.h5', 'mlp.h5'),
    g('keras/keras3_cnn_bn.keras', 'cnn.keras'),
    g('onnx/mlp.onnx', 'mlp.onnx'),
    g('onnx/cnn.onnx', 'cnn.onnx'),
    g('pytorch/checkpoint_nested.pt', 'checkpoint.pt'),
    g('pytorch/mixed_dtypes.pth', 'mixed.pth'),
    g('safetensors/mixed_dtypes.safetensors', 'mixed.safetensors'),
    g('tflite/full_int8.tflite', 'int8.tflite'),
    { name: 'model.json', from: path.join(workspaceDir(), 'mnist-cnn/model.json'), extra: [path.join(workspaceDir(), 'mnist-cnn/weights.bin')], params: (await metrics('mnist-cnn/model.json')).params },
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a workspace with 1,000 model files', function () {
  // Budget: ~20 s on a busy 2-core machine (copying 20 MB, parsing 1,000 small files two at a time).
  this.timeout(240_000);
  let p: ParsimonyApi;
  let root: string;
  let expected: Map<string, number>;
  const inScale = (e: ModelTreeElement) => e.uri.fsPath.startsWith(root + path.sep);

  before(async () => {
    p = await api();
    root = path.join(workspaceDir(), FOLDER);
    const list = await kinds();
    expected = new Map();
    const copies: Promise<void>[] = [];
    for (let a = 0; a < TOP; a++) {
      for (let b = 0; b < SUB; b++) {
        const leaf = path.join(root, `a${a}`, `b${b}`);
        await fsp.mkdir(leaf, { recursive: true });
        for (const k of list) {
          const from = path.isAbsolute(k.from) ? k.from : path.join(repoRoot(), k.from);
          copies.push(fsp.copyFile(from, path.join(leaf, k.name)));
          for (const e of k.extra ?? []) copies.push(fsp.copyFile(e, path.join(leaf, path.basename(e))));
          expected.set(path.join(leaf, k.name), k.params);
        }
      }
    }
    await Promise.all(copies);
    assert.equal(expected.size, 1000);
    // The workbench (its Explorer too) takes in the creation of 1,100 files first: the test
    // measures the Models view filling, not VS Code digesting a burst of file events.
    await waitFor('the file watcher to bring the 1,000 files into the Models view', async () => (await p.ctx.tree.getChildren()).filter(inScale).length === 1000, {
      timeout: 60_000,
      interval: 500,
    });
  });

  after(async () => {
    await fsp.rm(root, { recursive: true, force: true });
    // Later suites expect the small workspace again (rows that wait for their figures).
    await vscode.commands.executeCommand('parsimony.refreshModels');
  });

  it('lists all 1,000, shows the rows before parsing them, parses two at a time, and the host stays responsive', async () => {
    // Lag of a 50 ms timer, and round trips to the workbench, sampled all along.
    let last = performance.now();
    let worstLag = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstLag = Math.max(worstLag, now - last - 50);
      last = now;
    }, 50);
    let pinging = true;
    let worstRoundTrip = 0;
    let roundTrips = 0;
    const pinger = (async () => {
      while (pinging) {
        const t = performance.now();
        await vscode.commands.executeCommand('setContext', 'parsimony.test.ping', roundTrips++);
        worstRoundTrip = Math.max(worstRoundTrip, performance.now() - t);
        await sleep(100);
      }
    })();
    try {
      const startedBefore = p.ctx.models.analyses.started;
      p.ctx.tree.refresh();
      const listed = (await p.ctx.tree.getChildren()).filter(inScale);
      assert.equal(listed.length, 1000, `listed ${listed.length} of the 1,000 files`);
      assert.deepEqual(new Set(listed.map((e) => e.uri.fsPath)), new Set(expected.keys()));

      // What VS Code does when the view shows: a TreeItem for every row at once. Nothing is
      // cached (the forget below and the calls happen in one turn), so no row may wait for a parse.
      p.ctx.models.invalidate();
      const rows = await Promise.all(listed.map((e) => p.ctx.tree.getTreeItem(e)));
      assert.ok(rows.every((r) => descriptionText(r) === 'reading…'), `rows waited for their figures: ${rows.map(descriptionText).filter((d) => d !== 'reading…').slice(0, 3).join(', ')}`);

      // The rows asked for their analyses; they run two at a time and all finish.
      const results = await Promise.all(listed.map((e) => p.ctx.models.analyze(e.uri)));
      const failed = results.map((r, i) => (r.ok ? '' : `${listed[i]!.uri.fsPath}: ${r.error}`)).filter(Boolean);
      assert.deepEqual(failed, []);
      assert.ok(p.ctx.models.analyses.started - startedBefore >= 1000, `only ${p.ctx.models.analyses.started - startedBefore} analyses ran`);
      assert.ok(p.ctx.models.analyses.peak <= 2, `${p.ctx.models.analyses.peak} files were parsed at once`);
    } finally {
      clearInterval(ticker);
      pinging = false;
      await pinger;
    }
    console.log(`      worst timer lag ${worstLag.toFixed(0)} ms, worst workbench round trip ${worstRoundTrip.toFixed(0)} ms (${roundTrips} round trips)`);
    // Generous bounds: a frozen host shows seconds here; a responsive one on a loaded 2-core
    // machine a few hundred milliseconds. The round trip also waits for the workbench's own
    // renderer (headless Chromium here, sharing the two cores), hence the wider bound.
    assert.ok(roundTrips > 3, 'the workbench round trips did not run during the fill');
    assert.ok(worstLag < 1000, `the extension host's event loop stalled for ${worstLag.toFixed(0)} ms`);
    assert.ok(worstRoundTrip < 2000, `a command round trip took ${worstRoundTrip.toFixed(0)} ms`);

    // Every row now shows its model's parameter count (the repaint after the fill).
    const listed = (await p.ctx.tree.getChildren()).filter(inScale);
    const wrong: string[] = [];
    for (const e of listed) {
      const d = descriptionText(await p.ctx.tree.getTreeItem(e));
      const want = `${formatCount(expected.get(e.uri.fsPath)!)} params`;
      if (!d.startsWith(want)) wrong.push(`${path.relative(root, e.uri.fsPath)}: '${d}', expected '${want} · …'`);
    }
    assert.deepEqual(wrong, []);
  });

  it('follows 50 files deleted, 25 cut short and 25 replaced (the file watcher alone, no refresh command)', async () => {
    const files = [...expected.keys()];
    // One file per block of 20, cycling through the kinds (10 per leaf folder).
    const pick = (offset: number) => files.filter((_, i) => i % 20 === offset + (Math.floor(i / 20) % 10));
    const deleted = pick(0);
    const cut = pick(10).slice(0, 25);
    const replaced = files.filter((f) => f.endsWith('mlp.onnx') && !deleted.includes(f) && !cut.includes(f)).slice(0, 25);
    assert.equal(deleted.length, 50);
    assert.equal(new Set([...deleted, ...cut].map((f) => path.basename(f))).size, 10, 'every kind is deleted and cut somewhere');
    const cnn = path.join(repoRoot(), 'test/fixtures/generated/onnx/cnn.onnx');
    await Promise.all([
      ...deleted.map((f) => fsp.rm(f)),
      ...cut.map(async (f) => fsp.writeFile(f, (await fsp.readFile(f)).subarray(0, 100))),
      ...replaced.map((f) => fsp.copyFile(cnn, f)),
    ]);
    await waitFor(
      'the deleted files to leave the Models view',
      async () => {
        const listed = new Set((await p.ctx.tree.getChildren()).filter(inScale).map((e) => e.uri.fsPath));
        return listed.size === 950 && deleted.every((f) => !listed.has(f));
      },
      { timeout: 30_000, interval: 250 },
    );
    const byPath = new Map((await p.ctx.tree.getChildren()).filter(inScale).map((e) => [e.uri.fsPath, e] as const));
    // The rows themselves must change: a row whose file the watcher did not report would keep its old figures.
    const rowText = async (f: string) => descriptionText(await p.ctx.tree.getTreeItem(byPath.get(f)!));
    const stale = async () => {
      const rows = await Promise.all([...cut, ...replaced].map(async (f) => [f, await rowText(f)] as const));
      return rows.filter(([f, d]) => (cut.includes(f) ? d !== 'cannot read' : !d.startsWith(`${formatCount(2610)} params`))).map(([f, d]) => `${path.relative(root, f)}: '${d}'`);
    };
    let left: string[] = [];
    await waitFor(
      "the 25 cut files to show 'cannot read' and the 25 replaced ones the CNN's 2.6K params",
      async () => (left = await stale()).length === 0,
      { timeout: 30_000, interval: 250 },
    ).catch((e: Error) => assert.fail(`${e.message}; still showing: ${left.slice(0, 5).join(', ')}`));
    for (const f of cut) {
      const [error] = await p.ctx.tree.getChildren(byPath.get(f)!);
      assert.equal(error?.kind, 'error', path.relative(root, f));
      const code = (error as Extract<ModelTreeElement, { kind: 'error' }>).code;
      assert.notEqual(code, 'internal', `${path.relative(root, f)}: ${(error as Extract<ModelTreeElement, { kind: 'error' }>).message}`);
    }
    // The untouched ones keep their figures, without being parsed again.
    const untouched = files.filter((f) => !deleted.includes(f) && !cut.includes(f) && !replaced.includes(f));
    const wrong: string[] = [];
    for (const f of untouched) {
      const d = await rowText(f);
      if (!d.startsWith(`${formatCount(expected.get(f)!)} params`)) wrong.push(`${path.relative(root, f)}: ${d}`);
    }
    assert.deepEqual(wrong, []);
  });
});
