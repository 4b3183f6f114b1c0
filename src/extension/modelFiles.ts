import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from './config';

/** File names the Models view lists. Compressed outputs (model.int8.json) are included; sidecars are not. */
export const MODEL_GLOB =
  '**/{model*.json,*.onnx,*.safetensors,*.safetensors.index.json,*.h5,*.hdf5,*.keras,*.tflite,*.gguf,*.pt,*.pth,pytorch_model.bin}';

/** Folders walked at most per virtual workspace folder (a huge remote tree is listed in part, not forever). */
const MAX_WALKED_FOLDERS = 10_000;

export function isModelFileName(file: string): boolean {
  const name = path.basename(file).toLowerCase();
  if (name.endsWith('.parsimony.json')) return false;
  if (/^model(\.[\w-]+)*\.json$/.test(name)) return true;
  return /\.(onnx|safetensors|h5|hdf5|keras|tflite|gguf|pt|pth)$|^pytorch_model\.bin$|\.safetensors\.index\.json$/.test(name);
}

/**
 * Model files in every workspace folder. Local folders are searched with
 * findFiles; folders on other schemes are walked with workspace.fs.readDirectory,
 * because findFiles only searches a scheme whose provider also registered a
 * search provider (without one it skips the folder, or waits forever when no
 * folder of the workspace has one).
 */
export async function findModelFiles(config: Config, token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const exclude = config.exclude.length ? `{${config.exclude.join(',')}}` : undefined;
  const folders = vscode.workspace.workspaceFolders ?? [];
  const virtual = folders.filter((f) => f.uri.scheme !== 'file');
  let found: vscode.Uri[];
  if (virtual.length === 0) found = await vscode.workspace.findFiles(MODEL_GLOB, exclude, config.maxModels, token);
  else {
    const excluded = config.exclude.map(globToRegExp);
    const lists = await Promise.all(
      folders.map((f) =>
        f.uri.scheme === 'file'
          ? vscode.workspace.findFiles(new vscode.RelativePattern(f, MODEL_GLOB), exclude, config.maxModels, token)
          : walkFolder(f.uri, excluded, config.maxModels, token),
      ),
    );
    found = lists.flat().slice(0, config.maxModels);
  }
  return found.filter((u) => isModelFileName(u.path)).sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * findFiles over the local workspace folders only (budgets, recipes: the CLI
 * reads them from disk). With a virtual folder open, a plain glob could wait
 * forever for that folder's search provider.
 */
export async function findLocalFiles(glob: string, exclude: string | undefined, max: number, token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.every((f) => f.uri.scheme === 'file')) return vscode.workspace.findFiles(glob, exclude, max, token);
  const lists = await Promise.all(
    folders.filter((f) => f.uri.scheme === 'file').map((f) => vscode.workspace.findFiles(new vscode.RelativePattern(f, glob), exclude, max, token)),
  );
  return lists.flat().slice(0, max);
}

/** Breadth-first through a folder on any file system; symbolic links to folders are not followed (cycles). */
async function walkFolder(root: vscode.Uri, excluded: RegExp[], max: number, token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const out: vscode.Uri[] = [];
  const queue = [root];
  let walked = 0;
  const isExcluded = (rel: string) => excluded.some((re) => re.test(rel));
  while (queue.length > 0 && out.length < max && walked < MAX_WALKED_FOLDERS && !token?.isCancellationRequested) {
    const dir = queue.shift()!;
    walked++;
    let entries: [string, vscode.FileType][];
    try {
      entries = await vscode.workspace.fs.readDirectory(dir);
    } catch {
      continue; // gone or unreadable: list what can be listed
    }
    for (const [name, type] of entries) {
      const child = vscode.Uri.joinPath(dir, name);
      const rel = path.posix.relative(root.path, child.path);
      if (type & vscode.FileType.Directory) {
        if (!(type & vscode.FileType.SymbolicLink) && !isExcluded(`${rel}/`)) queue.push(child);
      } else if (type & vscode.FileType.File && isModelFileName(name) && !isExcluded(rel) && out.length < max) {
        out.push(child);
      }
    }
  }
  return out;
}

/** A glob of the kind parsimony.exclude holds (`**`, `*`, `?`, `{a,b}`) as a RegExp over folder-relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches any number of folders (none included); a trailing `**` anything.
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',' && glob.lastIndexOf('{', i) > glob.lastIndexOf('}', i)) re += '|';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
