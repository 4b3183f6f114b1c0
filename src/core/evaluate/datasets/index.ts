import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadMnist } from '../../data/mnist';
import { ModelFormatError } from '../../errors';
import { readCsvDataset } from './csv';
import { readImageFolderDataset } from './imageFolder';
import { readJsonDataset } from './json';
import { readNpyDataset, readNpzDataset } from './npy';
import { limitDataset, type Dataset, type DatasetOptions } from './types';

export type { Dataset, DatasetOptions, ImageTarget } from './types';

export const DATASET_HELP =
  'mnist, mnist:N (the first N test digits), mnist:train:N, a .npy/.npz file (x and y arrays), a .csv file (header row, label column), a .json file ([{"x": [...], "y": 3}, …]) or an image folder with one subfolder per class';

const MNIST_SPEC = /^mnist(?::(test|train))?(?::(\d+))?$/i;

/** True when the spec names the built-in MNIST digits (nothing on disk). */
export function isBuiltinDataset(spec: string): boolean {
  return MNIST_SPEC.test(spec.trim());
}

/**
 * Loads a dataset by spec: `mnist[:test|:train][:N]`, or a path (relative to
 * `cwd`) to a .npy, .npz, .csv, .json file or an image folder.
 */
export async function loadDataset(spec: string, options: DatasetOptions & { cwd?: string } = {}): Promise<Dataset> {
  const trimmed = spec.trim();
  const mnist = MNIST_SPEC.exec(trimmed);
  if (mnist) {
    const split = (mnist[1]?.toLowerCase() ?? 'test') as 'test' | 'train';
    let limit = mnist[2] !== undefined ? Number(mnist[2]) : undefined;
    if (limit === 0) throw new ModelFormatError('invalid-option', `dataset '${spec}': N must be at least 1`);
    if (options.limit !== undefined) limit = Math.min(limit ?? options.limit, options.limit);
    const d = loadMnist(split, limit);
    return {
      name: trimmed,
      count: d.count,
      sampleShape: [...d.shape],
      x: d.x,
      y: Int32Array.from(d.y),
      notes: [],
    };
  }
  const file = path.resolve(options.cwd ?? process.cwd(), trimmed);
  let stat;
  try {
    stat = await fsp.stat(file);
  } catch {
    throw new ModelFormatError('not-found', `dataset not found: ${trimmed} (give ${DATASET_HELP})`, { file });
  }
  if (stat.isDirectory()) return readImageFolderDataset(file, trimmed, options);
  const ext = path.extname(file).toLowerCase();
  let kind = { '.npy': 'npy', '.npz': 'npz', '.csv': 'csv', '.tsv': 'csv', '.json': 'json' }[ext];
  if (!kind) kind = await sniff(file);
  let d: Dataset;
  try {
    switch (kind) {
      case 'npy':
        d = await readNpyDataset(file, trimmed, options);
        break;
      case 'npz':
        d = await readNpzDataset(file, trimmed, options);
        break;
      case 'csv':
        d = await readCsvDataset(file, trimmed, options);
        break;
      case 'json':
        d = await readJsonDataset(file, trimmed, options);
        break;
      default:
        throw new ModelFormatError('unsupported-format', `${path.basename(file)}: not a dataset format Parsimony reads (${DATASET_HELP})`, { file });
    }
  } catch (e) {
    if (e instanceof ModelFormatError) e.file ??= file;
    throw e;
  }
  if (d.count === 0) throw new ModelFormatError('invalid-option', `${trimmed}: the dataset has no samples`, { file });
  return limitDataset(d, options.limit);
}

async function sniff(file: string): Promise<string | undefined> {
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await handle.read(head, 0, 16, 0);
    const h = head.subarray(0, bytesRead);
    if (h[0] === 0x93 && h.subarray(1, 6).toString('latin1') === 'NUMPY') return 'npy';
    if (h[0] === 0x50 && h[1] === 0x4b) return 'npz';
    const text = h.toString('utf8').trimStart();
    if (text.startsWith('{') || text.startsWith('[')) return 'json';
    return undefined;
  } finally {
    await handle.close();
  }
}
