import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CaseOutcome, CaseRequest } from './protocol';

/**
 * Worker threads that run fuzz cases with a wall-clock limit and a heap limit.
 * A case that hangs is stopped by terminating its worker; one that exhausts
 * the heap kills only its worker. Either way the slot starts a fresh worker
 * and the case is reported, so a bad input can't take the fuzzer down with it.
 */

export interface PoolOptions {
  size: number;
  timeoutMs: number;
  /** Heap limit of each worker (resourceLimits.maxOldGenerationSizeMb). */
  maxOldGenerationSizeMb: number;
  /** A case whose heap + ArrayBuffers grow by more than this is reported. */
  memoryLimitMb: number;
  /** Files opened once when a worker starts (loads h5wasm and the readers). */
  warmup: string[];
  maxReads: number;
  maxReadElements: number;
  /** How long a new worker may take to load before the pool gives up. */
  startTimeoutMs?: number;
}

const BOOT = path.join(__dirname, 'workerBoot.mjs');
const ENTRY = path.join(__dirname, 'worker.ts');

class Slot {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private pending: { id: number; worker: Worker; resolve: (o: CaseOutcome) => void } | undefined;
  private output = '';

  constructor(private readonly options: PoolOptions) {}

  private start(): Promise<void> {
    const w = new Worker(BOOT, {
      workerData: { entry: ENTRY, warmup: this.options.warmup },
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxOldGenerationSizeMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
      execArgv: [],
    });
    this.worker = w;
    // Readers must not print; keep what they do print to show with a crash.
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-2000);
    };
    w.stdout.on('data', keep);
    w.stderr.on('data', keep);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('fuzz worker did not start in time'));
        void w.terminate();
      }, this.options.startTimeoutMs ?? 300_000);
      w.on('message', (m: CaseOutcome | { ready: true }) => {
        if ('ready' in m) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const p = this.pending;
        if (p && p.worker === w && p.id === m.id) {
          this.pending = undefined;
          p.resolve(m);
        }
      });
      // An 'error' event means the worker is gone (uncaught exception, unhandled rejection, heap exhausted).
      w.on('error', (e: Error & { code?: string }) => {
        clearTimeout(timer);
        if (this.worker === w) this.worker = undefined;
        reject(e);
        this.fail(w, e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'exception', `worker died: ${e.name}: ${e.message}`, e.stack);
      });
      w.on('exit', (code) => {
        clearTimeout(timer);
        if (this.worker === w) this.worker = undefined;
        reject(new Error(`fuzz worker exited with code ${code} while starting`));
        this.fail(w, 'exit', `worker exited with code ${code}`);
      });
    });
    this.ready.catch(() => undefined);
    return this.ready;
  }

  private fail(w: Worker, kind: CaseOutcome['kind'], message: string, stack?: string): void {
    const p = this.pending;
    if (!p || p.worker !== w) return;
    this.pending = undefined;
    p.resolve({ id: p.id, kind, message, stack, ms: 0, peakMb: 0 });
  }

  async run(req: Omit<CaseRequest, 'maxReads' | 'maxReadElements'>, timeoutMs: number): Promise<CaseOutcome & { output: string }> {
    if (!this.worker) await this.start();
    else await this.ready;
    const w = this.worker;
    if (!w) throw new Error('fuzz worker failed to start');
    this.output = '';
    const outcome = await new Promise<CaseOutcome>((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.id !== req.id) return;
        this.pending = undefined;
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
        resolve({ id: req.id, kind: 'timeout', message: `no answer within ${timeoutMs} ms`, ms: timeoutMs, peakMb: 0 });
      }, timeoutMs);
      this.pending = {
        id: req.id,
        worker: w,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      };
      w.postMessage({ ...req, maxReads: this.options.maxReads, maxReadElements: this.options.maxReadElements } satisfies CaseRequest);
    });
    if ((outcome.kind === 'ok' || outcome.kind === 'error') && outcome.peakMb > this.options.memoryLimitMb) {
      return {
        ...outcome,
        kind: 'memory',
        message: `used ${outcome.peakMb.toFixed(0)} MB (limit ${this.options.memoryLimitMb} MB); ended as ${outcome.kind}${outcome.code ? ` '${outcome.code}'` : ''}`,
        output: this.output,
      };
    }
    return { ...outcome, output: this.output };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await Promise.race([w.terminate(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
  }
}

export class FuzzPool {
  private readonly slots: Slot[];
  private readonly idle: Slot[];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private nextId = 1;

  constructor(readonly options: PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, options.size) }, () => new Slot(options));
    this.idle = [...this.slots];
  }

  private async acquire(): Promise<Slot> {
    const s = this.idle.pop();
    if (s) return s;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: Slot): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  /** Runs one case; a timeout is retried once with five times the limit before it counts. */
  async run(file: string): Promise<CaseOutcome & { output: string; slowMs?: number }> {
    const slot = await this.acquire();
    try {
      const first = await slot.run({ id: this.nextId++, file }, this.options.timeoutMs);
      if (first.kind !== 'timeout') return first;
      // The machine may just be busy: confirm with a fresh worker and a longer limit.
      const second = await slot.run({ id: this.nextId++, file }, this.options.timeoutMs * 5);
      if (second.kind === 'timeout') return { ...second, message: `no answer within ${this.options.timeoutMs} ms, nor on a retry within ${this.options.timeoutMs * 5} ms` };
      return { ...second, slowMs: second.ms };
    } finally {
      this.release(slot);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.close()));
  }
}
