import * as path from 'node:path';
import { ModelFormatError, isModelFormatError } from '../errors';
import { hex } from '../io/binaryReader';
import { nodeFileAccess, type FileAccess } from '../io/fileAccess';
import type { ModelDoc } from '../model';
import { DEFAULT_LIMITS, type FormatFactory, type Probe, type ReadLimits } from './format';

const HEAD_BYTES = 4096;

/**
 * Format modules are loaded on first use, not at activation: the registry holds
 * loaders, and the modules are imported the first time a model is opened.
 */
const loaders: readonly (() => Promise<FormatFactory>)[] = [
  async () => (await import('./tfjs')).tfjs,
  async () => (await import('./keras')).keras,
  async () => (await import('./onnx')).onnx,
  async () => (await import('./safetensors')).safetensors,
  async () => (await import('./tflite')).tflite,
  async () => (await import('./gguf')).gguf,
  async () => (await import('./pytorch')).pytorch,
];

let factories: Promise<FormatFactory[]> | undefined;
export function loadFormats(): Promise<FormatFactory[]> {
  factories ??= Promise.all(loaders.map((load) => load()));
  return factories;
}

/** File names Parsimony treats as models (used by the workspace scan and menus). */
export const MODEL_FILE_PATTERN =
  /(^model\.json$|\.(onnx|safetensors|h5|hdf5|keras|tflite|gguf|pt|pth)$|^pytorch_model\.bin$|\.safetensors\.index\.json$)/i;

export function looksLikeModelFile(file: string): boolean {
  return MODEL_FILE_PATTERN.test(path.basename(file));
}

export interface OpenOptions {
  fs?: FileAccess;
  limits?: Partial<ReadLimits>;
}

/** Opens any supported model file; bad input ends in a ModelFormatError naming the file. */
export async function openModel(file: string, options: OpenOptions = {}): Promise<ModelDoc> {
  const fs = options.fs ?? nodeFileAccess;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const absolute = path.resolve(file);
  let source;
  try {
    source = await fs.open(absolute);
  } catch (e) {
    throw withFile(e, absolute);
  }
  try {
    // Blocking when the source offers it: 4 KiB from the page cache, where a thread-pool round trip costs more than the read.
    const head = new Uint8Array(Math.min(HEAD_BYTES, source.size));
    if (source.readIntoSync) source.readIntoSync(0, head);
    else head.set(await source.read(0, head.length));
    const probe: Probe = { path: absolute, name: path.basename(absolute).toLowerCase(), size: source.size, head };
    if (source.size === 0) {
      throw new ModelFormatError('truncated', 'the file is empty', { file: absolute });
    }
    const all = await loadFormats();
    const matched = all.filter((f) => safeMatch(f, probe));
    // Prefer readers whose extension fits the name; fall back to any that recognise the bytes.
    matched.sort((a, b) => Number(extensionFits(b, probe.name)) - Number(extensionFits(a, probe.name)));
    if (matched.length === 0) throw unsupported(probe, all);
    const failures: ModelFormatError[] = [];
    for (const factory of matched) {
      try {
        const doc = await factory.open({ ...probe, source, fs, limits });
        return doc;
      } catch (e) {
        if (!isModelFormatError(e)) throw withFile(e, absolute);
        failures.push(e);
      }
    }
    throw withFile(failures[0]!, absolute, head);
  } finally {
    await source.close();
  }
}

function safeMatch(factory: FormatFactory, probe: Probe): boolean {
  try {
    return factory.match(probe);
  } catch {
    return false;
  }
}

function extensionFits(factory: FormatFactory, name: string): boolean {
  return factory.extensions.some((ext) => name.endsWith(ext));
}

function withFile(e: unknown, file: string, head?: Uint8Array): Error {
  if (isModelFormatError(e)) {
    // Errors are reported against the file the user opened; a problem in a sibling
    // (shard, external data) keeps that sibling's name in the message.
    if (e.file && path.resolve(e.file) !== file) {
      const sibling = path.basename(e.file);
      if (!e.message.includes(sibling)) e.message = `${e.message} (in ${sibling})`;
      e.file = file;
    }
    e.file ??= file;
    if (head && !e.headHex) e.headHex = hex(head);
    return e;
  }
  // A reader bug or an unexpected runtime error: say which file, keep the stack.
  const err = e instanceof Error ? e : new Error(String(e));
  if (err instanceof RangeError || err instanceof TypeError) {
    return new ModelFormatError('not-a-model', `could not be read (${err.message})`, { file });
  }
  return err;
}

/** Explains what a file that no reader accepts looks like (netron's `_unsupported`). */
function unsupported(probe: Probe, all: FormatFactory[]): ModelFormatError {
  const what = describeBytes(probe.head);
  const byExtension = all.find((f) => extensionFits(f, probe.name));
  const message = byExtension
    ? `not a valid ${byExtension.label} file: it looks like ${what}`
    : `not a supported model format (looks like ${what}); Parsimony reads ${all.map((f) => f.label).join(', ')}`;
  return new ModelFormatError(byExtension ? 'bad-magic' : 'unsupported-format', message, {
    file: probe.path,
    headHex: hex(probe.head),
  });
}

export function describeBytes(head: Uint8Array): string {
  if (head.length === 0) return 'an empty file';
  const text = new TextDecoder().decode(head.subarray(0, 64)).trimStart();
  if (text.startsWith('{') || text.startsWith('[')) return 'JSON text';
  if (text.startsWith('<')) return 'XML or HTML text';
  if (head[0] === 0x50 && head[1] === 0x4b) return 'a zip archive';
  if (head[0] === 0x89 && head[1] === 0x48 && head[2] === 0x44 && head[3] === 0x46) return 'an HDF5 file';
  if (head[0] === 0x80 && head[1]! <= 5) return 'a Python pickle';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip data';
  let printable = 0;
  const n = Math.min(head.length, 256);
  for (let i = 0; i < n; i++) {
    const c = head[i]!;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127)) printable++;
  }
  if (printable / n > 0.95) return 'plain text';
  return `binary data starting ${hex(head, 8)}`;
}
