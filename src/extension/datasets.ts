import * as path from 'node:path';
import * as vscode from 'vscode';
import { workspaceRoot } from './lab/labData';

/**
 * The dataset remembered per model, in `<workspace>/.parsimony/config.json`
 * (`{"datasets": {"<model path relative to the workspace>": "<spec>"}}`), so
 * Evaluate, sweeps and training methods don't ask every time.
 */
interface ConfigFile {
  datasets?: Record<string, string>;
}

function configUri(model: vscode.Uri): vscode.Uri {
  return vscode.Uri.file(path.join(workspaceRoot(model.fsPath), '.parsimony', 'config.json'));
}

async function readConfig(model: vscode.Uri): Promise<ConfigFile> {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(configUri(model)))) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as ConfigFile) : {};
  } catch {
    return {};
  }
}

function key(model: vscode.Uri): string {
  return path.relative(workspaceRoot(model.fsPath), model.fsPath).split(path.sep).join('/');
}

export async function datasetFor(model: vscode.Uri): Promise<string | undefined> {
  return (await readConfig(model)).datasets?.[key(model)];
}

/**
 * The dataset as the CLI should get it (files resolved against the workspace)
 * and a key that changes when its content may have: the spec for built-in
 * data, path + size + modification time for files and folders.
 */
export async function resolveDataset(model: vscode.Uri, spec: string): Promise<{ spec: string; key: string }> {
  const { isBuiltinDataset } = await import('../core/evaluate/datasets');
  if (isBuiltinDataset(spec)) return { spec, key: spec.trim() };
  const file = path.resolve(workspaceRoot(model.fsPath), spec);
  try {
    const stat = await vscode.workspace.fs.stat(vscode.Uri.file(file));
    return { spec: file, key: `${file}:${stat.size}:${stat.mtime}` };
  } catch {
    // Missing: the CLI says so with the dataset's name.
    return { spec: file, key: file };
  }
}

export async function rememberDataset(model: vscode.Uri, spec: string): Promise<void> {
  const config = await readConfig(model);
  config.datasets = { ...config.datasets, [key(model)]: spec };
  const uri = configUri(model);
  await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(uri, '..'));
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
}

/** Asks for a dataset (built-in MNIST, a file, or an image folder) and remembers it for the model. */
export async function pickDataset(model: vscode.Uri): Promise<string | undefined> {
  const current = await datasetFor(model);
  const items: (vscode.QuickPickItem & { spec?: string; browse?: 'file' | 'folder' })[] = [
    ...(current ? [{ label: current, description: 'current', spec: current }] : []),
    { label: 'mnist:1000', description: 'first 1,000 MNIST test digits (built in)', spec: 'mnist:1000' },
    { label: 'mnist', description: 'all 1,996 MNIST test digits of the fixed split (built in)', spec: 'mnist' },
    { label: '$(file) File…', description: '.npy, .npz, .csv or .json', browse: 'file' },
    { label: '$(folder) Image folder…', description: 'one subfolder per class (PNG/JPEG)', browse: 'folder' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `Dataset for ${path.basename(model.fsPath)}` });
  if (!picked) return undefined;
  let spec = picked.spec;
  if (picked.browse) {
    const chosen = await vscode.window.showOpenDialog({
      canSelectFiles: picked.browse === 'file',
      canSelectFolders: picked.browse === 'folder',
      canSelectMany: false,
      defaultUri: vscode.Uri.file(workspaceRoot(model.fsPath)),
      ...(picked.browse === 'file' ? { filters: { Datasets: ['npy', 'npz', 'csv', 'json'] } } : {}),
    });
    spec = chosen?.[0]?.fsPath;
  }
  if (!spec) return undefined;
  await rememberDataset(model, spec);
  return spec;
}
