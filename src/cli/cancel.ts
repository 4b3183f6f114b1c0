import { removeOwnedFilesSync } from '../core/io/atomicWrite';

/**
 * Cooperative cancellation for the CLI: SIGINT/SIGTERM set a flag that long
 * jobs check between steps, so they stop cleanly and delete partial outputs
 * instead of dying mid-write. A second signal exits at once, after removing
 * the temporary files of writes still in progress.
 */
let cancelled = false;
let installed = false;

export function installCancelHandlers(): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals) => {
    if (cancelled) stopNow();
    cancelled = true;
    process.stderr.write(`parsimony: ${signal} received, stopping after the current step…\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * For the process the CLI relaunched (src/cli/relaunch.ts): when the process
 * that started it is gone — killed with SIGKILL, which it cannot pass on — its
 * IPC channel closes, and the job stops as if cancelled (nothing written). If
 * the current step does not end within a few seconds, it stops at once, after
 * removing the temporary files of writes in progress, as a second signal does.
 */
const ORPHAN_HARD_STOP_MS = 5000;

export function stopWhenParentGoes(): void {
  const channel = process.channel;
  if (!channel) return;
  // The channel must not keep the process alive once the job is done.
  channel.unref();
  process.once('disconnect', () => {
    if (!cancelled) process.stderr.write('parsimony: the process that started this job is gone, stopping after the current step…\n');
    cancelled = true;
    setTimeout(stopNow, ORPHAN_HARD_STOP_MS).unref();
  });
}

/** Exits at once (130), after removing the temporary files of writes still in progress. */
function stopNow(): never {
  removeOwnedFilesSync();
  process.exit(130);
}

export function isCancelRequested(): boolean {
  return cancelled;
}
