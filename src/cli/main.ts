import { isCancelled, isModelFormatError, isOutputError } from '../core/errors';
import { formatFlags, parseArgs, UsageError } from './args';
import { COMMON_FLAGS, EXIT, type CliCommand, type CliIo } from './command';
import { analyzeCommand } from './commands/analyze';
import { checkCommand } from './commands/check';
import { diffCommand } from './commands/diff';
import { runCommand } from './commands/run';
import { compressCommand } from './commands/compress';
import { evaluateCommand } from './commands/evaluate';
import { hintsCommand } from './commands/hints';
import { sweepCommand } from './commands/sweep';
import { installCancelHandlers, stopWhenParentGoes } from './cancel';
import { relaunchWithHugePages, shouldRelaunch } from './relaunch';
import { jsonLinesProgress, terminalProgress } from './progress';

declare const PARSIMONY_VERSION: string | undefined;

const commands: CliCommand[] = [analyzeCommand, hintsCommand, compressCommand, evaluateCommand, sweepCommand, checkCommand, runCommand, diffCommand];

function version(): string {
  if (typeof PARSIMONY_VERSION === 'string') return PARSIMONY_VERSION;
  // Running from source (tsx): read it from package.json.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../package.json') as { version: string }).version;
}

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'parsimony — model size analysis and compression',
    '',
    'Usage: parsimony <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --help     show help (also: parsimony <command> --help)',
    '  --version  print the version',
    '  --json     print exactly one JSON object on stdout',
    '  --debug    print stack traces for errors',
    '',
    'Exit codes: 0 ok, 1 a check failed, 2 bad input or usage, 3 internal error (130: cancelled, nothing written).',
  ].join('\n');
}

function commandHelp(c: CliCommand): string {
  return [`Usage: ${c.usage}`, '', c.summary, '', 'Options:', formatFlags(c.flags)].join('\n');
}

export async function runCli(argv: readonly string[], io: Omit<CliIo, 'json'>): Promise<number> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  try {
    const [first, ...rest] = argv;
    if (first === undefined) throw new UsageError('missing command (try parsimony --help)');
    if (first === '--help' || first === '-h' || first === 'help') {
      io.stdout(mainHelp() + '\n');
      return EXIT.ok;
    }
    if (first === '--version' || first === '-v') {
      io.stdout(version() + '\n');
      return EXIT.ok;
    }
    const command = commands.find((c) => c.name === first);
    if (!command) {
      throw new UsageError(
        first.startsWith('-') ? `unknown option '${first}' (try --help)` : `unknown command '${first}' (commands: ${commands.map((c) => c.name).join(', ')})`,
      );
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(commandHelp(command) + '\n');
      return EXIT.ok;
    }
    const args = parseArgs(rest, { ...COMMON_FLAGS, ...command.flags });
    return await command.run(args, { ...io, json });
  } catch (e) {
    return reportError(e, io, debug, json);
  } finally {
    io.progress.done();
  }
}

function reportError(e: unknown, io: Omit<CliIo, 'json'>, debug: boolean, json: boolean): number {
  let code: number;
  let message: string;
  let kind: string;
  if (isCancelled(e)) {
    io.stderr('parsimony: cancelled; nothing was written\n');
    if (json) io.stdout(JSON.stringify({ error: { code: 'cancelled', message: 'cancelled; nothing was written' } }) + '\n');
    return 130;
  }
  if (e instanceof UsageError) {
    code = EXIT.badInput;
    kind = 'usage';
    message = `parsimony: ${e.message}`;
  } else if (isModelFormatError(e)) {
    code = EXIT.badInput;
    kind = e.code;
    message = `parsimony: ${e.describe()}`;
  } else if (isOutputError(e)) {
    // Disk full, no permission, name taken: not a bug, and the partial output is already gone.
    code = EXIT.internal;
    kind = e.reason;
    message = `parsimony: ${e.message}`;
  } else {
    code = EXIT.internal;
    kind = 'internal';
    message = `parsimony: internal error: ${e instanceof Error ? e.message : String(e)}`;
  }
  io.stderr(message.replace(/\s*\n\s*/g, ' ') + '\n');
  if (debug && e instanceof Error && e.stack) io.stderr(e.stack + '\n');
  if (json) io.stdout(JSON.stringify({ error: { code: kind, message: message.replace(/^parsimony: /, '') } }) + '\n');
  return code;
}

if (require.main === module) void main();

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (shouldRelaunch(argv)) {
    const code = await relaunchWithHugePages();
    if (code !== null) {
      process.exitCode = code;
      return;
    }
  }
  installCancelHandlers();
  stopWhenParentGoes();
  // --progress-json: the extension runs long jobs in a child process and reads progress lines.
  const progressJson = argv.includes('--progress-json');
  const io = {
    stdout: (t: string) => void process.stdout.write(t),
    stderr: (t: string) => void process.stderr.write(t),
    progress: progressJson ? jsonLinesProgress(process.stderr) : terminalProgress(process.stderr),
    cwd: process.cwd(),
  };
  runCli(argv.filter((a) => a !== '--progress-json'), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`parsimony: internal error: ${String(e)}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
