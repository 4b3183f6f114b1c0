/**
 * The worker thread that makes every h5wasm call (bundled as dist/hdf5Worker.js,
 * started by hdf5Thread.ts). On some corrupt files the HDF5 C library loops
 * forever inside one synchronous call; here that blocks only this thread, which
 * the caller stops when its time limit passes. Results go back as plain data.
 */
import { parentPort } from 'node:worker_threads';
import { isModelFormatError, type ModelErrorCode } from '../../errors';
import { loadHdf5, readDatasetValues, scanHdf5Tree, withHdf5File, type H5Scan } from './hdf5';

export type Hdf5Request =
  | { id: number; op: 'scan'; file: string; display: string; maxDepth: number }
  | { id: number; op: 'read'; file: string; display: string; dataset: string };

export type Hdf5Reply =
  | { id: number; ok: true; scan: H5Scan }
  | { id: number; ok: true; values: Float32Array }
  | { id: number; ok: false; error: { code?: ModelErrorCode; message: string; file?: string; offset?: number } };

/** Sent once h5wasm is loaded: the caller's time limit covers reading, not start-up. */
export interface Hdf5Ready {
  ready: true;
}

async function handle(req: Hdf5Request): Promise<void> {
  const port = parentPort!;
  let reply: Hdf5Reply;
  const transfer: ArrayBuffer[] = [];
  try {
    if (req.op === 'scan') {
      reply = { id: req.id, ok: true, scan: await withHdf5File(req.file, (f) => scanHdf5Tree(f, req.maxDepth), req.display) };
    } else {
      const values = await withHdf5File(req.file, (f) => readDatasetValues(f, req.dataset), req.display);
      // Hand over the buffer instead of copying it, unless the array is a view into a larger one.
      if (values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer) transfer.push(values.buffer);
      reply = { id: req.id, ok: true, values };
    }
  } catch (e) {
    reply = { id: req.id, ok: false, error: describe(e) };
  }
  try {
    port.postMessage(reply, transfer);
  } catch (e) {
    // An attribute value that structured clone refuses (a DataCloneError).
    port.postMessage({ id: req.id, ok: false, error: { code: 'not-a-model', message: `HDF5 metadata could not be passed on (${e instanceof Error ? e.message : String(e)})` } } satisfies Hdf5Reply);
  }
}

function describe(e: unknown): Extract<Hdf5Reply, { ok: false }>['error'] {
  if (isModelFormatError(e)) return { code: e.code, message: e.message, ...(e.file !== undefined ? { file: e.file } : {}), ...(e.offset !== undefined ? { offset: e.offset } : {}) };
  return { message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (req: Hdf5Request) => void handle(req));
  // A failure to load h5wasm is left unhandled: it ends the worker, and the caller reports it.
  void loadHdf5().then(() => port.postMessage({ ready: true } satisfies Hdf5Ready));
}
