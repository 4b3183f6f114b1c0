/**
 * Training throughput: one epoch of the example MLP and CNN on the MNIST train
 * split (8,004 digits), Adam (lr 1e-3), batch 64, shuffled; TF.js (the backend
 * Parsimony picks) against PyTorch (peer/torch_train.py) on the same data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMnist } from '../../src/core/data/mnist';
import type { TfRuntime } from '../../src/core/runtime/tfjs';
import { hasExample, loadTfjsModel, readExample, type ExampleId } from './models';
import { checkPython, log, runPython, tempDir, timing, writeFloat32, type Row } from './util';

export interface TrainingOptions {
  epochs: number;
  warmup: number;
  /** Samples per epoch (the whole train split unless limited, for quick runs). */
  limit?: number;
}

interface TorchOut {
  torch: string;
  threads: number;
  times: number[];
  loss: number;
  blas: string;
  mkldnn: boolean;
}

const BATCH = 64;
const WARMUP_SAMPLES = 1024;

export async function benchTraining(rt: TfRuntime, o: TrainingOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const { tf } = rt;
  const data = loadMnist('train', o.limit);
  const n = data.count;
  const dir = tempDir('train');
  const rows: Row[] = [];
  const info: Record<string, unknown> = { samples: n, batch: BATCH, optimizer: 'adam(1e-3)' };
  try {
    writeFloat32(path.join(dir, 'x.f32'), data.x);
    writeFloat32(path.join(dir, 'y.u8'), data.y);
    const py = checkPython(['numpy', 'torch']);
    for (const id of ['mnist-mlp', 'mnist-cnn'] as ExampleId[]) {
      const label = `${id === 'mnist-mlp' ? 'MLP' : 'CNN'} one epoch (${n} samples, Adam, batch ${BATCH})`;
      if (!hasExample(id)) {
        rows.push({ section: 'training', case: label, ours: null, peerName: 'PyTorch', peer: null, ratio: null, target: 1, note: `examples/${id} is missing (npm run make:examples)` });
        continue;
      }
      log(`training: ${id} (TF.js ${rt.backend})`);
      const model = await loadTfjsModel(tf, readExample(id));
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
      const x = tf.tensor4d(data.x, [n, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(Int32Array.from(data.y), 'int32'), 10).toFloat();
      const epoch = async () => {
        await model.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
      };
      // Warm-up on the first WARMUP_SAMPLES only: compiles kernels and JIT, sets up the optimizer.
      const wx = x.slice(0, Math.min(n, WARMUP_SAMPLES));
      const wy = y.slice(0, Math.min(n, WARMUP_SAMPLES));
      for (let i = 0; i < o.warmup; i++) await model.fit(wx, wy, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
      tf.dispose([wx, wy]);
      const times: number[] = [];
      for (let i = 0; i < o.epochs; i++) {
        const t = process.hrtime.bigint();
        await epoch();
        times.push(Number(process.hrtime.bigint() - t) / 1e9);
      }
      tf.dispose([x, y]);
      model.dispose();
      const ours = timing(times);

      let peer = null;
      let note: string | undefined;
      let peerName = 'PyTorch';
      if (py.ok) {
        log(`training: ${id} (PyTorch)`);
        const out = runPython<TorchOut>('torch_train.py', [id === 'mnist-mlp' ? 'mlp' : 'cnn', path.join(dir, 'x.f32'), path.join(dir, 'y.u8'), String(n), String(o.epochs), String(o.warmup), '2']);
        peer = timing(out.times);
        peerName = `PyTorch ${out.torch} (${out.threads} threads)`;
        info['torch'] = { version: out.torch, threads: out.threads, blas: out.blas, mkldnn: out.mkldnn };
        // OpenMP's two threads spin-wait on each other: on a busy machine they can lose to one.
        // One thread too, for the record (the row compares with the two-thread run).
        const single = runPython<TorchOut>('torch_train.py', [id === 'mnist-mlp' ? 'mlp' : 'cnn', path.join(dir, 'x.f32'), path.join(dir, 'y.u8'), String(n), String(Math.min(2, o.epochs)), String(o.warmup), '1']);
        note = `PyTorch with 1 thread: ${Math.round(n / timing(single.times).median)} samples/s`;
      } else {
        note = py.missing;
      }
      const perSample = (t: { median: number }) => `${Math.round(n / t.median)} samples/s`;
      rows.push({
        section: 'training',
        case: label,
        ours,
        oursLabel: perSample(ours),
        peerName,
        peer,
        peerLabel: peer ? perSample(peer) : undefined,
        ratio: peer ? peer.median / ours.median : null,
        target: 1,
        note,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows, info };
}
