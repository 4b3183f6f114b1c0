import * as path from 'node:path';
import { summarize } from '../analysis/summary';
import { gzipSize } from '../compress/stats';
import { isModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { readBudget, violations, type Measured, type ModelBudget, type Violation } from './budget';

export interface ModelCheck {
  model: string;
  file: string;
  budget: ModelBudget;
  measured: Measured | null;
  violations: Violation[];
  /** Set when the model could not be read or evaluated. */
  error: string | null;
  ok: boolean;
}

export interface CheckResult {
  budget: string;
  ok: boolean;
  models: ModelCheck[];
}

/**
 * Checks every budgeted model: sizes from the model files, accuracy by
 * evaluating on the budget's dataset (only when a minimum accuracy is set).
 */
export async function checkBudget(budgetFile: string, workspace: string, onProgress?: (f: number, m: string) => void): Promise<CheckResult> {
  const budget = await readBudget(budgetFile);
  const entries = Object.entries(budget.models);
  const models: ModelCheck[] = [];
  for (const [i, [model, limits]] of entries.entries()) {
    onProgress?.(i / entries.length, model);
    const file = path.resolve(workspace, model);
    try {
      const doc = await openModel(file);
      const s = await summarize(doc);
      let gzip = 0;
      if (limits.maxBytesGzip !== undefined) for (const f of doc.files) gzip += await gzipSize(f);
      let accuracy: number | null = null;
      if (limits.minAccuracy !== undefined) {
        const { evaluateModel } = await import('../evaluate/evaluate');
        const r = await evaluateModel(file, { data: limits.dataset!, cwd: workspace, latency: false, record: false, workspace });
        accuracy = r.accuracy;
      }
      const measured: Measured = { params: s.totalParams, bytesOnDisk: s.bytesOnDisk, bytesGzip: gzip, bytesInMemory: s.bytesInMemory, macs: s.macs, accuracy };
      const v = violations(limits, measured);
      models.push({ model, file, budget: limits, measured, violations: v, error: null, ok: v.length === 0 });
    } catch (e) {
      if (!isModelFormatError(e)) throw e;
      models.push({ model, file, budget: limits, measured: null, violations: [], error: e.describe(), ok: false });
    }
  }
  onProgress?.(1, 'done');
  return { budget: budgetFile, ok: models.every((m) => m.ok), models };
}
