/**
 * Runs at most `limit` jobs at once, first come first served. A workspace with a
 * thousand model files asks for a thousand analyses at once when the Models view
 * opens; parsing them all concurrently would hold every file's bytes in memory
 * and leave the extension host no turn. Each job starts on a fresh macrotask,
 * so the host's other work (hovers, commands, UI messages) gets in between.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Most jobs ever running at once, and jobs started (for tests and logs). */
  peak = 0;
  started = 0;

  constructor(private readonly limit: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.started++;
      this.peak = Math.max(this.peak, this.running);
      return await job();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next job (running stays the same).
      if (next) next();
      else this.running--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
