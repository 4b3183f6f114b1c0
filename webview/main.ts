/**
 * The Compression Lab: charts of where the parameters are and what each
 * compression bought and cost. Browser code; it shares only src/protocol.ts with
 * the host, displays what the host sends and asks the host to do any work.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import { parseHostToLab, type HostToLab, type LabLayer, type LabModelHeader, type LabRun, type LabToHost } from '../src/protocol';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, ScatterController, Tooltip, Legend);

declare function acquireVsCodeApi(): { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };
const vscode = acquireVsCodeApi();

interface State {
  file?: string;
  tab?: string;
  xAxis?: XAxis;
  sort?: { key: keyof LabRun; desc: boolean };
  selected?: string[];
}
type XAxis = 'bytesOnDisk' | 'bytesGzip' | 'macs' | 'latencyMs';

const state: State = (vscode.getState() as State | undefined) ?? {};
let model: LabModelHeader | undefined;
let layers: LabLayer[] = [];
let runs: LabRun[] = [];
const charts = new Map<string, Chart>();
let currentJob: string | undefined;

function post(message: LabToHost): void {
  vscode.postMessage(message);
}

function saveState(): void {
  vscode.setState(state);
}

/** Theme colours from VS Code's CSS variables, so charts follow light, dark and high-contrast themes. */
function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

function palette() {
  return {
    fg: themeColor('--vscode-foreground', '#cccccc'),
    grid: themeColor('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)'),
    blue: themeColor('--vscode-charts-blue', '#3794ff'),
    orange: themeColor('--vscode-charts-orange', '#d18616'),
    green: themeColor('--vscode-charts-green', '#89d185'),
    red: themeColor('--vscode-charts-red', '#f14c4c'),
    purple: themeColor('--vscode-charts-purple', '#b180d7'),
    yellow: themeColor('--vscode-charts-yellow', '#cca700'),
  };
}

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function fmtCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + 'B';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (Math.abs(n) >= 1e3) return (n / 1e3).toFixed(1) + 'K';
  return String(Math.round(n * 100) / 100);
}

function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(v >= 100 ? 0 : 1) : v} ${u[i]}`;
}

function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`;
}

function text(tag: string, content: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

/** Records the chart's data on its canvas so tests (and people with devtools) can read it. */
function exposeChart(id: string, chart: Chart): void {
  charts.set(id, chart);
  const data = chart.data.datasets.map((d) => ({ label: d.label, data: d.data }));
  chart.canvas.dataset.chart = JSON.stringify({ labels: chart.data.labels ?? [], datasets: data });
}

function makeChart(id: string, config: ChartConfiguration): Chart {
  charts.get(id)?.destroy();
  const canvas = el<HTMLCanvasElement>(id);
  const chart = new Chart(canvas, config);
  exposeChart(id, chart);
  return chart;
}

function renderHeader(): void {
  if (!model) return;
  const h = el('header');
  h.replaceChildren();
  h.append(text('h1', model.name));
  const facts: [string, string][] = [
    ['format', model.format],
    ['parameters', fmtCount(model.params)],
    ['on disk', fmtBytes(model.bytesOnDisk)],
    ['gzip', fmtBytes(model.bytesGzip)],
    ['in memory', fmtBytes(model.bytesInMemory)],
    ['MACs', fmtCount(model.macs)],
    ['backend', model.backend ?? '—'],
  ];
  const dl = document.createElement('dl');
  for (const [k, v] of facts) {
    const div = document.createElement('div');
    div.append(text('dt', k), text('dd', v));
    dl.append(div);
  }
  h.append(dl);
}

function renderLayerChart(): void {
  const c = palette();
  const weighted = layers.filter((l) => l.params > 0);
  makeChart('layer-chart', {
    type: 'bar',
    data: {
      labels: weighted.map((l) => l.name),
      datasets: [
        { label: 'parameters kept', data: weighted.map((l) => l.params - l.removable), backgroundColor: c.blue, stack: 'p' },
        { label: 'removable (hints)', data: weighted.map((l) => l.removable), backgroundColor: c.orange, stack: 'p' },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      color: c.fg,
      // The whole column of a layer answers hover and click: a small layer's bar can be
      // one pixel tall (80 parameters next to 12,832) and could not be hit otherwise.
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { stacked: true, ticks: { color: c.fg, autoSkip: true, maxRotation: 60 }, grid: { color: c.grid } },
        y: { stacked: true, ticks: { color: c.fg }, grid: { color: c.grid }, title: { display: true, text: 'parameters', color: c.fg } },
      },
      plugins: {
        legend: { labels: { color: c.fg } },
        tooltip: {
          callbacks: {
            title: (items) => weighted[items[0]!.dataIndex]!.name,
            label: () => '',
            afterBody: (items) => {
              const l = weighted[items[0]!.dataIndex]!;
              const lines = [`${l.type}`, `${l.params.toLocaleString()} parameters`, `${fmtBytes(l.bytes)} on disk`, `MACs: ${fmtCount(l.macs)}`];
              for (const h of l.hints) lines.push(`${h.kind}: ${h.message}`);
              return lines;
            },
          },
        },
      },
      onClick: (_e, elements) => {
        const hit = elements[0];
        if (hit) post({ type: 'layer/select', layer: weighted[hit.index]!.name });
      },
    },
  });
  el('layer-count').textContent = `${weighted.length} layers with weights`;
}

/** Points not dominated by another (smaller or equal x, higher or equal y, one strictly). */
export function paretoFront(points: { x: number; y: number }[]): number[] {
  const idx = points.map((_, i) => i).filter((i) => Number.isFinite(points[i]!.x) && Number.isFinite(points[i]!.y));
  return idx
    .filter((i) => !idx.some((j) => j !== i && points[j]!.x <= points[i]!.x && points[j]!.y >= points[i]!.y && (points[j]!.x < points[i]!.x || points[j]!.y > points[i]!.y)))
    .sort((a, b) => points[a]!.x - points[b]!.x);
}

function quality(r: LabRun): number | null {
  return r.accuracy ?? r.agreement;
}

function renderTradeoff(): void {
  const c = palette();
  const axis: XAxis = state.xAxis ?? 'bytesOnDisk';
  const usable = runs.filter((r) => quality(r) !== null && r[axis] !== null && (r[axis] as number) > 0);
  const pts = usable.map((r) => ({ x: r[axis] as number, y: quality(r)! }));
  const front = paretoFront(pts);
  const original = usable.map((r, i) => (r.kind === 'original' ? i : -1)).filter((i) => i >= 0);
  const labelOf = (r: LabRun) => (r.kind === 'original' ? 'original' : `${r.method}${r.setting ? ` ${r.setting}` : ''}`);
  makeChart('tradeoff-chart', {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: 'runs',
          data: pts.map((p, i) => ({ ...p, label: labelOf(usable[i]!) })),
          backgroundColor: usable.map((r) => (r.kind === 'original' ? c.red : c.blue)),
          pointRadius: usable.map((r) => (r.kind === 'original' ? 7 : 4)),
          pointStyle: usable.map((r) => (r.kind === 'original' ? 'rectRot' : 'circle')),
        },
        {
          type: 'line',
          label: 'Pareto frontier',
          data: front.map((i) => pts[i]!),
          borderColor: c.green,
          backgroundColor: c.green,
          pointRadius: 0,
          borderWidth: 2,
          stepped: false,
        },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      color: c.fg,
      scales: {
        x: { type: 'logarithmic', title: { display: true, text: axisLabel(axis), color: c.fg }, ticks: { color: c.fg, callback: (v) => (axis === 'macs' ? fmtCount(Number(v)) : axis === 'latencyMs' ? `${v} ms` : fmtBytes(Number(v))) }, grid: { color: c.grid } },
        y: { title: { display: true, text: usable.some((r) => r.accuracy !== null) ? 'accuracy' : 'agreement with original', color: c.fg }, ticks: { color: c.fg }, grid: { color: c.grid } },
      },
      plugins: {
        legend: { labels: { color: c.fg } },
        tooltip: {
          callbacks: {
            label: (item) => {
              if (item.datasetIndex !== 0) return 'Pareto frontier';
              const r = usable[item.dataIndex]!;
              return [`${labelOf(r)}`, `accuracy ${fmtPct(r.accuracy)} · agreement ${fmtPct(r.agreement)}`, `${fmtBytes(r.bytesOnDisk)} on disk · ${fmtBytes(r.bytesGzip)} gzip`, `params ${fmtCount(r.params)} (non-zero ${fmtCount(r.nonzeroParams)})`];
            },
          },
        },
      },
      onClick: (_e, elements) => {
        const hit = elements.find((e) => e.datasetIndex === 0);
        if (hit && usable[hit.index]!.output) post({ type: 'run/open', runId: usable[hit.index]!.id });
      },
    },
  });
  el('tradeoff-canvas-wrap').dataset.originalIndex = JSON.stringify(original);
  el('tradeoff-canvas-wrap').dataset.pareto = JSON.stringify(front);
  el('tradeoff-empty').hidden = usable.length > 0;
}

function axisLabel(axis: XAxis): string {
  return { bytesOnDisk: 'bytes on disk (log)', bytesGzip: 'gzip bytes (log)', macs: 'MACs (log)', latencyMs: 'latency per sample, ms (log)' }[axis];
}

function renderSweeps(): void {
  const c = palette();
  const container = el('sweeps');
  for (const [id, chart] of charts) if (id.startsWith('sweep-')) {
    chart.destroy();
    charts.delete(id);
  }
  container.replaceChildren();
  const groups = new Map<string, LabRun[]>();
  for (const r of runs) if (r.kind === 'sweep' && r.sweepId) groups.set(r.sweepId, [...(groups.get(r.sweepId) ?? []), r]);
  const originalQuality = runs.find((r) => r.kind === 'original');
  el('sweeps-empty').hidden = groups.size > 0;
  let n = 0;
  for (const [sweepId, points] of groups) {
    const id = `sweep-${n++}`;
    const wrap = document.createElement('div');
    wrap.className = 'chart-wrap small';
    wrap.append(text('h3', `${points[0]!.method} sweep`));
    const canvas = document.createElement('canvas');
    canvas.id = id;
    wrap.append(canvas);
    container.append(wrap);
    const labels = points.map((p) => p.setting ?? '');
    const ref = originalQuality ? quality(originalQuality) : null;
    const datasets: ChartConfiguration<'line'>['data']['datasets'] = [
      { label: 'accuracy', data: points.map((p) => quality(p)), borderColor: c.blue, backgroundColor: c.blue },
    ];
    if (ref !== null) datasets.push({ label: 'original', data: points.map(() => ref), borderColor: c.red, borderDash: [6, 4], pointRadius: 0 });
    makeChart(id, {
      type: 'line',
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        color: c.fg,
        scales: { x: { ticks: { color: c.fg }, grid: { color: c.grid }, title: { display: true, text: points[0]!.method, color: c.fg } }, y: { ticks: { color: c.fg }, grid: { color: c.grid } } },
        plugins: { legend: { labels: { color: c.fg } } },
      },
    });
    canvas.dataset.sweepId = sweepId;
  }
}

function renderEarlyExit(): void {
  const c = palette();
  const ee = runs.filter((r) => r.kind === 'early-exit' && r.curve?.length);
  el('early-exit-section').hidden = ee.length === 0;
  if (!ee.length) return;
  makeChart('early-exit-chart', {
    type: 'line',
    data: {
      datasets: ee.map((r, i) => ({
        label: r.setting ?? r.method,
        data: r.curve!.map((p) => ({ x: p.averageMacs, y: p.accuracy })),
        borderColor: [c.purple, c.green, c.yellow][i % 3],
        showLine: true,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      color: c.fg,
      scales: { x: { type: 'linear', title: { display: true, text: 'average MACs per sample', color: c.fg }, ticks: { color: c.fg } }, y: { title: { display: true, text: 'accuracy', color: c.fg }, ticks: { color: c.fg } } },
    },
  });
}

const COLUMNS: { key: keyof LabRun; label: string; render: (r: LabRun) => string; numeric?: boolean }[] = [
  { key: 'method', label: 'method', render: (r) => (r.kind === 'original' ? 'original' : r.method) },
  { key: 'setting', label: 'options', render: (r) => r.setting ?? '' },
  { key: 'params', label: 'params', render: (r) => fmtCount(r.params), numeric: true },
  { key: 'nonzeroParams', label: 'non-zero', render: (r) => fmtCount(r.nonzeroParams), numeric: true },
  { key: 'bytesOnDisk', label: 'bytes', render: (r) => fmtBytes(r.bytesOnDisk), numeric: true },
  { key: 'bytesGzip', label: 'gzip', render: (r) => fmtBytes(r.bytesGzip), numeric: true },
  { key: 'accuracy', label: 'accuracy', render: (r) => fmtPct(r.accuracy), numeric: true },
  { key: 'agreement', label: 'Δaccuracy', render: (r) => delta(r), numeric: true },
  { key: 'latencyMs', label: 'latency', render: (r) => (r.latencyMs === null ? '—' : `${r.latencyMs.toFixed(2)} ms`), numeric: true },
  { key: 'output', label: 'output', render: (r) => (r.output ? r.output.split(/[\\/]/).pop()! : '') },
];

function delta(r: LabRun): string {
  const o = runs.find((x) => x.kind === 'original');
  if (!o || o.accuracy === null || r.accuracy === null) return '—';
  const d = (r.accuracy - o.accuracy) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(2)} pt`;
}

function renderRuns(): void {
  const table = el<HTMLTableElement>('runs-table');
  const sort = state.sort ?? { key: 'created', desc: false };
  const sorted = [...runs].sort((a, b) => {
    const x = a[sort.key];
    const y = b[sort.key];
    const cmp = x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : x > y ? 1 : 0;
    return sort.desc ? -cmp : cmp;
  });
  const head = document.createElement('tr');
  head.append(text('th', ''));
  for (const col of COLUMNS) {
    const th = text('th', col.label + (sort.key === col.key ? (sort.desc ? ' ▾' : ' ▴') : ''));
    th.tabIndex = 0;
    th.dataset.key = String(col.key);
    th.addEventListener('click', () => {
      state.sort = { key: col.key, desc: sort.key === col.key ? !sort.desc : false };
      saveState();
      renderRuns();
    });
    head.append(th);
  }
  head.append(text('th', ''));
  const rows = sorted.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.runId = r.id;
    const pick = document.createElement('input');
    pick.type = 'checkbox';
    pick.checked = state.selected?.includes(r.id) ?? false;
    pick.title = 'select two runs to compare';
    pick.addEventListener('change', () => {
      const sel = new Set(state.selected ?? []);
      if (pick.checked) sel.add(r.id);
      else sel.delete(r.id);
      state.selected = [...sel].slice(-2);
      saveState();
      renderRuns();
    });
    const first = document.createElement('td');
    first.append(pick);
    tr.append(first);
    for (const col of COLUMNS) {
      const td = text('td', col.render(r));
      if (col.numeric) td.className = 'num';
      tr.append(td);
    }
    const actions = document.createElement('td');
    actions.className = 'actions';
    if (r.output) actions.append(button('Open', () => post({ type: 'run/open', runId: r.id })));
    if (r.kind === 'compress' || r.kind === 'sweep') actions.append(button('Re-run', () => post({ type: 'run/rerun', runId: r.id })));
    if (r.kind === 'compress' && r.output) actions.append(button('Save as recipe…', () => post({ type: 'run/saveRecipe', runId: r.id }), true));
    if (r.kind !== 'original') actions.append(button('Delete record', () => post({ type: 'run/delete', runId: r.id }), true));
    tr.append(actions);
    return tr;
  });
  table.replaceChildren(head, ...rows);
  el('runs-empty').hidden = runs.length > 0;
  const compare = el<HTMLButtonElement>('compare-button');
  compare.toggleAttribute('disabled', (state.selected?.length ?? 0) !== 2);
}

function button(label: string, onClick: () => void, secondary = false): HTMLElement {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  if (secondary) b.setAttribute('secondary', '');
  b.addEventListener('click', onClick);
  return b;
}

function renderCompare(message: Extract<HostToLab, { type: 'compare/result' }>): void {
  const table = el<HTMLTableElement>('compare-table');
  const withSnr = message.snrData !== null;
  const head = document.createElement('tr');
  for (const h of ['layer', 'A params', 'A non-zero', 'A dtype', 'A distinct', 'B params', 'B non-zero', 'B dtype', 'B distinct', ...(withSnr ? ['output SNR (dB)'] : [])]) head.append(text('th', h));
  const rows = message.rows.map((row) => {
    const tr = document.createElement('tr');
    tr.append(text('td', row.layer));
    for (const side of [row.a, row.b]) {
      if (!side) {
        for (let i = 0; i < 4; i++) tr.append(text('td', '—'));
        continue;
      }
      tr.append(text('td', fmtCount(side.params), 'num'), text('td', fmtCount(side.nonzero), 'num'), text('td', side.dtype), text('td', side.distinct === null ? '—' : String(side.distinct), 'num'));
    }
    if (withSnr) tr.append(text('td', row.outputIdentical ? 'identical' : row.outputSnrDb === null ? '—' : row.outputSnrDb.toFixed(1), 'num snr'));
    return tr;
  });
  table.replaceChildren(head, ...rows);
  el('compare-section').hidden = false;
  el('compare-title').textContent = `Layer by layer: A = ${message.a}, B = ${message.b}`;
  el('compare-status').textContent = message.snrData
    ? `Output SNR of B against A on ${message.snrData.samples} samples of ${message.snrData.dataset} (10·log10 Σa²/Σ(a−b)² per layer).` +
      (message.snrData.shapeMismatch.length ? ` No SNR where units were removed (the output changed shape): ${message.snrData.shapeMismatch.join(', ')}.` : '')
    : 'Select a dataset for the model (Parsimony: Select Dataset) to add each layer’s output SNR (TF.js layers models).';
}

function renderAll(): void {
  renderHeader();
  renderLayerChart();
  renderTradeoff();
  renderSweeps();
  renderEarlyExit();
  renderRuns();
}

function startJob(job: 'compress' | 'evaluate' | 'sweep'): void {
  const method = (el<HTMLSelectElement>('form-method') as unknown as { value: string }).value;
  const argsText = (el('form-args') as unknown as { value: string }).value.trim();
  const dataset = (el('form-dataset') as unknown as { value: string }).value.trim() || null;
  const jobId = `job-${Date.now()}`;
  currentJob = jobId;
  post({ type: 'job/start', jobId, job, method, args: argsText ? argsText.split(/\s+/) : [], dataset });
  el('job-status').textContent = `${job} started…`;
  el('job-progress').hidden = false;
  el('job-cancel').hidden = false;
}

function exportReport(): void {
  const images = [...charts.entries()].map(([id, chart]) => ({ name: `${id}.png`, dataUrl: chart.toBase64Image('image/png', 1) }));
  const lines = ['| ' + COLUMNS.map((c) => c.label).join(' | ') + ' |', '|' + COLUMNS.map(() => '---').join('|') + '|'];
  for (const r of runs) lines.push('| ' + COLUMNS.map((c) => c.render(r).replace(/\|/g, '\\|')).join(' | ') + ' |');
  post({ type: 'report/export', markdown: lines.join('\n'), images });
}

function onMessage(raw: unknown): void {
  const message = parseHostToLab(raw);
  if (!message) {
    console.warn('Parsimony Lab: ignored a malformed message', raw);
    return;
  }
  switch (message.type) {
    case 'init':
      model = message.model;
      layers = message.layers;
      runs = message.runs;
      state.file = message.model.file;
      saveState();
      fillForm(message.methods, message.datasets);
      renderAll();
      document.body.dataset.ready = 'true';
      break;
    case 'runs/update':
      runs = message.runs;
      renderTradeoff();
      renderSweeps();
      renderEarlyExit();
      renderRuns();
      break;
    case 'layers/update':
      layers = message.layers;
      renderLayerChart();
      break;
    case 'job/progress':
      if (message.jobId !== currentJob) return;
      (el('job-progress') as unknown as { value: number }).value = Math.round(message.fraction * 100);
      el('job-status').textContent = message.message;
      if (message.jobId.startsWith('compare-')) el('compare-status').textContent = `comparing: ${message.message}`;
      break;
    case 'job/done':
      if (message.jobId !== currentJob) return;
      currentJob = undefined;
      if (message.jobId.startsWith('compare-')) el('compare-status').textContent = message.message;
      el('job-status').textContent = message.message;
      el('job-progress').hidden = true;
      el('job-cancel').hidden = true;
      break;
    case 'compare/result':
      renderCompare(message);
      break;
    case 'report/request':
      exportReport();
      break;
    case 'error':
      el('job-status').textContent = message.message;
      break;
  }
}

function fillForm(methods: string[], datasets: string[]): void {
  const select = el('form-method');
  select.replaceChildren(...methods.map((m) => Object.assign(document.createElement('vscode-option'), { textContent: m, value: m })));
  const list = el('dataset-list');
  list.replaceChildren(...datasets.map((d) => Object.assign(document.createElement('option'), { value: d })));
}

window.addEventListener('message', (e: MessageEvent) => onMessage(e.data));
el('xaxis').addEventListener('change', (e) => {
  state.xAxis = (e.target as unknown as { value: XAxis }).value;
  saveState();
  renderTradeoff();
});
el('start-compress').addEventListener('click', () => startJob('compress'));
el('start-evaluate').addEventListener('click', () => startJob('evaluate'));
el('start-sweep').addEventListener('click', () => startJob('sweep'));
el('job-cancel').addEventListener('click', () => currentJob && post({ type: 'job/cancel', jobId: currentJob }));
el('export').addEventListener('click', exportReport);
el('compare-button').addEventListener('click', () => {
  const [a, b] = state.selected ?? [];
  if (!a || !b) return;
  // With a dataset selected for the model the host measures output SNR: progress and Cancel as for any job.
  const jobId = `compare-${Date.now()}`;
  currentJob = jobId;
  post({ type: 'compare/request', jobId, a, b });
  el('job-status').textContent = 'comparing…';
  el('compare-status').textContent = 'comparing…';
  el('job-progress').hidden = false;
  el('job-cancel').hidden = false;
});
// Re-render charts with the new colours when the theme changes (VS Code swaps body classes).
new MutationObserver(() => model && renderAll()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

(window as unknown as { parsimonyLab: unknown }).parsimonyLab = { charts, onMessage, paretoFront };
post({ type: 'ready' });
