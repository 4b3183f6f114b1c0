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
  /** Why a user-chosen output path cannot be written by this format (e.g. a name for a file kind it does not write), or null. */
  outputProblem?(doc: ModelDoc, out: string): string | null;
  /**
   * What the change's architecture edits would do, worked out as write() would
   * but without reading or writing weights: the new shape of every tensor they
   * slice, and for each layer losing units, the layers its units flow through on
   * the way to their consumer. Lets hints state exactly what a removal saves.
   */
  planArchitecture?(doc: ModelDoc, change: ModelChange): ArchitecturePlan;
}

export interface ArchitecturePlan {
  /** As check(): empty when every edit can be written. */
  problems: string[];
  /** Tensor name → shape after the edits, for tensors whose shape changes. */
  shapes: Map<string, number[]>;
  /** Layer losing units → the channel-preserving layers it feeds (in order) and the consumer whose inputs shrink. */
  paths: Map<string, { through: string[]; consumer: string }>;
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
