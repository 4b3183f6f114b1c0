import type { Hint } from '../analysis/hints';
import type { FormatId } from '../model';
import type { Measured, ModelBudget } from './budget';

/** A compression expected to bring a model within its size budget, cheapest (least lossy) first. */
export interface BudgetFix {
  label: string;
  method: string;
  args: string[];
  /** Estimated figures after the compression. */
  estimate: Partial<Measured>;
}

/**
 * The cheapest compression (from the hints and the format's quantization
 * options) that would meet the size limits. Candidates are ordered by expected
 * accuracy cost: float16, then 8-bit, then pruning/factorizing by the hints.
 */
export function suggestFix(format: FormatId, budget: ModelBudget, m: Measured, hints: readonly Hint[]): BudgetFix | undefined {
  const candidates: BudgetFix[] = [];
  const floatBytes = m.bytesOnDisk;
  const half = format === 'safetensors' || format === 'onnx' || format.startsWith('tfjs') ? ['--dtype', 'float16'] : null;
  if (half) candidates.push({ label: 'quantize to float16', method: 'quantize', args: half, estimate: { bytesOnDisk: Math.round(floatBytes / 2), bytesGzip: Math.round(m.bytesGzip / 2), params: m.params } });
  const eight = format.startsWith('tfjs') ? ['--dtype', 'uint8'] : format === 'onnx' ? ['--dtype', 'int8', '--per-channel'] : null;
  if (eight) candidates.push({ label: `quantize to ${eight[1]}`, method: 'quantize', args: eight, estimate: { bytesOnDisk: Math.round(floatBytes / 4), bytesGzip: Math.round(m.bytesGzip / 4), params: m.params } });
  const lowRank = hints.filter((h) => h.kind === 'low-rank');
  if (lowRank.length) {
    const saved = lowRank.reduce((s, h) => s + h.savingsParams, 0);
    const bytesSaved = lowRank.reduce((s, h) => s + h.savingsBytes, 0);
    const energy = 0.9999;
    candidates.push({ label: 'low-rank factorization of the layers the hints name', method: 'low-rank', args: ['--energy', String(energy), '--layers', lowRank.map((h) => h.layer).join(',')], estimate: { params: m.params - saved, bytesOnDisk: m.bytesOnDisk - bytesSaved, bytesGzip: Math.round(m.bytesGzip * (1 - bytesSaved / Math.max(1, m.bytesOnDisk))) } });
  }
  const prunable = hints.filter((h) => h.kind === 'prunable');
  if (prunable.length) {
    const removed = prunable.reduce((s, h) => s + h.savingsParams, 0);
    const fraction = Math.floor((removed / Math.max(1, m.params)) * 100) / 100;
    if (fraction > 0) candidates.push({ label: `prune ${(fraction * 100).toFixed(0)}% (zeros shrink the gzip size)`, method: 'prune', args: ['--sparsity', String(fraction)], estimate: { params: m.params, bytesOnDisk: m.bytesOnDisk, bytesGzip: Math.round(m.bytesGzip * (1 - fraction * 0.9)) } });
  }
  const meets = (c: BudgetFix) =>
    (budget.maxBytesOnDisk === undefined || (c.estimate.bytesOnDisk ?? Infinity) <= budget.maxBytesOnDisk) &&
    (budget.maxBytesGzip === undefined || (c.estimate.bytesGzip ?? Infinity) <= budget.maxBytesGzip) &&
    (budget.maxParams === undefined || (c.estimate.params ?? Infinity) <= budget.maxParams);
  return candidates.find(meets);
}
