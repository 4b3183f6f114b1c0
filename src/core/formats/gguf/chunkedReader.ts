import { ModelFormatError } from '../../errors';
import { BinaryReader, decodeUtf8 } from '../../io/binaryReader';
import type { ByteSource } from '../../io/fileAccess';

const CHUNK = 1 << 20;

/**
 * Sequential little-endian reads over a file, fetched in 1 MiB windows. A GGUF
 * header (with a tokenizer vocabulary it can be many MB) is read this way without
 * ever touching the tensor data after it; skips past large arrays do not read.
 */
export class ChunkedReader {
  position = 0;
  private window = new BinaryReader(new Uint8Array(0), 0);

  constructor(private readonly source: ByteSource) {}

  get size(): number {
    return this.source.size;
  }

  get remaining(): number {
    return this.source.size - this.position;
  }

  truncated(what: string, count: number | bigint): never {
    throw new ModelFormatError(
      'truncated',
      `truncated ${what}: expected ${count} bytes at offset ${this.position}, file has ${this.remaining} left`,
      { offset: this.position },
    );
  }

  /** Makes [position, position+count) available in the window and returns a reader positioned there. */
  private async need(count: number, what: string): Promise<BinaryReader> {
    if (count > this.remaining) this.truncated(what, count);
    const w = this.window;
    const rel = this.position - w.base;
    if (rel < 0 || rel + count > w.length) {
      const length = Math.min(Math.max(count, CHUNK), this.remaining);
      this.window = new BinaryReader(await this.source.read(this.position, length), this.position);
    }
    this.window.seek(this.position - this.window.base);
    this.position += count;
    return this.window;
  }

  skip(count: number, what: string): void {
    if (!Number.isSafeInteger(count) || count < 0 || count > this.remaining) this.truncated(what, count);
    this.position += count;
  }

  async bytes(count: number, what: string): Promise<Uint8Array> {
    return (await this.need(count, what)).read(count, what);
  }
  async u8(): Promise<number> {
    return (await this.need(1, 'uint8')).u8();
  }
  async i8(): Promise<number> {
    return (await this.need(1, 'int8')).i8();
  }
  async u16(): Promise<number> {
    return (await this.need(2, 'uint16')).u16();
  }
  async i16(): Promise<number> {
    return (await this.need(2, 'int16')).i16();
  }
  async u32(): Promise<number> {
    return (await this.need(4, 'uint32')).u32();
  }
  async i32(): Promise<number> {
    return (await this.need(4, 'int32')).i32();
  }
  async f32(): Promise<number> {
    return (await this.need(4, 'float32')).f32();
  }
  async f64(): Promise<number> {
    return (await this.need(8, 'float64')).f64();
  }
  async u64big(): Promise<bigint> {
    return (await this.need(8, 'uint64')).u64big();
  }
  async i64big(): Promise<bigint> {
    return (await this.need(8, 'int64')).i64big();
  }

  /**
   * A u64 count or length that must fit in the rest of the file at `minBytesEach`
   * bytes per item: a lying count fails here, before anything is allocated.
   */
  async count(what: string, minBytesEach: number): Promise<number> {
    const at = this.position;
    const v = await this.u64big();
    if (v * BigInt(minBytesEach) > BigInt(this.remaining)) {
      throw new ModelFormatError(
        v > BigInt(Number.MAX_SAFE_INTEGER) ? 'too-large' : 'truncated',
        `${what} ${v} at offset ${at} cannot fit in the ${this.remaining} bytes left in the file`,
        { offset: at },
      );
    }
    return Number(v);
  }

  /** A GGUF string: u64 byte length + UTF-8. */
  async string(what: string): Promise<string> {
    const length = await this.count(`${what} length`, 1);
    return decodeUtf8(await this.bytes(length, what));
  }

  /**
   * Skips `n` consecutive GGUF strings. Lengths inside the current window are
   * read synchronously: a vocabulary of 150k tokens costs one await per window,
   * not two per token.
   */
  async skipStrings(n: number, what: string): Promise<void> {
    for (let i = 0; i < n; i++) {
      const w = this.window;
      const rel = this.position - w.base;
      if (rel >= 0 && rel + 8 <= w.length) {
        w.seek(rel);
        const length = w.u64big();
        if (length > BigInt(this.remaining - 8)) this.truncated(`element ${i} of ${what}`, length);
        this.position += 8 + Number(length);
      } else {
        this.skip(await this.count(`length of element ${i} of ${what}`, 1), `element ${i} of ${what}`);
      }
    }
  }
}
