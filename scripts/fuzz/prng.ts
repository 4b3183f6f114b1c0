/**
 * A small seeded PRNG (mulberry32) with the helpers the mutators need. Every
 * fuzz case derives its own generator from (run seed, format, case index), so
 * any single case can be replayed without running the ones before it.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: [[weight, value], …]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let x = this.next() * total;
    for (const [w, v] of items) {
      x -= w;
      if (x < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  /** An offset biased towards the start, the end and the middle of [0, size). */
  offset(size: number): number {
    if (size <= 1) return 0;
    return this.weighted<() => number>([
      [3, () => this.int(size)],
      [1, () => this.int(Math.min(size, 64))],
      [1, () => Math.max(0, size - 1 - this.int(Math.min(size, 64)))],
    ])();
  }
}

/** FNV-1a over a string, for deriving per-case seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function caseSeed(runSeed: number, format: string, index: number): number {
  return hashString(`${runSeed}/${format}/${index}`);
}
