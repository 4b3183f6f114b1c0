import { ModelFormatError, type ModelErrorCode } from '../errors';

/**
 * A bounds-checked little-endian reader over bytes already in memory. Every
 * offset that comes from a file goes through here, so a lying header ends in a
 * 'truncated' error naming the offset instead of a RangeError or garbage.
 */
export class BinaryReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  position = 0;
  /** Absolute offset of bytes[0] in the file, for error messages. */
  readonly base: number;

  constructor(bytes: Uint8Array, base = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = base;
  }

  get length(): number {
    return this.bytes.length;
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  fail(code: ModelErrorCode, message: string, offset = this.position): never {
    throw new ModelFormatError(code, message, { offset: this.base + offset });
  }

  ensure(count: number, what = 'data', at = this.position): void {
    if (!Number.isFinite(count) || count < 0 || at < 0 || at + count > this.bytes.length) {
      const have = Math.max(0, this.bytes.length - at);
      this.fail('truncated', `truncated ${what}: expected ${count} bytes at offset ${this.base + at}, ${have} available`, at);
    }
  }

  seek(offset: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset > this.bytes.length) {
      this.fail('truncated', `offset ${this.base + offset} is outside the data (${this.base + this.bytes.length} bytes)`, offset);
    }
    this.position = offset;
  }

  skip(count: number, what = 'data'): void {
    this.ensure(count, what);
    this.position += count;
  }

  /** A view of [offset, offset+length) — no copy. */
  slice(offset: number, length: number, what = 'data'): Uint8Array {
    this.ensure(length, what, offset);
    return this.bytes.subarray(offset, offset + length);
  }

  read(length: number, what = 'data'): Uint8Array {
    const out = this.slice(this.position, length, what);
    this.position += length;
    return out;
  }

  u8(): number {
    this.ensure(1);
    return this.bytes[this.position++]!;
  }
  i8(): number {
    this.ensure(1);
    return this.view.getInt8(this.position++);
  }
  u16(): number {
    this.ensure(2);
    const v = this.view.getUint16(this.position, true);
    this.position += 2;
    return v;
  }
  i16(): number {
    this.ensure(2);
    const v = this.view.getInt16(this.position, true);
    this.position += 2;
    return v;
  }
  u32(): number {
    this.ensure(4);
    const v = this.view.getUint32(this.position, true);
    this.position += 4;
    return v;
  }
  i32(): number {
    this.ensure(4);
    const v = this.view.getInt32(this.position, true);
    this.position += 4;
    return v;
  }
  f32(): number {
    this.ensure(4);
    const v = this.view.getFloat32(this.position, true);
    this.position += 4;
    return v;
  }
  f64(): number {
    this.ensure(8);
    const v = this.view.getFloat64(this.position, true);
    this.position += 8;
    return v;
  }
  /** 64-bit unsigned as a bigint (exact). */
  u64big(): bigint {
    this.ensure(8);
    const v = this.view.getBigUint64(this.position, true);
    this.position += 8;
    return v;
  }
  i64big(): bigint {
    this.ensure(8);
    const v = this.view.getBigInt64(this.position, true);
    this.position += 8;
    return v;
  }
  /** 64-bit unsigned as a number; values above 2^53 are refused as 'too-large'. */
  u64(what = 'value'): number {
    const at = this.position;
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('too-large', `${what} ${v} at offset ${this.base + at} is too large`, at);
    return Number(v);
  }
  i64(what = 'value'): number {
    const at = this.position;
    const v = this.i64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      this.fail('too-large', `${what} ${v} at offset ${this.base + at} is out of range`, at);
    }
    return Number(v);
  }
}

export function hex(bytes: Uint8Array, max = 16): string {
  return Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
