/**
 * Shared plumbing for `npm run bench`: timing (warm-up, then the median of
 * several runs), result rows, the Python peer subprocess, temp folders.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const PEER_DIR = path.join(__dirname, 'peer');
export const PYTHON = '/usr/bin/python3';

export interface Timing {
  /** Seconds, one per measured run (warm-up runs excluded). */
  runs: number[];
  median: number;
  min: number;
}

export function timing(runs: number[]): Timing {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs, median, min: sorted[0]! };
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times measured (seconds each). */
export async function measure(fn: () => unknown, runs: number, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return timing(out);
}

/**
 * Times several functions in turn, a block of calls each, so that a busy
 * machine slows them alike (sub-millisecond calls against a peer). Each block
 * starts with one unmeasured call, which refills the caches the other side
 * evicted: what is timed is a function called again and again, as a user's
 * batches are. Warm-up: at least `warmupBlocks` blocks each, and more until
 * `warmupMs` has passed (V8 optimises a function only after many calls; a
 * peer's native code needs no such time). Returns `blocks × perBlock` timings per function.
 */
export async function measureInterleaved(fns: (() => unknown)[], blocks: number, perBlock: number, warmupBlocks = 1, warmupMs = 0): Promise<Timing[]> {
  const start = performance.now();
  for (let i = 0; i < warmupBlocks || performance.now() - start < warmupMs; i++) for (const fn of fns) for (let k = 0; k < perBlock; k++) await fn();
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < blocks; i++) {
    for (let j = 0; j < fns.length; j++) {
      // Rotate who goes first in a round.
      const f = (i + j) % fns.length;
      const fn = fns[f]!;
      await fn();
      for (let k = 0; k < perBlock; k++) {
        const t = process.hrtime.bigint();
        await fn();
        out[f]!.push(Number(process.hrtime.bigint() - t) / 1e9);
      }
    }
  }
  return out.map(timing);
}

export type Section = 'analysis' | 'kernels' | 'inference' | 'training' | 'editor' | 'hints';

/**
 * One line of the table. `ratio` is always a speed ratio, higher is better:
 * peer time / our time (for training: our samples/s / peer samples/s; for the
 * editor rows the "peer" is the time budget). `target` is the ratio to reach.
 */
export interface Row {
  section: Section;
  case: string;
  ours: Timing | null;
  oursLabel?: string;
  peerName: string;
  peer: Timing | null;
  peerLabel?: string;
  /** Unit of ours/peer medians as printed: seconds unless set. */
  unit?: 's' | 'samples/s';
  ratio: number | null;
  /** The same ratio from the fastest runs (min/min): less sensitive to a busy machine. */
  ratioBest?: number | null;
  target: number;
  note?: string;
}

export function ratioOf(ours: Timing | null, peer: Timing | null): number | null {
  if (!ours || !peer || ours.median <= 0) return null;
  return peer.median / ours.median;
}

export function formatSeconds(s: number): string {
  if (s >= 10) return `${s.toFixed(1)} s`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 0.01) return `${(s * 1000).toFixed(0)} ms`;
  if (s >= 0.001) return `${(s * 1000).toFixed(1)} ms`;
  return `${(s * 1000).toFixed(2)} ms`;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `parsimony-bench-${label}-`));
}

export interface PythonCheck {
  ok: boolean;
  version?: string;
  missing?: string;
}

const INSTALL_HINT = 'peer missing: apt-get install python3-numpy python3-torch';

/** Whether /usr/bin/python3 can import `modules`; the row note to print when not. */
export function checkPython(modules: string[]): PythonCheck {
  if (!fs.existsSync(PYTHON)) return { ok: false, missing: `${INSTALL_HINT} (no ${PYTHON})` };
  const r = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}; import sys; print(sys.version.split()[0])`], { encoding: 'utf8' });
  if (r.status !== 0) {
    const missing = /No module named '([^']+)'/.exec(r.stderr)?.[1] ?? modules.join(', ');
    const pkg = missing === 'onnx' ? 'apt-get install python3-onnx' : INSTALL_HINT;
    return { ok: false, missing: `peer missing (${missing}): ${pkg.replace(/^peer missing: /, '')}` };
  }
  return { ok: true, version: r.stdout.trim() };
}

/**
 * The environment the bench was started with: the bench relaunches itself with
 * glibc.malloc.hugetlb=1 (as Parsimony's CLI does) and remembers what the
 * variable was before in PARSIMONY_BENCH_GLIBC_TUNABLES.
 */
export function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const before = env[ORIGINAL_TUNABLES];
  delete env[ORIGINAL_TUNABLES];
  if (before === undefined) return env;
  if (before === '') delete env.GLIBC_TUNABLES;
  else env.GLIBC_TUNABLES = before;
  return env;
}

const ORIGINAL_TUNABLES = 'PARSIMONY_BENCH_GLIBC_TUNABLES';

/**
 * Runs a peer script with /usr/bin/python3 and parses the JSON it prints last.
 * `env` replaces variables; a value of null removes the variable.
 */
export function runPython<T>(script: string, args: string[], env: Record<string, string | null> = {}, timeoutMs = 300_000): T {
  // As the user would start the peer: without the huge-pages tunable the bench itself was relaunched with.
  const childEnv: NodeJS.ProcessEnv = peerEnv();
  for (const [k, v] of Object.entries(env)) {
    if (v === null) delete childEnv[k];
    else childEnv[k] = v;
  }
  const r = spawnSync(PYTHON, [path.join(PEER_DIR, script), ...args], { encoding: 'utf8', env: childEnv, timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/** Deterministic float32 values, standard normal (Box–Muller over mulberry32). */
export function gaussian(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function writeFloat32(file: string, values: Float32Array | Uint8Array): void {
  fs.writeFileSync(file, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
