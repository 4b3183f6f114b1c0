// The Compression Lab, as a person uses it: opened from the command palette,
// charts read from the page, a compression, an evaluation and a sweep started
// from its Run tab, both default themes, and hostile messages in both directions.
import assert from 'node:assert/strict';
import { readFileSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from './harness.mjs';
import {
  collapseView, findFrame, openExplorer, pickQuickItem, runCommand, setColorTheme, showOutputChannel, showView, treeRow,
} from './workbench.mjs';

const CNN = 'mnist-cnn/model.json';

/** The Lab's frame (set by the first test; the others use the same panel). */
let lab;

function cnnLayers(workspace) {
  const json = JSON.parse(readFileSync(path.join(workspace, CNN), 'utf8'));
  const weights = json.weightsManifest.flatMap((g) => g.weights);
  return json.modelTopology.config.layers.map((l) => {
    const tensors = weights.filter((w) => w.name.startsWith(`${l.config.name}/`));
    return { name: l.config.name, params: tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0) };
  });
}

/** A chart's data as the page records it on its canvas (`data-chart`). */
const chartData = (frame, id) => frame.$eval(`#${id}`, (c) => JSON.parse(c.dataset.chart ?? 'null'));

/** Pixels of a canvas that are not fully transparent. */
const paintedPixels = (frame, id) =>
  frame.$eval(`#${id}`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });

const runRows = (frame) => frame.locator('#runs-table tr[data-run-id]');

async function openTab(frame, name) {
  await frame.locator('vscode-tab-header', { hasText: new RegExp(`^\\s*${name}\\s*$`) }).click();
  await frame.waitForFunction((n) => {
    const headers = [...document.querySelectorAll('vscode-tab-header')];
    const i = headers.findIndex((h) => h.textContent.trim() === n);
    return document.getElementById('tabs').selectedIndex === i;
  }, name);
}

/** Fills the Run tab's form with clicks and typing. */
async function fillForm(frame, { method, args = '', dataset = '' }) {
  await openTab(frame, 'Run');
  if (method) {
    const select = frame.locator('#form-method');
    await select.click();
    await select.locator('li.option', { hasText: new RegExp(`^\\s*${method.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).click();
    assert.equal(await select.evaluate((e) => e.value), method);
  }
  await frame.locator('#form-args input').fill(args);
  assert.equal(await frame.locator('#form-args').evaluate((e) => e.value), args);
  await frame.locator('#form-dataset').fill(dataset);
}

/** Clicks a Run-tab button and waits until the job's status line says it finished. */
async function runJob(frame, button, done, { timeout = 120_000 } = {}) {
  // The click handler posts the job and shows Cancel at once; the host's job/done hides it
  // (progress messages may say "…: done" for a step before that).
  await frame.locator(button).click();
  await frame.locator('#job-cancel').waitFor({ state: 'hidden', timeout });
  const status = (await frame.locator('#job-status').textContent()).trim();
  assert.match(status, done, `the job did not succeed: ${status}`);
  assert.equal(await frame.locator('#job-progress').isHidden(), true, 'the progress bar is still shown');
}

async function waitForCount(what, read, expected, { timeout = 30_000 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await read();
    if (last === expected) return;
    if (Date.now() > deadline) throw new Error(`${what}: expected ${expected}, still ${last} after ${timeout / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('the Compression Lab opens from the command palette and charts every weighted layer', async ({ page, workspace, screenshot, log }) => {
  // The palette only lists Parsimony's commands once the extension registered them:
  // wait for its view first (shared/TESTING.md).
  await openExplorer(page);
  const models = await showView(page, 'Models');
  await collapseView(page, path.basename(workspace));
  await collapseView(page, 'Outline');
  await collapseView(page, 'Timeline');
  await treeRow(models, CNN, { level: 1 }).waitFor({ timeout: 60_000 });

  await runCommand(page, 'Parsimony: Open Compression Lab');
  await pickQuickItem(page, { title: 'Parsimony: pick a model file', filter: 'mnist-cnn', item: CNN });
  await page.locator('.tabs-container .tab', { hasText: 'Lab: model.json' }).waitFor({ timeout: 30_000 });

  lab = await findFrame(page, '#layer-chart');
  await lab.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 });
  assert.equal((await lab.locator('#header h1').textContent()).trim(), 'mnist-cnn/model.json');
  const header = await lab.locator('#header dl').innerText();
  assert.match(header, /parameters\s+14\.4K/);
  assert.match(header, /format\s+tfjs-layers/);

  const weighted = cnnLayers(workspace).filter((l) => l.params > 0);
  assert.deepEqual(weighted.map((l) => l.name), ['conv1', 'conv2', 'hidden', 'output']);
  const data = await chartData(lab, 'layer-chart');
  log('layer chart:', JSON.stringify(data.labels), data.datasets.map((d) => `${d.label}: ${JSON.stringify(d.data)}`).join('; '));
  assert.deepEqual(data.labels, weighted.map((l) => l.name), 'one bar per layer with weights, in model order');
  assert.deepEqual(data.datasets.map((d) => d.label), ['parameters kept', 'removable (hints)']);
  // Each stacked bar adds up to the layer's parameters.
  assert.deepEqual(data.labels.map((_, i) => data.datasets[0].data[i] + data.datasets[1].data[i]), weighted.map((l) => l.params));
  assert.equal((await lab.locator('#layer-count').textContent()).trim(), '4 layers with weights');

  const painted = await paintedPixels(lab, 'layer-chart');
  log('layer chart: painted pixels', painted);
  assert.ok(painted > 1000, `the layer chart looks blank (${painted} painted pixels)`);
  await screenshot('lab-layers-dark');
});

test('clicking a layer in the layer chart selects it in the Models view', async ({ page }) => {
  assert.ok(lab, 'needs the Lab from the previous test');
  await openTab(lab, 'Layers');
  const models = await showView(page, 'Models');
  const expectSelected = async (layer) => {
    await models.locator('.monaco-list-row.selected', { hasText: layer }).waitFor({ timeout: 30_000 }).catch(async (e) => {
      // An error from the host would be shown in the Run tab's status line.
      const status = await lab.locator('#job-status').textContent();
      throw new Error(`${layer} is not selected in the Models view (Lab status: "${status}"): ${e.message}`);
    });
    assert.equal(await models.locator('.monaco-list-row.selected').count(), 1);
    assert.equal(await models.locator('.monaco-list-row.selected').getAttribute('aria-level'), '2', 'the selected row is a layer under its model');
  };
  // Where to click, from the chart's own layout (canvas CSS pixels).
  const geometry = await lab.evaluate(() => {
    const chart = window.parsimonyLab.charts.get('layer-chart');
    return chart.getDatasetMeta(0).data.map((kept, i) => {
      const removable = chart.getDatasetMeta(1).data[i];
      return { x: Math.round(kept.x), top: Math.min(kept.y, removable.y), base: kept.base, plotMiddle: Math.round((chart.chartArea.top + chart.chartArea.bottom) / 2) };
    });
  });
  // conv2: the middle of its stacked bar (the stack is the layer's parameters, so the
  // point stays on the bar when hints arrive and split it into kept and removable).
  const conv2 = geometry[1];
  await lab.locator('#layer-chart').click({ position: { x: conv2.x, y: Math.round((conv2.top + conv2.base) / 2) } });
  await expectSelected('conv2');
  // conv1 has 80 parameters: its bar is about a pixel tall. Its column answers the click.
  const conv1 = geometry[0];
  assert.ok(conv1.base - conv1.top < 5, `conv1's bar is ${conv1.base - conv1.top}px tall`);
  await lab.locator('#layer-chart').click({ position: { x: conv1.x, y: conv1.plotMiddle } });
  await expectSelected('conv1');
  // Fold the model again, so the Models view looks as the later tests expect.
  const model = treeRow(models, CNN, { level: 1 });
  if ((await model.getAttribute('aria-expanded')) === 'true') await model.locator('.monaco-tl-twistie').click();
});

test('a compression started from the Run tab adds a row to the Runs table', async ({ workspace, log }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  const before = await runRows(lab).count();
  await fillForm(lab, { method: 'prune', args: '--sparsity 0.5' });
  await runJob(lab, '#start-compress', /^compress prune: done$/);
  await waitForCount('rows in the Runs table', () => runRows(lab).count(), before + 1);
  const output = path.join(workspace, 'mnist-cnn', 'model.prune-50.json');
  assert.ok(existsSync(output), 'the pruned model was not written next to the original');

  await openTab(lab, 'Runs');
  const row = runRows(lab).last();
  const cells = await row.locator('td').allInnerTexts();
  log('new run:', cells.join(' | '));
  assert.equal(cells[1], 'prune');
  assert.match(cells[2], /sparsity 0\.5/);
  assert.equal(cells[3], '14.4K'); // params stay
  assert.match(cells[4], /^7\.\dK$/); // about half are non-zero
  assert.equal(cells[10], 'model.prune-50.json');
  assert.deepEqual(await row.locator('td.actions vscode-button').allInnerTexts(), ['Open', 'Re-run', 'Save as recipe…', 'Delete record']);
});

test('Save as recipe… on a run asks for a name, writes .parsimony/recipes/NAME.json and opens it', async ({ page, workspace, log }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  await openTab(lab, 'Runs');
  const row = runRows(lab).filter({ hasText: 'model.prune-50.json' }).last();
  await row.locator('td.actions vscode-button', { hasText: 'Save as recipe…' }).click();
  const widget = page.locator('.quick-input-widget');
  await widget.locator('.quick-input-title', { hasText: 'Save as recipe' }).waitFor({ timeout: 30_000 });
  const input = widget.locator('input').first();
  // The suggested name is the chain of methods; a name with a slash is refused in place.
  assert.equal(await input.inputValue(), 'prune');
  await input.fill('a/b');
  await widget.locator('.quick-input-message', { hasText: /no spaces or slashes/ }).waitFor({ timeout: 10_000 });
  await input.fill('prune-half');
  await input.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 10_000 });
  const file = path.join(workspace, '.parsimony', 'recipes', 'prune-half.json');
  const deadline = Date.now() + 30_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} was not written`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const recipe = JSON.parse(readFileSync(file, 'utf8'));
  log('recipe:', JSON.stringify(recipe));
  assert.equal(recipe.source, CNN);
  assert.deepEqual(recipe.steps, [{ method: 'prune', sparsity: 0.5 }]);
  // Opened in an editor tab.
  await page.locator('.tabs-container .tab', { hasText: 'prune-half.json' }).waitFor({ timeout: 30_000 });
  // Back to the Lab for the tests that follow: VS Code rebuilt its hidden webview, so find the new frame.
  await page.locator('.tabs-container .tab', { hasText: 'Lab: model.json' }).click();
  lab = await findFrame(page, '#layer-chart');
  await lab.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 });
});

test('evaluating and sweeping from the Run tab put points on the trade-off chart', async ({ workspace, log }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  const points = async () => (await chartData(lab, 'tradeoff-chart')).datasets[0].data;
  const before = (await points()).length;
  const rowsBefore = await runRows(lab).count();

  // The original model on the first 200 test digits.
  await fillForm(lab, { method: 'prune', args: '', dataset: 'mnist:200' });
  await runJob(lab, '#start-evaluate', /^evaluate prune: done$/);
  await waitForCount('points on the trade-off chart', async () => (await points()).length, before + 1);
  await waitForCount('rows in the Runs table', () => runRows(lab).count(), rowsBefore + 1);
  const original = (await points()).at(-1);
  log('original:', JSON.stringify(original));
  const size = statSync(path.join(workspace, CNN)).size + statSync(path.join(workspace, 'mnist-cnn', 'weights.bin')).size;
  assert.equal(original.label, 'original');
  assert.equal(original.x, size, 'x is the bytes on disk');
  assert.ok(original.y > 0.9 && original.y <= 1, `accuracy ${original.y}`);
  const wrap = await lab.locator('#tradeoff-canvas-wrap').evaluate((e) => ({ ...e.dataset }));
  assert.ok(JSON.parse(wrap.originalIndex).includes(before), 'the original is drawn as the original');

  // A sweep of one pruning setting: the original again and the pruned model.
  await fillForm(lab, { method: 'prune', args: '--settings 0.5', dataset: 'mnist:200' });
  await runJob(lab, '#start-sweep', /^sweep prune: done$/);
  await waitForCount('points on the trade-off chart', async () => (await points()).length, before + 3);
  const pruned = (await points()).find((p) => p.label.startsWith('prune'));
  log('pruned:', JSON.stringify(pruned));
  assert.ok(pruned, 'no pruned point on the chart');
  assert.ok(pruned.y > 0.8 && pruned.y <= 1, `accuracy ${pruned.y}`);

  // On the gzip axis the pruned model is clearly smaller (zeros compress).
  await openTab(lab, 'Trade-offs');
  await lab.locator('#xaxis').selectOption('bytesGzip');
  await lab.waitForFunction(() => JSON.parse(document.getElementById('tradeoff-chart').dataset.chart).datasets[0].data.every((p, _, all) => all.length > 0 && p.x > 0));
  const gz = await points();
  const gzOriginal = gz.find((p) => p.label === 'original');
  const gzPruned = gz.find((p) => p.label.startsWith('prune'));
  assert.ok(gzPruned.x < gzOriginal.x * 0.75, `gzip: pruned ${gzPruned.x} vs original ${gzOriginal.x}`);
  const front = JSON.parse(await lab.locator('#tradeoff-canvas-wrap').getAttribute('data-pareto'));
  assert.ok(front.length >= 1, 'no Pareto frontier');
  assert.equal(await lab.locator('#tradeoff-empty').isHidden(), true);
  assert.ok((await paintedPixels(lab, 'tradeoff-chart')) > 1000, 'the trade-off chart looks blank');
  await lab.locator('#xaxis').selectOption('bytesOnDisk');
});

test('comparing two runs shows each layer and, with a dataset selected, its output SNR', async ({ workspace, log }) => {
  assert.ok(lab, 'needs the Lab and its runs from the tests before');
  // The dataset the model was given with Select Dataset (remembered in .parsimony/config.json).
  const config = path.join(workspace, '.parsimony', 'config.json');
  const saved = existsSync(config) ? readFileSync(config, 'utf8') : undefined;
  writeFileSync(config, JSON.stringify({ ...(saved ? JSON.parse(saved) : {}), datasets: { [CNN]: 'mnist:100' } }));
  try {
    await openTab(lab, 'Runs');
    const original = runRows(lab).filter({ has: lab.locator('td', { hasText: /^original$/ }) }).first();
    const pruned = runRows(lab).filter({ hasText: 'model.prune-50.json' }).first();
    for (const row of [original, pruned]) {
      const box = row.locator('input[type="checkbox"]');
      if (!(await box.isChecked())) await box.check();
    }
    await lab.locator('#compare-button:not([disabled])').click();
    await lab.locator('#compare-table th', { hasText: 'output SNR (dB)' }).waitFor({ timeout: 60_000 });
    const rows = await lab.locator('#compare-table tr').evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    log('compare:', JSON.stringify(rows));
    const byLayer = Object.fromEntries(rows.map((r) => [r[0], r]));
    // Pruning skips the first and last weighted layers: their outputs (conv1) stay identical.
    assert.equal(byLayer.conv1.at(-1), 'identical');
    const snr = Number(byLayer.conv2.at(-1));
    assert.ok(Number.isFinite(snr) && snr > 0 && snr < 60, `conv2: ${byLayer.conv2.at(-1)}`);
    assert.match(await lab.locator('#compare-status').textContent(), /on 100 samples of mnist:100/);
  } finally {
    if (saved === undefined) rmSync(config, { force: true });
    else writeFileSync(config, saved);
  }
});

test('the Lab follows the light and dark default themes', async ({ page, screenshot, log }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  await openTab(lab, 'Layers');
  const darkImage = await lab.$eval('#layer-chart', (c) => c.toDataURL());
  const darkFg = await lab.evaluate(() => getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim());
  let failure;
  try {
    await setColorTheme(page, 'Default Light Modern');
    await lab.locator('body.vscode-light').waitFor({ timeout: 30_000 });
    const lightFg = await lab.evaluate(() => getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim());
    log('foreground: dark', darkFg, '→ light', lightFg);
    assert.notEqual(lightFg, darkFg);
    // The charts re-render in the new colours.
    await lab.waitForFunction((before) => document.getElementById('layer-chart').toDataURL() !== before, darkImage, { timeout: 30_000 });
    assert.ok((await paintedPixels(lab, 'layer-chart')) > 1000);
    await page.mouse.move(0, 0);
    await screenshot('lab-layers-light');
    await openTab(lab, 'Trade-offs');
    await screenshot('lab-tradeoffs-light');
  } catch (e) {
    failure = e;
  }
  // Back to the theme the other tests expect, whatever happened; the first error wins.
  await setColorTheme(page, 'Default Dark Modern').catch((e) => { failure ??= e; });
  if (failure) throw failure;
  await lab.locator('body.vscode-dark').waitFor({ timeout: 30_000 });
  await openTab(lab, 'Trade-offs');
  await screenshot('lab-tradeoffs-dark');
  await openTab(lab, 'Layers');
});

test('the Lab ignores malformed messages from the host side and keeps its charts', async ({ page, log }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  const warnings = [];
  const onConsole = (m) => {
    if (m.type() === 'warning' && m.text().includes('Parsimony Lab: ignored a malformed message')) warnings.push(m.text());
  };
  page.on('console', onConsole);
  try {
    const before = {
      layers: await chartData(lab, 'layer-chart'),
      tradeoff: await chartData(lab, 'tradeoff-chart'),
      header: await lab.locator('#header').innerText(),
      rows: await runRows(lab).count(),
    };
    await lab.evaluate(() => {
      window.postMessage({ type: 'init' }, '*'); // no model, layers, runs…
      window.postMessage({ type: 'layers/update', layers: 'all of them' }, '*');
      window.postMessage('init', '*');
      window.parsimonyLab.onMessage({ type: 'runs/update', runs: [], extra: true }); // an extra key
      window.parsimonyLab.onMessage({ type: 'job/done', jobId: '', ok: true, message: 'done' }); // empty id
      window.parsimonyLab.onMessage({ type: 'no/such-type' });
      window.parsimonyLab.onMessage(null);
    });
    const deadline = Date.now() + 10_000;
    while (warnings.length < 7 && Date.now() < deadline) await page.waitForTimeout(100);
    log('webview warnings:', warnings.length);
    assert.equal(warnings.length, 7, `expected a warning per malformed message, got ${JSON.stringify(warnings)}`);
    assert.equal(await lab.locator('body').getAttribute('data-ready'), 'true');
    assert.deepEqual(await chartData(lab, 'layer-chart'), before.layers, 'the layer chart changed');
    assert.deepEqual(await chartData(lab, 'tradeoff-chart'), before.tradeoff, 'the trade-off chart changed');
    assert.equal(await lab.locator('#header').innerText(), before.header);
    assert.equal(await runRows(lab).count(), before.rows);
    assert.ok((await paintedPixels(lab, 'layer-chart')) > 1000, 'the layer chart was cleared');
  } finally {
    page.off('console', onConsole);
  }
});

test('the extension host ignores malformed messages from the Lab and logs them', async ({ page, screenshot }) => {
  assert.ok(lab, 'needs the Lab from the first test');
  // The webview's acquireVsCodeApi().postMessage calls this function of its host
  // frame (VS Code's webview/browser/pre/index.html): the same path the Lab's own messages take.
  const host = lab.parentFrame();
  assert.ok(host, 'the Lab frame has no parent frame');
  const marker = `malformed-${Date.now()}`;
  await host.evaluate((jobId) => {
    const send = (message) => window.__vscode_post_message__('onmessage', { message, transfer: [] });
    send({ type: 'job/start', jobId }); // no job, method, args, dataset
    send({ type: 'run/delete', runId: 42 });
    send({ type: 'report/export', markdown: '', images: [{ name: '../../evil.png', dataUrl: 'data:image/png;base64,' }] });
  }, marker);

  const lines = await showOutputChannel(page, 'Parsimony');
  await lines.filter({ hasText: marker }).waitFor({ timeout: 30_000 });
  // Monaco renders spaces as no-break spaces and wraps long lines into several rows.
  const text = (await lines.innerText()).replace(/\u00a0/g, ' ').replace(/\n/g, '');
  const prefix = '[warn] Lab: ignored a malformed message: ';
  assert.ok(text.includes(`${prefix}{"type":"job/start","jobId":"${marker}"}`), `no warning naming the job/start message in:\n${text}`);
  assert.ok(text.includes(`${prefix}{"type":"run/delete","runId":42}`), `the run/delete message was not reported:\n${text}`);
  assert.ok(text.includes(`${prefix}{"type":"report/export","markdown":"","images":[{"name":"../../evil.png"`), `the report/export message was not reported:\n${text}`);
  await screenshot('lab-host-ignored-malformed');
  // Nothing was started: no job runs, the status line is unchanged.
  await openTab(lab, 'Run');
  assert.doesNotMatch((await lab.locator('#job-status').textContent()) ?? '', /started|failed/);
});
