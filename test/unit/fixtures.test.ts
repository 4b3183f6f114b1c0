/**
 * Runs every fixture row of every manifest through the registry: readable files
 * must give the independent tool's parameter total; bad files must fail with the
 * row's error code (a ModelFormatError, never a crash).
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { isModelFormatError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats/registry';

interface Row {
  file: string;
  format?: string;
  totalParams?: number | null;
  /** 0 for a model with nothing stored and nothing that multiplies (no layers to list). */
  layers?: number;
  error?: string;
  accept?: string[];
  skip?: string;
}

const manifests = ['generated', 'real', 'real-writers', 'corrupt'].map((set) => path.join('test/fixtures', set, 'manifest.json'));

for (const manifest of manifests) {
  if (!existsSync(manifest)) continue;
  const dir = path.dirname(manifest);
  const rows = JSON.parse(readFileSync(manifest, 'utf8')) as Row[];
  describe(`fixtures: ${manifest}`, function () {
    this.timeout(30_000);
    for (const row of rows) {
      const file = path.join(dir, row.file);
      if (row.error) {
        it(`${row.file} fails with '${row.error}'`, async () => {
          try {
            await openModel(file);
          } catch (e) {
            assert.ok(isModelFormatError(e), `expected a ModelFormatError, got ${String(e)}`);
            const ok = [row.error!, ...(row.accept ?? [])];
            assert.ok(ok.includes(e.code), `code '${e.code}' not in ${ok.join('|')}: ${e.message}`);
            assert.match(e.describe(), new RegExp(path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the message names the file');
            return;
          }
          assert.fail(`${row.file} opened without error`);
        });
      } else {
        it(`${row.file} reads as ${row.format}${row.totalParams != null ? ` with ${row.totalParams} params` : ''}`, async () => {
          const doc = await openModel(file);
          const summary = await summarize(doc);
          if (row.format) assert.equal(summary.format, row.format);
          if (row.totalParams != null) assert.equal(summary.totalParams, row.totalParams);
          if (row.layers === 0) assert.equal(summary.layers.length, 0, 'a model without weights or compute ops lists no layers');
          else assert.ok(summary.layers.length > 0, 'has layers');
          assert.ok(summary.bytesOnDisk > 0);
          for (const l of summary.layers) for (const t of l.tensors) assert.ok(t.bytes >= 0 && t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${t.name} has a valid shape`);
        });
      }
    }
  });
}
