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
    if (cancelled) {
      removeOwnedFilesSync();
      process.exit(130);
    }
    cancelled = true;
    process.stderr.write(`parsimony: ${signal} received, stopping after the current step…\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function isCancelRequested(): boolean {
  return cancelled;
}
