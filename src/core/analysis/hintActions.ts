import type { FormatId } from '../model';
import type { Hint } from './hints';

/** The compression a hint suggests, as CLI arguments (`parsimony compress <model> --method …`). */
export interface HintAction {
  method: string;
  args: string[];
  layers: string[];
  label: string;
}

export function actionForHint(h: Hint, format: FormatId): HintAction | undefined {
  const layers = [h.layer];
  switch (h.kind) {
    case 'prunable': {
      const s = Math.floor((h.detail.fraction as number) * 100) / 100;
      return { method: 'prune', args: ['--sparsity', String(s), '--scope', 'layer', '--include-ends'], layers, label: `prune ${h.layer} to ${(s * 100).toFixed(0)}%` };
    }
    case 'sparse': {
      const s = Math.floor((h.detail.nearZeroFraction as number) * 100) / 100;
      return s > 0 ? { method: 'prune', args: ['--sparsity', String(s), '--scope', 'layer', '--include-ends'], layers, label: `zero the near-zeros of ${h.layer}` } : undefined;
    }
    case 'low-rank':
      return { method: 'low-rank', args: ['--rank', String(h.detail.rank)], layers, label: `factorize ${h.layer} at rank ${String(h.detail.rank)}` };
    case 'clusterable':
      return { method: 'cluster', args: ['--clusters', String(h.detail.clusters), '--huffman'], layers, label: `cluster ${h.layer} to ${String(h.detail.clusters)} values` };
    case 'quantizable': {
      const args = format.startsWith('tfjs') ? ['--dtype', 'uint8'] : format === 'onnx' ? ['--dtype', 'int8', '--per-channel'] : ['--dtype', 'float16'];
      return { method: 'quantize', args, layers, label: `quantize ${h.layer} (${args[1]})` };
    }
    case 'dead-units': {
      const units = (h.detail.units as number[]).length;
      const total = (h.detail.totalUnits as number | undefined) ?? undefined;
      return total ? { method: 'structured-prune', args: ['--sparsity', String(units / total)], layers, label: `remove ${units} dead unit(s) of ${h.layer}` } : undefined;
    }
    default:
      // duplicate units need a merge, separable and 2:4 need training: no one-step compression yet.
      return undefined;
  }
}
