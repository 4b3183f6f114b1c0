/**
 * Typed, JSON-safe messages between the extension host and the Compression Lab
 * webview. Both sides validate what they receive with `parse*Message`; anything
 * unknown or malformed is dropped (and logged by the host).
 */

export interface LabModelHeader {
  file: string;
  name: string;
  format: string;
  params: number;
  trainableParams: number | null;
  bytesOnDisk: number;
  bytesGzip: number | null;
  bytesInMemory: number;
  macs: number | null;
  backend: string | null;
}

export interface LabLayer {
  name: string;
  type: string;
  params: number;
  bytes: number;
  macs: number | null;
  /** Parameters the best hint says could go (0 when none). */
  removable: number;
  hints: { kind: string; message: string; savingsParams: number; savingsBytes: number; error: number }[];
}

/** One stored run (a compression, an evaluation or a sweep point), as the Lab shows it. */
export interface LabRun {
  id: string;
  kind: 'original' | 'compress' | 'evaluate' | 'sweep' | 'early-exit';
  method: string;
  setting: string | null;
  options: Record<string, unknown>;
  output: string | null;
  params: number | null;
  nonzeroParams: number | null;
  bytesOnDisk: number | null;
  bytesGzip: number | null;
  macs: number | null;
  accuracy: number | null;
  agreement: number | null;
  latencyMs: number | null;
  sweepId: string | null;
  created: string;
  /** Early-exit curve points, when kind is early-exit. */
  curve?: { threshold: number; accuracy: number; averageMacs: number }[];
}

export interface LabLayerComparison {
  layer: string;
  a: { params: number; nonzero: number; dtype: string; distinct: number | null } | null;
  b: { params: number; nonzero: number; dtype: string; distinct: number | null } | null;
  /** Output SNR of B against A in dB (null: not measured, not in both, or identical). */
  outputSnrDb: number | null;
  /** True when the layer's outputs were equal on every sample; null when not measured. */
  outputIdentical: boolean | null;
}

export type HostToLab =
  | { type: 'init'; model: LabModelHeader; layers: LabLayer[]; runs: LabRun[]; methods: string[]; datasets: string[] }
  | { type: 'runs/update'; runs: LabRun[] }
  | { type: 'layers/update'; layers: LabLayer[] }
  | { type: 'job/progress'; jobId: string; fraction: number; message: string }
  | { type: 'job/done'; jobId: string; ok: boolean; message: string }
  | { type: 'compare/result'; a: string; b: string; rows: LabLayerComparison[]; snrData: { dataset: string; samples: number; shapeMismatch: string[] } | null }
  | { type: 'report/request' }
  | { type: 'error'; message: string };

export type LabToHost =
  | { type: 'ready' }
  | { type: 'layer/select'; layer: string }
  | { type: 'run/open'; runId: string }
  | { type: 'run/delete'; runId: string }
  | { type: 'run/rerun'; runId: string }
  | { type: 'run/saveRecipe'; runId: string }
  | { type: 'compare/request'; jobId: string; a: string; b: string }
  | { type: 'job/start'; jobId: string; job: 'compress' | 'evaluate' | 'sweep'; method: string; args: string[]; dataset: string | null }
  | { type: 'job/cancel'; jobId: string }
  | { type: 'report/export'; markdown: string; images: { name: string; dataUrl: string }[] };

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string' && v.length < 100_000;
const shortStr: Check = (v) => typeof v === 'string' && v.length > 0 && v.length < 512;
const strOrNull: Check = (v) => v === null || shortStr(v);
const strArray: Check = (v) => Array.isArray(v) && v.length < 64 && v.every((x) => typeof x === 'string' && x.length < 512);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const bool: Check = (v) => typeof v === 'boolean';
const oneOf = (...values: string[]): Check => (v) => typeof v === 'string' && values.includes(v);
const images: Check = (v) =>
  Array.isArray(v) &&
  v.length <= 16 &&
  v.every((x) => typeof x === 'object' && x !== null && shortStr((x as { name: unknown }).name) && /^[\w.-]+\.png$/.test((x as { name: string }).name) && typeof (x as { dataUrl: unknown }).dataUrl === 'string' && (x as { dataUrl: string }).dataUrl.startsWith('data:image/png;base64,') && (x as { dataUrl: string }).dataUrl.length < 20_000_000);

const labToHostShapes: Record<LabToHost['type'], Record<string, Check>> = {
  ready: {},
  'layer/select': { layer: shortStr },
  'run/open': { runId: shortStr },
  'run/delete': { runId: shortStr },
  'run/rerun': { runId: shortStr },
  'run/saveRecipe': { runId: shortStr },
  'compare/request': { jobId: shortStr, a: shortStr, b: shortStr },
  'job/start': { jobId: shortStr, job: oneOf('compress', 'evaluate', 'sweep'), method: shortStr, args: strArray, dataset: strOrNull },
  'job/cancel': { jobId: shortStr },
  'report/export': { markdown: str, images },
};

const hostToLabShapes: Record<HostToLab['type'], Record<string, Check>> = {
  init: { model: (v) => typeof v === 'object' && v !== null, layers: Array.isArray, runs: Array.isArray, methods: strArray, datasets: strArray },
  'runs/update': { runs: Array.isArray },
  'layers/update': { layers: Array.isArray },
  'job/progress': { jobId: shortStr, fraction: num, message: (v) => typeof v === 'string' },
  'job/done': { jobId: shortStr, ok: bool, message: (v) => typeof v === 'string' },
  'compare/result': {
    a: shortStr,
    b: shortStr,
    rows: Array.isArray,
    snrData: (v) => v === null || (typeof v === 'object' && shortStr((v as { dataset: unknown }).dataset) && num((v as { samples: unknown }).samples)),
  },
  'report/request': {},
  error: { message: (v) => typeof v === 'string' },
};

function validate<T extends { type: string }>(shapes: Record<string, Record<string, Check>>, message: unknown): T | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return undefined;
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(shapes, type)) return undefined;
  const shape = shapes[type]!;
  const keys = Object.keys(message);
  // Exactly the declared fields: extra keys are as suspicious as missing ones.
  if (keys.length !== Object.keys(shape).length + 1) return undefined;
  for (const [key, check] of Object.entries(shape)) {
    if (!check((message as Record<string, unknown>)[key])) return undefined;
  }
  return message as T;
}

/** A message from the webview, or undefined when it is unknown or malformed. */
export function parseLabToHost(message: unknown): LabToHost | undefined {
  return validate<LabToHost>(labToHostShapes, message);
}

/** A message from the host, or undefined when it is unknown or malformed. */
export function parseHostToLab(message: unknown): HostToLab | undefined {
  return validate<HostToLab>(hostToLabShapes, message);
}
