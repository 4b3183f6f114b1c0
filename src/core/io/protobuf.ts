import { ModelFormatError, type ModelErrorCode } from '../errors';
import { decodeUtf8 } from './binaryReader';

/**
 * A small, bounded reader for the protobuf wire format (no schema, no codegen).
 *
 * Messages are views [start, end) over one in-memory buffer (or over runs of
 * a file with large payloads left on disk, see protobufSkim.ts); fields are
 * iterated lazily, so a reader only decodes what it asks for. Every length is
 * checked against the bytes that remain in the enclosing message, varints
 * longer than 10 bytes are refused, and nesting depth is bounded by the caller's
 * limit, so a hostile file ends in a ModelFormatError, never a RangeError or a
 * stack overflow.
 */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

export interface ProtoField {
  /** Field number from the key. */
  readonly field: number;
  /** Wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  readonly wire: number;
  /** Offset of the key byte(s), for error messages. */
  readonly keyAt: number;
  /** For LEN, FIXED32 and FIXED64: [start, end) of the payload. For VARINT: the varint's bytes. */
  readonly start: number;
  readonly end: number;
}

/** Bytes loaded from `start` of a file whose other parts were skipped (see protobufSkim.ts). */
export interface ByteRun {
  readonly start: number;
  readonly bytes: Uint8Array;
}

/** Runs loaded into one buffer: the file's bytes [start, start + length) are at arena[at…]. */
export interface ArenaRuns {
  readonly arena: Uint8Array;
  readonly runs: readonly { readonly start: number; readonly at: number; readonly length: number }[];
}

/** A character that is not 7-bit ASCII (in a string decoded as latin1: a byte ≥ 0x80). */
const NON_ASCII = /[^\x00-\x7f]/;

export class ProtoBuffer {
  /** Loaded runs, ascending and disjoint; usually one covering everything. */
  private readonly runs: readonly { readonly start: number; readonly at: number; readonly length: number }[];
  /** The buffer each run lies in: one for all (an arena, or the whole message), or one per run. */
  private readonly arena: Uint8Array | null;
  private readonly runBytes: readonly Uint8Array[] | null;
  /** The buffer of the run the last access fell in (reads are local, so this is nearly always a hit). */
  private bytes: Uint8Array;
  /** A DataView of `bytes`, made when a fixed-width value is first read from it. */
  private view: DataView | null = null;
  /** A Buffer view of `bytes`, made when a string is first read from it. */
  private text: Buffer | null = null;
  /** The current run: file positions [runStart, runEnd), at bytes[position + shift]. */
  private runStart: number;
  private runEnd: number;
  private shift: number;
  /** Offset of position 0 in the file, for messages. */
  readonly base: number;
  readonly maxDepth: number;
  /** End of the root message. */
  readonly length: number;

  /**
   * `data` is the whole message, or runs of it at their positions with gaps the
   * reader promised never to look into (payloads it only records as spans).
   */
  constructor(data: Uint8Array | readonly ByteRun[] | ArenaRuns, options: { base?: number; maxDepth?: number; length?: number } = {}) {
    if (data instanceof Uint8Array) {
      this.runs = [{ start: 0, at: 0, length: data.length }];
      this.arena = data;
      this.runBytes = null;
    } else if ('arena' in data) {
      this.runs = data.runs;
      this.arena = data.arena;
      this.runBytes = null;
    } else {
      this.runs = data.map((r) => ({ start: r.start, at: 0, length: r.bytes.length }));
      this.arena = null;
      this.runBytes = data.map((r) => r.bytes);
    }
    const last = this.runs[this.runs.length - 1];
    this.length = options.length ?? (last ? last.start + last.length : 0);
    const first = this.runs[0] ?? { start: 0, at: 0, length: 0 };
    this.bytes = this.arena ?? this.runBytes?.[0] ?? new Uint8Array(0);
    this.runStart = first.start;
    this.runEnd = first.start + first.length;
    this.shift = first.at - first.start;
    this.base = options.base ?? 0;
    this.maxDepth = options.maxDepth ?? 100;
  }

  /** ProtoMessage.cursor()'s cursors, by message depth. */
  private readonly cursors: FieldCursor[] = [];

  /** The cursor of messages at `depth`, set to walk [start, end). */
  cursorAt(depth: number, start: number, end: number): FieldCursor {
    let cursor = this.cursors[depth];
    if (!cursor) this.cursors[depth] = cursor = new FieldCursor(this, start, end);
    else cursor.reset(start, end);
    return cursor;
  }

  /** The whole buffer as the root message. */
  root(): ProtoMessage {
    return new ProtoMessage(this, 0, this.length, 0);
  }

  fail(code: ModelErrorCode, message: string, at: number): never {
    throw new ModelFormatError(code, message, { offset: this.base + at });
  }

  /** The index of the run holding `pos`, or −1 when it lies in a gap. */
  private runIndexAt(pos: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const run = this.runs[mid]!;
      if (pos < run.start) hi = mid - 1;
      else if (pos >= run.start + run.length) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Makes the run holding `pos` current. A position in a gap is a bug in the skipping plan, not bad input. */
  private enter(pos: number): void {
    const index = this.runIndexAt(pos);
    if (index < 0) throw new Error(`protobuf reader looked at offset ${this.base + pos}, inside a payload that was skipped`);
    const run = this.runs[index]!;
    const bytes = this.arena ?? this.runBytes![index]!;
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.view = null;
      this.text = null;
    }
    this.runStart = run.start;
    this.runEnd = run.start + run.length;
    this.shift = run.at - run.start;
  }

  /**
   * [start, end) as a string when it is all ASCII (names, op types: nearly every
   * string in a model), else null. Decoded natively from a Buffer view of the
   * run: building it char by char allocates a string per char, and TextDecoder
   * needs a view per call; this is a third of what a model's parse allocates.
   */
  ascii(start: number, end: number): string | null {
    if (start < this.runStart || end > this.runEnd) return null;
    const bytes = this.bytes;
    this.text ??= Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // Decoded first and checked by a regular expression: both native, where a loop over the bytes runs in the interpreter.
    const text = this.text.toString('latin1', start + this.shift, end + this.shift);
    return NON_ASCII.test(text) ? null : text;
  }

  /** Whether [start, end) was loaded (lies within one run). */
  has(start: number, end: number): boolean {
    if (start === end) return true;
    const index = this.runIndexAt(start);
    if (index < 0) return false;
    const run = this.runs[index]!;
    return end <= run.start + run.length;
  }

  /** The bytes [start, end), which must have been loaded (they lie within one run). */
  slice(start: number, end: number): Uint8Array {
    if (start < this.runStart || start >= this.runEnd) {
      if (start === end) return new Uint8Array(0);
      this.enter(start);
    }
    if (end > this.runEnd) throw new Error(`protobuf reader looked at offsets ${this.base + start}..${this.base + end}, across a skipped payload`);
    return this.bytes.subarray(start + this.shift, end + this.shift);
  }

  /** Where the last varint() ended. */
  after = 0;

  /** Reads a varint at `pos` that must end before `limit`; returns [value, next]. */
  varintAt(pos: number, limit: number): [number, number] {
    const value = this.varint(pos, limit);
    return [value, this.after];
  }

  /** Reads a varint at `pos` that must end before `limit`; its end goes to `after` (no tuple to allocate on the hot path). */
  varint(pos: number, limit: number): number {
    if ((pos < this.runStart || pos >= this.runEnd) && pos < limit) this.enter(pos);
    // Fast path: up to 7 bytes (49 bits) is exact in a double.
    const bytes = this.bytes;
    const shift = this.shift;
    const stop = Math.min(limit, this.runEnd);
    let value = 0;
    let scale = 1;
    let p = pos;
    for (let i = 0; i < 7; i++) {
      if (p >= stop) this.cutShort(pos, p, limit);
      const b = bytes[p++ + shift]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        this.after = p;
        return value;
      }
      scale *= 128;
    }
    // Long varints (negative int64s take 10 bytes): decode exactly with BigInt.
    const [big, next] = this.bigVarintAt(pos, limit);
    this.after = next;
    return Number(BigInt.asIntN(64, big));
  }

  bigVarintAt(pos: number, limit: number): [bigint, number] {
    if ((pos < this.runStart || pos >= this.runEnd) && pos < limit) this.enter(pos);
    const bytes = this.bytes;
    const offset = this.shift;
    const stop = Math.min(limit, this.runEnd);
    let value = 0n;
    let shift = 0n;
    let p = pos;
    for (let i = 0; i < 10; i++) {
      if (p >= stop) this.cutShort(pos, p, limit);
      const b = bytes[p++ + offset]!;
      value |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return [BigInt.asUintN(64, value), p];
      shift += 7n;
    }
    this.fail('not-a-model', `invalid protobuf: varint at offset ${this.base + pos} is longer than 10 bytes`, pos);
  }

  /** A varint reached `limit` (bad input) or the end of its run before it (a skipped payload: a bug). */
  private cutShort(pos: number, p: number, limit: number): never {
    if (p < limit) throw new Error(`protobuf reader read a varint at offset ${this.base + pos} into a skipped payload`);
    this.fail('truncated', `truncated protobuf: varint at offset ${this.base + pos} runs past the end of its message`, pos);
  }

  /** Where [pos, pos+width), which must lie in one run, is in `bytes`. */
  private at(pos: number, width: number): number {
    if (pos < this.runStart || pos + width > this.runEnd) {
      this.enter(pos);
      if (pos + width > this.runEnd) throw new Error(`protobuf reader read offset ${this.base + pos} across a skipped payload`);
    }
    return pos + this.shift;
  }

  private dataView(): DataView {
    return (this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  f32At(pos: number): number {
    const at = this.at(pos, 4);
    return this.dataView().getFloat32(at, true);
  }
  f64At(pos: number): number {
    const at = this.at(pos, 8);
    return this.dataView().getFloat64(at, true);
  }
  u32At(pos: number): number {
    const at = this.at(pos, 4);
    return this.dataView().getUint32(at, true);
  }
  i64At(pos: number): bigint {
    const at = this.at(pos, 8);
    return this.dataView().getBigInt64(at, true);
  }
}

export class ProtoMessage {
  constructor(
    readonly buf: ProtoBuffer,
    readonly start: number,
    readonly end: number,
    readonly depth: number,
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  /** Iterates the fields in file order; validates each key and payload bound as it goes. */
  fields(): IterableIterator<ProtoField> {
    return new FieldIterator(new FieldCursor(this.buf, this.start, this.end));
  }

  /**
   * The fields in file order through one reused object: `for (const f =
   * msg.cursor(); f.next(); )` then read f.field, f.start… (valid until the next
   * call). For parsers that walk every field of thousands of messages, where
   * fields() makes an object per field. The walks of all messages at one depth
   * share one cursor: a walk must be over before another message of its depth
   * is walked, as it is in a parser that reads nested messages as it meets them.
   */
  cursor(): FieldCursor {
    return this.buf.cursorAt(this.depth, this.start, this.end);
  }

  /** The nested message in a LEN field; refuses nesting deeper than the buffer's limit. */
  message(f: ProtoField): ProtoMessage {
    this.expectWire(f, WIRE_LEN, 'a message');
    if (this.depth + 1 > this.buf.maxDepth) {
      this.buf.fail('too-large', `protobuf messages nested deeper than ${this.buf.maxDepth} levels at offset ${this.buf.base + f.keyAt}`, f.keyAt);
    }
    return new ProtoMessage(this.buf, f.start, f.end, this.depth + 1);
  }

  string(f: ProtoField): string {
    this.expectWire(f, WIRE_LEN, 'a string');
    return this.buf.ascii(f.start, f.end) ?? decodeUtf8(this.buf.slice(f.start, f.end));
  }

  bytesOf(f: ProtoField): Uint8Array {
    this.expectWire(f, WIRE_LEN, 'bytes');
    return this.buf.slice(f.start, f.end);
  }

  /** A varint field as a signed 64-bit number (int32/int64/enum/bool). */
  int(f: ProtoField): number {
    if (f.wire === WIRE_VARINT) return this.buf.varint(f.start, f.end);
    if (f.wire === WIRE_FIXED64) return Number(this.buf.i64At(f.start));
    if (f.wire === WIRE_FIXED32) return this.buf.u32At(f.start) | 0;
    return this.wrongWire(f, 'an integer');
  }

  float(f: ProtoField): number {
    if (f.wire === WIRE_FIXED32) return this.buf.f32At(f.start);
    if (f.wire === WIRE_FIXED64) return this.buf.f64At(f.start);
    return this.wrongWire(f, 'a float');
  }

  /** A repeated varint field, packed (LEN) or not (VARINT): appends to `out`. */
  ints(f: ProtoField, out: number[], limit = Number.MAX_SAFE_INTEGER): number[] {
    this.intsAt(f, out, out.length, limit);
    return out;
  }

  /**
   * The same, written from out[count] on (whatever `out` holds past count is
   * overwritten or ignored); returns the new count. At most `limit` values in all.
   */
  intsAt(f: ProtoField, out: number[], count: number, limit = Number.MAX_SAFE_INTEGER): number {
    if (f.wire === WIRE_LEN) {
      let p = f.start;
      while (p < f.end) {
        if (count >= limit) this.buf.fail('too-large', `too many values in field ${f.field}`, p);
        out[count++] = this.buf.varint(p, f.end);
        p = this.buf.after;
      }
      return count;
    }
    out[count++] = this.int(f);
    return count;
  }

  /** A repeated float field, packed (LEN) or not (FIXED32): appends to `out`. */
  floats(f: ProtoField, out: number[]): number[] {
    if (f.wire === WIRE_LEN) {
      if ((f.end - f.start) % 4 !== 0) {
        this.buf.fail('not-a-model', `invalid protobuf: packed float field ${f.field} has ${f.end - f.start} bytes, not a multiple of 4`, f.keyAt);
      }
      for (let p = f.start; p < f.end; p += 4) out.push(this.buf.f32At(p));
      return out;
    }
    out.push(this.float(f));
    return out;
  }

  private expectWire(f: ProtoField, wire: number, what: string): void {
    if (f.wire !== wire) this.wrongWire(f, what);
  }

  private wrongWire(f: ProtoField, what: string): never {
    this.buf.fail(
      'not-a-model',
      `invalid protobuf: field ${f.field} at offset ${this.buf.base + f.keyAt} has wire type ${f.wire}, expected ${what}`,
      f.keyAt,
    );
  }
}

/**
 * The current field of a walk over one message's fields, decoded as the walk
 * gets there (an error in a later field is met only then).
 */
export class FieldCursor implements ProtoField {
  field = 0;
  wire = 0;
  keyAt = 0;
  start = 0;
  end = 0;

  constructor(
    private readonly buf: ProtoBuffer,
    private pos: number,
    private limit: number,
  ) {}

  /** Starts over on the fields of [start, end). */
  reset(start: number, end: number): void {
    this.pos = start;
    this.limit = end;
  }

  /** Moves to the next field; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.limit) return false;
    // Annotated so that fail() (never) ends the control flow for the compiler.
    const buf: ProtoBuffer = this.buf;
    const limit = this.limit;
    const keyAt = this.pos;
    const key = buf.varint(keyAt, limit);
    const wire = key % 8;
    // Exact division, no fraction: an unoptimised function would box the fraction as a heap number (a 10-byte varint key is negative).
    const field = key >= 0 ? (key - wire) / 8 : Math.floor(key / 8);
    if (field < 1 || field > 0x1fffffff) {
      buf.fail('not-a-model', `invalid protobuf: field number ${field} at offset ${buf.base + keyAt}`, keyAt);
    }
    let start = buf.after;
    let end: number;
    switch (wire) {
      case WIRE_VARINT:
        buf.varint(start, limit);
        end = buf.after;
        break;
      case WIRE_FIXED64:
        end = start + 8;
        break;
      case WIRE_FIXED32:
        end = start + 4;
        break;
      case WIRE_LEN: {
        const len = buf.varint(start, limit);
        start = buf.after;
        if (len < 0 || len > limit - start) {
          buf.fail(
            'truncated',
            `truncated protobuf: field ${field} at offset ${buf.base + keyAt} declares ${len} bytes, but only ${limit - start} remain in its message`,
            keyAt,
          );
        }
        end = start + len;
        break;
      }
      default:
        // Groups (3, 4) are deprecated and unused by the formats we read; 6 and 7 don't exist.
        buf.fail('not-a-model', `invalid protobuf: unsupported wire type ${wire} for field ${field} at offset ${buf.base + keyAt}`, keyAt);
    }
    if (end > limit) {
      buf.fail('truncated', `truncated protobuf: field ${field} at offset ${buf.base + keyAt} runs past the end of its message`, keyAt);
    }
    this.pos = end;
    this.field = field;
    this.wire = wire;
    this.keyAt = keyAt;
    this.start = start;
    this.end = end;
    return true;
  }
}

/** The fields of one message as separate objects (callers may keep them). */
class FieldIterator implements IterableIterator<ProtoField> {
  /** One result object for the whole walk, rather than one per field. */
  private readonly result: { done: boolean; value: ProtoField | undefined } = { done: false, value: undefined };

  constructor(private readonly cursor: FieldCursor) {}

  [Symbol.iterator](): IterableIterator<ProtoField> {
    return this;
  }

  next(): IteratorResult<ProtoField> {
    const result = this.result;
    const c = this.cursor;
    if (c.next()) {
      result.value = { field: c.field, wire: c.wire, keyAt: c.keyAt, start: c.start, end: c.end };
    } else {
      result.done = true;
      result.value = undefined;
    }
    return result as IteratorResult<ProtoField>;
  }
}

/** Counts the varints in a packed payload without decoding them (each ends with a byte < 0x80). */
export function countPackedVarints(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let p = start; p < end; p++) if (bytes[p]! < 0x80) n++;
  return n;
}
