import { ModelFormatError } from '../../errors';
import type { FormatId, ModelDoc } from '../../model';
import type { BackendPreference } from '../../runtime/tfjs';
import type { Runner } from './types';

export type { Runner } from './types';

/**
 * Which runtime runs each format. Formats without one are not an error:
 * evaluation then reports their sizes with null metrics.
 */
export function runnableReason(format: FormatId): string | null {
  switch (format) {
    case 'tfjs-layers':
    case 'tfjs-graph':
    case 'onnx':
      return null;
    case 'tfjs-weights':
      return 'a TF.js weights manifest has no model topology, so it cannot be run; only sizes are reported';
    case 'safetensors':
      return 'safetensors files hold weights only, with no graph to run; only sizes are reported';
    case 'gguf':
      return 'GGUF models have no runtime in Parsimony; only sizes are reported';
    case 'tflite':
      return 'TFLite models have no runtime in Parsimony; only sizes are reported';
    case 'pytorch':
      return 'PyTorch checkpoints are never executed (they hold pickled code); only sizes are reported';
    case 'keras':
      return 'Keras models cannot be run yet (conversion to a TF.js layers model is not implemented)';
  }
}

export function kerasNotRunnable(file: string): ModelFormatError {
  return new ModelFormatError(
    'unsupported-format',
    'Keras .keras/.h5 models cannot be evaluated yet (they are run through conversion to a TF.js layers model, which is not implemented); only their size is reported (parsimony analyze)',
    { file },
  );
}

/** Keras files by name: refused before opening them (reading HDF5 is slow, and the answer is no anyway). */
export function looksLikeKeras(file: string): boolean {
  return /\.(keras|h5|hdf5)$/i.test(file);
}

/** Loads the model in its runtime; null (with the reason) for formats that have none. Keras is an error. */
export async function openRunner(doc: ModelDoc, backend: BackendPreference = 'auto'): Promise<Runner | null> {
  if (doc.format === 'keras') throw kerasNotRunnable(doc.file);
  if (doc.format === 'tfjs-layers' || doc.format === 'tfjs-graph') {
    const { openTfjsRunner } = await import('./tfjs');
    return openTfjsRunner(doc, backend);
  }
  if (doc.format === 'onnx') {
    const { openOnnxRunner } = await import('./onnx');
    return openOnnxRunner(doc);
  }
  return null;
}
