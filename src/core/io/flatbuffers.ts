import { ModelFormatError } from '../errors';
import { decodeUtf8 } from './binaryReader';

/**
 * A bounded reader for FlatBuffers tables and vectors (no schema, no codegen).
 * Every offset read from the buffer is checked before it is followed: a table's
 * vtable, each field, each vector's length and each element must lie inside the
 * buffer, so a corrupt file ends in a 'truncated' or 'not-a-model' error naming
 * the offset instead of a RangeError or garbage.
 *
 * Layout reminders: a table starts with an int32 soffset to its vtable
 * (vtable = table - soffset); the vtable holds u16 vtable size, u16 table size,
 * then one u16 offset per field (0 = absent). Offsets to tables, vectors and
 * strings are uint32 relative to where they are stored. Vectors start with a
 * uint32 element count.
 */
export class FlatBuffer {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  fail(message: string, at: number, code: 'truncated' | 'not-a-model' = 'truncated'): never {
    throw new ModelFormatError(code, message, { offset: at });
  }

  check(at: number, size: number, what: string): void {
    if (!Number.isInteger(at) || at < 0 || size < 0 || at + size > this.bytes.length) {
      this.fail(`flatbuffer ${what} at offset ${at} (${size} bytes) lies outside the ${this.bytes.length}-byte buffer`, Math.max(0, at));
    }
  }

  u8(at: number): number {
    this.check(at, 1, 'byte');
    return this.bytes[at]!;
  }
  i8(at: number): number {
    this.check(at, 1, 'byte');
    return this.view.getInt8(at);
  }
  u16(at: number): number {
    this.check(at, 2, 'uint16');
    return this.view.getUint16(at, true);
  }
  i32(at: number): number {
    this.check(at, 4, 'int32');
    return this.view.getInt32(at, true);
  }
  u32(at: number): number {
    this.check(at, 4, 'uint32');
    return this.view.getUint32(at, true);
  }
  f32(at: number): number {
    this.check(at, 4, 'float');
    return this.view.getFloat32(at, true);
  }
  u64(at: number): bigint {
    this.check(at, 8, 'uint64');
    return this.view.getBigUint64(at, true);
  }
  i64(at: number): bigint {
    this.check(at, 8, 'int64');
    return this.view.getBigInt64(at, true);
  }

  /** Follows a uoffset stored at `at`. */
  deref(at: number, what: string): number {
    const target = at + this.u32(at);
    this.check(target, 0, what);
    return target;
  }

  /** The root table (uoffset at byte 0). */
  root(): Table {
    return this.table(this.deref(0, 'root table'));
  }

  table(pos: number): Table {
    this.check(pos, 4, 'table');
    const vtable = pos - this.i32(pos);
    this.check(vtable, 4, 'vtable');
    const vtableSize = this.u16(vtable);
    const tableSize = this.u16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0) this.fail(`flatbuffer vtable at offset ${vtable} has an invalid size ${vtableSize}`, vtable, 'not-a-model');
    this.check(vtable, vtableSize, 'vtable');
    this.check(pos, tableSize, 'table');
    return new Table(this, pos, vtable, vtableSize, tableSize);
  }
}

/** A vector's element count and the position of its first element. */
export interface FbVector {
  start: number;
  length: number;
}

export class Table {
  constructor(
    readonly fb: FlatBuffer,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly tableSize: number,
  ) {}

  /** Absolute position of field `index`, or 0 when absent; checks `size` bytes fit the table. */
  field(index: number, size: number): number {
    const slot = 4 + index * 2;
    if (slot + 2 > this.vtableSize) return 0;
    const off = this.fb.u16(this.vtable + slot);
    if (off === 0) return 0;
    if (off + size > this.tableSize) this.fb.fail(`flatbuffer field ${index} of the table at offset ${this.pos} overruns the table`, this.pos);
    return this.pos + off;
  }

  has(index: number): boolean {
    return this.field(index, 0) !== 0;
  }

  u8(index: number, dflt = 0): number {
    const at = this.field(index, 1);
    return at ? this.fb.u8(at) : dflt;
  }
  i8(index: number, dflt = 0): number {
    const at = this.field(index, 1);
    return at ? this.fb.i8(at) : dflt;
  }
  bool(index: number, dflt = false): boolean {
    const at = this.field(index, 1);
    return at ? this.fb.u8(at) !== 0 : dflt;
  }
  i32(index: number, dflt = 0): number {
    const at = this.field(index, 4);
    return at ? this.fb.i32(at) : dflt;
  }
  u32(index: number, dflt = 0): number {
    const at = this.field(index, 4);
    return at ? this.fb.u32(at) : dflt;
  }
  /** uint64 as a number; values beyond 2^53 are refused. */
  u64(index: number, dflt = 0): number {
    const at = this.field(index, 8);
    if (!at) return dflt;
    const v = this.fb.u64(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelFormatError('too-large', `flatbuffer value ${v} at offset ${at} is too large`, { offset: at });
    return Number(v);
  }

  string(index: number): string | null {
    const at = this.field(index, 4);
    if (!at) return null;
    const v = this.vectorAt(this.fb.deref(at, 'string'), 1, 'string');
    return decodeUtf8(this.fb.bytes.subarray(v.start, v.start + v.length));
  }

  table(index: number): Table | null {
    const at = this.field(index, 4);
    return at ? this.fb.table(this.fb.deref(at, 'table')) : null;
  }

  /** A vector of scalars or offsets with `elementSize` bytes per element. */
  vector(index: number, elementSize: number): FbVector | null {
    const at = this.field(index, 4);
    if (!at) return null;
    return this.vectorAt(this.fb.deref(at, 'vector'), elementSize, `vector (field ${index})`);
  }

  private vectorAt(pos: number, elementSize: number, what: string): FbVector {
    const length = this.fb.u32(pos);
    const start = pos + 4;
    if (length > (this.fb.length - start) / Math.max(1, elementSize)) {
      this.fb.fail(`flatbuffer ${what} at offset ${pos} declares ${length} elements, more than the buffer holds`, pos);
    }
    return { start, length };
  }

  /** The tables of a vector-of-tables field. */
  tables(index: number): Table[] {
    const v = this.vector(index, 4);
    if (!v) return [];
    const out: Table[] = [];
    for (let i = 0; i < v.length; i++) {
      const at = v.start + i * 4;
      out.push(this.fb.table(this.fb.deref(at, 'table')));
    }
    return out;
  }

  i32s(index: number): number[] {
    const v = this.vector(index, 4);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.fb.i32(v.start + i * 4);
    return out;
  }

  f32s(index: number): number[] {
    const v = this.vector(index, 4);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.fb.f32(v.start + i * 4);
    return out;
  }

  i64s(index: number): number[] {
    const v = this.vector(index, 8);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = Number(this.fb.i64(v.start + i * 8));
    return out;
  }

  /** A [ubyte] vector as a view (no copy). */
  bytes(index: number): Uint8Array | null {
    const v = this.vector(index, 1);
    return v ? this.fb.bytes.subarray(v.start, v.start + v.length) : null;
  }
}
