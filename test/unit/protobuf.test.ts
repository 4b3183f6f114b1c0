import * as assert from 'node:assert/strict';
import { ModelFormatError } from '../../src/core/errors';
import { countPackedVarints, ProtoBuffer, type ProtoField } from '../../src/core/io/protobuf';

/** Encodes a protobuf varint (non-negative bigint or number). */
function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number): number[] => varint(field * 8 + wire);
const len = (field: number, payload: number[]): number[] => [...key(field, 2), ...varint(payload.length), ...payload];

function fields(bytes: number[], maxDepth = 100): { buf: ProtoBuffer; list: ProtoField[] } {
  const buf = new ProtoBuffer(new Uint8Array(bytes), { maxDepth });
  return { buf, list: [...buf.root().fields()] };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an error');
}

describe('protobuf wire reader', () => {
  it('reads varints, including 10-byte negative int64 values', () => {
    const bytes = [...key(1, 0), ...varint(300), ...key(2, 0), ...varint(-1n), ...key(3, 0), ...varint(2n ** 40n)];
    const { buf, list } = fields(bytes);
    const msg = buf.root();
    assert.deepEqual(
      list.map((f) => [f.field, f.wire, msg.int(f)]),
      [
        [1, 0, 300],
        [2, 0, -1],
        [3, 0, 2 ** 40],
      ],
    );
  });

  it('reads strings, fixed32 floats, fixed64 and packed/unpacked repeated fields', () => {
    const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const f64 = new Uint8Array(new Float64Array([3.25]).buffer);
    const bytes = [
      ...len(1, [...Buffer.from('héllo')]),
      ...key(2, 5), ...f32.subarray(0, 4),
      ...key(3, 1), ...f64,
      ...len(4, [...f32]),
      ...len(5, [...varint(1), ...varint(150), ...varint(-2n)]),
      ...key(5, 0), ...varint(7),
    ];
    const { buf, list } = fields(bytes);
    const msg = buf.root();
    assert.equal(msg.string(list[0]!), 'héllo');
    assert.equal(msg.float(list[1]!), 1.5);
    assert.equal(msg.float(list[2]!), 3.25);
    assert.deepEqual(msg.floats(list[3]!, []), [1.5, -2]);
    const ints: number[] = [];
    msg.ints(list[4]!, ints);
    msg.ints(list[5]!, ints);
    assert.deepEqual(ints, [1, 150, -2, 7]);
    assert.equal(countPackedVarints(buf.slice(list[4]!.start, list[4]!.end), 0, list[4]!.end - list[4]!.start), 3);
  });

  it('iterates nested messages lazily and bounds their depth', () => {
    // 5 levels of field 1 nested in each other.
    let inner: number[] = [...key(2, 0), 42];
    for (let i = 0; i < 5; i++) inner = len(1, inner);
    const buf = new ProtoBuffer(new Uint8Array(inner), { maxDepth: 10 });
    let msg = buf.root();
    for (let i = 0; i < 5; i++) msg = msg.message([...msg.fields()][0]!);
    assert.equal(msg.int([...msg.fields()][0]!), 42);

    const shallow = new ProtoBuffer(new Uint8Array(inner), { maxDepth: 3 });
    assert.equal(
      code(() => {
        let m = shallow.root();
        for (let i = 0; i < 5; i++) m = m.message([...m.fields()][0]!);
      }),
      'too-large',
    );
  });

  it('refuses varints longer than 10 bytes', () => {
    const bytes = [...key(1, 0), ...new Array(10).fill(0xff), 0x01];
    assert.equal(code(() => fields(bytes)), 'not-a-model');
  });

  it('reports a varint cut by the end of the data as truncated', () => {
    assert.equal(code(() => fields([...key(1, 0), 0x80, 0x80])), 'truncated');
  });

  it('checks a length-delimited field against the bytes that remain', () => {
    const bytes = [...key(7, 2), ...varint(1000), 1, 2, 3];
    assert.equal(code(() => fields(bytes)), 'truncated');
    // A nested message may not run past its parent either.
    const nested = len(1, [...key(2, 2), ...varint(5), 1, 2]);
    const buf = new ProtoBuffer(new Uint8Array([...nested, ...key(3, 0), 9, ...key(4, 0), 9]));
    const outer = [...buf.root().fields()];
    assert.equal(code(() => [...buf.root().message(outer[0]!).fields()]), 'truncated');
  });

  it('refuses group and unknown wire types and field number 0', () => {
    assert.equal(code(() => fields([...key(1, 3)])), 'not-a-model');
    assert.equal(code(() => fields([...key(1, 7)])), 'not-a-model');
    assert.equal(code(() => fields([0x00, 0x01])), 'not-a-model');
  });

  it('refuses a field whose wire type does not fit the requested value', () => {
    const { buf, list } = fields([...key(1, 0), 5]);
    assert.equal(code(() => buf.root().string(list[0]!)), 'not-a-model');
    assert.equal(code(() => buf.root().message(list[0]!)), 'not-a-model');
  });

  it('adds the base offset to error positions', () => {
    const buf = new ProtoBuffer(new Uint8Array([...key(7, 2), ...varint(50)]), { base: 1000 });
    try {
      [...buf.root().fields()];
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof ModelFormatError);
      assert.equal(e.offset, 1000);
      assert.match(e.message, /offset 1000/);
    }
  });
});
