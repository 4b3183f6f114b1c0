/**
 * Runs fuzz cases inside a worker thread: open the model, summarize it, read a
 * few tensors, and check that the result is a sound ModelDoc. Reports one
 * outcome per case; the parent enforces the time and memory limits.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { summarize } from '../../src/core/analysis/summary';
import { isModelFormatError, type ModelErrorCode } from '../../src/core/errors';
import { loadFormats, openModel } from '../../src/core/formats/registry';
import { DEFAULT_LIMITS } from '../../src/core/formats/format';
import { nodeFileAccess } from '../../src/core/io/fileAccess';
import { FORMAT_IDS, type ModelDoc } from '../../src/core/model';
import type { CaseOutcome, CaseRequest } from './protocol';

const CODES = new Set<ModelErrorCode>(['truncated', 'bad-magic', 'unsupported-version', 'unsupported-dtype', 'not-a-model', 'unsupported-format', 'unsafe', 'too-large', 'not-found', 'invalid-option']);
/** The registry turns a reader's RangeError/TypeError into this; for the fuzzer it is still a reader bug. */
const MASKED = /^could not be read \(/;
/**
 * Tighter than the defaults so the memory bound means something: a 10 KB file
 * may make a reader hold its metadata (up to these sizes), never more. The HDF5
 * time limit is below the case's own (2 s), so a corrupt .h5 that makes the HDF5
 * library loop must end in the reader's coded error, not in a fuzz timeout.
 */
const FUZZ_LIMITS = { maxMetadataBytes: 32 << 20, maxZipEntryBytes: 32 << 20, hdf5TimeoutMs: 1000 };

function memoryMb(): number {
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / (1 << 20);
}

async function runCase(req: CaseRequest): Promise<CaseOutcome> {
  const baseline = memoryMb();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memoryMb());
  }, 5);
  const t0 = performance.now();
  let phase: CaseOutcome['phase'] = 'open';
  const done = (o: Omit<CaseOutcome, 'id' | 'ms' | 'peakMb' | 'phase'>): CaseOutcome => {
    clearInterval(sampler);
    peak = Math.max(peak, memoryMb());
    return { id: req.id, ms: performance.now() - t0, peakMb: peak - baseline, phase, ...o };
  };
  try {
    const doc = await openModel(req.file, { limits: FUZZ_LIMITS });
    phase = 'summarize';
    const summary = await summarize(doc);
    phase = 'validate';
    const problems = validate(doc, summary);
    JSON.stringify(summary);
    if (problems.length) return done({ kind: 'invalid', message: problems.slice(0, 5).join('; ') });
    phase = 'read';
    let reads = 0;
    for (const layer of doc.layers) {
      for (const t of layer.tensors) {
        if (!t.read || t.count > req.maxReadElements || reads >= req.maxReads) continue;
        reads++;
        try {
          const v = await t.read();
          if (!(v instanceof Float32Array)) return done({ kind: 'invalid', message: `tensor '${t.name}' read() gave ${Object.prototype.toString.call(v)}` });
          if (v.length !== t.count) return done({ kind: 'invalid', message: `tensor '${t.name}' read() gave ${v.length} values, count is ${t.count}` });
        } catch (e) {
          if (isModelFormatError(e) && CODES.has(e.code)) continue;
          return done({ kind: 'exception', message: `read() of '${t.name}': ${errorText(e)}`, stack: stackOf(e) });
        }
      }
    }
    phase = 'open';
    return done({ kind: 'ok', layers: doc.layers.length, format: doc.format, totalParams: summary.totalParams });
  } catch (e) {
    if (isModelFormatError(e)) {
      if (!CODES.has(e.code)) return done({ kind: 'invalid', message: `ModelFormatError with unknown code '${String(e.code)}': ${e.message}` });
      if (MASKED.test(e.message)) {
        const raw = await rawError(req.file);
        return done({ kind: 'exception', message: `masked as ${e.code}: ${e.message}`, stack: raw ? stackOf(raw) : undefined });
      }
      if (typeof e.message !== 'string' || e.message.length === 0) return done({ kind: 'invalid', message: `ModelFormatError '${e.code}' without a message` });
      return done({ kind: 'error', code: e.code, message: e.message.slice(0, 300) });
    }
    return done({ kind: 'exception', message: errorText(e), stack: stackOf(e) });
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 500) : String(e).slice(0, 500);
}

function stackOf(e: unknown): string | undefined {
  return e instanceof Error && e.stack ? e.stack.split('\n').slice(0, 14).map((l) => (l.length > 300 ? `${l.slice(0, 297)}…` : l)).join('\n') : undefined;
}

const isCount = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
const isIndex = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function validate(doc: ModelDoc, summary: Awaited<ReturnType<typeof summarize>>): string[] {
  const p: string[] = [];
  if (!FORMAT_IDS.includes(doc.format)) p.push(`unknown format '${String(doc.format)}'`);
  if (!Array.isArray(doc.files) || doc.files.length === 0 || !doc.files.every((f) => typeof f === 'string')) p.push('files is not a non-empty list of paths');
  if (!Array.isArray(doc.warnings) || !doc.warnings.every((w) => typeof w === 'string')) p.push('warnings are not strings');
  for (const [k, v] of Object.entries(doc.metadata ?? {})) if (typeof v !== 'string') p.push(`metadata '${k}' is ${typeof v}, not a string`);
  if (doc.inputShape != null && (!Array.isArray(doc.inputShape) || !doc.inputShape.every((d) => d === null || isIndex(d)))) p.push(`inputShape ${JSON.stringify(doc.inputShape)}`);
  for (const key of ['totalParams', 'bytesOnDisk', 'bytesInMemory'] as const) if (!isCount(summary[key])) p.push(`summary.${key} = ${String(summary[key])}`);
  if (summary.macs !== null && !isCount(summary.macs)) p.push(`summary.macs = ${String(summary.macs)}`);
  if (summary.trainableParams !== null && !isCount(summary.trainableParams)) p.push(`summary.trainableParams = ${String(summary.trainableParams)}`);
  const sizes = new Map<string, number>();
  const sizeOf = (f: string) => {
    if (!sizes.has(f)) {
      try {
        sizes.set(f, statSync(f).size);
      } catch {
        sizes.set(f, -1);
      }
    }
    return sizes.get(f)!;
  };
  for (const l of summary.layers) {
    if (typeof l.name !== 'string' || typeof l.type !== 'string') p.push('a layer without a string name/type');
    for (const key of ['params', 'bytes', 'memoryBytes', 'share'] as const) if (!isCount(l[key])) p.push(`layer '${l.name}'.${key} = ${String(l[key])}`);
    if (l.macs !== null && !isCount(l.macs)) p.push(`layer '${l.name}'.macs = ${String(l.macs)}`);
    if (l.outputShape !== null && (!Array.isArray(l.outputShape) || !l.outputShape.every((d) => d === null || isIndex(d)))) p.push(`layer '${l.name}' outputShape ${JSON.stringify(l.outputShape)}`);
  }
  for (const layer of doc.layers) {
    for (const t of layer.tensors) {
      if (typeof t.name !== 'string') p.push('a tensor without a string name');
      if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) p.push(`tensor '${t.name}' shape ${JSON.stringify(t.shape)}`);
      if (!isIndex(t.count)) p.push(`tensor '${t.name}' count ${t.count}`);
      if (!isCount(t.bytes) || !isCount(t.memoryBytes)) p.push(`tensor '${t.name}' bytes ${t.bytes}/${t.memoryBytes}`);
      const product = Array.isArray(t.shape) ? t.shape.reduce((a, b) => a * b, 1) : NaN;
      if (Number.isSafeInteger(product) && product !== t.count) p.push(`tensor '${t.name}' count ${t.count} but shape [${t.shape}] has ${product} elements`);
      if (t.location) {
        const { file, offset, length } = t.location;
        if (!isIndex(offset) || !isIndex(length)) p.push(`tensor '${t.name}' location ${offset}+${length}`);
        else {
          const size = sizeOf(file);
          if (size < 0) p.push(`tensor '${t.name}' located in missing file ${path.basename(file)}`);
          else if (offset + length > size) p.push(`tensor '${t.name}' location ${offset}+${length} past the end of ${path.basename(file)} (${size} bytes)`);
        }
      }
    }
  }
  return p;
}

/** Re-runs the matching readers directly to recover the exception the registry converted. */
async function rawError(file: string): Promise<Error | undefined> {
  const all = await loadFormats();
  const source = await nodeFileAccess.open(file);
  try {
    const head = await source.read(0, Math.min(4096, source.size));
    const probe = { path: file, name: path.basename(file).toLowerCase(), size: source.size, head };
    for (const f of all) {
      let matched = false;
      try {
        matched = f.match(probe);
      } catch {
        matched = false;
      }
      if (!matched) continue;
      try {
        await f.open({ ...probe, source, fs: nodeFileAccess, limits: { ...DEFAULT_LIMITS, ...FUZZ_LIMITS } });
      } catch (e) {
        if (!isModelFormatError(e)) return e instanceof Error ? e : new Error(String(e));
      }
    }
  } finally {
    await source.close();
  }
  return undefined;
}

async function main(): Promise<void> {
  const { warmup } = workerData as { warmup: string[] };
  await loadFormats();
  for (const f of warmup) {
    try {
      await openModel(f);
    } catch {
      // warming up only
    }
  }
  parentPort!.on('message', (req: CaseRequest) => {
    void runCase(req).then((o) => parentPort!.postMessage(o));
  });
  parentPort!.postMessage({ ready: true });
}

void main();
