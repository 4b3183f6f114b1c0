import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { registerWasmKernels } from './kernels';

/**
 * Loads TF.js on first use and picks the fastest backend available here:
 * tfjs-node (native TensorFlow) when it is installed, otherwise the wasm backend
 * (XNNPACK, SIMD) with the cpu backend as the fallback for kernels wasm lacks.
 * Nothing here runs at import time.
 */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type Tf = typeof import('@tensorflow/tfjs');

export interface TfRuntime {
  tf: Tf;
  /** The backend in use: 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  backend: string;
  /** Why this backend: shown next to timings so numbers are never ambiguous. */
  reason: string;
}

const localRequire = createRequire(__filename);
let loading: Promise<TfRuntime> | undefined;
let loadedPreference: BackendPreference | undefined;

export function hasTfjsNode(): boolean {
  try {
    localRequire.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/** The .wasm binaries: beside the bundle (dist/wasm, copied by esbuild.mjs) or in node_modules when run from source. */
function wasmDirectory(): string {
  const bundled = path.join(__dirname, 'wasm');
  if (existsSync(path.join(bundled, 'tfjs-backend-wasm.wasm'))) return bundled;
  return path.dirname(localRequire.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}

export function loadTf(preference: BackendPreference = 'auto'): Promise<TfRuntime> {
  if (loading && loadedPreference === preference) return loading.then(reselect);
  loadedPreference = preference;
  loading = initialise(preference);
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** TF.js has one global backend: if other code switched it since, switch back to the one this runtime chose. */
async function reselect(rt: TfRuntime): Promise<TfRuntime> {
  if (rt.tf.getBackend() !== rt.backend) {
    await rt.tf.setBackend(rt.backend);
    await rt.tf.ready();
  }
  return rt;
}

async function initialise(preference: BackendPreference): Promise<TfRuntime> {
  if ((preference === 'auto' || preference === 'tensorflow') && hasTfjsNode()) {
    try {
      const tf = localRequire('@tensorflow/tfjs-node') as Tf;
      await tf.setBackend('tensorflow');
      await tf.ready();
      return { tf, backend: 'tensorflow', reason: '@tensorflow/tfjs-node is installed' };
    } catch (e) {
      if (preference === 'tensorflow') throw e;
    }
  }
  // Plain require with a literal: esbuild bundles TF.js into the CLI (it is evaluated here, on first use).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as Tf;
  // PROD silences TF.js's console advice to install tfjs-node (we already chose the
  // backend deliberately) and skips debug-only checks.
  tf.env().set('PROD', true);
  if (preference === 'cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    return { tf, backend: 'cpu', reason: 'cpu backend requested' };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmDirectory() + path.sep);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      // Gradient kernels wasm lacks and fast paths for slow stock ones (src/core/runtime/kernels).
      registerWasmKernels(tf);
      return {
        tf,
        backend: 'wasm',
        reason: preference === 'wasm' ? 'wasm backend requested' : '@tensorflow/tfjs-node is not installed; wasm (XNNPACK) is the fastest available',
      };
    }
  } catch (e) {
    if (preference === 'wasm') throw e;
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { tf, backend: 'cpu', reason: 'the wasm backend could not start here' };
}
