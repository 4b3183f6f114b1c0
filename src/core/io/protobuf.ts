import { ModelFormatError, type ModelErrorCode } from '../errors';
import { decodeUtf8 } from './binaryReader';

/**
 * A small, bounded reader for the protobuf wire format (no schema, no codegen).
 *
 * Messages are views [start, end) over one in-memory buffer; fields are
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

export class ProtoBuffer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** Offset of bytes[0] in the file, for messages. */
  readonly base: number;
  readonly maxDepth: number;

  constructor(bytes: Uint8Array, options: { base?: number; maxDepth?: number } = {}) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = options.base ?? 0;
    this.maxDepth = options.maxDepth ?? 100;
  }

  /** The whole buffer as the root message. */
  root(): ProtoMessage {
    return new ProtoMessage(this, 0, this.bytes.length, 0);
  }

  fail(code: ModelErrorCode, message: string, at: number): never {
    throw new ModelFormatError(code, message, { offset: this.base + at });
  }

  /** Reads a varint at `pos` that must end before `limit`; returns [value, next]. */
  varintAt(pos: number, limit: number): [number, number] {
    // Fast path: up to 7 bytes (49 bits) is exact in a double.
    let value = 0;
    let scale = 1;
    let p = pos;
    for (let i = 0; i < 7; i++) {
      if (p >= limit) this.fail('truncated', `truncated protobuf: varint at offset ${this.base + pos} runs past the end of its message`, pos);
      const b = this.bytes[p++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return [value, p];
      scale *= 128;
    }
    // Long varints (negative int64s take 10 bytes): decode exactly with BigInt.
    const [big, next] = this.bigVarintAt(pos, limit);
    return [Number(BigInt.asIntN(64, big)), next];
  }

  bigVarintAt(pos: number, limit: number): [bigint, number] {
    let value = 0n;
    let shift = 0n;
    let p = pos;
    for (let i = 0; i < 10; i++) {
      if (p >= limit) this.fail('truncated', `truncated protobuf: varint at offset ${this.base + pos} runs past the end of its message`, pos);
      const b = this.bytes[p++]!;
      value |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return [BigInt.asUintN(64, value), p];
      shift += 7n;
    }
    this.fail('not-a-model', `invalid protobuf: varint at offset ${this.base + pos} is longer than 10 bytes`, pos);
  }

  f32At(pos: number): number {
    return this.view.getFloat32(pos, true);
  }
  f64At(pos: number): number {
    return this.view.getFloat64(pos, true);
  }
  u32At(pos: number): number {
    return this.view.getUint32(pos, true);
  }
  i64At(pos: number): bigint {
    return this.view.getBigInt64(pos, true);
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
  *fields(): Generator<ProtoField> {
    const buf: ProtoBuffer = this.buf;
    let pos = this.start;
    while (pos < this.end) {
      const keyAt = pos;
      const [key, afterKey] = buf.varintAt(pos, this.end);
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (field < 1 || field > 0x1fffffff) {
        buf.fail('not-a-model', `invalid protobuf: field number ${field} at offset ${buf.base + keyAt}`, keyAt);
      }
      pos = afterKey;
      let start = pos;
      let end: number;
      switch (wire) {
        case WIRE_VARINT: {
          end = buf.varintAt(pos, this.end)[1];
          break;
        }
        case WIRE_FIXED64:
          end = pos + 8;
          break;
        case WIRE_FIXED32:
          end = pos + 4;
          break;
        case WIRE_LEN: {
          const [len, afterLen] = buf.varintAt(pos, this.end);
          start = afterLen;
          if (len < 0 || len > this.end - afterLen) {
            buf.fail(
              'truncated',
              `truncated protobuf: field ${field} at offset ${buf.base + keyAt} declares ${len} bytes, but only ${this.end - afterLen} remain in its message`,
              keyAt,
            );
          }
          end = afterLen + len;
          break;
        }
        default:
          // Groups (3, 4) are deprecated and unused by the formats we read; 6 and 7 don't exist.
          buf.fail('not-a-model', `invalid protobuf: unsupported wire type ${wire} for field ${field} at offset ${buf.base + keyAt}`, keyAt);
      }
      if (end > this.end) {
        buf.fail('truncated', `truncated protobuf: field ${field} at offset ${buf.base + keyAt} runs past the end of its message`, keyAt);
      }
      pos = end;
      yield { field, wire, keyAt, start, end };
    }
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
    return decodeUtf8(this.buf.bytes.subarray(f.start, f.end));
  }

  bytesOf(f: ProtoField): Uint8Array {
    this.expectWire(f, WIRE_LEN, 'bytes');
    return this.buf.bytes.subarray(f.start, f.end);
  }

  /** A varint field as a signed 64-bit number (int32/int64/enum/bool). */
  int(f: ProtoField): number {
    if (f.wire === WIRE_VARINT) return this.buf.varintAt(f.start, f.end)[0];
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
        const [v, next] = this.buf.varintAt(p, f.end);
        out.push(v);
        p = next;
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

/** Counts the varints in a packed payload without decoding them (each ends with a byte < 0x80). */
export function countPackedVarints(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let p = start; p < end; p++) if (bytes[p]! < 0x80) n++;
  return n;
}
