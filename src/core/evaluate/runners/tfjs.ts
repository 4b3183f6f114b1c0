import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import { resolveSibling } from '../../io/fileAccess';
import type { ModelDoc } from '../../model';
import { compileInferencePlan, PLAN_BACKENDS } from '../../runtime/plan/inferencePlan';
import { loadTf, type BackendPreference, type Tf } from '../../runtime/tfjs';
import type { Runner } from './types';

type TfTensor = import('@tensorflow/tfjs').Tensor;
type IOHandler = import('@tensorflow/tfjs').io.IOHandler;
type ModelJSON = import('@tensorflow/tfjs').io.ModelJSON;
type WeightsManifestConfig = import('@tensorflow/tfjs').io.WeightsManifestConfig;

/**
 * An IOHandler that reads model.json and its weight shards from disk (shards
 * concatenated in manifest order; quantized manifests are left to TF.js,
 * which dequantizes them itself). Paths in the manifest may not leave the
 * model's folder.
 */
export function diskModelHandler(tf: Tf, modelJson: string): IOHandler {
  return {
    load: async () => {
      let json: ModelJSON;
      try {
        json = JSON.parse(await fsp.readFile(modelJson, 'utf8')) as ModelJSON;
      } catch (e) {
        throw new ModelFormatError('not-a-model', `cannot read model.json: ${(e as Error).message}`, { file: modelJson });
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest: WeightsManifestConfig) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers: Uint8Array[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const shard = resolveSibling(modelJson, decodeURIComponent(p));
            try {
              buffers.push(await fsp.readFile(shard));
            } catch (e) {
              throw new ModelFormatError('not-found', `weight shard '${p}' listed in model.json cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: modelJson });
            }
          }
        }
        const total = buffers.reduce((s, b) => s + b.byteLength, 0);
        const data = new Uint8Array(total);
        let o = 0;
        for (const b of buffers) {
          data.set(b, o);
          o += b.byteLength;
        }
        return [specs, data.buffer];
      });
    },
  };
}

export async function openTfjsRunner(doc: ModelDoc, preference: BackendPreference = 'auto'): Promise<Runner> {
  const rt = await loadTf(preference);
  const tf = rt.tf;
  const handler = diskModelHandler(tf, doc.file);
  const notes: string[] = [];
  const name = path.basename(doc.file);
  if (doc.format === 'tfjs-layers') {
    let model: import('@tensorflow/tfjs').LayersModel;
    try {
      model = await tf.loadLayersModel(handler);
    } catch (e) {
      throw loadError(e, doc.file, 'tf.loadLayersModel');
    }
    if (model.inputs.length !== 1) {
      model.dispose();
      throw new ModelFormatError('unsupported-format', `${name} has ${model.inputs.length} inputs; evaluate feeds models with one input`, { file: doc.file });
    }
    if (model.outputs.length > 1) notes.push(`${name} has ${model.outputs.length} outputs; the first (${model.outputs[0]!.name}) is scored`);
    const inputShape = model.inputs[0]!.shape.map((d) => (d === null || d < 0 ? null : d));
    const predict = async (x: Float32Array, n: number, sampleShape: readonly number[]) => {
      const outputs = tf.tidy(() => {
        const input = tf.tensor(x, [n, ...sampleShape], 'float32');
        const out = model.predict(input);
        return Array.isArray(out) ? out : [out];
      });
      return readFirst(outputs, n);
    };
    // The fast path: the model compiled into fused backend kernel calls (src/core/runtime/plan).
    // Its first batch is also run through model.predict; if the two disagree, predict is used from then on.
    const compiled = compileInferencePlan(tf, model);
    let plan = compiled.plan;
    let checked = false;
    if (!plan && PLAN_BACKENDS.includes(rt.backend)) notes.push(`${name} runs through model.predict: ${compiled.reason}`);
    const dropPlan = (why: string) => {
      notes.push(`${name}: the inference plan ${why}; model.predict is used instead`);
      plan?.dispose();
      plan = null;
    };
    return {
      format: doc.format,
      backend: rt.backend,
      backendReason: rt.reason,
      inputShape,
      fixedBatch: inputShape[0] ?? null,
      notes,
      inference: plan ? `inference plan (${plan.summary})` : 'model.predict',
      async run(x, n, sampleShape) {
        if (!plan || n === 0) return predict(x, n, sampleShape);
        if (checked) {
          const out = plan.run(x, [n, ...sampleShape]);
          return { values: out.values, width: n > 0 ? out.values.length / n : 0 };
        }
        checked = true;
        const reference = await predict(x, n, sampleShape);
        let out: Float32Array;
        try {
          out = plan.run(x, [n, ...sampleShape]).values;
        } catch (e) {
          dropPlan(`failed (${(e as Error).message.split('\n')[0]})`);
          return reference;
        }
        const diff = planDifference(out, reference.values);
        if (!(diff <= PLAN_TOLERANCE)) dropPlan(`disagreed with model.predict (relative difference ${diff.toExponential(1)})`);
        return reference;
      },
      async dispose() {
        plan?.dispose();
        model.dispose();
      },
    };
  }
  if (doc.format === 'tfjs-graph') {
    let model: import('@tensorflow/tfjs').GraphModel;
    try {
      model = await tf.loadGraphModel(handler);
    } catch (e) {
      throw loadError(e, doc.file, 'tf.loadGraphModel');
    }
    if (model.inputs.length !== 1) {
      model.dispose();
      throw new ModelFormatError('unsupported-format', `${name} has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}); evaluate feeds models with one input`, { file: doc.file });
    }
    if (model.outputs.length > 1) notes.push(`${name} has ${model.outputs.length} outputs; the first (${model.outputs[0]!.name}) is scored`);
    const inputInfo = model.inputs[0]!;
    const dtype = inputInfo.dtype === 'int32' ? 'int32' : 'float32';
    let useAsync = false;
    const toList = (out: TfTensor | TfTensor[] | Record<string, TfTensor>): TfTensor[] =>
      Array.isArray(out) ? out : out instanceof tf.Tensor ? [out] : Object.values(out);
    const inputShape = inputInfo.shape ? inputInfo.shape.map((d) => (d === null || d < 0 ? null : d)) : (doc.inputShape ?? null);
    return {
      format: doc.format,
      backend: rt.backend,
      backendReason: rt.reason,
      inputShape,
      fixedBatch: inputShape?.[0] ?? null,
      notes,
      async run(x, n, sampleShape) {
        const input = tf.tidy(() => {
          const t = tf.tensor(x, [n, ...sampleShape], 'float32');
          return dtype === 'int32' ? t.round().toInt() : t;
        });
        try {
          if (!useAsync) {
            try {
              return await readFirst(toList(model.predict(input) as TfTensor | TfTensor[]), n);
            } catch (e) {
              // Models with control flow or dynamic shapes only run through executeAsync.
              if (!/executeAsync|dynamic|control flow/i.test(String((e as Error).message))) throw e;
              useAsync = true;
              notes.push(`${name} has dynamic ops; run with executeAsync`);
            }
          }
          return await readFirst(toList(await model.executeAsync(input)), n);
        } finally {
          input.dispose();
        }
      },
      async dispose() {
        model.dispose();
      },
    };
  }
  throw new ModelFormatError('unsupported-format', `${doc.format} models are not run with TF.js`, { file: doc.file });
}

/**
 * How far the plan may stray from model.predict on its first batch, relative to the
 * output's scale: float reordering and folded batch norms stay near 1e-6; a wrong
 * layer is off by whole units.
 */
const PLAN_TOLERANCE = 1e-3;

function planDifference(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Infinity;
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let diff = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= diff)) diff = d; // NaN counts as a difference
  }
  return diff / scale;
}

async function readFirst(outputs: TfTensor[], n: number): Promise<{ values: Float32Array; width: number }> {
  try {
    const first = outputs[0]!;
    const data = await first.data();
    const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    return { values, width: n > 0 ? first.size / n : 0 };
  } finally {
    for (const t of outputs) t.dispose();
  }
}

function loadError(e: unknown, file: string, what: string): Error {
  if (e instanceof ModelFormatError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ModelFormatError('not-a-model', `${what} could not load the model: ${message.split('\n')[0]}`, { file });
}
