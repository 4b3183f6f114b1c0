/**
 * The restricted unpickler on opcode streams written by hand: every value is
 * data, and any global outside the allow-list is refused before anything runs.
 */
import * as assert from 'node:assert/strict';
import { isModelFormatError } from '../../src/core/errors';
import { PickleGlobal, PickleObject, isAllowedGlobal, unpickle } from '../../src/core/formats/pytorch/unpickler';

const enc = new TextEncoder();

/** Builds a pickle from opcode strings (latin-1) and byte arrays. */
function pk(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: number) => [...u32(n), 0, 0, 0, 0];
function binunicode8(s: string): number[] {
  const b = enc.encode(s);
  return [0x8d, ...u64(b.length), ...b];
}

function expectCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isModelFormatError(e), `expected ModelFormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return;
  }
  assert.fail(`expected a '${code}' error`);
}

describe('unpickler', () => {
  it('reads protocol 0 text opcodes: INT, booleans, LONG, FLOAT, STRING, UNICODE, LIST/APPEND, DICT', () => {
    const v = unpickle(pk('(dp0\n', "S'a'\n", 'p1\n', '(lp2\n', 'I42\n', 'aI01\n', 'aL12345678901234567890L\n', 'aF2.5\n', 'a', "sS'b'\n", 'V\\u00e9t\\u00e9\n', 's.'));
    assert.ok(v instanceof Map);
    assert.deepEqual(v.get('a'), [42, true, 12345678901234567890n, 2.5]);
    assert.equal(v.get('b'), 'été');
  });

  it('resolves memo PUT/GET and BINPUT/BINGET to the same object', () => {
    // [x, x] where x = [] memoised with BINPUT 0, fetched again with BINGET 0.
    const v = unpickle(pk([0x80, 0x02], ']q', [0], '(]q', [1], 'h', [1], 'e.')) as unknown[];
    assert.equal(v.length, 2);
    assert.strictEqual(v[0], v[1]);
    const text = unpickle(pk('(lp0\n(lp1\nag1\na.')) as unknown[];
    assert.strictEqual(text[0], text[1]);
  });

  it('builds tuples and dicts with MARK/TUPLE/DICT/SETITEMS and TUPLE1-3', () => {
    const v = unpickle(pk([0x80, 0x02], '}(', [0x8c, 1], 'k', '(K', [1], 'K', [2], 'K', [3], 't', [0x8c, 1], 'm', 'K', [7], [0x85], 'u.'));
    assert.ok(v instanceof Map);
    assert.deepEqual(v.get('k'), [1, 2, 3]);
    assert.deepEqual(v.get('m'), [7]);
    assert.deepEqual(unpickle(pk('K', [1], 'K', [2], [0x86], '.')), [1, 2]);
    assert.deepEqual(unpickle(pk('K', [1], 'K', [2], 'K', [3], [0x87], '.')), [1, 2, 3]);
  });

  it('decodes LONG1 (two’s complement), BININT, BININT2 and BINFLOAT', () => {
    assert.equal(unpickle(pk([0x8a, 2, 0xff, 0x7f], '.')), 32767);
    assert.equal(unpickle(pk([0x8a, 1, 0xff], '.')), -1);
    assert.equal(unpickle(pk([0x8a, 0], '.')), 0);
    assert.equal(unpickle(pk([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1], '.')), 2n ** 64n);
    assert.equal(unpickle(pk('J', [0xfe, 0xff, 0xff, 0xff], '.')), -2);
    assert.equal(unpickle(pk('M', [0x34, 0x12], '.')), 0x1234);
    assert.equal(unpickle(pk('G', [0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18], '.')), Math.PI);
  });

  it('reads BINUNICODE8 and protocol-4 FRAMEs', () => {
    const body = pk(binunicode8('größe'), '.');
    const v = unpickle(pk([0x80, 0x04, 0x95], u64(body.length), body));
    assert.equal(v, 'größe');
  });

  it('turns allowed globals into inert placeholders and REDUCE into records', () => {
    const v = unpickle(pk('ctorch\nSize\n', '(K', [2], 'K', [3], 't', [0x85], 'R.'));
    assert.ok(v instanceof PickleObject);
    assert.equal(v.callee.qualifiedName, 'torch.Size');
    assert.deepEqual(v.args, [[2, 3]]);
    const od = unpickle(pk('ccollections\nOrderedDict\n)R', '(', [0x8c, 1], 'a', 'K', [1], 'u.'));
    assert.ok(od instanceof Map);
    assert.equal(od.get('a'), 1);
    // Python 2's OrderedDict.__reduce__ passes the items as the argument: OrderedDict([['a', 1], ['b', 2]]).
    const py2 = unpickle(pk('ccollections\nOrderedDict\n', ']', '(', ']', '(', [0x55, 1], 'a', 'K', [1], 'e', ']', '(', [0x55, 1], 'b', 'K', [2], 'e', 'e', [0x85], 'R.'));
    assert.ok(py2 instanceof Map);
    assert.deepEqual([...py2], [['a', 1], ['b', 2]]);
    const g = unpickle(pk('ctorch\nfloat16\n.'));
    assert.ok(g instanceof PickleGlobal);
    assert.equal(g.qualifiedName, 'torch.float16');
  });

  it('refuses os.system, builtins.eval, posix.system via STACK_GLOBAL, subprocess via INST, getattr', () => {
    expectCode(() => unpickle(pk([0x80, 0x02], 'cos\nsystem\n', 'X', u32(4), 'echo', [0x85], 'R.')), 'unsafe', /os\.system/);
    expectCode(() => unpickle(pk('cbuiltins\neval\n', "(S'1+1'\n", 'tR.')), 'unsafe', /builtins\.eval/);
    expectCode(() => unpickle(pk([0x80, 0x04], [0x8c, 5], 'posix', [0x8c, 6], 'system', [0x93], '.')), 'unsafe', /posix\.system/);
    expectCode(() => unpickle(pk("(S'ls'\n", 'isubprocess\ngetoutput\n.')), 'unsafe', /subprocess\.getoutput/);
    expectCode(() => unpickle(pk('cbuiltins\ngetattr\n.')), 'unsafe', /getattr/);
    expectCode(() => unpickle(pk('c__builtin__\n__import__\n.')), 'unsafe', /__import__/);
    expectCode(() => unpickle(pk([0x82, 1], '.')), 'unsafe');
    assert.equal(isAllowedGlobal('torch._utils', '_rebuild_tensor_v2'), true);
    assert.equal(isAllowedGlobal('torch.nn.modules.linear', 'Linear'), true);
    assert.equal(isAllowedGlobal('torch', 'load'), false);
    assert.equal(isAllowedGlobal('torch.nn.modules.linear', 'os'), false);
  });

  it('fails cleanly on malformed streams', () => {
    expectCode(() => unpickle(pk('K', [1])), 'truncated');
    expectCode(() => unpickle(pk('X', u32(1000), 'ab.')), 'truncated');
    expectCode(() => unpickle(pk(binunicode8('x').slice(0, 5))), 'truncated');
    expectCode(() => unpickle(pk('h', [9], '.')), 'not-a-model', /memo 9/);
    expectCode(() => unpickle(pk('t.')), 'not-a-model', /MARK/);
    expectCode(() => unpickle(pk('a.')), 'not-a-model', /underflow/);
    expectCode(() => unpickle(pk([0xff], '.')), 'not-a-model', /opcode 0xff/);
    expectCode(() => unpickle(pk('Q.')), 'not-a-model');
  });

  it('handles deep nesting and self-reference without recursion', () => {
    const deep = pk(']'.repeat(100_000) + 'a'.repeat(99_999) + '.');
    let v = unpickle(deep) as unknown[];
    let depth = 1;
    while (v.length) {
      v = v[0] as unknown[];
      depth++;
    }
    assert.equal(depth, 100_000);
    const cyclic = unpickle(pk(']q', [0], 'h', [0], 'a.')) as unknown[];
    assert.strictEqual(cyclic[0], cyclic);
  });

  it('hands persistent ids to the caller', () => {
    const seen: unknown[] = [];
    const v = unpickle(pk('(', [0x8c, 7], 'storage', 'K', [5], 'tQ.'), { persistentLoad: (pid) => (seen.push(pid), 'S') });
    assert.equal(v, 'S');
    assert.deepEqual(seen, [['storage', 5]]);
    assert.equal(unpickle(pk('P12\n.'), { persistentLoad: (pid) => `<${String(pid)}>` }), '<12>');
  });
});
