import type { FlagSpecs, ParsedArgs } from './args';
import type { ProgressReporter } from './progress';

/** Exit codes are an interface other tools rely on. */
export const EXIT = { ok: 0, checkFailed: 1, badInput: 2, internal: 3 } as const;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progress: ProgressReporter;
  json: boolean;
  cwd: string;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpecs;
  /** Returns the exit code. Throws UsageError / ModelFormatError for bad input. */
  run(args: ParsedArgs, io: CliIo): Promise<number>;
}

/** Flags every subcommand accepts. */
export const COMMON_FLAGS: FlagSpecs = {
  json: { type: 'boolean', description: 'print exactly one JSON object on stdout' },
  debug: { type: 'boolean', description: 'print stack traces for errors' },
  help: { type: 'boolean', description: 'show help for this command' },
};
