/**
 * Inference latency of the example networks at batch 1 and 32: TF.js (the
 * backend Parsimony picks) against onnxruntime-node running the same network
 * with the same weights (exported by onnxModels.ts). Both sides time the whole
 * call: input tensor from a Float32Array, run, output read back.
 */
import { createRequire } from 'node:module';
import type { TfRuntime } from '../../src/core/runtime/tfjs';
import { hasExample, loadTfjsModel, readExample, type ExampleId } from './models';
import { exampleToOnnx } from './onnxModels';
import { gaussian, log, measure, ratioOf, type Row } from './util';

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
  for (const id of ['mnist-mlp', 'mnist-cnn'] as ExampleId[]) {
    for (const batch of [1, 32]) {
      const label = `${id === 'mnist-mlp' ? 'MLP' : 'CNN'} batch ${batch}`;
      if (!hasExample(id)) {
        rows.push({ section: 'inference', case: label, ours: null, peerName: 'onnxruntime-node', peer: null, ratio: null, target: 2 / 3, note: `examples/${id} is missing` });
        continue;
      }
      const example = readExample(id);
      const input = gaussian(batch * 784, 100 + batch, 0.3).map((v) => Math.min(1, Math.abs(v)));
      log(`inference: ${label} (TF.js ${rt.backend})`);
      const model = await loadTfjsModel(tf, example);
      const runTf = () => {
        const y = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor);
        const out = y.dataSync() as Float32Array;
        y.dispose();
        return out;
      };
      const runs = batch === 1 ? o.runs * 10 : o.runs * 3;
      const ours = await measure(runTf, runs, Math.max(3, o.warmup * 3));
      const tfOut = runTf();
      model.dispose();

      let peer = null;
      let note = ortNote;
      if (ort) {
        log(`inference: ${label} (onnxruntime-node)`);
        const session = await ort.InferenceSession.create(exampleToOnnx(example), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
        const runOrt = async () => {
          const feeds = { input: new ort!.Tensor('float32', input, [batch, 28, 28, 1]) };
          const result = await session.run(feeds);
          return result['output']!.data as Float32Array;
        };
        peer = await measure(runOrt, runs, Math.max(3, o.warmup * 3));
        const ortOut = await runOrt();
        let diff = 0;
        for (let i = 0; i < ortOut.length; i++) diff = Math.max(diff, Math.abs(ortOut[i]! - tfOut[i]!));
        note = `outputs agree to ${diff.toExponential(1)}`;
        await session.release();
        info['onnxruntime'] = { version: ort.env.versions?.common ?? 'unknown', threads: 'default (intra-op = cores)' };
      }
      rows.push({ section: 'inference', case: label, ours, peerName: 'onnxruntime-node', peer, ratio: ratioOf(ours, peer), target: 2 / 3, note });
    }
  }
  return { rows, info };
}
