/**
 * Redundancy hints on a ~26M-parameter model against the budget
 * ("hints for a 25M-parameter model finish within a minute on 2 cores"): a
 * VGG-like TF.js layers model (six 3×3 convolutions, three Dense layers, one
 * 8192×2048 kernel) built and saved by real TF.js with its random initial
 * weights — nothing to find, so every rule runs to the end. Timed: the core
 * function the CLI and the extension's child job run (openModel +
 * computeHints, weights read from disk); TF.js itself (loaded on first use for
 * the large products) is loaded in the warm-up run and reported in the note.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeHints } from '../../src/core/analysis/hints';
import { openModel } from '../../src/core/formats/registry';
import { loadTf } from '../../src/core/runtime/tfjs';
import { log, measure, tempDir, timing, type Row } from './util';

export interface HintsBenchOptions {
  runs: number;
  warmup: number;
  /** Scales every layer's width (1 = the ~26M-parameter model; the quick run uses less). */
  width: number;
}

const BUDGET = 60;

/** Builds the model with TF.js and saves it as model.json + one weights file, as tfjs.io would. */
async function writeModel(dir: string, width: number): Promise<{ file: string; params: number; layers: number }> {
  const { tf } = await loadTf('auto');
  const w = (n: number) => Math.max(8, Math.round(n * width));
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [32, 32, 3], filters: w(64), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }));
  m.add(tf.layers.conv2d({ filters: w(128), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  m.add(tf.layers.conv2d({ filters: w(256), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv3' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }));
  m.add(tf.layers.conv2d({ filters: w(512), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv4' }));
  m.add(tf.layers.conv2d({ filters: w(512), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv5' }));
  m.add(tf.layers.conv2d({ filters: w(512), kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv6' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool3' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: w(2048), activation: 'relu', name: 'fc1' }));
  m.add(tf.layers.dense({ units: w(1024), activation: 'relu', name: 'fc2' }));
  m.add(tf.layers.dense({ units: 1000, activation: 'softmax', name: 'fc3' }));
  const params = m.countParams();
  const file = path.join(dir, 'model.json');
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      fs.writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
      fs.writeFileSync(
        file,
        JSON.stringify({ modelTopology: a.modelTopology, format: 'layers-model', generatedBy: a.generatedBy, convertedBy: null, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const layers = m.layers.length;
  m.dispose();
  return { file, params, layers };
}

export async function benchHints(o: HintsBenchOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const dir = tempDir('hints');
  try {
    const loadStarted = Date.now();
    await loadTf('auto');
    const tfLoad = (Date.now() - loadStarted) / 1000;
    log('hints: building the model with TF.js');
    const { file, params, layers } = await writeModel(dir, o.width);
    const bytes = fs.statSync(path.join(dir, 'weights.bin')).size;
    let hints = 0;
    let phases: Record<string, number> = {};
    const run = async () => {
      const started = Date.now();
      const doc = await openModel(file);
      let last = started;
      let lastLayer = '';
      phases = {};
      const result = await computeHints(doc, {}, {
        onProgress: (_, message) => {
          // Time per layer, from one progress message to the next.
          const now = Date.now();
          if (lastLayer) phases[lastLayer] = (phases[lastLayer] ?? 0) + (now - last) / 1000;
          lastLayer = message.split(' ')[0] ?? '';
          last = now;
        },
      });
      hints = result.hints.length;
    };
    log(`hints: ${(params / 1e6).toFixed(1)}M parameters, ${o.warmup} warm-up + ${o.runs} runs`);
    const t = await measure(run, o.runs, o.warmup);
    const slowest = Object.entries(phases).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([l, s]) => `${l} ${s.toFixed(1)} s`).join(', ');
    return {
      rows: [
        {
          section: 'hints',
          case: `Redundancy hints, TF.js model of ${(params / 1e6).toFixed(1)}M parameters (${layers} layers)`,
          ours: t,
          peerName: 'budget',
          peer: timing([BUDGET]),
          ratio: BUDGET / t.median,
          target: 1,
          note: `openModel + computeHints (all nine rules, weights read from disk); ${hints} hints; slowest layers: ${slowest}; TF.js (large spectra) loaded beforehand, ${tfLoad.toFixed(1)} s once per process`,
        },
      ],
      info: { params, layers, weightBytes: bytes, hints, secondsPerLayer: phases, tfjsLoadSeconds: tfLoad },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
