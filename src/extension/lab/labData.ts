import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelDiff } from '../../core/analysis/diff';
import type { RunRecord } from '../../core/evaluate/runs';
import type { LabLayerComparison, LabRun } from '../../protocol';

/**
 * What the Compression Lab shows, read from the run records under
 * `<workspace>/.parsimony/runs/` (written by the CLI for every compression,
 * evaluation and sweep point), so charts survive reloads and sessions.
 */
export function workspaceRoot(file: string): string {
  return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))?.uri.fsPath ?? path.dirname(file);
}

function relative(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

type RecordWithCli = LabRun & { cli: string[] | null };

/** Runs that started from this model (and the model itself when evaluated), oldest first. */
export async function labRuns(file: string): Promise<RecordWithCli[]> {
  const root = workspaceRoot(file);
  const { listRuns } = await import('../../core/evaluate/runs');
  const records = await listRuns(root);
  const me = relative(root, file);
  return records.filter((r) => r.model === me).map((r) => toLabRun(r, root));
}

export async function runById(file: string, id: string): Promise<RecordWithCli | undefined> {
  return (await labRuns(file)).find((r) => r.id === id);
}

export async function deleteRunRecord(file: string, id: string): Promise<boolean> {
  const { deleteRun } = await import('../../core/evaluate/runs');
  return deleteRun(workspaceRoot(file), id);
}

function toLabRun(r: RunRecord, root: string): RecordWithCli {
  const original = r.output === null && (r.kind === 'evaluate' || r.setting === null);
  const sizes = r.sizes;
  const opts = r.options ?? {};
  return {
    id: r.id,
    kind: original ? 'original' : r.kind === 'evaluate' ? 'evaluate' : r.kind,
    method: r.method,
    setting: r.setting === null || r.setting === undefined ? describeOptions(opts) : String(r.setting),
    options: opts,
    output: r.output ? path.resolve(root, r.output) : null,
    params: sizes?.params ?? null,
    nonzeroParams: sizes?.nonzeroParams ?? null,
    bytesOnDisk: sizes?.bytesOnDisk ?? null,
    bytesGzip: sizes?.bytesGzip ?? null,
    macs: sizes?.macs ?? null,
    accuracy: r.metrics?.accuracy ?? null,
    agreement: r.metrics?.agreement ?? null,
    latencyMs: r.latencyMs?.batch1 ?? null,
    sweepId: r.sweepId,
    created: r.started,
    cli: r.kind === 'compress' ? ['compress', path.resolve(root, r.model), '--method', r.method, ...optionsToArgs(opts)] : null,
  };
}

function describeOptions(o: Record<string, unknown>): string | null {
  const parts = Object.entries(o)
    .filter(([k, v]) => k !== 'steps' && v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? k : `${k} ${Array.isArray(v) ? v.join(',') : String(v)}`));
  return parts.length ? parts.join(', ') : null;
}

const FLAG: Record<string, string> = {
  sparsity: '--sparsity',
  scope: '--scope',
  dtype: '--dtype',
  perChannel: '--per-channel',
  clusters: '--clusters',
  huffman: '--huffman',
  ternary: '--ternary',
  rank: '--rank',
  energy: '--energy',
  importance: '--importance',
  layers: '--layers',
  includeEnds: '--include-ends',
};

/** Recorded options back into CLI flags, for Re-run. */
export function optionsToArgs(o: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const flag = FLAG[k];
    if (!flag || v === undefined || v === false || v === null) continue;
    if (v === true) args.push(flag);
    else args.push(flag, Array.isArray(v) ? v.join(',') : String(v));
  }
  return args;
}

/** Two models layer by layer for the Lab's table: params, non-zero params, dtype, distinct values and, when measured, output SNR. */
export function comparisonRows(diff: ModelDiff): LabLayerComparison[] {
  const side = (x: (typeof diff.layers)[number]['a']) => (x ? { params: x.params, nonzero: x.nonzeroParams, dtype: x.dtype, distinct: x.distinctValues } : null);
  return diff.layers.map((row) => ({ layer: row.layer, a: side(row.a), b: side(row.b), outputSnrDb: row.outputSnrDb, outputIdentical: row.outputIdentical }));
}

/**
 * The dataset to measure per-layer output SNR on when comparing a and b: the
 * model's selected dataset, when both are TF.js layers models and the workspace
 * is trusted (the SNR runs the models). Undefined: compare without data.
 */
export async function snrDataset(model: vscode.Uri, a: string, b: string): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted) return undefined;
  const { datasetFor } = await import('../datasets');
  const dataset = await datasetFor(model);
  if (!dataset) return undefined;
  const { openModel } = await import('../../core/formats/registry');
  try {
    const [da, db] = await Promise.all([openModel(a), openModel(b)]);
    return da.format === 'tfjs-layers' && db.format === 'tfjs-layers' ? dataset : undefined;
  } catch {
    return undefined;
  }
}

/** Saves the report (Markdown + chart PNGs + runs JSON) under `.parsimony/reports/`. */
export async function writeReport(file: string, runsTable: string, images: { name: string; dataUrl: string }[], runs: LabRun[]): Promise<string> {
  const root = workspaceRoot(file);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const folder = path.join(root, '.parsimony', 'reports', `${path.basename(file).replace(/[^\w.-]/g, '_')}-${stamp}`);
  await fsp.mkdir(folder, { recursive: true });
  const { writeFileAtomic } = await import('../../core/io/atomicWrite');
  for (const img of images) {
    // Names were validated against /^[\w.-]+\.png$/ in the protocol: they cannot leave the folder.
    const base64 = img.dataUrl.slice('data:image/png;base64,'.length);
    await writeFileAtomic(path.join(folder, path.basename(img.name)), Buffer.from(base64, 'base64'));
  }
  const md = [
    `# Compression Lab report: ${path.basename(file)}`,
    '',
    `Model: \`${relative(root, file)}\` · ${new Date().toISOString()}`,
    '',
    ...images.map((img) => `![${img.name.replace(/\.png$/, '')}](${img.name})\n`),
    '## Runs',
    '',
    runsTable,
    '',
  ].join('\n');
  await writeFileAtomic(path.join(folder, 'report.md'), md);
  await writeFileAtomic(path.join(folder, 'runs.json'), JSON.stringify(runs, null, 2) + '\n');
  return folder;
}
