import * as path from 'node:path';
import { runRecipe } from '../../core/recipe/recipe';
import { UsageError } from '../args';
import { isCancelRequested } from '../cancel';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';

export const runCommand: CliCommand = {
  name: 'run',
  summary: 'run a recipe (.parsimony/recipes/NAME.json): its compression and training steps in order, each with an output and a run record',
  usage: 'parsimony run <recipe> [--workspace dir] [--json]',
  flags: {
    ...COMMON_FLAGS,
    workspace: { type: 'string', valueName: 'dir', description: 'workspace root the recipe paths are relative to (default: the folder holding .parsimony/)' },
    'no-record': { type: 'boolean', description: 'do not write run records' },
  },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('run takes exactly one recipe file');
    const recipe = path.resolve(io.cwd, file);
    // .parsimony/recipes/x.json → the workspace is the folder holding .parsimony/.
    const inferred = path.basename(path.dirname(path.dirname(recipe))) === '.parsimony' ? path.dirname(path.dirname(path.dirname(recipe))) : io.cwd;
    const workspace = typeof args.flags.workspace === 'string' ? path.resolve(io.cwd, args.flags.workspace) : inferred;
    const result = await runRecipe(recipe, {
      workspace,
      record: !args.flags['no-record'],
      onProgress: (f, m) => io.progress.report(f, m),
      isCancelled: isCancelRequested,
    });
    io.progress.done();
    if (io.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
    else {
      for (const [i, s] of result.steps.entries()) io.stdout(`${i + 1}. ${s.method} → ${s.output}\n`);
      io.stdout(`final: ${result.output}\n`);
    }
    return EXIT.ok;
  },
};
