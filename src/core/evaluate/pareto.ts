/**
 * The Pareto frontier of (cost, value) points: a point is on it when no other
 * point has cost ≤ and value ≥ with at least one of the two strictly better.
 * Points whose cost or value is null (not measured) are never on it.
 * Returns indices into `points`, ordered by cost (then by value, descending).
 */
export function paretoFrontier<T>(points: readonly T[], cost: (p: T) => number | null | undefined, value: (p: T) => number | null | undefined): number[] {
  const usable: { i: number; c: number; v: number }[] = [];
  points.forEach((p, i) => {
    const c = cost(p);
    const v = value(p);
    if (typeof c === 'number' && typeof v === 'number' && Number.isFinite(c) && Number.isFinite(v)) usable.push({ i, c, v });
  });
  // Sort by cost ascending, value descending: a point is dominated exactly when an
  // earlier point has value ≥ its own with one of the two strict.
  usable.sort((a, b) => a.c - b.c || b.v - a.v || a.i - b.i);
  const frontier: number[] = [];
  let bestValue = -Infinity;
  let bestCost = Infinity;
  for (const p of usable) {
    if (p.v > bestValue || (p.v === bestValue && p.c === bestCost)) {
      frontier.push(p.i);
      if (p.v > bestValue) {
        bestValue = p.v;
        bestCost = p.c;
      }
    }
  }
  return frontier;
}

/** Whether point a dominates point b (≤ cost, ≥ value, one strict). */
export function dominates(a: { cost: number; value: number }, b: { cost: number; value: number }): boolean {
  return a.cost <= b.cost && a.value >= b.value && (a.cost < b.cost || a.value > b.value);
}
