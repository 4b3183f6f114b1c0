import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CancelledError, ModelFormatError } from '../errors';
import { openModel } from '../formats/registry';
import { writerFor, WRITABLE_FORMATS } from '../formats/writer';
import { AtomicFileSet, createMissingFolders, removeCreatedFolders, reserveFreeName, writeFileAtomic, type Reservation } from '../io/atomicWrite';
import { contentHash } from '../io/contentHash';
import { METHODS } from './methods';
import { sizeStats, type SizeStats } from './stats';
import type { CompressOptions, MethodId } from './types';

export interface CompressStep {
  method: MethodId;
  options: CompressOptions;
}

export interface CompressResult {
  output: string;
  files: string[];
  sidecar: string;
  method: string;
  steps: CompressStep[];
  options: CompressOptions;
  before: SizeStats;
  after: SizeStats;
  notes: string[];
  sourceHash: string;
}

export interface CompressRun {
  /** Explicit output path for the main file; default: next to the source, named for the method. */
  out?: string;
  onProgress?: (fraction: number, message: string) => void;
  isCancelled?: () => boolean;
}

/**
 * Runs one method or a chain (prune → cluster → huffman). Each step writes a
 * complete model (intermediate ones in a temp folder) and the next step reads
 * it back, so every step sees exactly what the format can store. The source is
 * only read; outputs appear atomically; a cancelled or failed run leaves nothing.
 */
export async function compressModel(file: string, steps: CompressStep[], run: CompressRun = {}): Promise<CompressResult> {
  if (steps.length === 0) throw new ModelFormatError('invalid-option', 'no compression method given');
  const source = path.resolve(file);
  const original = await openModel(source);
  const writer = await writerFor(original.format);
  if (!writer) {
    throw new ModelFormatError(
      'unsupported-format',
      `compressed ${original.format} models cannot be written yet (writable: ${WRITABLE_FORMATS.join(', ')})`,
      { file: source },
    );
  }
  for (const step of steps) {
    const method = METHODS[step.method];
    if (!method) throw new ModelFormatError('invalid-option', `unknown method '${step.method}' (methods: ${Object.keys(METHODS).join(', ')})`);
    const problems = method.validate(step.options, original.format);
    if (problems.length) throw new ModelFormatError('invalid-option', `${step.method}: ${problems.join('; ')}`, { file: source });
  }
  const outProblem = run.out ? writer.outputProblem?.(original, path.resolve(run.out)) : null;
  if (outProblem) throw new ModelFormatError('invalid-option', outProblem, { file: path.resolve(run.out!) });
  const checkCancelled = () => {
    if (run.isCancelled?.()) throw new CancelledError();
  };
  const sourceHash = await contentHash(original.files);
  const before = await sizeStats(original);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'parsimony-'));
  const notes: string[] = [];
  const tags: string[] = [];
  let current = original;
  let finalFiles: string[] = [];
  let output = '';
  // Holds the default output name from choosing it to the commit, so concurrent jobs pick distinct names.
  let reservation: Reservation | undefined;
  // Folders --out named that did not exist: created like `mkdir -p`, removed again if the run fails.
  let createdFolders: string[] = [];
  try {
    for (const [i, step] of steps.entries()) {
      checkCancelled();
      const method = METHODS[step.method];
      const span = 1 / steps.length;
      const change = await method.apply(current, step.options, (f, m) => {
        checkCancelled();
        run.onProgress?.((i + f * 0.9) * span, `${method.label}: ${m}`);
      });
      if (!step.options.layers?.length && change.architecture.length > 1) {
        // Without an explicit layer list, layers the format cannot rebuild (e.g. a residual
        // Add after a pruned conv) are left as they are instead of refusing the whole step.
        const kept = change.architecture.filter((edit) => {
          const reasons = writer.check(current, { ...change, tensors: [], architecture: [edit] });
          if (reasons.length) change.notes.push(`${edit.layer} left unchanged: ${reasons.join('; ')}`);
          return reasons.length === 0;
        });
        if (kept.length === 0) throw new ModelFormatError('invalid-option', `no layer can be changed: ${change.notes.slice(-3).join(' ')}`, { file: source });
        change.architecture = kept;
      }
      const refused = writer.check(current, change);
      if (refused.length) throw new ModelFormatError('invalid-option', refused.join('; '), { file: source });
      tags.push(change.method);
      const last = i === steps.length - 1;
      const tag = tags.join('.');
      const target = last
        ? run.out
          ? path.resolve(run.out)
          : (reservation = await reserveFreeName(writer.outputName(original, tag), (f) => [sidecarFor(f)])).file
        : path.join(tmp, `step${i}`, path.basename(writer.outputName(original, tag)));
      if (!last) await import('node:fs/promises').then((f) => f.mkdir(path.dirname(target), { recursive: true }));
      else if (run.out) createdFolders = await createMissingFolders(path.dirname(target));
      const files = new AtomicFileSet({ overwrite: !last, main: target });
      try {
        await writer.write(current, change, target, files);
        checkCancelled();
        await files.commit();
      } catch (e) {
        await files.abort();
        throw e;
      }
      // After the write: writers add notes on how they stored the change (e.g. re-quantized weights).
      notes.push(...change.notes);
      if (last) {
        finalFiles = files.files;
        output = target;
      }
      current = await openModel(target);
      run.onProgress?.((i + 1) * span, `${method.label}: written`);
    }
  } catch (e) {
    await Promise.all(finalFiles.map((f) => rm(f, { force: true })));
    await removeCreatedFolders(createdFolders);
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await reservation?.release();
  }
  try {
    const after = await sizeStats(current);
    const sidecar = sidecarFor(output);
    const options = steps.length === 1 ? steps[0]!.options : Object.assign({}, ...steps.map((s) => s.options));
    const result: CompressResult = { output, files: finalFiles, sidecar, method: steps.map((s) => s.method).join(','), steps, options, before, after, notes, sourceHash };
    await writeFileAtomic(
      sidecar,
      JSON.stringify({ tool: 'parsimony', source: source, sourceHash, created: new Date().toISOString(), ...stripForSidecar(result) }, null, 2) + '\n',
      false,
    );
    return result;
  } catch (e) {
    // A run that fails at the very end (sidecar taken, disk full) leaves nothing either.
    await Promise.all(finalFiles.map((f) => rm(f, { force: true })));
    await removeCreatedFolders(createdFolders);
    throw e;
  }
}

/** The JSON record written next to an output: model.int8.safetensors → model.int8.parsimony.json. */
function sidecarFor(output: string): string {
  return output.replace(/(\.[^./\\]+)$/, '') + '.parsimony.json';
}

function stripForSidecar(r: CompressResult): Record<string, unknown> {
  return { output: path.basename(r.output), files: r.files.map((f) => path.basename(f)), method: r.method, steps: r.steps, before: r.before, after: r.after, notes: r.notes };
}
