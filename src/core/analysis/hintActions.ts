import { WRITABLE_FORMATS } from '../formats/writer';
import type { FormatId } from '../model';
import type { Hint } from './hints';
import { quantizeTargetFor } from './hints/quantizable';

/** The compression a hint suggests, as CLI arguments (`parsimony compress <model> --method …`). */
export interface HintAction {
  method: string;
  args: string[];
  layers: string[];
  label: string;
}

/**
 * A sparsity that makes `prune` (which zeroes floor(s·n) weights) remove
 * exactly `count` of `n`: halfway between two counts, so rounding cannot tip it.
 */
function exactSparsity(count: number, n: number): string {
  return String((count + 0.5) / n);
}

/**
 * The one compression that carries out a hint, with the hint's own numbers, so
 * that what it removes is what the hint said it would save
 * (test/unit/hintsMatchCompression.test.ts holds them to it). Undefined when no
 * single compression step does it, or the format cannot be written.
 */
export function actionForHint(h: Hint, format: FormatId): HintAction | undefined {
  if (!WRITABLE_FORMATS.includes(format)) return undefined;
  const layers = [h.layer];
  switch (h.kind) {
    case 'prunable': {
      const n = h.detail.params as number;
      const f = h.detail.fraction as number;
      return { method: 'prune', args: ['--sparsity', exactSparsity(Math.round(f * n), n), '--scope', 'layer', '--include-ends'], layers, label: `prune ${h.layer} to ${(f * 100).toFixed(0)}%` };
    }
    case 'sparse': {
      const near = h.savingsParams;
      const n = h.detail.params as number;
      const zeros = Math.round((h.detail.zeroFraction as number) * n);
      // Already-zero weights need no pruning: only near-zeros beyond them make an action.
      return near > zeros ? { method: 'prune', args: ['--sparsity', exactSparsity(near, n), '--scope', 'layer', '--include-ends'], layers, label: `zero the near-zeros of ${h.layer}` } : undefined;
    }
    case 'low-rank':
      return { method: 'low-rank', args: ['--rank', String(h.detail.rank)], layers, label: `factorize ${h.layer} at rank ${String(h.detail.rank)}` };
    case 'clusterable':
      return { method: 'cluster', args: ['--clusters', String(h.detail.clusters), '--huffman'], layers, label: `cluster ${h.layer} to ${String(h.detail.clusters)} values` };
    case 'quantizable': {
      const t = quantizeTargetFor(format);
      const args = ['--dtype', t.dtype, ...(t.perChannel ? ['--per-channel'] : [])];
      return { method: 'quantize', args, layers, label: `quantize ${h.layer} (${t.dtype})` };
    }
    case 'dead-units': {
      if (h.detail.removable !== true) return undefined;
      const units = h.detail.units as number[];
      return { method: 'structured-prune', args: ['--units', units.join(',')], layers, label: `remove ${units.length} dead unit(s) of ${h.layer}` };
    }
    case 'separable': {
      // The training method replaces k×k (k ≥ 3) Conv2D layers of TF.js layers models and recovers on data.
      const [kh, kw] = (h.detail.kernel as [number, number] | undefined) ?? [0, 0];
      if (format !== 'tfjs-layers' || kh < 3 || kw < 3) return undefined;
      return { method: 'separable', args: [], layers, label: `replace ${h.layer} by depthwise + 1×1 convolutions (trains on the model's dataset)` };
    }
    case '2:4':
      // The same groups nm.ts measures: 4 consecutive fan-in weights of a unit, the 2 largest kept.
      return { method: 'prune', args: ['--pattern', '2:4'], layers, label: `prune ${h.layer} to 2:4 structured sparsity` };
    case 'duplicate-units': {
      // The merge adds the removed twin's outgoing weights to the kept one's; it needs the writer to
      // name the consumer (TF.js layers models) and a removal the writer can do.
      if (format !== 'tfjs-layers' || h.detail.removable !== true) return undefined;
      const pairs = h.detail.pairs as [number, number][];
      return { method: 'structured-prune', args: ['--merge', pairs.map(([i, j]) => `${i}:${j}`).join(',')], layers, label: `merge ${pairs.length} duplicate unit(s) of ${h.layer} into their twins` };
    }
    default:
      return undefined;
  }
}
