import * as assert from 'node:assert/strict';
import { loadTf, hasTfjsNode } from '../../src/core/runtime/tfjs';

describe('TF.js runtime', function () {
  this.timeout(60_000);

  it('picks tfjs-node when installed, otherwise wasm, and computes correctly on it', async () => {
    const rt = await loadTf('auto');
    assert.equal(rt.backend, hasTfjsNode() ? 'tensorflow' : 'wasm');
    assert.equal(rt.tf.getBackend(), rt.backend);
    const a = rt.tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const b = rt.tf.tensor2d([5, 6, 7, 8], [2, 2]);
    const c = a.matMul(b);
    assert.deepEqual(Array.from(await c.data()), [19, 22, 43, 50]);
    rt.tf.dispose([a, b, c]);
    assert.ok(rt.reason.length > 0);
  });

  it('switches to the cpu backend on request', async () => {
    const rt = await loadTf('cpu');
    assert.equal(rt.backend, 'cpu');
    assert.equal(rt.tf.getBackend(), 'cpu');
    const x = rt.tf.tensor1d([1, -2, 3]).relu();
    assert.deepEqual(Array.from(await x.data()), [1, 0, 3]);
    x.dispose();
  });
});
