import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Copies a fixture file or folder into a fresh temp dir; returns the copied path. */
export function tempCopy(source: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-test-'));
  const target = path.join(dir, path.basename(source));
  cpSync(source, target, { recursive: true });
  return target;
}

/** sha256 of every file below a folder (or of one file), keyed by relative path. */
export function hashTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const f of readdirSync(p)) walk(path.join(p, f));
    else out[path.relative(root, p) || path.basename(p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  };
  walk(root);
  return out;
}
