import { ModelFormatError } from '../errors';
import { accuracyReport, checkRange, heldOutAccuracy, layerClasses, pct, type MethodOutput, type TrainContext, type TrainMethod } from './context';
import { buildModel, buildWithWeights, copyWeights, kernelRefs } from './graph';
import { kernelVariables, phaseSteps } from './loop';
import { defaultSchedule, isPruningStep, MaskSet, sparsityAt } from './masks';
import { loadLayersModelFile } from './modelIo';
import { reinitialize } from './student';
import { supervisedPhases } from './supervised';

type LayersModel = import('@tensorflow/tfjs').LayersModel;

/**
 * Iterative magnitude pruning with fine-tuning (prune → train → prune more):
 * masks are recomputed on a schedule and re-applied after every optimizer step,
 * so pruned weights stay zero. Optionally a lottery ticket (surviving weights
 * rewound to their initial values, retrained with the final masks) and a
 * from-scratch control (same masks and epochs, new seeded random init).
 */
export const finetune: TrainMethod = {
  id: 'finetune',
  label: 'Prune and fine-tune',
  defaultLearningRate: 5e-4,
  validate(o) {
    const problems: string[] = [];
    checkRange(problems, 'sparsity', o.sparsity, 0, 1, false);
    checkRange(problems, 'initial sparsity', o.initialSparsity, 0, 1, false);
    if (o.initialSparsity !== undefined && o.initialSparsity > (o.sparsity ?? DEFAULT_SPARSITY)) problems.push('initial sparsity must not exceed the final sparsity');
    if (o.schedule && o.schedule !== 'polynomial' && o.schedule !== 'constant') problems.push("schedule must be 'polynomial' or 'constant'");
    if (o.scope && o.scope !== 'global' && o.scope !== 'layer') problems.push("scope must be 'global' or 'layer'");
    if (o.rewind && !o.initial) {
      problems.push(
        'rewinding (lottery ticket) needs the initial weights: pass --initial <model.json> with the same architecture before training (e.g. the untrained copy); a trained model does not contain them',
      );
    }
    return problems;
  },
  gradientClasses: (model) => layerClasses(model),
  async run(ctx) {
    return runFinetune(ctx);
  },
};

export const DEFAULT_SPARSITY = 0.8;

async function runFinetune(ctx: TrainContext): Promise<MethodOutput> {
  const { tf, options: o, data } = ctx;
  const final = o.sparsity ?? DEFAULT_SPARSITY;
  const scope = o.scope ?? 'global';
  const kind = o.schedule ?? 'polynomial';
  const initial = kind === 'constant' ? final : o.initialSparsity ?? 0;
  const stepsPerRun = phaseSteps(data.train.count, o);
  const trainPhase = supervisedPhases(ctx, 1 + (o.rewind ? 1 : 0) + (o.scratch ? 1 : 0));
  if (!data.train.y) throw new ModelFormatError('invalid-option', 'fine-tuning needs labelled training data');
  const created: LayersModel[] = [];
  const maskSets: MaskSet[] = [];
  try {
    const work = await buildWithWeights(tf, ctx.split.logits, ctx.model);
    created.push(work);
    const refs = kernelRefs(work, o.layers);
    if (refs.length === 0) throw new ModelFormatError('invalid-option', 'no Dense or Conv kernels to prune');
    const masks = new MaskSet(tf, kernelVariables(work, refs));
    maskSets.push(masks);
    const original = work.getWeights().map((t) => t.clone());

    // One shot to the final sparsity, no training: what fine-tuning must beat.
    masks.update(final, scope);
    const oneShot = heldOutAccuracy(ctx, work);
    work.setWeights(original);
    tf.dispose(original);

    const schedule = defaultSchedule(kind, initial, final, stepsPerRun);
    await trainPhase({
      model: work,
      phase: `prune ${pct(final)} + fine-tune`,
      beforeStep: (step) => {
        if (isPruningStep(schedule, step)) masks.update(sparsityAt(schedule, step), scope);
      },
      afterStep: () => masks.apply(),
    });
    masks.apply();
    const finetuned = heldOutAccuracy(ctx, work);
    const achieved = masks.sparsity();
    const finalMasks = masks.masks();
    masks.dispose();

    const accuracies = accuracyReport([
      ['originalAccuracy', 'original', ctx.sourceAccuracy],
      ['prunedAccuracy', 'pruned without fine-tuning', oneShot],
      ['finetunedAccuracy', 'pruned and fine-tuned', finetuned],
    ]);
    const metrics: Record<string, unknown> = {
      ...accuracies.metrics,
      sparsity: achieved,
      prunedTensors: refs.map((r) => r.weight),
      schedule: { ...schedule },
      epochs: o.epochs,
    };
    const notes = [
      `${pct(achieved)} of ${refs.length} kernel tensors' weights are zero (${scope} magnitude threshold, ${kind === 'polynomial' ? `polynomial schedule ${pct(initial)} → ${pct(final)} over the first 70% of training, ${schedule.frequency}-step intervals` : 'constant schedule'}); masks were re-applied after every optimizer step.`,
      accuracies.note,
      'Zeros save bytes once compressed (gzip) or stored sparsely; dense runtimes still compute them.',
    ];

    // Retrains a copy of the pruned architecture from `init` with the final masks fixed.
    const retrain = async (phase: string, init: (m: LayersModel) => void) => {
      const m = await buildModel(tf, ctx.split.logits);
      created.push(m);
      init(m);
      const fixed = new MaskSet(tf, kernelVariables(m, refs));
      fixed.set(finalMasks);
      fixed.apply();
      try {
        await trainPhase({ model: m, phase, afterStep: () => fixed.apply() });
        fixed.apply();
      } finally {
        fixed.dispose();
      }
      return m;
    };

    let exported = work;
    if (o.rewind) {
      const initialModel = await loadLayersModelFile(tf, o.initial!);
      created.push(initialModel);
      const ticket = await retrain('lottery ticket (rewound)', (m) => {
        try {
          copyWeights(initialModel, m);
        } catch (e) {
          throw new ModelFormatError('invalid-option', `--initial is not the same architecture: ${(e as Error).message}`, { file: o.initial! });
        }
      });
      const ticketAccuracy = heldOutAccuracy(ctx, ticket);
      metrics.rewoundAccuracy = ticketAccuracy;
      notes.push(`Lottery ticket: surviving weights rewound to ${o.initial} and retrained for ${o.epochs} epochs with the final masks: ${pct(ticketAccuracy)} (written; the fine-tuned model scored ${pct(finetuned)}).`);
      exported = ticket;
    }
    if (o.scratch) {
      const scratch = await retrain('from scratch (same masks)', (m) => reinitialize(tf, m, o.seed + 1000));
      const scratchAccuracy = heldOutAccuracy(ctx, scratch);
      metrics.scratchAccuracy = scratchAccuracy;
      notes.push(
        `Control: the same sparse architecture trained from a new random init (seed ${o.seed + 1000}) for ${o.epochs} epochs scored ${pct(scratchAccuracy)} — ${scratchAccuracy < finetuned ? 'pruning the trained model did better' : 'training the small network from scratch did as well or better'}.`,
      );
    }
    const out = await buildWithWeights(tf, ctx.arch, exported);
    // Check: the exported kernels are exactly as sparse as the masks say.
    metrics.exportedSparsity = sparsityOf(kernelVariables(out, refs).map((v) => v.dataSync() as Float32Array));
    return { model: out, notes, metrics, dispose: created };
  } catch (e) {
    for (const m of created) m.dispose();
    throw e;
  } finally {
    for (const m of maskSets) m.dispose();
  }
}

function sparsityOf(values: Float32Array[]): number {
  let zeros = 0;
  let total = 0;
  for (const v of values) {
    total += v.length;
    for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
  }
  return total ? zeros / total : 0;
}

