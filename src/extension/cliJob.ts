import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelledError, ModelFormatError, type ModelErrorCode } from '../core/errors';
import { withHugePages } from '../core/runtime/hugePages';
import type { Log } from './log';

/**
 * Runs the bundled CLI in a child process for long work (hints on big models,
 * compression, evaluation), so the extension host never blocks on number
 * crunching. Progress comes back as JSON lines; cancelling sends SIGTERM and
 * the CLI stops cleanly, deleting partial outputs.
 */
const RUNS_OR_WRITES = new Set(['compress', 'evaluate', 'sweep', 'run', 'check']);

export async function runCliJob<T>(
  extensionPath: string,
  args: string[],
  log: Log,
  onProgress?: (fraction: number, message: string) => void,
  token?: vscode.CancellationToken,
  cwd?: string,
): Promise<T> {
  if (!vscode.workspace.isTrusted && RUNS_OR_WRITES.has(args[0] ?? '')) {
    // Declared in package.json (untrustedWorkspaces: limited): reading is safe, running and writing wait for trust.
    throw new Error(`Parsimony only reads models in an untrusted workspace; trust the workspace to ${args[0]}.`);
  }
  const cli = path.join(extensionPath, 'dist', 'cli.js');
  log.info(`job: parsimony ${args.join(' ')}`);
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args, '--json', '--progress-json'], {
      cwd,
      // The extension host may be Electron: make it behave as plain Node. Huge pages for the
      // tensor-sized arrays the job allocates (src/core/runtime/hugePages.ts).
      env: withHugePages({ ...process.env, ELECTRON_RUN_AS_NODE: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderrTail = '';
    let cancelled = false;
    const cancelSub = token?.onCancellationRequested(() => {
      cancelled = true;
      child.kill('SIGTERM');
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    let pending = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const p = JSON.parse(line) as { progress?: number; message?: string };
          if (typeof p.progress === 'number') {
            onProgress?.(p.progress, p.message ?? '');
            continue;
          }
        } catch {
          // not a progress line
        }
        stderrTail = (stderrTail + line + '\n').slice(-4000);
        log.debug(`job stderr: ${line}`);
      }
    });
    child.on('error', (e) => {
      cancelSub?.dispose();
      reject(e);
    });
    child.on('close', (code) => {
      cancelSub?.dispose();
      // A job that finished before the cancel reached it keeps its (complete) result.
      if ((cancelled && code !== 0) || code === 130) return reject(new CancelledError());
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout);
      } catch {
        return reject(new Error(`parsimony ${args[0]} exited with ${code}: ${stderrTail.trim() || 'no output'}`));
      }
      const error = (parsed as { error?: { code: string; message: string } }).error;
      // Exit 1 is the CLI's "a check failed" (check, evaluate with a threshold): its JSON is the result.
      if ((code === 0 || code === 1) && !error) return resolve(parsed as T);
      if (error && code === 2) return reject(new ModelFormatError(error.code as ModelErrorCode, error.message));
      reject(new Error(error?.message ?? `parsimony ${args[0]} exited with ${code}`));
    });
  });
}
