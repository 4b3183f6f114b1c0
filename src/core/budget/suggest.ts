import type { Hint } from '../analysis/hints';
import type { FormatId, ModelDoc } from '../model';
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
 * A Dense or Conv kernel as parameter-removing methods see it: `units` rows of
 * `fanIn` weights, and the layer's whole parameter count (kernel + bias + any
 * other per-unit vectors), in model order.
 */
export interface KernelShape {
  layer: string;
  units: number;
  fanIn: number;
  layerParams: number;
}

/** The Dense/Conv kernels of a model (one per layer), for the parameter-removing candidates. */
export async function kernelShapes(doc: ModelDoc): Promise<KernelShape[]> {
  const { weightTargets } = await import('../compress/targets');
  const seen = new Set<string>();
  const out: KernelShape[] = [];
  for (const t of weightTargets(doc, {}, { kernelsOnly: true })) {
    if ((t.layout.kind !== 'dense' && t.layout.kind !== 'conv') || seen.has(t.layer.name)) continue;
    seen.add(t.layer.name);
    const layerParams = t.layer.tensors.filter((x) => x.isParameter).reduce((s, x) => s + x.count, 0);
    out.push({ layer: t.layer.name, units: t.layout.units, fanIn: t.layout.fanIn, layerParams });
  }
  return out;
}

/**
 * Parameters after structured pruning at `fraction` (as structuredPrune.ts
 * does it: every kernel but the last loses floor(fraction·units) units, and the
 * next kernel loses the inputs those units fed). Assumes each kernel feeds the
 * next one (a chain); where the writer leaves a layer unchanged (branches) the
 * real saving is smaller.
 */
export function paramsAfterStructuredPrune(total: number, kernels: readonly KernelShape[], fraction: number): number {
  let removed = 0;
  let keptInputShare = 1;
  kernels.forEach((k, i) => {
    const last = i === kernels.length - 1;
    const cut = last ? 0 : Math.min(k.units - 1, Math.floor(fraction * k.units));
    const perUnitExtra = k.layerParams / k.units - k.fanIn;
    const fanIn = Math.round(k.fanIn * keptInputShare);
    removed += k.layerParams - (k.units - cut) * (fanIn + perUnitExtra);
    keptInputShare = (k.units - cut) / k.units;
  });
  return Math.round(total - removed);
}

/** Parameters after low-rank factorization at `rank` (as lowRank.ts does it: only kernels where (units + fanIn)·rank < units·fanIn). */
export function paramsAfterLowRank(total: number, kernels: readonly KernelShape[], rank: number): number {
  let removed = 0;
  for (const k of kernels) {
    const r = Math.min(rank, k.units, k.fanIn);
    if ((k.units + k.fanIn) * r < k.units * k.fanIn) removed += k.units * k.fanIn - (k.units + k.fanIn) * r;
  }
  return total - removed;
}

/**
 * The cheapest compression (from the hints and the format's quantization
 * options) that would meet the size limits. Candidates are ordered by expected
 * accuracy cost: float16, then 8-bit, then factorizing by the hints, then the
 * candidates that remove parameters whatever the hints say: low-rank at the
 * highest rank that meets maxParams, structured pruning of the smallest
 * fraction of units that does.
 *
 * `params` in a budget is every parameter, zero or not (the summary's
 * totalParams): magnitude pruning and quantization do not lower it, only
 * architecture changes do. The pruning candidate is there for the gzip limit.
 */
export function suggestFix(format: FormatId, budget: ModelBudget, m: Measured, hints: readonly Hint[], kernels: readonly KernelShape[] = []): BudgetFix | undefined {
  return fixCandidates(format, budget, m, hints, kernels)[0];
}

/** Every candidate expected to meet the size limits, cheapest first (suggestFix offers the first). */
export function fixCandidates(format: FormatId, budget: ModelBudget, m: Measured, hints: readonly Hint[], kernels: readonly KernelShape[] = []): BudgetFix[] {
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
  // Architecture changes scale the bytes with the parameters (same dtype per weight).
  const scaled = (params: number): Partial<Measured> => {
    const share = params / Math.max(1, m.params);
    return { params, bytesOnDisk: Math.round(m.bytesOnDisk * share), bytesGzip: Math.round(m.bytesGzip * share) };
  };
  const limit = budget.maxParams;
  if (limit !== undefined && m.params > limit && kernels.length > 0 && writesArchitecture(format)) {
    const largest = Math.max(...kernels.map((k) => Math.min(k.units, k.fanIn)));
    for (let rank = largest; rank >= 1; rank--) {
      const params = paramsAfterLowRank(m.params, kernels, rank);
      if (params <= limit) {
        candidates.push({ label: `low-rank factorization at rank ${rank} (removes ${(m.params - params).toLocaleString('en-US')} parameters)`, method: 'low-rank', args: ['--rank', String(rank)], estimate: scaled(params) });
        break;
      }
    }
    if (kernels.length > 1) {
      for (let pct = 5; pct <= 95; pct += 5) {
        const params = paramsAfterStructuredPrune(m.params, kernels, pct / 100);
        if (params <= limit) {
          candidates.push({ label: `structured pruning of ${pct}% of the units (removes about ${(m.params - params).toLocaleString('en-US')} parameters)`, method: 'structured-prune', args: ['--sparsity', String(pct / 100)], estimate: scaled(params) });
          break;
        }
      }
    }
  }
  const prunable = hints.filter((h) => h.kind === 'prunable');
  if (prunable.length) {
    const removed = prunable.reduce((s, h) => s + h.savingsParams, 0);
    const fraction = Math.floor((removed / Math.max(1, m.params)) * 100) / 100;
    // Zeros stay parameters (params counts them all): this only helps the gzip limit.
    if (fraction > 0) candidates.push({ label: `prune ${(fraction * 100).toFixed(0)}% (zeros shrink the gzip size)`, method: 'prune', args: ['--sparsity', String(fraction)], estimate: { params: m.params, bytesOnDisk: m.bytesOnDisk, bytesGzip: Math.round(m.bytesGzip * (1 - fraction * 0.9)) } });
  }
  const meets = (c: BudgetFix) =>
    (budget.maxBytesOnDisk === undefined || (c.estimate.bytesOnDisk ?? Infinity) <= budget.maxBytesOnDisk) &&
    (budget.maxBytesGzip === undefined || (c.estimate.bytesGzip ?? Infinity) <= budget.maxBytesGzip) &&
    (budget.maxParams === undefined || (c.estimate.params ?? Infinity) <= budget.maxParams);
  return candidates.filter(meets);
}

/** Formats whose writer rebuilds layers (factorized, shrunk): safetensors stores only tensors, Keras files are not written. */
function writesArchitecture(format: FormatId): boolean {
  return format === 'onnx' || format === 'tfjs-layers';
}

/** The fixes for one checked model, cheapest first: reads its kernels, then fixCandidates (the editor's quick fix offers the first). */
export async function fixesFor(file: string, budget: ModelBudget, m: Measured, hints: readonly Hint[]): Promise<BudgetFix[]> {
  const { openModel } = await import('../formats/registry');
  const doc = await openModel(file);
  return fixCandidates(doc.format, budget, m, hints, budget.maxParams !== undefined && m.params > budget.maxParams ? await kernelShapes(doc) : []);
}
