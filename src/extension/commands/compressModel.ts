import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Hint } from '../../core/analysis/hints';
import { formatBytes, formatCount } from '../../core/format';
import { ModelFormatError } from '../../core/errors';
import { runCliJob } from '../cliJob';
import { workspaceRoot } from '../lab/labData';
import { datasetFor } from '../datasets';
import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { pickModel, isTreeElement } from './pickModel';

interface CompressJson {
  output: string;
  method: string;
  before: { params: number; nonzeroParams: number; bytesOnDisk: number; bytesGzip: number; bytesInMemory: number };
  after: { params: number; nonzeroParams: number; bytesOnDisk: number; bytesGzip: number; bytesInMemory: number };
  notes: string[];
}

/** Pre-filled settings, e.g. from a hint's action or the Compression Lab form. */
export interface CompressPreset {
  uri?: vscode.Uri;
  method?: string;
  args?: string[];
  layers?: string[];
}

interface MethodItem extends vscode.QuickPickItem {
  method: string;
}

/**
 * Compress Model…: pick a method (each with its estimated saving from the
 * hints), set its options, and a new model appears next to the original.
 * The work runs in a child process with progress and cancel.
 */
export const compressModel = (ctx: Ctx) => async (arg?: unknown, preset?: CompressPreset) => {
  const p: CompressPreset = isPreset(arg) ? arg : { ...preset };
  let layers = p.layers;
  if (isTreeElement(arg) && arg.kind === 'layer') {
    const analysis = await ctx.models.analyze(arg.uri);
    if (analysis.ok) layers = [analysis.summary.layers[arg.index]!.name];
  }
  const uri = p.uri ?? (await pickModel(ctx, arg));
  if (!uri) return undefined;
  requireLocalFile(uri, 'Compressing');
  const analysis = await ctx.models.analyze(uri);
  if (!analysis.ok) throw new ModelFormatError(analysis.code as ModelFormatError['code'], analysis.error.replace(/^.*?: /, ''), { file: uri.fsPath });
  const summary = analysis.summary;
  const dataset = await datasetFor(uri);
  const method = p.method ?? (await pickMethod(ctx, uri, summary.format, summary.bytesOnDisk, layers, dataset));
  if (!method) return undefined;
  const args = p.args ?? (await askOptions(method, summary.format));
  if (!args) return undefined;
  if (TRAINING.has(method) && !args.includes('--data')) {
    if (!dataset) throw new Error(`${method} trains on data: choose a dataset first (Parsimony: Select Dataset)`);
    args.push('--data', dataset);
  }
  const cliArgs = ['compress', uri.fsPath, '--method', method, ...args, ...(layers?.length ? ['--layers', layers.join(',')] : []), '--workspace', workspaceRoot(uri.fsPath)];
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Parsimony: ${method} ${path.basename(uri.fsPath)}`, cancellable: true },
    (progress, token) => {
      let last = 0;
      return runCliJob<CompressJson>(
        ctx.extension.extensionPath,
        cliArgs,
        ctx.log,
        (fraction, message) => {
          const pct = Math.round(fraction * 100);
          if (pct > last) progress.report({ increment: pct - last, message });
          last = Math.max(last, pct);
        },
        token,
      );
    },
  );
  const out = vscode.Uri.file(result.output);
  ctx.models.invalidate(out);
  ctx.tree.refresh();
  ctx.log.info(`compressed ${uri.fsPath} → ${result.output}: ${JSON.stringify({ before: result.before, after: result.after })}`);
  for (const n of result.notes) ctx.log.info(`  ${n}`);
  const b = result.before;
  const a = result.after;
  const message =
    `${path.basename(result.output)}: ${formatCount(a.params)} params (${formatCount(a.nonzeroParams)} non-zero), ` +
    `${formatBytes(b.bytesOnDisk)} → ${formatBytes(a.bytesOnDisk)} on disk, ${formatBytes(b.bytesGzip)} → ${formatBytes(a.bytesGzip)} gzipped.`;
  void vscode.window.showInformationMessage(message, 'Open', 'Show in Models', 'Compare').then(async (choice) => {
    if (choice === 'Open') await vscode.commands.executeCommand('parsimony.analyzeModel', out);
    if (choice === 'Compare') await vscode.commands.executeCommand('parsimony.compareModels', uri, out);
    if (choice === 'Show in Models') {
      const files = await ctx.tree.modelFiles();
      const match = files.find((f) => f.fsPath === out.fsPath);
      if (match) await ctx.treeView.reveal({ kind: 'model', uri: match }, { select: true, focus: true, expand: true });
    }
  });
  return result;
};

function isPreset(arg: unknown): arg is CompressPreset {
  return typeof arg === 'object' && arg !== null && !(arg instanceof vscode.Uri) && !isTreeElement(arg) && ('method' in arg || 'args' in arg);
}

const TRAINING = new Set(['finetune', 'distill', 'binary-train', 'separable', 'early-exit']);

async function pickMethod(ctx: Ctx, uri: vscode.Uri, format: string, bytes: number, layers?: string[], dataset?: string): Promise<string | undefined> {
  const hints = ctx.models.cachedHints(uri)?.hints.filter((h) => !layers?.length || layers.includes(h.layer)) ?? [];
  const saved = (kind: Hint['kind']) => hints.filter((h) => h.kind === kind).reduce((s, h) => s + h.savingsBytes, 0);
  const est = (b: number, suffix = '') => (b > 0 ? `saves ~${formatBytes(b)}${suffix}` : '');
  const tfjs = format.startsWith('tfjs');
  const items: MethodItem[] = [
    { method: 'quantize', label: '$(symbol-numeric) Quantize', description: est(bytes / 2, ' (float16) – ' + formatBytes((bytes * 3) / 4) + ' (8-bit)'), detail: tfjs ? 'float16, uint8 or uint16 weights (TF.js-native)' : 'float16, bfloat16 or int8 weights' },
    { method: 'prune', label: '$(scissors) Magnitude pruning', description: est(saved('prunable'), ' compressed, at ε'), detail: 'set the smallest weights to zero (exact sparsity)' },
    { method: 'structured-prune', label: '$(remove) Structured pruning', description: '', detail: 'remove whole neurons/filters and shrink the next layer' },
    { method: 'cluster', label: '$(symbol-constant) Weight clustering', description: est(saved('clusterable')), detail: 'k shared values per tensor, optionally Huffman-coded indices' },
    { method: 'low-rank', label: '$(split-horizontal) Low-rank factorization', description: est(saved('low-rank')), detail: 'replace a layer by two thinner ones (truncated SVD)' },
    { method: 'binarize', label: '$(circle-large-filled) Binary / ternary weights', description: '1–1.6 bits per weight', detail: 'sign(w)·α per channel; accuracy usually needs training' },
    { method: 'prune,cluster,huffman', label: '$(layers) Deep Compression chain', description: '', detail: 'prune → cluster → Huffman-code the indices' },
  ];
  if (format === 'tfjs-layers') {
    // Training-based methods need data: offered once a dataset is chosen for the model.
    const note = dataset ? `trains on ${dataset}` : 'choose a dataset first (Parsimony: Select Dataset)';
    items.push(
      { method: 'finetune', label: '$(debug-rerun) Prune + fine-tune', description: note, detail: 'iterative pruning with recovery training (optional lottery-ticket rewind)' },
      { method: 'distill', label: '$(mortar-board) Distill into a narrower student', description: note, detail: 'teacher = this model; student = hidden widths × w' },
      { method: 'binary-train', label: '$(circuit-board) BinaryConnect training', description: note, detail: 'binary weights trained with real-valued shadow weights' },
      { method: 'separable', label: '$(split-vertical) Depthwise-separable convolutions', description: note, detail: 'replace Conv2D by depthwise + 1×1, recover by fine-tuning' },
      { method: 'early-exit', label: '$(debug-step-out) Early exits', description: note, detail: 'intermediate classifiers with confidence thresholds' },
    );
  }
  void ctx;
  const picked = await vscode.window.showQuickPick(items, { title: `Compress ${path.basename(uri.fsPath)}${layers?.length ? ` (layer ${layers.join(', ')})` : ''}`, matchOnDetail: true });
  return picked?.method;
}

async function askNumber(title: string, prompt: string, value: string, check: (n: number) => string | undefined): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({
    title,
    prompt,
    value,
    validateInput: (t) => {
      const n = Number(t);
      if (t.trim() === '' || !Number.isFinite(n)) return 'Enter a number';
      return check(n);
    },
  });
  return text === undefined ? undefined : Number(text);
}

async function askOptions(method: string, format: string): Promise<string[] | undefined> {
  const args: string[] = [];
  const steps = method.split(',');
  if (steps.includes('prune')) {
    const s = await askNumber('Magnitude pruning', 'Fraction of weights to set to zero (0–0.99)', '0.5', (n) => (n >= 0 && n < 1 ? undefined : 'Between 0 and 0.99'));
    if (s === undefined) return undefined;
    const scope = await vscode.window.showQuickPick(['global', 'layer'], { title: 'Threshold', placeHolder: 'global: one threshold for all layers; layer: each layer to the sparsity' });
    if (!scope) return undefined;
    args.push('--sparsity', String(s), '--scope', scope);
  }
  if (steps.includes('structured-prune')) {
    const s = await askNumber('Structured pruning', 'Fraction of units (neurons/filters) to remove per layer (0.01–0.9)', '0.25', (n) => (n > 0 && n < 1 ? undefined : 'Between 0 and 1'));
    if (s === undefined) return undefined;
    args.push('--sparsity', String(s));
  }
  if (steps.includes('quantize')) {
    const dtypes = format.startsWith('tfjs') ? ['float16', 'uint8', 'uint16'] : format === 'onnx' ? ['float16', 'int8', 'uint8'] : ['float16', 'bfloat16'];
    const dtype = await vscode.window.showQuickPick(dtypes, { title: 'Quantize to' });
    if (!dtype) return undefined;
    args.push('--dtype', dtype);
    if ((dtype === 'int8' || dtype === 'uint8') && format === 'onnx') {
      const pc = await vscode.window.showQuickPick(['per channel', 'per tensor'], { title: 'Scales' });
      if (!pc) return undefined;
      if (pc === 'per channel') args.push('--per-channel');
    }
  }
  if (steps.includes('cluster')) {
    const k = await askNumber('Weight clustering', 'Shared values per tensor (2–256)', '16', (n) => (Number.isInteger(n) && n >= 2 && n <= 256 ? undefined : 'An integer from 2 to 256'));
    if (k === undefined) return undefined;
    args.push('--clusters', String(k));
    if (!steps.includes('huffman')) {
      const h = await vscode.window.showQuickPick(['no', 'yes'], { title: 'Huffman-code the indices?' });
      if (!h) return undefined;
      if (h === 'yes') args.push('--huffman');
    }
  }
  if (steps.includes('low-rank')) {
    const by = await vscode.window.showQuickPick(['energy', 'rank'], { title: 'Choose the rank by', placeHolder: 'energy: keep a share of the spectrum; rank: a fixed rank' });
    if (!by) return undefined;
    if (by === 'energy') {
      const e = await askNumber('Low-rank', 'Share of spectral energy to keep (e.g. 0.99)', '0.99', (n) => (n > 0 && n <= 1 ? undefined : 'Between 0 and 1'));
      if (e === undefined) return undefined;
      args.push('--energy', String(e));
    } else {
      const r = await askNumber('Low-rank', 'Rank of each factorized layer', '16', (n) => (Number.isInteger(n) && n >= 1 ? undefined : 'A positive integer'));
      if (r === undefined) return undefined;
      args.push('--rank', String(r));
    }
  }
  if (steps.some((s) => TRAINING.has(s))) {
    const epochs = await askNumber('Training', 'Epochs', '2', (n) => (Number.isInteger(n) && n >= 1 && n <= 100 ? undefined : 'An integer from 1 to 100'));
    if (epochs === undefined) return undefined;
    args.push('--epochs', String(epochs));
    if (steps.includes('finetune')) {
      const s = await askNumber('Prune + fine-tune', 'Final sparsity (0–0.99)', '0.8', (n) => (n > 0 && n < 1 ? undefined : 'Between 0 and 1'));
      if (s === undefined) return undefined;
      args.push('--sparsity', String(s));
    }
    if (steps.includes('distill')) {
      const w = await askNumber('Distillation', 'Student width factor (e.g. 0.5)', '0.5', (n) => (n > 0 && n <= 1 ? undefined : 'Between 0 and 1'));
      if (w === undefined) return undefined;
      args.push('--student-width', String(w));
    }
  }
  if (steps.includes('binarize')) {
    const kind = await vscode.window.showQuickPick(['binary', 'ternary'], { title: 'Weights' });
    if (!kind) return undefined;
    if (kind === 'ternary') args.push('--ternary');
  }
  return args;
}
