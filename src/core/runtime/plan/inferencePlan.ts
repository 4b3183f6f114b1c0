import type { Tf } from '../tfjs';
import { makeExecutor, MissingKernel } from './executePlan';
import { fusePlan, type FusionCounts } from './fusePlan';
import { lowerModel, PlanUnsupported } from './lowerLayers';

/**
 * An inference plan: a TF.js LayersModel compiled into a flat list of fused
 * backend kernel calls over resident weights, for running many batches fast.
 * It computes what model.predict computes (the model's first output, in
 * inference mode) to float tolerance, at a fraction of the per-call cost
 * (test/unit/inferencePlan.test.ts checks both against real models). Models
 * with a layer it does not cover get `plan: null` and a reason; callers then
 * keep model.predict.
 */
type LayersModel = import('@tensorflow/tfjs').LayersModel;

/**
 * Backends the plan runs on. tfjs-node ('tensorflow') is left to model.predict:
 * its per-op cost is small next to native kernels, and it is not installed here to test against.
 */
export const PLAN_BACKENDS: readonly string[] = ['wasm', 'cpu'];

export interface InferencePlan {
  /** Runs one batch (`shape` includes the batch axis); returns the model's first output. */
  run(x: Float32Array, shape: readonly number[]): { values: Float32Array; shape: number[] };
  /** Backend kernel calls per batch. */
  readonly kernels: number;
  /** Layers covered. */
  readonly layers: number;
  readonly fused: FusionCounts;
  /** "9 kernel calls for 8 layers, 2 activations fused". */
  readonly summary: string;
  /** Frees the tensors the plan made (folded weights); the model's own weights are the model's. */
  dispose(): void;
}

export type PlanCompilation = { plan: InferencePlan; reason: null } | { plan: null; reason: string };

export function compileInferencePlan(tf: Tf, model: LayersModel): PlanCompilation {
  const backendName = tf.getBackend();
  if (!PLAN_BACKENDS.includes(backendName)) return { plan: null, reason: `the inference plan runs on the ${PLAN_BACKENDS.join(' and ')} backends, not ${backendName}` };
  // model.predict builds a Sequential made in code (its inner model, outputLayers, …) on first use,
  // and code that used to call predict may rely on that: build it here instead.
  if (model instanceof tf.Sequential && !model.built) model.build();
  const made: import('@tensorflow/tfjs').Tensor[] = [];
  try {
    const lowered = lowerModel(tf, model);
    made.push(...lowered.made);
    const { graph, fused } = fusePlan(tf, lowered.graph, made);
    const inputShape = (model.inputs[0]!.shape as (number | null)[]).map((d) => (d === null || d < 0 ? null : d));
    const executor = makeExecutor(tf, graph, backendName, inputShape);
    const folded = [
      fused.activations ? `${fused.activations} activation${fused.activations > 1 ? 's' : ''}` : '',
      fused.batchNorms ? `${fused.batchNorms} batch norm${fused.batchNorms > 1 ? 's' : ''}` : '',
      fused.paddings ? `${fused.paddings} padding${fused.paddings > 1 ? 's' : ''}` : '',
    ].filter(Boolean);
    const summary = `${executor.kernels} kernel call${executor.kernels === 1 ? '' : 's'} for ${graph.layers} layer${graph.layers === 1 ? '' : 's'}${folded.length ? `, ${folded.join(', ')} fused` : ''}`;
    let disposed = false;
    return {
      reason: null,
      plan: {
        run: (x, shape) => {
          if (disposed) throw new Error('the inference plan was disposed');
          return executor.run(x, shape);
        },
        kernels: executor.kernels,
        layers: graph.layers,
        fused,
        summary,
        dispose: () => {
          if (disposed) return;
          disposed = true;
          for (const t of made) t.dispose();
        },
      },
    };
  } catch (e) {
    for (const t of made) t.dispose();
    if (e instanceof PlanUnsupported || e instanceof MissingKernel) return { plan: null, reason: e.message };
    throw e;
  }
}
