import * as assert from 'node:assert/strict';
import { parseHostToLab, parseLabToHost } from '../../src/protocol';

describe('Lab protocol validation', () => {
  it('accepts well-formed messages from the webview', () => {
    assert.deepEqual(parseLabToHost({ type: 'ready' }), { type: 'ready' });
    assert.ok(parseLabToHost({ type: 'layer/select', layer: 'dense_1' }));
    assert.ok(parseLabToHost({ type: 'job/start', jobId: 'j1', job: 'compress', method: 'prune', args: ['--sparsity', '0.5'], dataset: null }));
    assert.deepEqual(parseLabToHost({ type: 'run/saveRecipe', runId: '2025-11-29T22-44-01-123Z-prune-1a2b3c4d' }), { type: 'run/saveRecipe', runId: '2025-11-29T22-44-01-123Z-prune-1a2b3c4d' });
    assert.ok(parseLabToHost({ type: 'report/export', markdown: '| a |', images: [{ name: 'layer-chart.png', dataUrl: 'data:image/png;base64,AAAA' }] }));
  });

  it('rejects unknown types, missing or extra fields, wrong types', () => {
    const bad: unknown[] = [
      null,
      'ready',
      [],
      { type: 'exec', command: 'rm -rf /' },
      { type: 'layer/select' },
      { type: 'layer/select', layer: 42 },
      { type: 'layer/select', layer: 'a', extra: true },
      { type: 'job/start', jobId: 'j', job: 'shell', method: 'prune', args: [], dataset: null },
      { type: 'job/start', jobId: 'j', job: 'compress', method: 'prune', args: [1, 2], dataset: null },
      { type: 'job/start', jobId: 'j', job: 'compress', method: 'prune', args: Array(100).fill('x'), dataset: null },
      { type: 'run/delete', runId: '' },
      { type: 'run/saveRecipe' },
      { type: 'run/saveRecipe', runId: '' },
      { type: 'run/saveRecipe', runId: 7 },
      { type: 'run/saveRecipe', runId: 'x'.repeat(600) },
      { type: 'run/saveRecipe', runId: 'r', name: '../../evil' },
      { type: 'report/export', markdown: 'x', images: [{ name: '../../etc/passwd.png', dataUrl: 'data:image/png;base64,AA' }] },
      { type: 'report/export', markdown: 'x', images: [{ name: 'a.png', dataUrl: 'javascript:alert(1)' }] },
      { type: '__proto__' },
      { type: 'constructor' },
    ];
    for (const m of bad) assert.equal(parseLabToHost(m), undefined, JSON.stringify(m));
  });

  it('validates host messages the same way in the webview', () => {
    assert.ok(parseHostToLab({ type: 'job/progress', jobId: 'j', fraction: 0.5, message: 'half' }));
    assert.equal(parseHostToLab({ type: 'job/progress', jobId: 'j', fraction: Number.NaN, message: '' }), undefined);
    assert.equal(parseHostToLab({ type: 'runs/update', runs: 'all of them' }), undefined);
    assert.equal(parseHostToLab({ type: 'init' }), undefined);
  });
});
