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

export class ProtoBuffer {
  /** Loaded runs, ascending and disjoint; usually one covering everything. */
  private readonly runs: readonly ByteRun[];
  /** The run the last access fell in (reads are local, so this is nearly always a hit). */
  private bytes: Uint8Array;
  /** A DataView of `bytes`, made when a fixed-width value is first read from this run. */
  private view: DataView | null = null;
  /** A Buffer view of `bytes`, made when a string is first read from this run. */
  private text: Buffer | null = null;
  private runStart: number;
  private runEnd: number;
  /** Offset of position 0 in the file, for messages. */
  readonly base: number;
  readonly maxDepth: number;
  /** End of the root message. */
  readonly length: number;

  /**
   * `data` is the whole message, or runs of it at their positions with gaps the
   * reader promised never to look into (payloads it only records as spans).
   */
  constructor(data: Uint8Array | readonly ByteRun[], options: { base?: number; maxDepth?: number; length?: number } = {}) {
    this.runs = data instanceof Uint8Array ? [{ start: 0, bytes: data }] : data;
    const last = this.runs[this.runs.length - 1];
    this.length = options.length ?? (last ? last.start + last.bytes.length : 0);
    const first = this.runs[0] ?? { start: 0, bytes: new Uint8Array(0) };
    this.bytes = first.bytes;
    this.runStart = first.start;
    this.runEnd = first.start + first.bytes.length;
    this.base = options.base ?? 0;
    this.maxDepth = options.maxDepth ?? 100;
  }

  /** The whole buffer as the root message. */
  root(): ProtoMessage {
    return new ProtoMessage(this, 0, this.length, 0);
  }

  fail(code: ModelErrorCode, message: string, at: number): never {
    throw new ModelFormatError(code, message, { offset: this.base + at });
  }

  /** Makes the run holding `pos` current. A position in a gap is a bug in the skipping plan, not bad input. */
  private enter(pos: number): void {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const run = this.runs[mid]!;
      if (pos < run.start) hi = mid - 1;
      else if (pos >= run.start + run.bytes.length) lo = mid + 1;
      else {
        this.bytes = run.bytes;
        this.view = null;
        this.text = null;
        this.runStart = run.start;
        this.runEnd = run.start + run.bytes.length;
        return;
      }
    }
    throw new Error(`protobuf reader looked at offset ${this.base + pos}, inside a payload that was skipped`);
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
    const from = start - this.runStart;
    const to = end - this.runStart;
    for (let p = from; p < to; p++) if (bytes[p]! >= 0x80) return null;
    this.text ??= Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.text.toString('latin1', from, to);
  }

  /** Whether [start, end) was loaded (lies within one run). */
  has(start: number, end: number): boolean {
    if (start === end) return true;
    for (const run of this.runs) if (start >= run.start && end <= run.start + run.bytes.length) return true;
    return false;
  }

  /** The bytes [start, end), which must have been loaded (they lie within one run). */
  slice(start: number, end: number): Uint8Array {
    if (start < this.runStart || start >= this.runEnd) {
      if (start === end) return new Uint8Array(0);
      this.enter(start);
    }
    if (end > this.runEnd) throw new Error(`protobuf reader looked at offsets ${this.base + start}..${this.base + end}, across a skipped payload`);
    return this.bytes.subarray(start - this.runStart, end - this.runStart);
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
    const offset = this.runStart;
    const stop = Math.min(limit, this.runEnd);
    let value = 0;
    let scale = 1;
    let p = pos;
    for (let i = 0; i < 7; i++) {
      if (p >= stop) this.cutShort(pos, p, limit);
      const b = bytes[p++ - offset]!;
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
    const offset = this.runStart;
    const stop = Math.min(limit, this.runEnd);
    let value = 0n;
    let shift = 0n;
    let p = pos;
    for (let i = 0; i < 10; i++) {
      if (p >= stop) this.cutShort(pos, p, limit);
      const b = bytes[p++ - offset]!;
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

  /** The run-relative position of [pos, pos+width), which must lie in one run. */
  private at(pos: number, width: number): number {
    if (pos < this.runStart || pos + width > this.runEnd) {
      this.enter(pos);
      if (pos + width > this.runEnd) throw new Error(`protobuf reader read offset ${this.base + pos} across a skipped payload`);
    }
    return pos - this.runStart;
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
    return new FieldIterator(this.buf, this.start, this.end);
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
    if (f.wire === WIRE_LEN) {
      let p = f.start;
      while (p < f.end) {
        if (out.length >= limit) this.buf.fail('too-large', `too many values in field ${f.field}`, p);
        out.push(this.buf.varint(p, f.end));
        p = this.buf.after;
      }
      return out;
    }
    out.push(this.int(f));
    return out;
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
 * The fields of one message, decoded as they are asked for (an error in a later
 * field is met only when the walk gets there). A class rather than a generator:
 * one reused result object instead of one per field.
 */
class FieldIterator implements IterableIterator<ProtoField> {
  private readonly result: { done: boolean; value: ProtoField | undefined } = { done: false, value: undefined };

  constructor(
    private readonly buf: ProtoBuffer,
    private pos: number,
    private readonly end: number,
  ) {}

  [Symbol.iterator](): IterableIterator<ProtoField> {
    return this;
  }

  next(): IteratorResult<ProtoField> {
    const result = this.result;
    if (this.pos >= this.end) {
      result.done = true;
      result.value = undefined;
      return result as IteratorResult<ProtoField>;
    }
    // Annotated so that fail() (never) ends the control flow for the compiler.
    const buf: ProtoBuffer = this.buf;
    const limit = this.end;
    const keyAt = this.pos;
    const key = buf.varint(keyAt, limit);
    const field = Math.floor(key / 8);
    const wire = key % 8;
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
    result.value = { field, wire, keyAt, start, end };
    return result as IteratorResult<ProtoField>;
  }
}

/** Counts the varints in a packed payload without decoding them (each ends with a byte < 0x80). */
export function countPackedVarints(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let p = start; p < end; p++) if (bytes[p]! < 0x80) n++;
  return n;
}
