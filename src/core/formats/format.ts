import type { FileAccess, ByteSource } from '../io/fileAccess';
import type { FormatId, ModelDoc } from '../model';

/** What a reader may look at to decide whether a file is its format. */
export interface Probe {
  /** Absolute path. */
  path: string;
  /** Base name, lower-cased. */
  name: string;
  size: number;
  /** The first bytes of the file (up to 4 KiB). */
  head: Uint8Array;
}

export interface OpenContext extends Probe {
  source: ByteSource;
  fs: FileAccess;
  limits: ReadLimits;
}

export interface ReadLimits {
  /** Largest JSON/metadata block a reader may load into memory. */
  maxMetadataBytes: number;
  /** Largest uncompressed size accepted from one zip entry. */
  maxZipEntryBytes: number;
  /** Largest total element count of one tensor. */
  maxTensorElements: number;
  /** Deepest JSON/pickle/protobuf nesting accepted. */
  maxDepth: number;
  /**
   * Longest one HDF5 call (scanning a file's structure, reading one dataset) may
   * take before its worker thread is stopped: a corrupt file can make the HDF5
   * library loop forever. Dataset reads get extra time for their size.
   */
  hdf5TimeoutMs: number;
}

export const DEFAULT_LIMITS: ReadLimits = {
  maxMetadataBytes: 512 * 1024 * 1024,
  maxZipEntryBytes: 256 * 1024 * 1024,
  maxTensorElements: 2 ** 40,
  maxDepth: 200,
  hdf5TimeoutMs: 30_000,
};

/**
 * One per format folder. `match` is cheap and never throws; `open` reads
 * metadata only and throws ModelFormatError for bad input.
 */
export interface FormatFactory {
  /** The folder name: 'tfjs', 'keras', 'onnx', … */
  id: string;
  /** Format ids this factory can produce. */
  produces: readonly FormatId[];
  /** Human name used in messages: "ONNX", "TF.js". */
  label: string;
  /** Lower-case file name endings, e.g. '.onnx', 'model.json'. */
  extensions: readonly string[];
  match(probe: Probe): boolean;
  open(ctx: OpenContext): Promise<ModelDoc>;
}
