/**
 * No code execution from models. Hostile pickles (os.system, subprocess,
 * builtins.eval/exec/getattr, posix, nt, __reduce__ chains, copyreg extensions,
 * pickles nested inside a checkpoint) end in 'unsafe' and nothing they name is
 * ever run: each payload would create a marker file, and child_process is
 * trapped while they are read. Keras/TF.js Lambda layers and Lambda-like custom
 * classes are reported in warnings, never executed.
 */
import * as assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { isModelFormatError } from '../../src/core/errors';
import { loadFormats, openModel } from '../../src/core/formats/registry';
import { unpickle } from '../../src/core/formats/pytorch/unpickler';
import { writeZip } from '../../scripts/fuzz/bytes';
import { cli } from '../helpers/cli';

const FIXTURES = path.resolve(__dirname, '../fixtures');

// ---------------------------------------------------------------------------
// Pickle assembly (protocol 2, as torch.save writes).

type Part = string | number[] | Uint8Array;
function pk(...parts: Part[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0) & 0xff) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string): Uint8Array => {
  const b = new TextEncoder().encode(s);
  return pk([0x58, ...u32(b.length)], b);
};
const bytes = (b: Uint8Array): Uint8Array => pk([0x42, ...u32(b.length)], b);
const PROTO = [0x80, 0x02];
const GLOBAL = (module: string, name: string) => `c${module}\n${name}\n`;
const STACK_GLOBAL = (module: string, name: string) => pk(str(module), str(name), [0x93]);
const TUPLE1 = [0x85];
const REDUCE = 'R';
const STOP = '.';

/** A state dict {'w': <payload>} so the hostile call sits where a tensor would. */
const inStateDict = (payload: Part[]) => pk(PROTO, GLOBAL('collections', 'OrderedDict'), ')R', str('w'), ...payload, 's', STOP);

/** Wraps a data.pkl into a torch.save-style zip checkpoint. */
function checkpoint(pickle: Uint8Array, extra: { name: string; data: Uint8Array }[] = []): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: pickle, method: 0 },
    { name: 'archive/byteorder', data: new TextEncoder().encode('little'), method: 0 },
    ...extra.map((e) => ({ ...e, method: 0 as const })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n'), method: 0 },
  ]);
}

// ---------------------------------------------------------------------------
// Traps: nothing may spawn a process while a hostile file is read.

const SPAWNERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
let spawned: string[] = [];
const originals = new Map<string, unknown>();

function installTraps(): void {
  spawned = [];
  for (const name of SPAWNERS) {
    originals.set(name, childProcess[name]);
    (childProcess as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      spawned.push(`${name}(${String(args[0])})`);
      throw new Error(`child_process.${name} called while reading a model`);
    };
  }
}

function removeTraps(): void {
  for (const name of SPAWNERS) (childProcess as unknown as Record<string, unknown>)[name] = originals.get(name);
}

describe('hostile models: nothing in a model file is ever run', function () {
  this.timeout(60_000);
  let dir: string;
  let marker: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-hostile-'));
    marker = path.join(dir, 'PWNED');
    // Load every reader (and h5wasm) before the traps go in.
    await loadFormats();
    await openModel(path.join(FIXTURES, 'generated/keras/keras2_mlp.h5'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(installTraps);
  afterEach(() => {
    removeTraps();
    assert.deepEqual(spawned, [], 'no process was spawned');
    assert.ok(!existsSync(marker), 'the payload never ran (no marker file)');
  });

  async function expectUnsafe(file: string, pattern?: RegExp): Promise<void> {
    try {
      const doc = await openModel(file);
      await summarize(doc);
    } catch (e) {
      assert.ok(isModelFormatError(e), `expected a ModelFormatError, got ${String(e)}`);
      assert.equal(e.code, 'unsafe', e.message);
      if (pattern) assert.match(e.message, pattern);
      return;
    }
    assert.fail(`${path.basename(file)} opened without an 'unsafe' error`);
  }

  const shell = () => `touch ${marker}`;
  const python = () => `open(${JSON.stringify(marker)}, 'w').write('x')`;

  const payloads: [string, () => Part[], RegExp][] = [
    ['os.system', () => [GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE], /os\.system/],
    ['posix.system', () => [GLOBAL('posix', 'system'), str(shell()), TUPLE1, REDUCE], /posix\.system/],
    ['nt.system', () => [GLOBAL('nt', 'system'), str(shell()), TUPLE1, REDUCE], /nt\.system/],
    ['subprocess.Popen', () => [GLOBAL('subprocess', 'Popen'), '(', str('touch'), str(marker), 'l', TUPLE1, REDUCE], /subprocess\.Popen/],
    ['subprocess.check_output', () => [GLOBAL('subprocess', 'check_output'), str(shell()), TUPLE1, REDUCE], /subprocess/],
    ['builtins.eval', () => [GLOBAL('builtins', 'eval'), str(python()), TUPLE1, REDUCE], /builtins\.eval/],
    ['builtins.exec', () => [GLOBAL('builtins', 'exec'), str(python()), TUPLE1, REDUCE], /builtins\.exec/],
    ['__builtin__.eval (Python 2 name)', () => [GLOBAL('__builtin__', 'eval'), str(python()), TUPLE1, REDUCE], /eval/],
    ['builtins.compile', () => [GLOBAL('builtins', 'compile'), str(python()), str('x'), str('exec'), [0x87], REDUCE], /compile/],
    // getattr(__import__('os'), 'system')(cmd): a __reduce__ chain; the first link is already refused.
    [
      'builtins.getattr + __import__ chain',
      () => [GLOBAL('builtins', 'getattr'), GLOBAL('builtins', '__import__'), str('os'), TUPLE1, REDUCE, str('system'), [0x86], REDUCE, str(shell()), TUPLE1, REDUCE],
      /builtins\.getattr/,
    ],
    ['STACK_GLOBAL os.system', () => [STACK_GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE], /os\.system/],
    ['INST os.system', () => ['(', str(shell()), `ios\nsystem\n`], /os\.system/],
    ['OBJ subprocess.getoutput', () => ['(', GLOBAL('subprocess', 'getoutput'), str(shell()), 'o'], /subprocess\.getoutput/],
    ['NEWOBJ of a hostile class', () => [GLOBAL('os', '_wrap_close'), ')', [0x81]], /os\._wrap_close/],
    ['copyreg extension registry (EXT1)', () => [[0x82, 0x01], str(shell()), TUPLE1, REDUCE], /copyreg|extension/],
    ['importlib.import_module', () => [GLOBAL('importlib', 'import_module'), str('os'), TUPLE1, REDUCE], /importlib/],
    ['runpy._run_code', () => [GLOBAL('runpy', '_run_code'), str(python()), '}', [0x86], REDUCE], /runpy/],
    ['pickle.loads (a pickle that unpickles another)', () => [GLOBAL('pickle', 'loads'), bytes(pk(PROTO, GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE, STOP)), TUPLE1, REDUCE], /pickle\.loads/],
    ['torch.load on nested bytes', () => [GLOBAL('torch', 'load'), bytes(pk(PROTO, GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE, STOP)), TUPLE1, REDUCE], /torch\.load/],
    ['torch.nn.Module subclass from user code', () => [GLOBAL('mymodel', 'Net'), ')', [0x81]], /mymodel\.Net/],
  ];

  for (const [name, payload, pattern] of payloads) {
    it(`${name} in a checkpoint → 'unsafe', never run`, async () => {
      const file = path.join(dir, `${name.replace(/\W+/g, '_')}.pt`);
      writeFileSync(file, checkpoint(inStateDict(payload())));
      await expectUnsafe(file, pattern);
    });
  }

  it('a hostile global after a valid tensor, reached through the memo, is still refused', async () => {
    // {'a': 1, 'b': memo[0]} where memo[0] = os.system (memoised, used later).
    const pickle = pk(PROTO, GLOBAL('os', 'system'), 'q', [0], '0', GLOBAL('collections', 'OrderedDict'), ')R', str('a'), 'K', [1], 's', str('b'), 'h', [0], str(shell()), TUPLE1, REDUCE, 's', STOP);
    const file = path.join(dir, 'memo_chain.pt');
    writeFileSync(file, checkpoint(pickle));
    await expectUnsafe(file, /os\.system/);
  });

  it('a hostile pickle nested in torch.storage._load_from_bytes → unsafe (it is scanned, never run)', async () => {
    const inner = pk(PROTO, GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE, STOP);
    const file = path.join(dir, 'nested_load_from_bytes.pt');
    writeFileSync(file, checkpoint(inStateDict([GLOBAL('torch.storage', '_load_from_bytes'), bytes(inner), TUPLE1, REDUCE])));
    await expectUnsafe(file, /os\.system/);
    // The same via STACK_GLOBAL inside the nested pickle, two levels deep.
    const inner2 = pk(PROTO, STACK_GLOBAL('builtins', 'exec'), str(python()), TUPLE1, REDUCE, STOP);
    const middle = pk(PROTO, GLOBAL('torch.storage', '_load_from_bytes'), bytes(inner2), TUPLE1, REDUCE, STOP);
    const file2 = path.join(dir, 'nested_twice.pt');
    writeFileSync(file2, checkpoint(inStateDict([GLOBAL('torch.storage', '_load_from_bytes'), bytes(middle), TUPLE1, REDUCE])));
    await expectUnsafe(file2, /builtins\.exec/);
  });

  it('a checkpoint nested as a file inside the archive is never unpickled', async () => {
    // A second, hostile pickle stored as another zip entry: only data.pkl is read.
    const hostile = pk(PROTO, GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE, STOP);
    const benign = pk(PROTO, GLOBAL('collections', 'OrderedDict'), ')R', STOP);
    const file = path.join(dir, 'extra_entry.pt');
    writeFileSync(file, checkpoint(benign, [{ name: 'archive/extra.pkl', data: hostile }]));
    const doc = await openModel(file);
    assert.equal(doc.format, 'pytorch');
  });

  it('the unpickler refuses hostile globals on its own, before any call', () => {
    for (const [name, payload] of payloads) {
      try {
        unpickle(inStateDict(payload()));
        assert.fail(`${name}: no error`);
      } catch (e) {
        assert.ok(isModelFormatError(e), `${name}: ${String(e)}`);
        assert.equal(e.code, 'unsafe', `${name}: ${e.message}`);
      }
    }
  });

  it('the checked-in hostile fixtures are unsafe (corrupt/pytorch, generated/pytorch/bad)', async () => {
    for (const f of ['corrupt/pytorch/os_system.pt', 'corrupt/pytorch/builtins_eval.pt', 'corrupt/pytorch/stack_global.pt', 'corrupt/pytorch/inst_in_state_dict.pt', 'generated/pytorch/bad/eval_pickle.pt', 'generated/pytorch/bad/whole_module.pt']) {
      await expectUnsafe(path.join(FIXTURES, f));
    }
  });

  it('a legacy (non-zip) pickle with a hostile global is refused without being unpickled', async () => {
    const file = path.join(dir, 'legacy.pt');
    writeFileSync(file, pk(PROTO, GLOBAL('os', 'system'), str(shell()), TUPLE1, REDUCE, STOP));
    try {
      await openModel(file);
      assert.fail('opened');
    } catch (e) {
      assert.ok(isModelFormatError(e));
      assert.ok(['unsafe', 'unsupported-format'].includes(e.code), e.message);
    }
  });

  // -------------------------------------------------------------------------
  // Keras and TF.js Lambda layers.

  it('Keras 2 .h5 with a Lambda layer: reported in warnings and layer notes, never run', async () => {
    const doc = await openModel(path.join(FIXTURES, 'generated/keras/keras2_functional_lambda.h5'));
    assert.ok(doc.warnings.some((w) => /Lambda/.test(w) && /never runs it/.test(w)), doc.warnings.join('\n'));
    const lambda = doc.layers.find((l) => l.type === 'Lambda');
    assert.ok(lambda, 'the Lambda layer is listed');
    assert.equal(lambda.macs, null, 'its cost is unknown, not guessed');
    assert.equal(lambda.outputShape, null);
    const r = await cli('analyze', path.join(FIXTURES, 'generated/keras/keras2_functional_lambda.h5'), '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { warnings: string[] }).warnings.some((w) => /Lambda/.test(w)), 'the CLI shows the warning');
  });

  it('Keras 3 .keras with a nested Lambda layer: reported, never run', async () => {
    const doc = await openModel(path.join(FIXTURES, 'generated/keras/keras3_functional_lambda_nested.keras'));
    assert.ok(doc.warnings.some((w) => /Lambda/.test(w)), doc.warnings.join('\n'));
    assert.ok((await summarize(doc)).warnings.some((w) => /Lambda/.test(w)));
  });

  it('a .keras whose Lambda holds JavaScript that would create a file: reported, never run', async () => {
    const js = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`;
    const config = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 4] } },
          { module: 'keras.layers', class_name: 'Lambda', config: { name: 'evil', function: { class_name: '__lambda__', config: { code: js, defaults: null, closure: null } }, arguments: {} } },
          { module: 'os', class_name: 'system', registered_name: 'os>system', config: { name: 'custom', command: `touch ${marker}` } },
        ],
      },
    };
    const file = path.join(dir, 'lambda_js.keras');
    writeFileSync(file, writeZip([{ name: 'config.json', data: new TextEncoder().encode(JSON.stringify(config)), method: 8 }, { name: 'metadata.json', data: new TextEncoder().encode('{"keras_version":"3.6.0"}'), method: 8 }]));
    const doc = await openModel(file);
    assert.ok(doc.warnings.some((w) => /evil/.test(w) && /Lambda/.test(w)), doc.warnings.join('\n'));
    assert.ok(doc.warnings.some((w) => /system/.test(w)), 'a class from an arbitrary module is reported as unknown');
    await summarize(doc);
  });

  it('TF.js model.json with a Lambda layer and a Lambda-like custom class: reported, never run', async () => {
    const sub = path.join(dir, 'tfjs');
    mkdirSync(sub, { recursive: true });
    const js = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`;
    const topology = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } },
          { class_name: 'Lambda', config: { name: 'lam', function: js, function_type: 'lambda' } },
          { class_name: 'MyLambdaLayer', config: { name: 'my_lambda', fn: js } },
          { class_name: 'TFOpLambda', config: { name: 'tf_op', function: 'math.add' } },
        ],
      },
    };
    writeFileSync(path.join(sub, 'w.bin'), new Uint8Array(32));
    writeFileSync(
      path.join(sub, 'model.json'),
      JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'd/kernel', shape: [3, 2], dtype: 'float32' }, { name: 'd/bias', shape: [2], dtype: 'float32' }] }] }),
    );
    const doc = await openModel(path.join(sub, 'model.json'));
    const warnings = doc.warnings.join('\n');
    assert.match(warnings, /lam.*Lambda|Lambda.*lam/);
    assert.match(warnings, /MyLambdaLayer/, 'the Lambda-like custom class is reported');
    assert.match(warnings, /TFOpLambda/);
    const summary = await summarize(doc);
    assert.equal(summary.totalParams, 8);
    const r = await cli('analyze', path.join(sub, 'model.json'), '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.match((JSON.parse(r.stdout) as { warnings: string[] }).warnings.join('\n'), /MyLambdaLayer/);
  });
});
