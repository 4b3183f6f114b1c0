import { CancelledError } from '../../errors';
import type { ModelDoc, TensorInfo } from '../../model';
import { unitMajor, weightLayout } from '../weightLayout';
import { clusterableHint } from './clusterable';
import { deadUnitsHint } from './deadUnits';
import { duplicateUnitsHint } from './duplicateUnits';
import { lowRankHint } from './lowRank';
import { twoFourHint } from './nm';
import { prunableHint } from './prunable';
import { quantizableHint } from './quantizable';
import { separableHint } from './separable';
import { sparseHint } from './sparse';
import { DEFAULT_HINT_OPTIONS, type Hint, type HintOptions, type HintRule, type TensorContext } from './types';

export type { Hint, HintKind, HintOptions } from './types';

const RULES: HintRule[] = [
  sparseHint,
  prunableHint,
  lowRankHint,
  clusterableHint,
  quantizableHint,
  duplicateUnitsHint,
  deadUnitsHint,
  separableHint,
  twoFourHint,
];

export interface HintProgress {
  onProgress?: (fraction: number, message: string) => void;
  /** Checked between tensors; a cancelled run throws CancelledError. */
  isCancelled?: () => boolean;
}

export interface HintsResult {
  file: string;
  hints: Hint[];
  /** Tensors that could not be decoded (format without a value reader, unsupported block type). */
  skipped: { tensor: string; reason: string }[];
}

/** Hints for every weight tensor of the model, biggest byte saving first. */
export async function computeHints(doc: ModelDoc, options: Partial<HintOptions> = {}, progress: HintProgress = {}): Promise<HintsResult> {
  const opts = { ...DEFAULT_HINT_OPTIONS, ...options };
  const hints: Hint[] = [];
  const skipped: HintsResult['skipped'] = [];
  const work = doc.layers.flatMap((layer) => layer.tensors.filter((t) => t.isParameter && t.count >= opts.minParams && t.shape.length >= 2).map((tensor) => ({ layer, tensor })));
  const totalElements = work.reduce((s, w) => s + w.tensor.count, 0) || 1;
  let done = 0;
  for (const { layer, tensor } of work) {
    if (progress.isCancelled?.()) throw new CancelledError();
    progress.onProgress?.(done / totalElements, `${layer.name} ${tensor.name}`);
    const layout = weightLayout(doc.format, layer, tensor);
    if (!layout || !tensor.read) {
      skipped.push({ tensor: tensor.name, reason: !tensor.read ? (typeof tensor.detail?.valuesUnavailable === 'string' ? tensor.detail.valuesUnavailable : `values of ${tensor.dtype} tensors cannot be decoded yet`) : 'unknown weight layout' });
      done += tensor.count;
      continue;
    }
    const values = await tensor.read();
    let energy = 0;
    for (let i = 0; i < values.length; i++) energy += values[i]! * values[i]!;
    let rowsCache: Float32Array | undefined;
    const ctx: TensorContext = {
      format: doc.format,
      layer,
      tensor,
      values,
      layout,
      rows: () => (rowsCache ??= unitMajor(values, layout)),
      energy,
      bytesPerElement: tensor.bytes / Math.max(1, tensor.count),
      options: opts,
      bias: await biasOf(layer.tensors, tensor, layout.units),
    };
    for (const rule of RULES) {
      const hint = rule(ctx);
      if (hint) hints.push(hint);
      // Yield so a host event loop (the extension host) stays responsive.
      await new Promise((resolve) => setImmediate(resolve));
      if (progress.isCancelled?.()) throw new CancelledError();
    }
    done += tensor.count;
  }
  progress.onProgress?.(1, 'done');
  hints.sort((a, b) => b.savingsBytes - a.savingsBytes || b.savingsParams - a.savingsParams);
  return { file: doc.file, hints, skipped };
}

async function biasOf(tensors: TensorInfo[], weight: TensorInfo, units: number): Promise<Float32Array | undefined> {
  const bias = tensors.find((t) => t !== weight && t.shape.length === 1 && t.shape[0] === units && /bias/i.test(t.name));
  return bias?.read ? bias.read() : undefined;
}
