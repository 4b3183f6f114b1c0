import type { ModelChange } from '../compress/types';
import type { AtomicFileSet } from '../io/atomicWrite';
import type { FormatId, ModelDoc } from '../model';

/**
 * One per writable format folder: turns a format-neutral ModelChange into files
 * that format's stock runtime loads. Writers never touch the source files; all
 * output goes through the AtomicFileSet so it appears complete or not at all.
 */
export interface FormatWriter {
  formats: readonly FormatId[];
  /** The main output file for a model compressed as `tag` (e.g. model.json → model.prune-50.json). */
  outputName(doc: ModelDoc, tag: string): string;
  /** What this format cannot store for this change, each with the reason (empty when writable). */
  check(doc: ModelDoc, change: ModelChange): string[];
  write(doc: ModelDoc, change: ModelChange, out: string, files: AtomicFileSet): Promise<void>;
}

const loaders: Partial<Record<FormatId, () => Promise<FormatWriter>>> = {
  'tfjs-layers': async () => (await import('./tfjs/write')).tfjsWriter,
  'tfjs-graph': async () => (await import('./tfjs/write')).tfjsWriter,
  'tfjs-weights': async () => (await import('./tfjs/write')).tfjsWriter,
  onnx: async () => (await import('./onnx/write')).onnxWriter,
  safetensors: async () => (await import('./safetensors/write')).safetensorsWriter,
};

export const WRITABLE_FORMATS = Object.keys(loaders) as FormatId[];

export async function writerFor(format: FormatId): Promise<FormatWriter | undefined> {
  return loaders[format]?.();
}
