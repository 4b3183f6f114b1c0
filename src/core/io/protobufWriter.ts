import { WIRE_FIXED32, WIRE_LEN, WIRE_VARINT } from './protobuf';

/**
 * A small protobuf wire-format encoder (no schema), the counterpart of
 * protobuf.ts. Output is a list of parts: small writes go into a scratch
 * block, large payloads (tensor data, copied fields) are kept by reference, and
 * nested messages are appended without copying, so re-encoding a 2 GB model
 * copies its bytes once, in finish().
 */
const SCRATCH = 4096;
const textEncoder = new TextEncoder();

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private block = new Uint8Array(SCRATCH);
  private used = 0;
  private flushed = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.flushed + this.used;
  }

  /** A field key. */
  tag(field: number, wire: number): this {
    return this.rawVarint(field * 8 + wire);
  }

  /** An unsigned or non-negative varint value (no key). */
  rawVarint(value: number): this {
    if (value < 0 || !Number.isSafeInteger(value)) return this.rawBigVarint(BigInt.asUintN(64, BigInt(Math.trunc(value))));
    this.reserve(10);
    let v = value;
    while (v >= 0x80) {
      this.block[this.used++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.block[this.used++] = v;
    return this;
  }

  private rawBigVarint(value: bigint): this {
    this.reserve(10);
    let v = value;
    while (v >= 0x80n) {
      this.block[this.used++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.block[this.used++] = Number(v);
    return this;
  }

  /** int32/int64/enum/bool field; negative values take 10 bytes, as in protobuf. */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, WIRE_VARINT);
    if (typeof value === 'bigint') return this.rawBigVarint(BigInt.asUintN(64, value));
    return this.rawVarint(typeof value === 'boolean' ? Number(value) : value);
  }

  /** A float field (fixed32). */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.block.buffer, this.block.byteOffset, this.block.byteLength).setFloat32(this.used, value, true);
    this.used += 4;
    return this;
  }

  /** A bytes field; large payloads are referenced, not copied. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN).rawVarint(data.length);
    return this.raw(data);
  }

  string(field: number, text: string): this {
    return this.bytes(field, textEncoder.encode(text));
  }

  /** An embedded message. `child` must not be written to afterwards. */
  message(field: number, child: ProtoWriter): this {
    this.tag(field, WIRE_LEN).rawVarint(child.length);
    child.seal();
    for (const p of child.parts) this.raw(p);
    return this;
  }

  /** Repeated varints, one key per value (proto2's default, as onnx writes them). */
  repeatedVarint(field: number, values: Iterable<number>): this {
    for (const v of values) this.varint(field, v);
    return this;
  }

  /** Repeated varints in one packed LEN field. */
  packedVarint(field: number, values: readonly number[]): this {
    const body = new ProtoWriter();
    for (const v of values) body.rawVarint(v);
    return this.message(field, body);
  }

  /** Bytes copied verbatim (a field kept from the source, key and payload). */
  raw(data: Uint8Array): this {
    if (data.length === 0) return this;
    if (data.length <= 256) {
      this.reserve(data.length);
      this.block.set(data, this.used);
      this.used += data.length;
      return this;
    }
    this.seal();
    this.parts.push(data);
    this.flushed += data.length;
    return this;
  }

  /** The parts written so far, in order (the writer stays usable). */
  chunks(): Uint8Array[] {
    this.seal();
    return [...this.parts];
  }

  /** One contiguous buffer. */
  finish(): Uint8Array {
    this.seal();
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.flushed);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  private seal(): void {
    if (this.used === 0) return;
    this.parts.push(this.block.subarray(0, this.used));
    this.flushed += this.used;
    this.block = this.block.subarray(this.used);
    this.used = 0;
    if (this.block.length < 64) this.block = new Uint8Array(SCRATCH);
  }

  private reserve(n: number): void {
    if (this.used + n <= this.block.length) return;
    this.seal();
    if (this.block.length < n) this.block = new Uint8Array(Math.max(SCRATCH, n));
  }
}
