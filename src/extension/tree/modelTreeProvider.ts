import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerSummary, ModelSummary } from '../../core/analysis/summary';
import { formatBytes, formatCount, formatPercent } from '../../core/format';
import type { Config } from '../config';
import { findModelFiles, isModelFileName, MODEL_GLOB } from '../modelFiles';
import type { ModelService } from '../modelService';
import { hintsMarkdownForLayer, layerMarkdown, modelTooltip } from './tooltips';

/** Hints run by themselves (no command) only for models up to this size, so expanding stays cheap. */
const AUTO_HINT_MAX_PARAMS = 5_000_000;
/**
 * Up to this many models, a model's row waits for its figures (no flicker). With
 * more, VS Code asks for every row at once and would show nothing until every
 * file was parsed: rows appear at once and fill in as the analyses finish.
 */
const EAGER_MODELS = 50;
/** File events are batched: the tree re-scans this long after the last one, and at least this often during a storm. */
const REFRESH_QUIET_MS = 300;
const REFRESH_MAX_WAIT_MS = 2000;
/** Rows that finished analyzing are repainted together, at most this often. */
const REPAINT_MS = 500;

/** Tree elements are plain keys; TreeItems are built on demand. */
export type ModelTreeElement =
  | { kind: 'model'; uri: vscode.Uri }
  | { kind: 'layer'; uri: vscode.Uri; index: number }
  | { kind: 'tensor'; uri: vscode.Uri; layer: number; index: number }
  | { kind: 'error'; uri: vscode.Uri; message: string; code: string };

export class ModelTreeProvider implements vscode.TreeDataProvider<ModelTreeElement>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ModelTreeElement | ModelTreeElement[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private models: Promise<vscode.Uri[]> | undefined;
  private readonly elements = new Map<string, ModelTreeElement>();
  private readonly disposables: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshDeadline: number | undefined;
  private repaintTimer: NodeJS.Timeout | undefined;
  private readonly finished = new Set<ModelTreeElement>();
  /** Models whose children are being fetched (see scheduleRepaint). */
  private readonly fetching = new Map<string, number>();
  /** How many models the last listing had (decides whether rows wait for their figures). */
  private listed = 0;

  constructor(
    private readonly service: ModelService,
    private readonly config: Config,
  ) {
    const watcher = vscode.workspace.createFileSystemWatcher(MODEL_GLOB);
    const onFile = (uri: vscode.Uri) => {
      if (!isModelFileName(uri.path)) return;
      service.invalidate(uri);
      this.scheduleRefresh();
    };
    this.disposables.push(watcher, watcher.onDidCreate(onFile), watcher.onDidChange(onFile), watcher.onDidDelete(onFile));
    // Shards and external data change too: a weights file changing invalidates the models that read it.
    const dataWatcher = vscode.workspace.createFileSystemWatcher('**/*.{bin,data}');
    const onData = (uri: vscode.Uri) => {
      service.invalidateRelated(uri);
      this.scheduleRefresh();
    };
    this.disposables.push(dataWatcher, dataWatcher.onDidChange(onData), dataWatcher.onDidCreate(onData), dataWatcher.onDidDelete(onData));
    this.disposables.push(
      // Badges and lightbulbs come with hints. A full refresh, not one of the model's
      // node: VS Code refreshes a single node without cancelling a fetch of its
      // children in flight (reveal() from the Lab starts one), and the layers that
      // fetch registers are orphaned, so the model shows no children any more
      // ("Element with id … is already registered"). A full refresh cancels it.
      service.onDidComputeHints(() => this.changed.fire(undefined)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('parsimony.tree.sortBySize') || e.affectsConfiguration('parsimony.exclude')) this.refresh();
      }),
    );
  }

  /**
   * Re-scans the workspace: debounced, so a burst of file events refreshes once,
   * but at least every couple of seconds while the events keep coming.
   */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const now = Date.now();
    this.refreshDeadline ??= now + REFRESH_MAX_WAIT_MS;
    this.refreshTimer = setTimeout(() => {
      this.refreshDeadline = undefined;
      this.refresh();
    }, Math.max(0, Math.min(REFRESH_QUIET_MS, this.refreshDeadline - now)));
  }

  /**
   * Rows whose analysis finished show their figures: one repaint for the rows that
   * finished meanwhile, not the whole list (a thousand rows resent every half second
   * keep the workbench busy). A row whose children are being fetched is the exception:
   * VS Code refreshes a single node without cancelling that fetch, and the layers it
   * registers are orphaned; a full refresh cancels it.
   */
  private scheduleRepaint(element: ModelTreeElement): void {
    this.finished.add(element);
    this.repaintTimer ??= setTimeout(() => {
      this.repaintTimer = undefined;
      const rows = [...this.finished];
      this.finished.clear();
      this.changed.fire(rows.some((r) => this.fetching.has(r.uri.toString())) ? undefined : rows);
    }, REPAINT_MS);
  }

  refresh(): void {
    this.models = undefined;
    // Interned elements are kept across refreshes: their ids (uri + index) are stable, and
    // handing VS Code the same objects lets reveal() resolve an element while a refresh is
    // in flight (a fresh object for the same id is what made "Cannot resolve tree item").
    this.changed.fire(undefined);
  }

  /** Model files currently listed (scanning the workspace on first use). */
  modelFiles(): Promise<vscode.Uri[]> {
    this.models ??= findModelFiles(this.config).then((files) => {
      this.listed = files.length;
      return files;
    });
    return this.models;
  }

  private intern<T extends ModelTreeElement>(element: T): T {
    const id = elementId(element);
    const existing = this.elements.get(id);
    if (existing) return existing as T;
    this.elements.set(id, element);
    return element;
  }

  async getChildren(element?: ModelTreeElement): Promise<ModelTreeElement[]> {
    if (!element) {
      const files = await this.modelFiles();
      return files.map((uri) => this.intern({ kind: 'model', uri }));
    }
    if (element.kind === 'model') {
      const key = element.uri.toString();
      this.fetching.set(key, (this.fetching.get(key) ?? 0) + 1);
      let result: Awaited<ReturnType<ModelService['analyze']>>;
      try {
        result = await this.service.analyze(element.uri);
      } finally {
        const n = this.fetching.get(key)! - 1;
        if (n > 0) this.fetching.set(key, n);
        else this.fetching.delete(key);
      }
      if (!result.ok) return [this.intern({ kind: 'error', uri: element.uri, message: result.error, code: result.code })];
      // Hints run in a CLI child on local files only (see localOnly.ts).
      if (element.uri.scheme === 'file' && result.summary.totalParams <= AUTO_HINT_MAX_PARAMS && !this.service.cachedHints(element.uri)) {
        // Badges appear when the background run finishes (onDidComputeHints refreshes the model).
        this.service.hints(element.uri, this.config.hintsEpsilon).catch(() => undefined);
      }
      const order = result.summary.layers.map((_, i) => i);
      if (this.config.sortBySize) order.sort((a, b) => result.summary.layers[b]!.params - result.summary.layers[a]!.params);
      return order.map((index) => this.intern({ kind: 'layer', uri: element.uri, index }));
    }
    if (element.kind === 'layer') {
      const layer = await this.layer(element);
      return (layer?.tensors ?? []).map((_, index) => this.intern({ kind: 'tensor', uri: element.uri, layer: element.index, index }));
    }
    return [];
  }

  getParent(element: ModelTreeElement): ModelTreeElement | undefined {
    switch (element.kind) {
      case 'model':
        return undefined;
      case 'layer':
      case 'error':
        return this.intern({ kind: 'model', uri: element.uri });
      case 'tensor':
        return this.intern({ kind: 'layer', uri: element.uri, index: element.layer });
    }
  }

  async summary(uri: vscode.Uri): Promise<ModelSummary | undefined> {
    const r = await this.service.analyze(uri);
    return r.ok ? r.summary : undefined;
  }

  private async layer(element: { uri: vscode.Uri; index: number }): Promise<LayerSummary | undefined> {
    return (await this.summary(element.uri))?.layers[element.index];
  }

  /** Finds the tree element of a layer by name, for reveal(). */
  layerElement(uri: vscode.Uri, index: number): ModelTreeElement {
    return this.intern({ kind: 'layer', uri, index });
  }

  async getTreeItem(element: ModelTreeElement): Promise<vscode.TreeItem> {
    switch (element.kind) {
      case 'model': {
        const item = new vscode.TreeItem(modelLabel(element.uri), vscode.TreeItemCollapsibleState.Collapsed);
        item.id = elementId(element);
        item.resourceUri = element.uri;
        item.contextValue = 'model';
        item.iconPath = new vscode.ThemeIcon('symbol-class');
        item.command = undefined;
        const virtual = element.uri.scheme !== 'file';
        if (virtual) item.contextValue = 'model.virtual';
        const r = this.listed <= EAGER_MODELS ? await this.service.analyze(element.uri) : await this.service.settled(element.uri);
        if (!r) {
          // Many models: the row shows now, its figures when its turn in the analysis queue comes.
          item.description = 'reading…';
          void this.service.analyze(element.uri).then(() => this.scheduleRepaint(element));
        } else if (r.ok) {
          item.description = `${formatCount(r.summary.totalParams)} params · ${formatBytes(r.summary.bytesOnDisk)}`;
          // With many rows the tooltip is built on hover (resolveTreeItem), not sent with every row.
          if (this.listed <= EAGER_MODELS) item.tooltip = modelTooltip(r.summary);
        } else {
          item.description = 'cannot read';
          item.tooltip = r.error;
          item.contextValue = virtual ? 'model.virtual.error' : 'model.error';
        }
        return item;
      }
      case 'layer': {
        const layer = await this.layer(element);
        const summary = await this.summary(element.uri);
        const item = new vscode.TreeItem(layer?.name ?? '?', layer && layer.tensors.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.id = elementId(element);
        if (layer && summary) {
          const hints = this.service.cachedHints(element.uri)?.hints.filter((h) => h.layer === layer.name) ?? [];
          const best = hints.reduce<(typeof hints)[number] | undefined>((b, h) => (!b || h.savingsBytes > b.savingsBytes ? h : b), undefined);
          item.description = layer.params > 0 ? `${formatCount(layer.params)} params · ${formatPercent(layer.share)}` : layer.type;
          if (best && best.savingsBytes > 0) item.description += ` · ${best.kind} −${formatBytes(best.savingsBytes)}`;
          const markdown = layerMarkdown(layer, summary) + (hints.length ? '\n\n' + hintsMarkdownForLayer(hints) : '');
          item.tooltip = new vscode.MarkdownString(markdown);
          item.contextValue = layer.params > 0 ? (hints.length ? 'layer.weighted.hinted' : 'layer.weighted') : 'layer';
          // Compressing a layer needs a local file: the menu leaves it out.
          if (element.uri.scheme !== 'file' && layer.params > 0) item.contextValue = 'layer.weighted.virtual';
          item.iconPath = hints.length
            ? new vscode.ThemeIcon('lightbulb', new vscode.ThemeColor('editorLightBulb.foreground'))
            : new vscode.ThemeIcon(layer.params > 0 ? 'symbol-field' : 'symbol-operator');
        }
        return item;
      }
      case 'tensor': {
        const layer = await this.layer({ uri: element.uri, index: element.layer });
        const tensor = layer?.tensors[element.index];
        const item = new vscode.TreeItem(tensor ? shortTensorName(tensor.name, layer!.name) : '?', vscode.TreeItemCollapsibleState.None);
        item.id = elementId(element);
        if (tensor) {
          item.description = `[${tensor.shape.join('×')}] ${tensor.dtype} · ${formatBytes(tensor.bytes)}`;
          item.tooltip = new vscode.MarkdownString(`**${tensor.name}**\n\nshape \`[${tensor.shape.join(', ')}]\` · ${tensor.dtype} · ${formatBytes(tensor.bytes)} on disk`);
        }
        item.contextValue = 'tensor';
        item.iconPath = new vscode.ThemeIcon('symbol-array');
        return item;
      }
      case 'error': {
        const item = new vscode.TreeItem(element.message.replace(/^.*?: /, ''), vscode.TreeItemCollapsibleState.None);
        item.id = elementId(element);
        item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
        item.tooltip = `${element.message} [${element.code}]`;
        item.contextValue = 'error';
        return item;
      }
    }
  }

  /** Tooltips of model rows left out of getTreeItem (many models) are filled in on hover. */
  async resolveTreeItem(item: vscode.TreeItem, element: ModelTreeElement): Promise<vscode.TreeItem> {
    if (element.kind === 'model' && item.tooltip === undefined) {
      const r = await this.service.settled(element.uri);
      if (r?.ok) item.tooltip = modelTooltip(r.summary);
    }
    return item;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.repaintTimer);
    this.changed.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function elementId(e: ModelTreeElement): string {
  switch (e.kind) {
    case 'model':
      return `m:${e.uri.toString()}`;
    case 'layer':
      return `l:${e.uri.toString()}#${e.index}`;
    case 'tensor':
      return `t:${e.uri.toString()}#${e.layer}#${e.index}`;
    case 'error':
      return `e:${e.uri.toString()}`;
  }
}

/** `mnist-mlp/model.json` for TF.js (every one is called model.json); the base name otherwise. */
export function modelLabel(uri: vscode.Uri): string {
  const base = path.posix.basename(uri.path);
  if (/^model.*\.json$/i.test(base) || /^pytorch_model\.bin$/i.test(base)) {
    return `${path.posix.basename(path.posix.dirname(uri.path))}/${base}`;
  }
  return base;
}

function shortTensorName(tensor: string, layer: string): string {
  if (tensor.startsWith(layer + '/') || tensor.startsWith(layer + '.')) return tensor.slice(layer.length + 1);
  return tensor;
}
