import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { reproduceCommand, type Crash } from './fuzz';
import { ROOT } from './seeds';

/**
 * Saves crashing cases as fixtures under test/fixtures/fuzz-crashes/, one
 * folder per case, with a manifest row in the same shape as the other fixture
 * manifests. A new row expects the code a fixed reader should give (a guess
 * from the mutation); whoever fixes the reader confirms or corrects it, or
 * replaces it with the format and parameter count when the file is readable.
 */

export const CRASH_DIR = path.join(ROOT, 'test/fixtures/fuzz-crashes');
export const CRASH_MANIFEST = path.join(CRASH_DIR, 'manifest.json');

export interface CrashRow {
  file: string;
  /** The ModelFormatError code the fixed reader gives… */
  error?: string;
  accept?: string[];
  /** …or, when the right answer is a sound model, its format and parameter count. */
  format?: string;
  totalParams?: number;
  /** Not run by the tests, with the reason (a case that still hangs in a library). */
  skip?: string;
  found: {
    kind: string;
    seed?: number;
    message: string;
    from: string;
    mutations: string[];
    reproduce: string;
  };
  fix?: string;
}

export function readCrashManifest(): CrashRow[] {
  if (!existsSync(CRASH_MANIFEST)) return [];
  return JSON.parse(readFileSync(CRASH_MANIFEST, 'utf8')) as CrashRow[];
}

function guessCode(c: Crash): string {
  const m = c.mutations.join(' ');
  if (/truncate/.test(m)) return 'truncated';
  if (/nested|deep|too many|2\^|1e300|\b\d{10,}\b/.test(m)) return 'too-large';
  return 'not-a-model';
}

/** Writes the case files and a manifest row; returns the row's file (or undefined if it was already saved). */
export function saveCrash(c: Crash): string | undefined {
  const rows = readCrashManifest();
  const id = `s${c.runSeed}-c${c.index}`;
  const rel = `${c.format}/${id}/${c.main}`;
  if (rows.some((r) => r.file === rel)) return undefined;
  const dir = path.join(CRASH_DIR, c.format, id);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of c.files) writeFileSync(path.join(dir, name), bytes);
  rows.push({
    file: rel,
    error: guessCode(c),
    found: {
      kind: c.kind,
      message: c.message.slice(0, 300),
      from: c.seedName,
      mutations: c.mutations,
      reproduce: reproduceCommand(c),
    },
  });
  mkdirSync(CRASH_DIR, { recursive: true });
  writeFileSync(CRASH_MANIFEST, JSON.stringify(rows, null, 2) + '\n');
  return rel;
}
