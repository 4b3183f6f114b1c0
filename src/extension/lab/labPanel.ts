import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseLabToHost, type HostToLab, type LabLayer, type LabModelHeader, type LabToHost } from '../../protocol';
import { isCancelled, isModelFormatError } from '../../core/errors';
import { runCliJob } from '../cliJob';
import type { Ctx } from '../ctx';
import { modelLabel } from '../tree/modelTreeProvider';
import { labHtml } from './labHtml';
import { diffJob } from '../diffJob';
import { comparisonRows, labRuns, runById, snrDataset, workspaceRoot, deleteRunRecord, writeReport } from './labData';

interface LabState {
  file?: string;
}

/**
 * The Compression Lab: one panel per model (opening it again reveals it), the
 * work done in the extension host (CLI child processes), the webview only
 * displays. Survives reloads through a serializer and the run records on disk.
 */
export class LabPanel implements vscode.Disposable {
  static readonly viewType = 'parsimony.lab';
  private static readonly panels = new Map<string, LabPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly jobs = new Map<string, vscode.CancellationTokenSource>();
  private ready = false;
  private disposed = false;

  static createOrShow(ctx: Ctx, uri: vscode.Uri): LabPanel {
    const existing = LabPanel.panels.get(uri.fsPath);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(LabPanel.viewType, `Lab: ${path.basename(uri.fsPath)}`, vscode.ViewColumn.Active, LabPanel.options(ctx));
    return new LabPanel(ctx, panel, uri);
  }

  static revive(ctx: Ctx, panel: vscode.WebviewPanel, state: unknown): void {
    const file = (state as LabState | undefined)?.file;
    if (!file) {
      panel.dispose();
      return;
    }
    panel.webview.options = LabPanel.options(ctx);
    new LabPanel(ctx, panel, vscode.Uri.file(file));
  }

  static forFile(file: string): LabPanel | undefined {
    return LabPanel.panels.get(file);
  }

  private static options(ctx: Ctx): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist', 'webview')] };
  }

  private constructor(
    private readonly ctx: Ctx,
    readonly panel: vscode.WebviewPanel,
    readonly uri: vscode.Uri,
  ) {
    LabPanel.panels.set(uri.fsPath, this);
    panel.webview.html = labHtml(panel.webview, ctx.extension.extensionUri, `Compression Lab: ${path.basename(uri.fsPath)}`);
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'media', 'models.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m)),
      ctx.models.onDidComputeHints((u) => {
        if (u.fsPath === uri.fsPath) void this.sendLayers();
      }),
    );
    const runsFolder = new vscode.RelativePattern(vscode.Uri.file(path.join(workspaceRoot(uri.fsPath), '.parsimony', 'runs')), '*.json');
    const watcher = vscode.workspace.createFileSystemWatcher(runsFolder);
    const refresh = () => void this.sendRuns();
    this.disposables.push(watcher, watcher.onDidCreate(refresh), watcher.onDidChange(refresh), watcher.onDidDelete(refresh));
  }

  /**
   * Sends a message to the webview (after it said it is ready, and not once the
   * panel is closed: work still in flight then, such as the init that a quick
   * close interrupts, would throw "Webview is disposed").
   */
  post(message: HostToLab): void {
    if (this.ready && !this.disposed) void this.panel.webview.postMessage(message);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = parseLabToHost(raw);
    if (!message) {
      this.ctx.log.warn(`Lab: ignored a malformed message: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    try {
      await this.handle(message);
    } catch (e) {
      const text = isModelFormatError(e) ? e.describe() : e instanceof Error ? e.message : String(e);
      if (!isModelFormatError(e)) this.ctx.log.error(`Lab: ${message.type} failed`, e);
      this.post({ type: 'error', message: text });
    }
  }

  private async handle(message: LabToHost): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.ready = true;
        await this.sendInit();
        return;
      case 'layer/select':
        await this.selectLayer(message.layer);
        return;
      case 'run/open': {
        const run = await runById(this.uri.fsPath, message.runId);
        const output = run?.output && this.insideWorkspace(run.output);
        if (output) await vscode.commands.executeCommand('parsimony.analyzeModel', vscode.Uri.file(output));
        return;
      }
      case 'run/delete':
        await deleteRunRecord(this.uri.fsPath, message.runId);
        await this.sendRuns();
        return;
      case 'run/rerun': {
        const run = await runById(this.uri.fsPath, message.runId);
        if (run?.cli) await this.startJob(`rerun-${Date.now()}`, run.cli, `re-run ${run.method}`);
        return;
      }
      case 'run/saveRecipe':
        // The command follows the run's source back through earlier runs, asks for a name and opens the file.
        await vscode.commands.executeCommand('parsimony.saveRecipe', this.uri, message.runId);
        return;
      case 'compare/request': {
        const [a, b] = await Promise.all([runById(this.uri.fsPath, message.a), runById(this.uri.fsPath, message.b)]);
        const fileA = a?.kind === 'original' ? this.uri.fsPath : a?.output && this.insideWorkspace(a.output);
        const fileB = b?.kind === 'original' ? this.uri.fsPath : b?.output && this.insideWorkspace(b.output);
        if (!fileA || !fileB) throw new Error('both runs need a model file to compare');
        const dataset = await snrDataset(this.uri, fileA, fileB);
        const label = `compare${dataset ? ` on ${dataset}` : ''}`;
        const diff = await this.track(message.jobId, label, (progress, token) => diffJob(this.ctx, fileA, fileB, dataset, progress, token));
        if (!diff) return;
        this.post({ type: 'compare/result', a: path.basename(fileA), b: path.basename(fileB), rows: comparisonRows(diff), snrData: diff.snrData });
        return;
      }
      case 'job/start': {
        const args = [message.job, this.uri.fsPath];
        if (message.job === 'compress' || message.job === 'sweep') args.push('--method', message.method);
        // compress takes data only for the training methods (which read it from the options field).
        if (message.dataset && message.job !== 'compress') args.push('--data', message.dataset);
        args.push(...message.args);
        await this.startJob(message.jobId, args, `${message.job} ${message.method}`);
        return;
      }
      case 'job/cancel':
        this.jobs.get(message.jobId)?.cancel();
        return;
      case 'report/export': {
        const folder = await writeReport(this.uri.fsPath, message.markdown, message.images, await labRuns(this.uri.fsPath));
        void vscode.window.showInformationMessage(`Compression Lab report saved in ${vscode.workspace.asRelativePath(folder)}`, 'Open').then((c) => {
          if (c === 'Open') void vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(path.join(folder, 'report.md')));
        });
        return;
      }
    }
  }

  /** Paths coming from run records are only used when they lie inside the workspace. */
  private insideWorkspace(file: string): string | undefined {
    const root = workspaceRoot(this.uri.fsPath);
    const resolved = path.resolve(root, file);
    const rel = path.relative(root, resolved);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      this.ctx.log.warn(`Lab: refused a path outside the workspace: ${file}`);
      return undefined;
    }
    return resolved;
  }

  /**
   * Runs work with the Run tab's progress bar and Cancel button (job/progress,
   * job/cancel, job/done). Returns undefined when it failed or was cancelled.
   */
  private async track<T>(
    jobId: string,
    label: string,
    work: (progress: (fraction: number, message: string) => void, token: vscode.CancellationToken) => Promise<T>,
    cancelled = 'cancelled',
  ): Promise<T | undefined> {
    const source = new vscode.CancellationTokenSource();
    this.jobs.set(jobId, source);
    try {
      const result = await work((fraction, text) => this.post({ type: 'job/progress', jobId, fraction, message: text }), source.token);
      this.post({ type: 'job/done', jobId, ok: true, message: `${label}: done` });
      return result;
    } catch (e) {
      const text = isCancelled(e) ? `${label}: ${cancelled}` : `${label} failed: ${isModelFormatError(e) ? e.describe() : e instanceof Error ? e.message : String(e)}`;
      this.post({ type: 'job/done', jobId, ok: false, message: text });
      return undefined;
    } finally {
      this.jobs.delete(jobId);
      source.dispose();
    }
  }

  private async startJob(jobId: string, args: string[], label: string): Promise<void> {
    const root = workspaceRoot(this.uri.fsPath);
    const done = await this.track(
      jobId,
      label,
      (progress, token) => runCliJob(this.ctx.extension.extensionPath, [...args, '--workspace', root], this.ctx.log, progress, token, root).then(() => true),
      'cancelled, nothing written',
    );
    if (done) this.ctx.tree.refresh();
    await this.sendRuns();
  }

  private async selectLayer(name: string): Promise<void> {
    const analysis = await this.ctx.models.analyze(this.uri);
    if (!analysis.ok) return;
    const index = analysis.summary.layers.findIndex((l) => l.name === name);
    if (index < 0) return;
    const files = await this.ctx.tree.modelFiles();
    const model = files.find((f) => f.fsPath === this.uri.fsPath);
    if (!model) return;
    const view = this.ctx.treeView;
    const selected = () => view.selection.some((e) => e.kind === 'layer' && e.index === index && e.uri.fsPath === model.fsPath);
    // VS Code drops a reveal without a word when the tree refreshes meanwhile (hints
    // arriving, a weights file changing): check that the layer got selected, else try again.
    // A reveal racing a refresh can also throw "Cannot resolve tree item": expand the
    // model first (so its children are loaded), then retry with a growing pause.
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        const layerElement = this.ctx.tree.layerElement(model, index);
        if (attempt > 0) await view.reveal(this.ctx.tree.getParent(layerElement)!, { select: false, focus: false, expand: true });
        await view.reveal(layerElement, { select: true, focus: false, expand: true });
      } catch (e) {
        this.ctx.log.debug(`Lab: reveal of ${name} failed (attempt ${attempt + 1}): ${String(e)}`);
      }
      for (let waited = 0; waited < 500 * (attempt + 1) && !selected(); waited += 50) await new Promise((r) => setTimeout(r, 50));
      if (selected() || this.disposed) return;
    }
    this.ctx.log.warn(`Lab: could not select layer ${name} in the Models view`);
  }

  private async header(): Promise<LabModelHeader> {
    const analysis = await this.ctx.models.analyze(this.uri);
    if (!analysis.ok) throw new Error(analysis.error);
    const s = analysis.summary;
    const { gzipSize } = await import('../../core/compress/stats');
    let gzip = 0;
    for (const f of s.files) gzip += await gzipSize(f);
    return {
      file: this.uri.fsPath,
      name: modelLabel(this.uri),
      format: s.format,
      params: s.totalParams,
      trainableParams: s.trainableParams,
      bytesOnDisk: s.bytesOnDisk,
      bytesGzip: gzip,
      bytesInMemory: s.bytesInMemory,
      macs: s.macs,
      backend: s.format === 'onnx' ? 'onnxruntime-cpu' : s.format.startsWith('tfjs') ? tfjsBackend(this.ctx.config.backend) : null,
    };
  }

  private async layers(): Promise<LabLayer[]> {
    const analysis = await this.ctx.models.analyze(this.uri);
    if (!analysis.ok) return [];
    const hints = this.ctx.models.cachedHints(this.uri)?.hints ?? [];
    return analysis.summary.layers.map((l) => {
      const mine = hints.filter((h) => h.layer === l.name);
      const removable = Math.min(l.params, Math.max(0, ...mine.map((h) => h.savingsParams)));
      return {
        name: l.name,
        type: l.type,
        params: l.params,
        bytes: l.bytes,
        macs: l.macs,
        removable,
        hints: mine.map((h) => ({ kind: h.kind, message: h.message, savingsParams: h.savingsParams, savingsBytes: h.savingsBytes, error: h.error })),
      };
    });
  }

  private async sendInit(): Promise<void> {
    const [model, layers, runs] = await Promise.all([this.header(), this.layers(), labRuns(this.uri.fsPath)]);
    const format = model.format;
    const methods = format === 'safetensors' ? ['prune', 'quantize', 'cluster', 'binarize'] : ['prune', 'structured-prune', 'quantize', 'cluster', 'binarize', 'low-rank', 'prune,cluster,huffman'];
    this.post({ type: 'init', model, layers, runs, methods, datasets: ['mnist:1000', 'mnist'] });
    // Hints fill the "removable" part of the bars when they arrive.
    if (!this.ctx.models.cachedHints(this.uri)) this.ctx.models.hints(this.uri, this.ctx.config.hintsEpsilon).catch(() => undefined);
  }

  private async sendLayers(): Promise<void> {
    this.post({ type: 'layers/update', layers: await this.layers() });
  }

  private async sendRuns(): Promise<void> {
    this.post({ type: 'runs/update', runs: await labRuns(this.uri.fsPath) });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    LabPanel.panels.delete(this.uri.fsPath);
    for (const job of this.jobs.values()) job.cancel();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  static disposeAll(): void {
    for (const p of [...LabPanel.panels.values()]) p.dispose();
  }
}

/** The TF.js backend the CLI will pick (mirrors src/core/runtime/tfjs.ts without loading TF.js in the host). */
function tfjsBackend(preference: string): string {
  if (preference !== 'auto') return preference;
  try {
    require.resolve('@tensorflow/tfjs-node');
    return 'tensorflow';
  } catch {
    return 'wasm';
  }
}
