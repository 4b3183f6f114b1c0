/**
 * A small, strict argument parser: flags are declared per subcommand, and
 * anything undeclared is a usage error (exit 2), so typos never pass silently.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  type: 'boolean' | 'string' | 'number';
  description: string;
  /** Shown in help as --flag <valueName>. */
  valueName?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | number | boolean>;
}

export function parseArgs(argv: readonly string[], specs: FlagSpecs): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option '--${name}'`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option '--${name}' takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option '--${name}' needs a value`);
    if (spec.type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`option '--${name}' needs a number, got '${value}'`);
      flags[name] = n;
    } else flags[name] = value;
  }
  return { positionals, flags };
}

export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => [
    `--${name}${s.type === 'boolean' ? '' : ` <${s.valueName ?? s.type}>`}`,
    s.description,
  ]);
  const width = Math.max(0, ...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`).join('\n');
}
