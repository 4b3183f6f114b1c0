import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ModelFormatError } from '../../errors';
import type { H5Scan } from './hdf5';
import type { Hdf5Ready, Hdf5Reply, Hdf5Request } from './hdf5Worker';

/**
 * Runs the HDF5 reads (hdf5Worker.ts) on one worker thread with a time limit.
 *
 * The HDF5 C library inside h5wasm loops forever on some corrupt files (a bad
 * global heap under a string attribute). A synchronous wasm loop cannot be
 * interrupted from its own thread, so the reads happen on a worker that is
 * terminated when a call overruns; the caller gets a ModelFormatError naming
 * the file and the next call starts a fresh worker. One worker is reused across
 * files (loading h5wasm costs a few hundred milliseconds) and stopped when idle.
 */

/** Heap of the worker: a scan of a million-object file fits; a blow-up ends the worker, not the process. */
const HEAP_LIMIT_MB = 512;
/** An idle worker is stopped after this long: it holds h5wasm's wasm memory. */
const IDLE_MS = 20_000;
/** Loading h5wasm (and, from TS sources, compiling them): not part of any file's time limit. */
const START_TIMEOUT_MS = 120_000;
/** A dataset read gets extra time for its size: 50 MB/s is a slow disk. */
const READ_BYTES_PER_MS = 50_000;

type Request = Hdf5Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type Success = Extract<Hdf5Reply, { ok: true }>;

/**
 * Where the worker's code is: beside the bundle (dist/hdf5Worker.js, built by
 * esbuild.mjs next to cli.js and extension.js), or the TS source when running
 * from sources through tsx (tests, scripts).
 */
function workerEntry(): string {
  const bundled = path.join(__dirname, 'hdf5Worker.js');
  if (existsSync(bundled)) return bundled;
  const source = path.join(__dirname, 'hdf5Worker.ts');
  if (existsSync(source)) return source;
  throw new Error(`the HDF5 reader's worker script is missing (expected ${bundled})`);
}

/** Node does not pass tsx's loader on to workers: a TS entry is started through tsx's require hook. */
const TSX_BOOT = `
const { workerData } = require('node:worker_threads');
require(require.resolve('tsx/cjs', { paths: [require('node:path').dirname(workerData.entry)] }));
require(workerData.entry);
`;

function spawn(): Worker {
  const entry = workerEntry();
  const options = { resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB }, workerData: { entry } };
  return entry.endsWith('.ts') ? new Worker(TSX_BOOT, { ...options, eval: true }) : new Worker(entry, options);
}

class Hdf5Thread {
  private worker: Worker | undefined;
  private started: Promise<Worker> | undefined;
  /** Calls run one at a time, so a time limit only ever blames its own call. */
  private tail: Promise<unknown> = Promise.resolve();
  private active = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 1;

  run(request: Request, timeoutMs: number): Promise<Success> {
    this.active++;
    this.hold();
    const turn = this.tail.then(() => this.send(request, timeoutMs));
    this.tail = turn.catch(() => undefined);
    return turn.finally(() => {
      this.active--;
      this.hold();
    });
  }

  /** Keeps the process alive only while a call waits (an idle worker must not hold the CLI open). */
  private hold(): void {
    clearTimeout(this.idleTimer);
    if (this.active > 0) {
      this.worker?.ref();
      return;
    }
    this.worker?.unref();
    const idle = this.worker;
    if (idle) this.idleTimer = setTimeout(() => void this.stop(idle), IDLE_MS).unref();
  }

  private start(): Promise<Worker> {
    if (this.started) return this.started;
    const w = spawn();
    this.worker = w;
    if (this.active === 0) w.unref();
    const started = new Promise<Worker>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the HDF5 reader did not start within ${START_TIMEOUT_MS / 1000} s`));
        void this.stop(w);
      }, START_TIMEOUT_MS).unref();
      w.on('message', (m: Hdf5Ready | Hdf5Reply) => {
        if ('ready' in m) {
          clearTimeout(timer);
          resolve(w);
        }
      });
      // Permanent listeners: a worker that dies is forgotten (the next call starts another).
      w.on('error', (e) => {
        clearTimeout(timer);
        this.forget(w);
        reject(new Error(`the HDF5 reader failed to start: ${e.message}`));
      });
      w.on('exit', (code) => {
        clearTimeout(timer);
        this.forget(w);
        reject(new Error(`the HDF5 reader exited with code ${code} while starting`));
      });
    });
    started.catch(() => undefined);
    this.started = started;
    return started;
  }

  private forget(w: Worker): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.started = undefined;
  }

  private async stop(w: Worker): Promise<void> {
    this.forget(w);
    await w.terminate();
  }

  private async send(request: Request, timeoutMs: number): Promise<Success> {
    const w = await this.start();
    const id = this.nextId++;
    return new Promise<Success>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        cleanup();
        void this.stop(w);
        // The next file should not wait for h5wasm to load again: start a replacement now.
        void this.start().catch(() => undefined);
        reject(new ModelFormatError('not-a-model', `the HDF5 library did not finish ${what(request)} within ${seconds(timeoutMs)} and was stopped (a corrupt file can make it loop forever)`, { file: request.display }));
      }, timeoutMs);
      const onMessage = (m: Hdf5Ready | Hdf5Reply) => {
        if ('ready' in m || m.id !== id) return;
        cleanup();
        if (m.ok) resolve(m);
        else if (m.error.code) reject(new ModelFormatError(m.error.code, m.error.message, { file: m.error.file ?? request.display, ...(m.error.offset !== undefined ? { offset: m.error.offset } : {}) }));
        // Not a ModelFormatError: a bug in the reader, reported as one.
        else reject(new Error(`HDF5 reader: ${m.error.message}`));
      };
      const onError = (e: Error & { code?: string }) => {
        cleanup();
        reject(
          e.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new ModelFormatError('too-large', `${what(request)} needed more than ${HEAP_LIMIT_MB} MB of memory; the HDF5 reader was stopped`, { file: request.display })
            : new ModelFormatError('not-a-model', `the HDF5 reader failed ${what(request)}: ${e.message}`, { file: request.display }),
        );
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new ModelFormatError('not-a-model', `the HDF5 reader stopped (exit code ${code}) ${what(request)}`, { file: request.display }));
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage({ ...request, id } as Hdf5Request);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    if (w) await this.stop(w);
  }
}

function what(request: Request): string {
  return request.op === 'scan' ? 'reading the file structure' : `reading dataset '${request.dataset}'`;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

const thread = new Hdf5Thread();

/** The groups, datasets and Keras attributes of a host HDF5 file. */
export async function scanHdf5(file: string, display: string, maxDepth: number, timeoutMs: number): Promise<H5Scan> {
  const reply = await thread.run({ op: 'scan', file, display, maxDepth }, timeoutMs);
  if (!('scan' in reply)) throw new Error('HDF5 reader: a scan answered without a scan');
  return reply.scan;
}

/** One dataset's values as float32; `bytes` (its stored size) extends the time limit. */
export async function readHdf5Dataset(file: string, display: string, dataset: string, bytes: number, timeoutMs: number): Promise<Float32Array> {
  const reply = await thread.run({ op: 'read', file, display, dataset }, timeoutMs + Math.ceil(bytes / READ_BYTES_PER_MS));
  if (!('values' in reply)) throw new Error('HDF5 reader: a read answered without values');
  return reply.values;
}

/** Stops the worker now (it would stop by itself when idle). */
export function stopHdf5Reader(): Promise<void> {
  return thread.close();
}
