import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { isModelFileName } from '../modelFiles';
import { modelLabel, type ModelTreeElement } from '../tree/modelTreeProvider';

/**
 * Resolves the model a command acts on: the explorer/tree argument if given,
 * else the active editor's file if it is a model, else a quick pick.
 */
export async function pickModel(ctx: Ctx, arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri) return arg;
  if (isTreeElement(arg)) return arg.uri;
  const active = vscode.window.activeTextEditor?.document.uri ?? activeTabUri();
  if (active && isModelFileName(active.path)) return active;
  const files = await ctx.tree.modelFiles();
  const items: (vscode.QuickPickItem & { uri?: vscode.Uri })[] = files.map((uri) => ({
    label: modelLabel(uri),
    description: vscode.workspace.asRelativePath(path.posix.dirname(uri.path) === '/' ? uri : uri, false),
    uri,
  }));
  items.push({ label: '$(folder-opened) Browse…', alwaysShow: true });
  const picked = await vscode.window.showQuickPick(items, { title: 'Parsimony: pick a model file', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.uri) return picked.uri;
  const chosen = await vscode.window.showOpenDialog({
    canSelectMany: false,
    title: 'Pick a model file',
    filters: { Models: ['json', 'onnx', 'safetensors', 'h5', 'hdf5', 'keras', 'tflite', 'gguf', 'pt', 'pth', 'bin'] },
  });
  return chosen?.[0];
}

function activeTabUri(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input && typeof input === 'object' && 'uri' in input && input.uri instanceof vscode.Uri) return input.uri;
  return undefined;
}

export function isTreeElement(arg: unknown): arg is ModelTreeElement {
  return typeof arg === 'object' && arg !== null && 'kind' in arg && 'uri' in arg && (arg as { uri: unknown }).uri instanceof vscode.Uri;
}
