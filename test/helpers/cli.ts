import { runCli } from '../../src/cli/main';
import { silentProgress } from '../../src/cli/progress';

/** Runs the CLI in-process and captures what it prints. */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    progress: silentProgress,
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}
