import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';

/**
 * A budget file (`.parsimony/budget.json`) states what each model may cost:
 * parameters, bytes on disk / gzipped / in memory, MACs, and a minimum accuracy
 * measured on a dataset. `parsimony check` and the editor both evaluate it.
 */
export interface ModelBudget {
  maxParams?: number;
  maxBytesOnDisk?: number;
  maxBytesGzip?: number;
  maxBytesInMemory?: number;
  maxMacs?: number;
  minAccuracy?: number;
  /** Dataset for minAccuracy (e.g. "mnist:1000" or a path relative to the budget file's workspace). */
  dataset?: string;
}

export interface BudgetFile {
  /** Model path (relative to the workspace root, '/' separators) → limits. */
  models: Record<string, ModelBudget>;
}

export const LIMIT_KEYS = ['maxParams', 'maxBytesOnDisk', 'maxBytesGzip', 'maxBytesInMemory', 'maxMacs', 'minAccuracy'] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];

export const DEFAULT_BUDGET_PATH = path.join('.parsimony', 'budget.json');

/** Parses and validates a budget; problems name the model and the key. */
export function parseBudget(text: string, file: string): BudgetFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError('not-a-model', `budget is not valid JSON (${(e as Error).message})`, { file });
  }
  const models = (data as { models?: unknown } | null)?.models;
  if (!models || typeof models !== 'object' || Array.isArray(models)) {
    throw new ModelFormatError('invalid-option', 'budget needs a "models" object mapping model paths to limits', { file });
  }
  const out: BudgetFile = { models: {} };
  for (const [model, raw] of Object.entries(models as Record<string, unknown>)) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFormatError('invalid-option', `budget for '${model}' must be an object`, { file });
    const b: ModelBudget = {};
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (key === 'dataset') {
        if (typeof value !== 'string' || !value) throw new ModelFormatError('invalid-option', `'${model}'.dataset must be a dataset spec string`, { file });
        b.dataset = value;
      } else if ((LIMIT_KEYS as readonly string[]).includes(key)) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ModelFormatError('invalid-option', `'${model}'.${key} must be a non-negative number`, { file });
        if (key === 'minAccuracy' && value > 1) throw new ModelFormatError('invalid-option', `'${model}'.minAccuracy is a fraction (0–1), got ${value}`, { file });
        b[key as LimitKey] = value;
      } else if (key !== '$comment') {
        throw new ModelFormatError('invalid-option', `'${model}' has unknown budget key '${key}' (known: ${LIMIT_KEYS.join(', ')}, dataset)`, { file });
      }
    }
    if (b.minAccuracy !== undefined && !b.dataset) throw new ModelFormatError('invalid-option', `'${model}' sets minAccuracy but no dataset to measure it on`, { file });
    out.models[model] = b;
  }
  return out;
}

export async function readBudget(file: string): Promise<BudgetFile> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new ModelFormatError('not-found', 'budget file not found', { file });
  }
  return parseBudget(text, file);
}

export interface Measured {
  params: number;
  bytesOnDisk: number;
  bytesGzip: number;
  bytesInMemory: number;
  macs: number | null;
  accuracy: number | null;
}

export interface Violation {
  key: LimitKey;
  limit: number;
  actual: number | null;
  message: string;
}

const MEASURE: Record<LimitKey, keyof Measured> = {
  maxParams: 'params',
  maxBytesOnDisk: 'bytesOnDisk',
  maxBytesGzip: 'bytesGzip',
  maxBytesInMemory: 'bytesInMemory',
  maxMacs: 'macs',
  minAccuracy: 'accuracy',
};

/** Which limits a measured model breaks. An unknown figure (null) breaks its limit: it cannot be shown to hold. */
export function violations(budget: ModelBudget, m: Measured): Violation[] {
  const out: Violation[] = [];
  for (const key of LIMIT_KEYS) {
    const limit = budget[key];
    if (limit === undefined) continue;
    const actual = m[MEASURE[key]];
    const broken = actual === null || (key === 'minAccuracy' ? actual < limit : actual > limit);
    if (!broken) continue;
    const what = MEASURE[key];
    out.push({
      key,
      limit,
      actual,
      message:
        actual === null
          ? `${what} is unknown for this model, so ${key} ${limit} cannot be checked`
          : key === 'minAccuracy'
            ? `accuracy ${(actual * 100).toFixed(2)}% is below the minimum ${(limit * 100).toFixed(2)}%`
            : `${what} ${actual.toLocaleString('en-US')} exceeds ${key} ${limit.toLocaleString('en-US')}`,
    });
  }
  return out;
}
