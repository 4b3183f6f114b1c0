/**
 * Wall-clock latency: a couple of warm-up runs (the first one compiles kernels),
 * then timed runs until the budget is spent (at least 3), reported as the
 * median run time divided by the batch size — milliseconds per sample.
 */
export interface LatencyOptions {
  budgetMs?: number;
  warmup?: number;
  minRuns?: number;
  maxRuns?: number;
}

export async function measureLatency(run: () => Promise<unknown>, batch: number, options: LatencyOptions = {}): Promise<number> {
  const budget = options.budgetMs ?? 500;
  const warmup = options.warmup ?? 2;
  const minRuns = options.minRuns ?? 3;
  const maxRuns = options.maxRuns ?? 1000;
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || (performance.now() - start < budget && times.length < maxRuns)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times) / batch;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
