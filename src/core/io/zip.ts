import { inflateRawSync } from 'node:zlib';
import { ModelFormatError } from '../errors';
import { BinaryReader, decodeUtf8 } from './binaryReader';
import type { ByteSource } from './fileAccess';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

/**
 * Reads a zip's central directory from the end of the file, and single entries
 * on demand. Stored entries can be located without reading them (PyTorch
 * checkpoints store tensors uncompressed); deflated ones are inflated with a
 * hard output limit so a zip bomb ends in 'too-large'.
 */
export class ZipArchive {
  private constructor(
    readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  static isZip(head: Uint8Array): boolean {
    return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  }

  static async open(source: ByteSource, maxEntries = 100_000): Promise<ZipArchive> {
    const tailLength = Math.min(source.size, 65557 + 20);
    const tailStart = source.size - tailLength;
    const tail = new BinaryReader(await source.read(tailStart, tailLength), tailStart);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.bytes[i] === 0x50 && tail.bytes[i + 1] === 0x4b && tail.bytes[i + 2] === 0x05 && tail.bytes[i + 3] === 0x06) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new ModelFormatError('truncated', 'zip archive has no end-of-central-directory record (truncated?)');
    tail.seek(eocd);
    if (tail.u32() !== EOCD_SIGNATURE) throw new ModelFormatError('bad-magic', 'bad zip end record');
    tail.skip(6);
    let count: number = tail.u16();
    let cdSize: number = tail.u32();
    let cdOffset: number = tail.u32();
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64: PyTorch writes it for checkpoints over 4 GiB.
      const locatorAt = eocd - 20;
      if (locatorAt < 0) throw new ModelFormatError('truncated', 'zip64 locator missing');
      tail.seek(locatorAt);
      if (tail.u32() !== ZIP64_LOCATOR_SIGNATURE) throw new ModelFormatError('bad-magic', 'zip64 locator missing');
      tail.skip(4);
      const zip64At = tail.u64('zip64 record offset');
      const rec = new BinaryReader(await source.read(zip64At, 56), zip64At);
      if (rec.u32() !== ZIP64_EOCD_SIGNATURE) throw new ModelFormatError('bad-magic', 'bad zip64 end record');
      rec.skip(8 + 2 + 2 + 4 + 4 + 8);
      count = rec.u64('entry count');
      cdSize = rec.u64('central directory size');
      cdOffset = rec.u64('central directory offset');
    }
    if (count > maxEntries) throw new ModelFormatError('too-large', `zip archive has ${count} entries`);
    if (cdOffset + cdSize > source.size) {
      throw new ModelFormatError('truncated', `zip central directory (offset ${cdOffset}, ${cdSize} bytes) lies past the end of the file`);
    }
    const cd = new BinaryReader(await source.read(cdOffset, cdSize), cdOffset);
    const entries = new Map<string, ZipEntry>();
    for (let i = 0; i < count; i++) {
      if (cd.u32() !== CENTRAL_SIGNATURE) cd.fail('bad-magic', `bad zip central directory entry ${i}`);
      cd.skip(6);
      const method = cd.u16();
      cd.skip(8);
      let compressedSize: number = cd.u32();
      let size: number = cd.u32();
      const nameLength = cd.u16();
      const extraLength = cd.u16();
      const commentLength = cd.u16();
      cd.skip(8);
      let localHeaderOffset: number = cd.u32();
      const name = decodeUtf8(cd.read(nameLength, 'zip entry name'));
      const extra = new BinaryReader(cd.read(extraLength, 'zip extra field'), 0);
      cd.skip(commentLength, 'zip comment');
      while (extra.remaining >= 4) {
        const id = extra.u16();
        const len = extra.u16();
        const body = new BinaryReader(extra.read(len, 'zip extra field'));
        if (id === 0x0001) {
          if (size === 0xffffffff) size = body.u64('entry size');
          if (compressedSize === 0xffffffff) compressedSize = body.u64('entry size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = body.u64('entry offset');
        }
      }
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    }
    return new ZipArchive(source, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Offset of an entry's data in the file (after its local header). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const header = new BinaryReader(await this.source.read(entry.localHeaderOffset, Math.min(30, this.source.size - entry.localHeaderOffset)), entry.localHeaderOffset);
    if (header.u32() !== LOCAL_SIGNATURE) header.fail('bad-magic', `bad local header for zip entry '${entry.name}'`);
    header.seek(26);
    const nameLength = header.u16();
    const extraLength = header.u16();
    const offset = entry.localHeaderOffset + 30 + nameLength + extraLength;
    if (offset + entry.compressedSize > this.source.size) {
      throw new ModelFormatError('truncated', `zip entry '${entry.name}' extends past the end of the file`, { offset });
    }
    return offset;
  }

  /** Reads an entry's uncompressed bytes, refusing anything larger than maxBytes. */
  async read(name: string, maxBytes: number): Promise<Uint8Array> {
    const entry = this.entries.get(name);
    if (!entry) throw new ModelFormatError('not-a-model', `zip archive has no '${name}'`);
    if (entry.size > maxBytes) {
      throw new ModelFormatError('too-large', `zip entry '${name}' expands to ${entry.size} bytes (limit ${maxBytes})`);
    }
    const offset = await this.dataOffset(entry);
    const raw = await this.source.read(offset, entry.compressedSize);
    if (entry.method === 0) return raw;
    if (entry.method !== 8) throw new ModelFormatError('unsupported-format', `zip entry '${name}' uses compression method ${entry.method}`);
    try {
      return inflateRawSync(raw, { maxOutputLength: Math.max(1, Math.min(maxBytes, Math.max(entry.size, 1))) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|too large/i.test(String(e))) {
        throw new ModelFormatError('too-large', `zip entry '${name}' expands beyond its declared ${entry.size} bytes (zip bomb?)`);
      }
      throw new ModelFormatError('truncated', `zip entry '${name}' is corrupt: ${(e as Error).message}`);
    }
  }
}
