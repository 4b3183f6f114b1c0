// The Models view in the Explorer, as a person sees it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from './harness.mjs';
import { collapseView, expandRow, openExplorer, readRows, showView, treeRow, treeRows } from './workbench.mjs';

const EXAMPLE_MODELS = ['mnist-mlp/model.json', 'mnist-cnn/model.json'];

test('the Models view lists the example models and their layers with parameter counts', async ({ page, workspace, screenshot, log }) => {
  await openExplorer(page);
  const models = await showView(page, 'Models');
  // The folder tree above it takes most of the side bar: fold it and the others to make room.
  await collapseView(page, path.basename(workspace));
  await collapseView(page, 'Outline');
  await collapseView(page, 'Timeline');

  for (const label of EXAMPLE_MODELS) {
    await treeRow(models, label, { level: 1 }).waitFor({ timeout: 60_000 }).catch(async () => {
      const shown = (await readRows(treeRows(models, { level: 1 }))).map((r) => r.label);
      throw new Error(`the Models view does not list ${label} after 60 s; it shows ${JSON.stringify(shown)}`);
    });
  }
  const top = await readRows(treeRows(models, { level: 1 }));
  log('models:', top.map((r) => `${r.label} — ${r.description}`).join('; '));
  for (const label of EXAMPLE_MODELS) {
    const row = top.find((r) => r.label === label);
    assert.ok(row, `no row ${label}`);
    assert.match(row.description, /params/, `${label} has no parameter count: "${row.description}"`);
  }

  const mlp = treeRow(models, EXAMPLE_MODELS[0], { level: 1 });
  await expandRow(mlp);
  const layers = treeRows(models, { level: 2 });
  await layers.filter({ hasText: /params/ }).first().waitFor({ timeout: 60_000 });
  const rows = await readRows(layers);
  log('layers of', EXAMPLE_MODELS[0] + ':', rows.map((r) => `${r.label} (${r.description})`).join(', '));
  const weighted = rows.filter((r) => /^[\d.]+[KMG]? params · [\d.]+%$/.test(r.description));
  assert.ok(weighted.length >= 2, `expected layer rows like "200.96K params · 84.5%", got ${JSON.stringify(rows)}`);
  await screenshot('models-view');
});
