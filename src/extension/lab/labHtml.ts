import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';

/** The Lab's HTML: strict CSP (default-src 'none'), a fresh nonce per render, assets only from dist/webview. */
export function labHtml(webview: vscode.Webview, extensionUri: vscode.Uri, title: string): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', name));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('main.css')}">
<title>${esc(title)}</title>
</head>
<body>
<section id="header"></section>
<vscode-tabs id="tabs">
  <vscode-tab-header slot="header">Layers</vscode-tab-header>
  <vscode-tab-panel>
    <p class="muted"><span id="layer-count"></span> · stacked: parameters kept and the part redundancy hints say could go. Click a bar to select the layer in the Models view.</p>
    <div class="chart-wrap"><canvas id="layer-chart" aria-label="parameters per layer"></canvas></div>
  </vscode-tab-panel>
  <vscode-tab-header slot="header">Trade-offs</vscode-tab-header>
  <vscode-tab-panel>
    <div class="toolbar">
      <label for="xaxis">x axis</label>
      <select id="xaxis">
        <option value="bytesOnDisk">bytes on disk</option>
        <option value="bytesGzip">gzip bytes</option>
        <option value="macs">MACs</option>
        <option value="latencyMs">latency</option>
      </select>
    </div>
    <p id="tradeoff-empty" class="muted">No evaluated runs yet: evaluate the model or run a sweep with a dataset.</p>
    <div class="chart-wrap" id="tradeoff-canvas-wrap"><canvas id="tradeoff-chart" aria-label="accuracy against size"></canvas></div>
    <h2>Sweeps</h2>
    <p id="sweeps-empty" class="muted">No sweeps yet.</p>
    <div id="sweeps"></div>
    <section id="early-exit-section" hidden>
      <h2>Early exits</h2>
      <div class="chart-wrap"><canvas id="early-exit-chart" aria-label="accuracy against average MACs"></canvas></div>
    </section>
  </vscode-tab-panel>
  <vscode-tab-header slot="header">Runs</vscode-tab-header>
  <vscode-tab-panel>
    <div class="toolbar">
      <vscode-button id="compare-button" secondary disabled>Compare two runs</vscode-button>
      <vscode-button id="export" secondary>Export report</vscode-button>
    </div>
    <p id="runs-empty" class="muted">No runs recorded for this model yet.</p>
    <table id="runs-table"></table>
    <p id="compare-status" class="muted"></p>
    <section id="compare-section" hidden>
      <h2 id="compare-title"></h2>
      <table id="compare-table"></table>
    </section>
  </vscode-tab-panel>
  <vscode-tab-header slot="header">Run</vscode-tab-header>
  <vscode-tab-panel>
    <div class="form">
      <vscode-label for="form-method">method</vscode-label>
      <vscode-single-select id="form-method"></vscode-single-select>
      <vscode-label for="form-args">options</vscode-label>
      <vscode-textfield id="form-args" placeholder="--sparsity 0.5 --scope global"></vscode-textfield>
      <vscode-label for="form-dataset">dataset</vscode-label>
      <input id="form-dataset" list="dataset-list" type="text" placeholder="mnist:1000 or a path">
    </div>
    <datalist id="dataset-list"></datalist>
    <div class="toolbar">
      <vscode-button id="start-compress">Compress</vscode-button>
      <vscode-button id="start-evaluate" secondary>Evaluate</vscode-button>
      <vscode-button id="start-sweep" secondary>Sweep</vscode-button>
      <vscode-button id="job-cancel" secondary hidden>Cancel</vscode-button>
    </div>
    <vscode-progress-bar id="job-progress" hidden></vscode-progress-bar>
    <p id="job-status" class="muted"></p>
  </vscode-tab-panel>
</vscode-tabs>
<script nonce="${nonce}" src="${asset('main.js')}"></script>
</body>
</html>`;
}
