import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { hasHugePagesSetting, withHugePages } from '../core/runtime/hugePages';

/**
 * The CLI started from a shell (or CI) starts itself once more with 2 MiB pages
 * for its large arrays (glibc.malloc.hugetlb=1, see src/core/runtime/hugePages.ts),
 * which only take effect at process start. Worth it for the commands that crunch
 * weights: a 10M-weight kernel's fresh 40 MB result costs 10,000 page faults
 * with 4 KiB pages (0.15–0.9 s on a VM) against 20 with 2 MiB pages; the second
 * start costs ~50 ms. `analyze` reads headers only and is left alone.
 *
 * Not done when the tunable is already set either way (the editor's jobs set it;
 * a user's glibc.malloc.hugetlb=0 is respected), with PARSIMONY_HUGE_PAGES=0, under
 * a debugger or profiler (--inspect, --cpu-prof, …), off glibc Linux, or when the
 * second process cannot be started (the command then runs in this one).
 */
const CRUNCHING_COMMANDS = new Set(['compress', 'evaluate', 'sweep', 'hints', 'run', 'check', 'diff']);

export function shouldRelaunch(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  const command = argv[0];
  if (command === undefined || !CRUNCHING_COMMANDS.has(command)) return false;
  if (argv.includes('--help') || argv.includes('-h')) return false;
  return hugePagesNeedRelaunch(env);
}

/** Whether a process started with `env` lacks huge pages that a relaunch would give it. */
export function hugePagesNeedRelaunch(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): boolean {
  if (env.PARSIMONY_HUGE_PAGES === '0' || hasHugePagesSetting(env)) return false;
  // Under a debugger or profiler the work must stay in the process being debugged.
  if ([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--(inspect|debug|cpu-prof|heap-prof|prof)\b/.test(a))) return false;
  return isGlibcLinux();
}

function isGlibcLinux(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/**
 * Runs this script again (same Node, flags, script and arguments) with huge pages,
 * and resolves to its exit code; null when it could not be started.
 *
 * The child gets its own process group, so a terminal's Ctrl+C reaches only this
 * process, which passes each SIGINT/SIGTERM on exactly once: the child's
 * cooperative cancellation (stop after the current step, then a second signal
 * stops at once) behaves as it does without the relaunch. A SIGKILL cannot be
 * passed on; the child then sees its IPC channel close and cancels itself
 * (stopWhenParentGoes in cancel.ts).
 */
export function relaunchWithHugePages(): Promise<number | null> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
        // The IPC channel is only there to close: it tells the child when this process dies (see cancel.ts).
        stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
        env: withHugePages(process.env),
        detached: true,
      });
    } catch {
      resolve(null);
      return;
    }
    const forward = (signal: NodeJS.Signals) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    // Ctrl+Z stops the terminal's foreground group, which the child is not in: stop it too, then this
    // process (a listener replaces the default stop); `fg` or `bg` continues this process, which continues the child.
    const pause = () => {
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGSTOP');
      process.kill(process.pid, 'SIGSTOP');
    };
    const resume = () => {
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGCONT');
    };
    // At once, not on 'spawn': the process exists as soon as spawn() returns a pid.
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    process.on('SIGTSTP', pause);
    process.on('SIGCONT', resume);
    const unlisten = () => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      process.off('SIGTSTP', pause);
      process.off('SIGCONT', resume);
    };
    let started = false;
    child.once('spawn', () => {
      started = true;
    });
    child.once('error', () => {
      if (started) return;
      unlisten();
      resolve(null);
    });
    child.once('exit', (code, signal) => {
      unlisten();
      if (code !== null) {
        resolve(code);
        return;
      }
      // Ended by a signal: end the same way, so that whoever started the CLI sees what it would have seen without the relaunch.
      if (signal) process.kill(process.pid, signal);
      resolve(128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
