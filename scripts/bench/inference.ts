/**
 * Inference latency of the example networks at batch 1 and 32: TF.js as
 * Parsimony runs it (the evaluate runner, which `parsimony evaluate`, `sweep`
 * and latency measurement use: the model compiled into an inference plan of
 * fused kernel calls on the backend Parsimony picks) against onnxruntime-node
 * running the same network with the same weights (exported by onnxModels.ts).
 * Stock `model.predict` is timed alongside for reference (in the note and the
 * JSON). Every side times the whole call: input from a Float32Array, run,
 * output read back; the sides take turns call by call, so load hits them alike.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { openTfjsRunner } from '../../src/core/evaluate/runners/tfjs';
import { openModel } from '../../src/core/formats/registry';
import type { TfRuntime } from '../../src/core/runtime/tfjs';
import { hasExample, loadTfjsModel, readExample, type ExampleId } from './models';
import { exampleToOnnx } from './onnxModels';
import { formatSeconds, gaussian, log, measureInterleaved, ratioOf, type Row, type Timing } from './util';

export interface InferenceOptions {
  runs: number;
  warmup: number;
}

type Ort = typeof import('onnxruntime-node');

export async function benchInference(rt: TfRuntime, o: InferenceOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const { tf } = rt;
  const rows: Row[] = [];
  let ort: Ort | null = null;
  let ortNote: string | undefined;
  try {
    ort = createRequire(__filename)('onnxruntime-node') as Ort;
  } catch (e) {
    ortNote = `onnxruntime-node did not load: ${(e as Error).message.split('\n')[0]}`;
  }
  const info: Record<string, unknown> = { tfjsBackend: rt.backend };
  const predictTimes: Record<string, { median: number; min: number }> = {};
  for (const id of ['mnist-mlp', 'mnist-cnn'] as ExampleId[]) {
    for (const batch of [1, 32]) {
      const label = `${id === 'mnist-mlp' ? 'MLP' : 'CNN'} batch ${batch}`;
      if (!hasExample(id)) {
        rows.push({ section: 'inference', case: label, ours: null, peerName: 'onnxruntime-node', peer: null, ratio: null, target: 2 / 3, note: `examples/${id} is missing` });
        continue;
      }
      const example = readExample(id);
      const input = gaussian(batch * 784, 100 + batch, 0.3).map((v) => Math.min(1, Math.abs(v)));
      log(`inference: ${label} (TF.js ${rt.backend}: evaluate runner, model.predict${ort ? ', onnxruntime-node' : ''})`);
      // What users get: the runner `parsimony evaluate` opens for this model.json.
      const runner = await openTfjsRunner(await openModel(path.join(example.dir, 'model.json')), 'auto');
      info[`${id} runner`] = runner.inference ?? 'model.predict';
      let runnerOut: Float32Array = new Float32Array(0);
      const runOurs = async () => {
        runnerOut = (await runner.run(input, batch, [28, 28, 1])).values;
      };
      // Stock TF.js, for reference: predict + dataSync.
      const model = await loadTfjsModel(tf, example);
      const runPredict = () => {
        const y = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor);
        y.dataSync();
        y.dispose();
      };
      const fns: (() => unknown)[] = [runOurs, runPredict];
      let session: import('onnxruntime-node').InferenceSession | null = null;
      let ortOut: Float32Array = new Float32Array(0);
      if (ort) {
        session = await ort.InferenceSession.create(exampleToOnnx(example), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
        fns.push(async () => {
          const result = await session!.run({ input: new ort!.Tensor('float32', input, [batch, 28, 28, 1]) });
          ortOut = result['output']!.data as Float32Array;
        });
      }
      // 5 runs (the default) → 50 blocks of 10 calls per side at batch 1, 20 blocks at batch 32.
      const blocks = batch === 1 ? o.runs * 10 : o.runs * 4;
      const [ours, predict, peer] = (await measureInterleaved(fns, blocks, 10, Math.max(1, o.warmup), 300)) as [Timing, Timing, Timing | undefined];
      await runner.dispose();
      model.dispose();
      predictTimes[label] = { median: predict.median, min: predict.min };

      const notes = [`stock model.predict: ${formatSeconds(predict.median)} (${ratioText(predict, peer)})`];
      if (session) {
        let diff = 0;
        for (let i = 0; i < ortOut.length; i++) diff = Math.max(diff, Math.abs(ortOut[i]! - runnerOut[i]!));
        notes.push(`outputs agree to ${diff.toExponential(1)}`);
        await session.release();
        info['onnxruntime'] = { version: ort!.env.versions?.common ?? 'unknown', threads: 'default (intra-op = cores)' };
      } else if (ortNote) {
        notes.push(ortNote);
      }
      rows.push({ section: 'inference', case: label, ours, peerName: 'onnxruntime-node', peer: peer ?? null, ratio: ratioOf(ours, peer ?? null), target: 2 / 3, note: notes.join('; ') });
    }
  }
  info['modelPredict'] = predictTimes;
  return { rows, info };
}

function ratioText(predict: Timing, peer: Timing | undefined): string {
  if (!peer) return 'no peer';
  const r = peer.median / predict.median;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}× onnxruntime`;
}
