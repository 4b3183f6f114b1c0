import * as assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/cli/args';
import { cli } from '../helpers/cli';

describe('CLI frame', () => {
  it('--help lists the subcommands and exits 0', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: parsimony <command>/);
    assert.match(r.stdout, /^\s+analyze\s+per-layer/m);
    assert.match(r.stdout, /Exit codes: 0 ok, 1 a check failed, 2 bad input or usage, 3 internal error/);
  });

  it('--version prints the package version', async () => {
    const r = await cli('--version');
    assert.equal(r.code, 0);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.equal(r.stdout.trim(), require('../../package.json').version);
  });

  it('an unknown subcommand exits 2 with one line on stderr', async () => {
    const r = await cli('frobnicate');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  it('no command at all exits 2', async () => {
    const r = await cli();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing command/);
  });

  it('an unknown option exits 2 naming the option', async () => {
    const r = await cli('analyze', 'x.onnx', '--frob');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--frob'/);
  });

  it('a missing file exits 2 with a message naming the file, no stack trace', async () => {
    const r = await cli('analyze', 'does/not/exist.onnx');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /does\/not\/exist\.onnx: file not found/);
    assert.doesNotMatch(r.stderr, /\bat .*\(.*:\d+:\d+\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('--json errors print one JSON object on stdout as well', async () => {
    const r = await cli('analyze', 'does/not/exist.onnx', '--json');
    assert.equal(r.code, 2);
    const parsed = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(parsed.error.code, 'not-found');
    assert.match(parsed.error.message, /exist\.onnx/);
  });

  it('--help on a subcommand shows its usage', async () => {
    const r = await cli('analyze', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: parsimony analyze <model> \[--json\]/);
  });
});

describe('argument parser', () => {
  const specs = { sparsity: { type: 'number' as const, description: '' }, json: { type: 'boolean' as const, description: '' }, method: { type: 'string' as const, description: '' } };
  it('parses numbers, strings, booleans and = forms', () => {
    const p = parseArgs(['m.onnx', '--sparsity', '0.5', '--json', '--method=prune'], specs);
    assert.deepEqual(p.positionals, ['m.onnx']);
    assert.deepEqual(p.flags, { sparsity: 0.5, json: true, method: 'prune' });
  });
  it('rejects a non-number for a number flag and a missing value', () => {
    assert.throws(() => parseArgs(['--sparsity', 'lots'], specs), UsageError);
    assert.throws(() => parseArgs(['--method'], specs), /needs a value/);
  });
});

describe('number formatting', () => {
  it('keeps the zeros of whole numbers and trims fractions', async () => {
    const { formatBytes, formatCount } = await import('../../src/core/format');
    assert.equal(formatBytes(163498), '160 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatCount(100000), '100K');
    assert.equal(formatCount(1_200_000), '1.2M');
    assert.equal(formatCount(20), '20');
  });
});
