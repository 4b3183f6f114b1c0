import * as path from 'node:path';
import { DEFAULT_BUDGET_PATH } from '../../core/budget/budget';
import { checkBudget } from '../../core/budget/check';
import { formatBytes, formatCount } from '../../core/format';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';

export const checkCommand: CliCommand = {
  name: 'check',
  summary: 'check every budgeted model against .parsimony/budget.json; exit 1 when a limit is exceeded (for CI)',
  usage: 'parsimony check [--budget path] [--workspace dir] [--json]',
  flags: {
    ...COMMON_FLAGS,
    budget: { type: 'string', valueName: 'path', description: `budget file (default ${DEFAULT_BUDGET_PATH} in the workspace)` },
    workspace: { type: 'string', valueName: 'dir', description: 'workspace root that model paths are relative to (default: the current folder)' },
  },
  async run(args, io) {
    const workspace = path.resolve(io.cwd, typeof args.flags.workspace === 'string' ? args.flags.workspace : '.');
    const budget = path.resolve(workspace, typeof args.flags.budget === 'string' ? args.flags.budget : DEFAULT_BUDGET_PATH);
    const result = await checkBudget(budget, workspace, (f, m) => io.progress.report(f, m));
    io.progress.done();
    if (io.json) {
      io.stdout(JSON.stringify(result, null, 2) + '\n');
      return result.ok ? EXIT.ok : EXIT.checkFailed;
    }
    io.stdout(
      renderTable(
        ['model', 'params', 'on disk', 'gzip', 'memory', 'MACs', 'accuracy', 'result'],
        result.models.map((m) => [
          m.model,
          formatCount(m.measured?.params),
          formatBytes(m.measured?.bytesOnDisk),
          m.budget.maxBytesGzip !== undefined ? formatBytes(m.measured?.bytesGzip) : '—',
          formatBytes(m.measured?.bytesInMemory),
          formatCount(m.measured?.macs),
          m.measured?.accuracy != null ? `${(m.measured.accuracy * 100).toFixed(2)}%` : '—',
          m.ok ? 'ok' : 'FAIL',
        ]),
        new Set([1, 2, 3, 4, 5, 6]),
      ) + '\n',
    );
    for (const m of result.models) {
      if (m.error) io.stdout(`${m.model}: ${m.error}\n`);
      for (const v of m.violations) io.stdout(`${m.model}: ${v.message}\n`);
    }
    io.stdout(result.ok ? 'all budgets met\n' : `${result.models.filter((m) => !m.ok).length} model(s) over budget\n`);
    return result.ok ? EXIT.ok : EXIT.checkFailed;
  },
};
