/**
 * Transparent huge pages for the processes that crunch weights.
 *
 * A weight kernel on a 10M-weight tensor returns a fresh 40 MB array, and the
 * first touch of each 4 KiB page of it is a page fault: 20–90 µs each on a busy
 * VM, 0.2–0.9 s for one array, more than the arithmetic. numpy asks the kernel
 * for 2 MiB pages on large arrays (madvise(MADV_HUGEPAGE)), 512× fewer faults;
 * V8 cannot be asked from JavaScript, but glibc's malloc (which Node's
 * ArrayBuffers come from) does the same madvise when the process starts with the
 * tunable glibc.malloc.hugetlb=1. It only takes effect at process start, so it
 * is set for the child processes Parsimony starts (the CLI jobs of the editor),
 * and the CLI started from a shell starts itself again with it for the commands
 * that crunch weights (src/cli/relaunch.ts). Other libcs ignore the variable.
 */
const TUNABLE = 'glibc.malloc.hugetlb';

/** `env` with glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES (a setting of the user's for it is kept). */
export function withHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (process.platform !== 'linux') return env;
  if (hasHugePagesSetting(env)) return env;
  const current = env.GLIBC_TUNABLES ?? '';
  return { ...env, GLIBC_TUNABLES: current ? `${current}:${TUNABLE}=1` : `${TUNABLE}=1` };
}

/** Whether `env` already carries glibc.malloc.hugetlb (either value: a 0 of the user's is respected). */
export function hasHugePagesSetting(env: NodeJS.ProcessEnv): boolean {
  return (env.GLIBC_TUNABLES ?? '').split(':').some((t) => t.startsWith(`${TUNABLE}=`));
}
