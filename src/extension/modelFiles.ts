import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from './config';

/** File names the Models view lists. Compressed outputs (model.int8.json) are included; sidecars are not. */
export const MODEL_GLOB =
  '**/{model*.json,*.onnx,*.safetensors,*.safetensors.index.json,*.h5,*.hdf5,*.keras,*.tflite,*.gguf,*.pt,*.pth,pytorch_model.bin}';

export function isModelFileName(file: string): boolean {
  const name = path.basename(file).toLowerCase();
  if (name.endsWith('.parsimony.json')) return false;
  if (/^model(\.[\w-]+)*\.json$/.test(name)) return true;
  return /\.(onnx|safetensors|h5|hdf5|keras|tflite|gguf|pt|pth)$|^pytorch_model\.bin$|\.safetensors\.index\.json$/.test(name);
}

export async function findModelFiles(config: Config, token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const exclude = config.exclude.length ? `{${config.exclude.join(',')}}` : undefined;
  const found = await vscode.workspace.findFiles(MODEL_GLOB, exclude, config.maxModels, token);
  return found.filter((u) => isModelFileName(u.path)).sort((a, b) => a.path.localeCompare(b.path));
}
