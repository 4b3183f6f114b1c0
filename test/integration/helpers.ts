// Shared helpers for the integration tests (not a test file itself: the build
// bundles only *.test.ts as entries and this module through their imports).
// Types come from the extension's sources; values never do, so the tests talk
// to the one running extension instance only through its API and commands.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ParsimonyApi } from '../../src/extension/extension';
import type { ModelTreeElement } from '../../src/extension/tree/modelTreeProvider';

export const EXTENSION_ID = 'parsimony.parsimony';

export type { ModelTreeElement, ParsimonyApi };

/** The activated extension's test API. */
export async function api(): Promise<ParsimonyApi> {
  const ext = vscode.extensions.getExtension<ParsimonyApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded`);
  const exported = await ext.activate();
  assert.ok(exported?.ctx, 'activate() returned no test API');
  return exported;
}

/** The repository root (the extension under development). */
export function repoRoot(): string {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext);
  return ext.extensionPath;
}

/** The test workspace folder: a temporary copy of examples/. */
export function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder is open');
  return folder.uri.fsPath;
}

export function wsUri(...parts: string[]): vscode.Uri {
  return vscode.Uri.file(path.join(workspaceDir(), ...parts));
}

export const MLP = 'mnist-mlp/model.json';
export const CNN = 'mnist-cnn/model.json';

/** What an example folder's metrics.json records (written when the model was trained). */
export async function metrics(model: string): Promise<{ params: number; testAccuracy: number }> {
  return JSON.parse(await fsp.readFile(path.join(workspaceDir(), path.dirname(model), 'metrics.json'), 'utf8'));
}

export interface TopologyLayer {
  name: string;
  className: string;
  /** Parameters from the weights manifest's shapes (kernel + bias …). */
  params: number;
  tensors: { name: string; shape: number[] }[];
}

/** The layers of a TF.js model.json, read straight from its JSON (independent of the extension's reader). */
export async function topology(model: string): Promise<TopologyLayer[]> {
  const json = JSON.parse(await fsp.readFile(path.join(workspaceDir(), model), 'utf8'));
  const layers: { class_name: string; config: { name: string } }[] = json.modelTopology.config.layers;
  const weights: { name: string; shape: number[] }[] = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  return layers.map((l) => {
    const tensors = weights.filter((w) => w.name.startsWith(`${l.config.name}/`));
    return {
      name: l.config.name,
      className: l.class_name,
      tensors,
      params: tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0),
    };
  });
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fsp.readFile(file)).digest('hex');
}

export async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(() => true, () => false);
}

/** Polls `probe` until it returns a truthy value (returned) or the time is up (throws with `what`). */
export async function waitFor<T>(what: string, probe: () => T | PromiseLike<T>, { timeout = 10_000, interval = 100 } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The text of a tooltip, whether a string or Markdown. */
export function tooltipText(item: vscode.TreeItem): string {
  const t = item.tooltip;
  return typeof t === 'string' ? t : t instanceof vscode.MarkdownString ? t.value : '';
}

export function descriptionText(item: vscode.TreeItem): string {
  return typeof item.description === 'string' ? item.description : '';
}

/** Every hover VS Code's providers return at a position, as one string per hover. */
export async function hoverTexts(uri: vscode.Uri, position: vscode.Position): Promise<string[]> {
  const hovers = (await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, position)) ?? [];
  return hovers.map((h) =>
    h.contents
      .map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))
      .join('\n'),
  );
}

/** The Models view's top-level element for a workspace-relative model path, if listed. */
export async function modelElement(p: ParsimonyApi, rel: string): Promise<ModelTreeElement | undefined> {
  const file = path.join(workspaceDir(), rel);
  return (await p.ctx.tree.getChildren()).find((e) => e.kind === 'model' && e.uri.fsPath === file);
}

/** The labels of the model's children (layers, or the error row) in the order the tree shows them. */
export async function childLabels(p: ParsimonyApi, element: ModelTreeElement): Promise<string[]> {
  const children = await p.ctx.tree.getChildren(element);
  return Promise.all(children.map(async (c) => String((await p.ctx.tree.getTreeItem(c)).label)));
}

/** Workspace-relative paths of the models the tree lists at its root. */
export async function listedModels(p: ParsimonyApi): Promise<string[]> {
  return (await p.ctx.tree.getChildren()).map((e) => path.relative(workspaceDir(), e.uri.fsPath).split(path.sep).join('/'));
}

/** Removes files made by a test (missing ones are fine). */
export async function removeFiles(...files: string[]): Promise<void> {
  await Promise.all(files.map((f) => fsp.rm(f, { force: true, recursive: true })));
}
