import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeCase, type FuzzCase } from './generate';
import { FuzzPool } from './pool';
import type { CaseOutcome } from './protocol';
import { FORMATS, ROOT, type FuzzFormat } from './seeds';

/**
 * The fuzz loop shared by `npm run test:fuzz` (thousands of cases) and the
 * unit test (a fixed-seed slice): generate each case, write it to a scratch
 * folder, run it in the pool, and sort outcomes into sound results, clean
 * ModelFormatErrors and crashes.
 */

export interface FuzzOptions {
  formats?: readonly FuzzFormat[];
  cases: number;
  seed: number;
  /** First case index (default 0). */
  start?: number;
  /** Run just these case indices. */
  only?: number[];
  timeoutMs?: number;
  workers?: number;
  memoryLimitMb?: number;
  maxOldGenerationSizeMb?: number;
  onCase?: (c: FuzzCase, outcome: CaseOutcome & { slowMs?: number }) => void;
  /** Run in this pool (left open) instead of a new one. */
  pool?: FuzzPool;
  onFormatDone?: (stats: FormatStats) => void;
}

export interface Crash {
  format: FuzzFormat;
  index: number;
  runSeed: number;
  seedName: string;
  main: string;
  mutations: string[];
  kind: CaseOutcome['kind'];
  phase?: string | undefined;
  message: string;
  stack?: string | undefined;
  output?: string | undefined;
  files: Map<string, Uint8Array>;
  /** Same signature = probably the same bug. */
  signature: string;
}

export interface FormatStats {
  format: FuzzFormat;
  cases: number;
  ok: number;
  errors: Record<string, number>;
  crashes: Crash[];
  slow: { index: number; ms: number }[];
  /** Cases the generator failed to build (fuzzer bugs, not reader bugs). */
  generatorErrors: { index: number; message: string }[];
  maxMs: number;
  totalMs: number;
  wallMs: number;
}

export const WARMUP = [
  'test/fixtures/generated/keras/keras2_mlp.h5',
  'test/fixtures/generated/keras/keras3_cnn_bn.keras',
  'test/fixtures/generated/onnx/mlp.onnx',
  'test/fixtures/generated/pytorch/shared_storage.pt',
  'test/fixtures/generated/tflite/full_int8.tflite',
  'test/fixtures/generated/gguf/aligned64.gguf',
  'test/fixtures/generated/safetensors/no_metadata.safetensors',
].map((f) => path.join(ROOT, f));

function scratchRoot(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return mkdtempSync(path.join(base, 'parsimony-fuzz-'));
}

export function signature(kind: string, message: string, stack?: string, seedName?: string): string {
  const frame = stack?.split('\n').find((l) => /\/src\//.test(l))?.replace(/^.*\/src\//, 'src/').replace(/[()]/g, '').trim();
  // Timeouts and heap exhaustion have no stack: tell them apart by the file they started from.
  if (!stack && seedName) return `${kind} | ${seedName} | ${message.replace(/\d+/g, 'N').slice(0, 60)}`;
  const msg = message.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N').slice(0, 90);
  return `${kind} | ${frame ?? '-'} | ${msg}`;
}

export function createPool(options: Pick<FuzzOptions, 'workers' | 'timeoutMs' | 'maxOldGenerationSizeMb' | 'memoryLimitMb'> = {}): FuzzPool {
  return new FuzzPool({
    size: options.workers ?? Math.max(1, Math.min(2, os.availableParallelism?.() ?? os.cpus().length)),
    timeoutMs: options.timeoutMs ?? 2000,
    maxOldGenerationSizeMb: options.maxOldGenerationSizeMb ?? 512,
    memoryLimitMb: options.memoryLimitMb ?? 256,
    warmup: WARMUP,
    maxReads: 8,
    maxReadElements: 1 << 18,
  });
}

export async function runFuzz(options: FuzzOptions): Promise<FormatStats[]> {
  const formats = options.formats ?? FORMATS;
  const pool = options.pool ?? createPool(options);
  const scratch = scratchRoot();
  const results: FormatStats[] = [];
  try {
    for (const format of formats) {
      const stats: FormatStats = { format, cases: 0, ok: 0, errors: {}, crashes: [], slow: [], generatorErrors: [], maxMs: 0, totalMs: 0, wallMs: 0 };
      const t0 = Date.now();
      const start = options.start ?? 0;
      const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => start + i);
      let next = 0;
      const lane = async () => {
        while (next < indices.length) {
          const index = indices[next++]!;
          let c: FuzzCase;
          try {
            c = makeCase(format, options.seed, index);
          } catch (e) {
            // A bug in the fuzzer itself: say so and carry on with the next case.
            stats.generatorErrors.push({ index, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
            continue;
          }
          const dir = path.join(scratch, `${format}-${index}`);
          mkdirSync(dir, { recursive: true });
          for (const [name, bytes] of c.files) writeFileSync(path.join(dir, name), bytes);
          const outcome = await pool.run(path.join(dir, c.main));
          rmSync(dir, { recursive: true, force: true });
          stats.cases++;
          stats.totalMs += outcome.ms;
          stats.maxMs = Math.max(stats.maxMs, outcome.ms);
          if (outcome.slowMs !== undefined) stats.slow.push({ index, ms: outcome.slowMs });
          if (outcome.kind === 'ok') stats.ok++;
          else if (outcome.kind === 'error') stats.errors[outcome.code!] = (stats.errors[outcome.code!] ?? 0) + 1;
          else {
            stats.crashes.push({
              format,
              index,
              runSeed: options.seed,
              seedName: c.seedName,
              main: c.main,
              mutations: c.mutations,
              kind: outcome.kind,
              phase: outcome.phase,
              message: outcome.message ?? '',
              stack: outcome.stack,
              output: outcome.output || undefined,
              files: c.files,
              signature: signature(outcome.kind, outcome.message ?? '', outcome.stack, c.seedName),
            });
          }
          options.onCase?.(c, outcome);
        }
      };
      await Promise.all(Array.from({ length: pool.options.size }, lane));
      stats.wallMs = Date.now() - t0;
      results.push(stats);
      options.onFormatDone?.(stats);
    }
  } finally {
    if (!options.pool) await pool.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  return results;
}

export function reproduceCommand(c: { format: string; runSeed: number; index: number }): string {
  return `npm run test:fuzz -- --format ${c.format} --seed ${c.runSeed} --case ${c.index}`;
}
