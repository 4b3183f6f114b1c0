import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import { nodeFileAccess } from '../../io/fileAccess';
import { labelValue } from './labels';
import { DEFAULT_MAX_DATA_BYTES, type Dataset, type DatasetOptions } from './types';

/**
 * JSON datasets, in either layout:
 *   [{"x": [...], "y": 3}, …]          one object per sample ("y" optional)
 *   {"x": [[...], …], "y": [3, …]}     columns ("y" optional)
 * x values may be nested arrays (e.g. 28×28); every sample must have the same shape.
 */
export async function readJsonDataset(file: string, spec: string, options: DatasetOptions = {}): Promise<Dataset> {
  const bytes = await nodeFileAccess.readFile(file, options.maxBytes ?? DEFAULT_MAX_DATA_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch (e) {
    throw new ModelFormatError('not-a-model', `${path.basename(file)}: not valid JSON (${(e as Error).message})`, { file });
  }
  return jsonDataset(parsed, spec, path.basename(file));
}

export function jsonDataset(parsed: unknown, spec: string, where: string): Dataset {
  let samples: unknown[];
  let labels: unknown[] | null;
  if (Array.isArray(parsed)) {
    samples = [];
    const ys: unknown[] = [];
    parsed.forEach((item, i) => {
      if (!item || typeof item !== 'object' || Array.isArray(item) || !('x' in item)) {
        throw new ModelFormatError('invalid-option', `${where}: item ${i} is not an object with an "x" key (expected [{"x": [...], "y": 3}, …])`);
      }
      const o = item as { x: unknown; y?: unknown };
      samples.push(o.x);
      ys.push(o.y);
    });
    const withY = ys.filter((y) => y !== undefined).length;
    if (withY > 0 && withY < ys.length) {
      const missing = ys.findIndex((y) => y === undefined);
      throw new ModelFormatError('invalid-option', `${where}: item ${missing} has no "y" while others do (label every sample or none)`);
    }
    labels = withY > 0 ? ys : null;
  } else if (parsed && typeof parsed === 'object' && 'x' in parsed) {
    const o = parsed as { x: unknown; y?: unknown };
    if (!Array.isArray(o.x)) throw new ModelFormatError('invalid-option', `${where}: "x" must be an array of samples`);
    samples = o.x;
    if (o.y === undefined || o.y === null) labels = null;
    else if (Array.isArray(o.y)) labels = o.y;
    else throw new ModelFormatError('invalid-option', `${where}: "y" must be an array of labels`);
  } else {
    throw new ModelFormatError('invalid-option', `${where}: expected [{"x": [...], "y": 3}, …] or {"x": [[...], …], "y": [...]}`);
  }
  if (samples.length === 0) throw new ModelFormatError('invalid-option', `${where}: the dataset has no samples`);
  if (labels && labels.length !== samples.length) {
    throw new ModelFormatError('invalid-option', `${where}: ${labels.length} labels for ${samples.length} samples (expected one label per sample)`);
  }
  const sampleShape = shapeOf(samples[0], where, 0);
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(samples.length * per);
  samples.forEach((s, i) => {
    const flat: number[] = [];
    flatten(s, sampleShape, 0, flat, where, i);
    x.set(flat, i * per);
  });
  let y: Int32Array | null = null;
  if (labels) {
    y = new Int32Array(labels.length);
    labels.forEach((v, i) => {
      const value = Array.isArray(v) && v.length === 1 ? v[0] : v;
      if (typeof value !== 'number') {
        throw new ModelFormatError('invalid-option', `${where}: label of sample ${i} is ${JSON.stringify(value)?.slice(0, 40)}; labels must be class indices 0, 1, …`);
      }
      y![i] = labelValue(value, i, where);
    });
  }
  return { name: spec, count: samples.length, sampleShape: sampleShape.length ? sampleShape : [1], x, y, notes: [] };
}

function shapeOf(v: unknown, where: string, sample: number): number[] {
  const shape: number[] = [];
  let cur = v;
  while (Array.isArray(cur)) {
    if (cur.length === 0) throw new ModelFormatError('invalid-option', `${where}: sample ${sample} has an empty array in x`);
    shape.push(cur.length);
    cur = cur[0];
  }
  if (typeof cur !== 'number') throw new ModelFormatError('invalid-option', `${where}: x of sample ${sample} holds ${JSON.stringify(cur)?.slice(0, 40)}, not numbers`);
  return shape;
}

function flatten(v: unknown, shape: number[], depth: number, out: number[], where: string, sample: number): void {
  if (depth === shape.length) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ModelFormatError('invalid-option', `${where}: x of sample ${sample} holds ${JSON.stringify(v)?.slice(0, 40)}, not a finite number`);
    }
    out.push(v);
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[depth]) {
    const found = Array.isArray(v) ? `${v.length} entries` : JSON.stringify(v)?.slice(0, 20);
    throw new ModelFormatError('invalid-option', `${where}: sample ${sample} has shape different from sample 0 ([${shape.join(', ')}]): ${found} at depth ${depth}`);
  }
  for (const item of v) flatten(item, shape, depth + 1, out, where, sample);
}
