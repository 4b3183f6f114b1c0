import { readFileSync } from 'node:fs';
import { analyzeKerasTopology, flattenLayers } from '../analysis/kerasLayers';
import { ModelFormatError } from '../errors';
import { checkRange, heldOutAccuracy, pct, type MethodOutput, type TrainContext, type TrainMethod } from './context';
import type { Samples } from './data';
import { buildModel, buildWithWeights, copyWeights, modelConfig, splitSoftmax, type ModelConfig } from './graph';
import { accuracyOf, predictAll, softmaxRows } from './loop';
import { loadLayersModelFile } from './modelIo';
import { describeWidths, reinitialize, scaleWidths } from './student';
import { logitsFromOutputs, supervisedPhases } from './supervised';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type Tf = TrainContext['tf'];

export const DEFAULT_TEMPERATURE = 4;
export const DEFAULT_ALPHA = 0.9;
export const DEFAULT_STUDENT_WIDTH = 0.5;

/**
 * Knowledge distillation (Hinton et al. 2015): a student learns the teacher's
 * tempered probabilities, loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) +
 * (1 − α)·CE(labels). The teacher is the source model, or an ensemble (the
 * average of each teacher's tempered probabilities). Unlabelled data trains on
 * the soft targets alone (α = 1).
 */
export const distill: TrainMethod = {
  id: 'distill',
  label: 'Knowledge distillation',
  // The student starts from random weights: more steps and a larger rate than fine-tuning.
  defaultLearningRate: 2e-3,
  defaultEpochs: (count) => Math.max(3, Math.min(15, Math.round(40000 / Math.max(1, count)))),
  validate(o) {
    const problems: string[] = [];
    checkRange(problems, 'alpha', o.alpha, 0, 1);
    if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) problems.push(`temperature must be above 0, got ${o.temperature}`);
    if (o.studentWidth !== undefined && !(o.studentWidth > 0 && o.studentWidth <= 1)) problems.push(`student width must be in (0, 1], got ${o.studentWidth}`);
    if (o.student && o.studentWidth !== undefined) problems.push('give either a student model or a student width, not both');
    return problems;
  },
  gradientClasses: (model, o) => [...new Set([...model.layers.map((l) => l.getClassName()), ...(o.student ? topologyClasses(o.student) : [])])],
  async run(ctx) {
    return runDistill(ctx);
  },
};

/** Layer classes of a model.json's topology (empty when it cannot be read; loading it later reports why). */
function topologyClasses(file: string): string[] {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { modelTopology?: unknown };
    return flattenLayers(analyzeKerasTopology(json.modelTopology).layers).map((l) => l.className);
  } catch {
    return [];
  }
}

export interface TeacherTargets {
  /** count × classes tempered probabilities of the (ensemble) teacher. */
  soft: Float32Array;
  /** The teacher's accuracy on the evaluation data (ensemble: averaged probabilities). */
  accuracy: number;
}

/** Tempered soft targets of one or more teachers on `train`, and their accuracy on `evaluation`. */
export function teacherTargets(tf: Tf, teachers: LayersModel[], train: Samples, evaluation: Samples, classes: number, temperature: number): TeacherTargets {
  const soft = new Float32Array(train.count * classes);
  const evalProbs = new Float32Array(evaluation.count * classes);
  for (const teacher of teachers) {
    // Softmax-output models give probabilities; log p stands in for the logits
    // (softmax(log p / T) equals softmax(z / T): the log-sum-exp constant cancels).
    const softmax = splitSoftmax(modelConfig(teacher)).softmax;
    const t = predictAll(tf, teacher, train);
    if (t.width !== classes) throw new ModelFormatError('invalid-option', `a teacher outputs ${t.width} values per sample, the student ${classes}`);
    const p = softmaxRows(logitsFromOutputs(t.values, softmax), classes, temperature);
    for (let i = 0; i < p.length; i++) soft[i] = soft[i]! + p[i]! / teachers.length;
    const e = softmaxRows(logitsFromOutputs(predictAll(tf, teacher, evaluation).values, softmax), classes, 1);
    for (let i = 0; i < e.length; i++) evalProbs[i] = evalProbs[i]! + e[i]! / teachers.length;
  }
  return { soft, accuracy: accuracyOf(evalProbs, classes, evaluation.y!) };
}

async function runDistill(ctx: TrainContext): Promise<MethodOutput> {
  const { tf, options: o, data, classes } = ctx;
  const temperature = o.temperature ?? DEFAULT_TEMPERATURE;
  const labelled = data.train.y !== null;
  if (o.baseline && !labelled) throw new ModelFormatError('invalid-option', '--baseline trains the student on labels, and the training data has none');
  const alpha = labelled ? o.alpha ?? DEFAULT_ALPHA : 1;
  const created: LayersModel[] = [];
  let initial: import('@tensorflow/tfjs').Tensor[] = [];
  try {
    const teachers = [ctx.model];
    for (const file of o.teachers ?? []) {
      const t = await loadLayersModelFile(tf, file);
      created.push(t);
      teachers.push(t);
    }
    const targets = teacherTargets(tf, teachers, data.train, data.eval, classes, temperature);

    // The student architecture and its starting weights.
    let studentArch: ModelConfig;
    let describe: string;
    let init: (m: LayersModel) => void;
    if (o.student) {
      const given = await loadLayersModelFile(tf, o.student);
      created.push(given);
      studentArch = modelConfig(given);
      describe = `the student model ${o.student} (starting from its weights)`;
      init = (m) => copyWeights(given, m);
    } else {
      const width = o.studentWidth ?? DEFAULT_STUDENT_WIDTH;
      const scaled = scaleWidths(ctx.arch, width);
      studentArch = scaled.config;
      describe = `a ×${width} student (${describeWidths(scaled.changes)}; new random init, seed ${o.seed})`;
      init = (m) => reinitialize(tf, m, o.seed);
    }
    const studentLogits = splitSoftmax(studentArch).logits;
    const student = await buildModel(tf, studentLogits);
    created.push(student);
    init(student);
    initial = student.getWeights().map((t) => t.clone());
    const trainPhase = supervisedPhases(ctx, o.baseline ? 2 : 1);

    await trainPhase({ model: student, phase: `distill (T=${temperature}, α=${alpha})`, soft: targets.soft, temperature, alpha });
    const studentAccuracy = heldOutAccuracy(ctx, student);
    const metrics: Record<string, unknown> = {
      teacherAccuracy: targets.accuracy,
      teachers: teachers.length,
      studentAccuracy,
      teacherParams: teachers.reduce((sum, t) => sum + t.countParams(), 0),
      studentParams: student.countParams(),
      temperature,
      alpha,
      epochs: o.epochs,
    };
    const notes = [
      `Student: ${describe}; ${student.countParams().toLocaleString('en-US')} parameters vs the teacher's ${teachers.reduce((sum, t) => sum + t.countParams(), 0).toLocaleString('en-US')}${teachers.length > 1 ? ' (all teachers)' : ''}.`,
      `Teacher: ${teachers.length > 1 ? `an ensemble of ${teachers.length} models (tempered probabilities averaged)` : 'the source model'}, ${pct(targets.accuracy)} accuracy. Loss = ${alpha}·T²·KL + ${(1 - alpha).toFixed(2)}·CE, T = ${temperature}${labelled ? '' : ' (no labels in the data: soft targets only)'}.`,
      `Distilled student: ${pct(studentAccuracy)} after ${o.epochs} epochs.`,
    ];
    if (o.baseline) {
      const baseline = await buildModel(tf, studentLogits);
      created.push(baseline);
      baseline.setWeights(initial);
      await trainPhase({ model: baseline, phase: 'baseline (labels only)' });
      const baselineAccuracy = heldOutAccuracy(ctx, baseline);
      metrics.baselineAccuracy = baselineAccuracy;
      notes.push(
        `Baseline: the same student, init and data order trained on the labels alone scored ${pct(baselineAccuracy)} — distillation ${studentAccuracy > baselineAccuracy ? 'helped' : 'did not help'} (${((studentAccuracy - baselineAccuracy) * 100).toFixed(2)} points).`,
      );
    }
    const out = await buildWithWeights(tf, studentArch, student);
    return { model: out, notes, metrics, dispose: created };
  } catch (e) {
    for (const m of created) m.dispose();
    throw e;
  } finally {
    tf.dispose(initial);
  }
}
