import type { LayerInfo, TensorInfo } from '../model';

/**
 * Weight-only formats (safetensors, PyTorch state dicts, GGUF) have no layer
 * list, only flat tensor names like `model.layers.0.self_attn.q_proj.weight`.
 * This groups them into layers by dropping the last name component, and guesses
 * a layer type from names and shapes — conservatively: a guess that could be
 * wrong stays 'tensor group', and MACs are only given where the tensor shapes
 * determine them.
 */

export interface GroupOverride {
  /** Layer name the tensor belongs to. */
  layer: string;
  /** Layer type; when absent the type is guessed from the group's tensors. */
  type?: string;
  /** MACs for a forced type; null unless the format knows better. */
  macs?: number | null;
}

export interface GroupOptions {
  /**
   * Lets a format put tensors into its own groups (GGUF's `blk.N.` blocks);
   * return undefined to fall back to prefix grouping.
   */
  override?: (tensorName: string) => GroupOverride | undefined;
}

/** `a.b.weight` → `a.b`; a name without dots is its own layer. */
export function layerPrefix(tensorName: string): string {
  const dot = tensorName.lastIndexOf('.');
  return dot > 0 ? tensorName.slice(0, dot) : tensorName;
}

export function groupByPrefix(tensors: readonly TensorInfo[], options: GroupOptions = {}): LayerInfo[] {
  const groups = new Map<string, { tensors: TensorInfo[]; forced: GroupOverride | undefined }>();
  for (const tensor of tensors) {
    const forced = options.override?.(tensor.name);
    const name = forced?.layer ?? layerPrefix(tensor.name);
    let group = groups.get(name);
    if (!group) {
      group = { tensors: [], forced };
      groups.set(name, group);
    }
    group.tensors.push(tensor);
  }
  return [...groups].map(([name, group]) => {
    const guess = group.forced?.type === undefined ? guessLayer(name, group.tensors) : undefined;
    return {
      name,
      type: group.forced?.type ?? guess!.type,
      tensors: group.tensors,
      // Without a graph the sequence length and spatial sizes are unknown.
      outputShape: null,
      macs: guess ? guess.macs : group.forced?.macs ?? null,
    };
  });
}

/** The tensor whose last name component is `weight` (or the only tensor). */
function mainWeight(prefix: string, tensors: readonly TensorInfo[]): TensorInfo | undefined {
  return tensors.find((t) => t.name === `${prefix}.weight`) ?? tensors.find((t) => /(^|\.)weight$/.test(t.name)) ?? (tensors.length === 1 ? tensors[0] : undefined);
}

export function guessLayer(prefix: string, tensors: readonly TensorInfo[]): { type: string; macs: number | null } {
  const weight = mainWeight(prefix, tensors);
  if (!weight) return { type: 'tensor group', macs: null };
  const last = prefix.slice(prefix.lastIndexOf('.') + 1).toLowerCase();
  const rank = weight.shape.length;
  const hasBias = tensors.some((t) => t !== weight && /(^|\.)bias$/.test(t.name) && t.shape.length === 1);
  if (rank === 4) return { type: 'Conv', macs: null }; // MACs need the output's spatial size
  if (rank === 2 && /(embed|wte|wpe|token_embd)/i.test(prefix)) {
    // A lookup, not a product; the cost is zero MACs but we do not claim it.
    return { type: 'Embedding', macs: null };
  }
  if (rank === 1 && (/norm/i.test(prefix) || /(^|[._])ln(_?\d+|_[a-z]+)?$/i.test(prefix))) {
    return { type: 'Norm', macs: null };
  }
  if (rank === 2 && (hasBias || /(proj|fc\d*)$/.test(last))) {
    // A 2-D weight of a Linear/Conv1D layer: one multiply-accumulate per weight
    // for every input vector. For sequence models this is per token, for MLPs
    // per sample; either way it is exact for one input row.
    return { type: 'Linear', macs: weight.shape[0]! * weight.shape[1]! };
  }
  return { type: 'tensor group', macs: null };
}

/** Orders `layers.2` before `layers.10` (safetensors headers come sorted as text). */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * Weight-only files do not say which tensors are learned. Like torch's
 * `is_floating_point()`, floating-point tensors count as parameters; integer and
 * bool tensors (position ids, masks, step counters) do not. Integer-quantized
 * weights (int8 checkpoints) are therefore not counted: their packing varies.
 */
export function isFloatDtype(dtype: string): boolean {
  return /^(float|bfloat)/.test(dtype);
}
