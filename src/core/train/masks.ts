import { selectInPlace } from '../numeric/select';
import type { Tf } from '../runtime/tfjs';

type Variable = import('@tensorflow/tfjs').Variable;
type Tensor = import('@tensorflow/tfjs').Tensor;

/**
 * Pruning masks (1 = keep, 0 = pruned) over a set of weight variables, with the
 * sparsity schedules of TF Model Optimization Toolkit:
 * constant (the final sparsity from the first step) and polynomial decay
 * s_t = s_f + (s_i − s_f)(1 − (t − t_0)/(t_end − t_0))^3.
 */
export interface SparsitySchedule {
  kind: 'polynomial' | 'constant';
  initial: number;
  final: number;
  /** Step the schedule starts (masks are first computed here). */
  begin: number;
  /** Step at which the final sparsity is reached. */
  end: number;
  /** Masks are recomputed every `frequency` steps in [begin, end]. */
  frequency: number;
  power: number;
}

export function sparsityAt(s: SparsitySchedule, step: number): number {
  if (s.kind === 'constant' || step >= s.end) return s.final;
  if (step <= s.begin) return s.initial;
  const p = (step - s.begin) / Math.max(1, s.end - s.begin);
  return s.final + (s.initial - s.final) * Math.pow(1 - p, s.power);
}

/** True when the masks are recomputed at this step. */
export function isPruningStep(s: SparsitySchedule, step: number): boolean {
  if (s.kind === 'constant') return step === s.begin;
  if (step < s.begin || step > s.end) return false;
  return (step - s.begin) % s.frequency === 0 || step === s.end;
}

/**
 * Schedule over `totalSteps`: polynomial pruning over the first 70% of training
 * (~10 mask updates), leaving the rest to recover at the final sparsity.
 */
export function defaultSchedule(kind: 'polynomial' | 'constant', initial: number, final: number, totalSteps: number): SparsitySchedule {
  const end = kind === 'constant' ? 0 : Math.max(0, Math.floor(totalSteps * 0.7) - 1);
  return { kind, initial: kind === 'constant' ? final : initial, final, begin: 0, end, frequency: Math.max(1, Math.floor(end / 10)), power: 3 };
}

/**
 * Magnitude masks keeping the largest |w|: exactly floor(sparsity · n) zeros,
 * over all tensors together (global) or per tensor. Ties at the threshold are
 * pruned in tensor order, then by position.
 */
export function magnitudeMasks(values: Float32Array[], sparsity: number, scope: 'global' | 'layer'): Uint8Array[] {
  const masks = values.map((v) => new Uint8Array(v.length).fill(1));
  if (sparsity <= 0) return masks;
  const groups = scope === 'global' ? [values.map((_, i) => i)] : values.map((_, i) => [i]);
  for (const group of groups) {
    const total = group.reduce((s, i) => s + values[i]!.length, 0);
    const k = Math.min(total, Math.floor(sparsity * total));
    if (k === 0) continue;
    const all = new Float32Array(total);
    let o = 0;
    for (const i of group) {
      const v = values[i]!;
      for (let j = 0; j < v.length; j++) all[o++] = Math.abs(v[j]!);
    }
    const threshold = selectInPlace(all, k - 1);
    let removed = 0;
    for (const i of group) {
      const v = values[i]!;
      const m = masks[i]!;
      for (let j = 0; j < v.length; j++) {
        if (Math.abs(v[j]!) < threshold) {
          m[j] = 0;
          removed++;
        }
      }
    }
    for (const i of group) {
      const v = values[i]!;
      const m = masks[i]!;
      for (let j = 0; j < v.length && removed < k; j++) {
        if (m[j] === 1 && Math.abs(v[j]!) === threshold) {
          m[j] = 0;
          removed++;
        }
      }
    }
  }
  return masks;
}

/** Masks held as tensors next to the variables they apply to. */
export class MaskSet {
  private tensors: Tensor[] = [];

  constructor(
    private readonly tf: Tf,
    readonly variables: Variable[],
  ) {}

  get size(): number {
    return this.tensors.length;
  }

  /** Current values of the variables (copies). */
  read(): Float32Array[] {
    return this.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  }

  set(masks: Uint8Array[]): void {
    this.dispose();
    this.tensors = masks.map((m, i) => this.tf.tensor(Float32Array.from(m), this.variables[i]!.shape, 'float32'));
  }

  /** Recomputes magnitude masks from the current weights and applies them. */
  update(sparsity: number, scope: 'global' | 'layer'): void {
    this.set(magnitudeMasks(this.read(), sparsity, scope));
    this.apply();
  }

  /** w ← w ⊙ mask: pruned weights stay zero after every optimizer step. */
  apply(): void {
    if (!this.tensors.length) return;
    this.tf.tidy(() => {
      this.variables.forEach((v, i) => v.assign(v.mul(this.tensors[i]!)));
    });
  }

  masks(): Uint8Array[] {
    return this.tensors.map((t) => Uint8Array.from(t.dataSync() as Float32Array));
  }

  /** Share of zeros over all masked variables (after apply). */
  sparsity(): number {
    let zeros = 0;
    let total = 0;
    for (const v of this.read()) {
      total += v.length;
      for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
    }
    return total ? zeros / total : 0;
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors = [];
  }
}
