import { deflateRawSync, inflateRawSync, constants as zc } from 'node:zlib';

/** Byte helpers for the mutators: little-endian fields, varints, crc32 and a tiny zip reader/writer. */

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Writes `value` (a bigint, two's complement) as a little-endian field of `width` bytes at `at`. */
export function writeLE(b: Uint8Array, at: number, width: number, value: bigint): void {
  let v = BigInt.asUintN(width * 8, value);
  for (let i = 0; i < width && at + i < b.length; i++) {
    b[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export function readLE(b: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i] ?? 0);
  return v;
}

/** Unsigned LEB128 (protobuf varint); negative values are written as 10-byte two's complement. */
export function encodeVarint(value: bigint): Uint8Array {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export function decodeVarint(b: Uint8Array, at: number): { value: bigint; next: number } | null {
  let v = 0n;
  let shift = 0n;
  for (let i = at; i < b.length && i < at + 10; i++) {
    v |= BigInt(b[i]! & 0x7f) << shift;
    shift += 7n;
    if ((b[i]! & 0x80) === 0) return { value: v, next: i + 1 };
  }
  return null;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const utf8 = {
  encode: (s: string) => new TextEncoder().encode(s),
  decode: (b: Uint8Array) => new TextDecoder().decode(b),
};

// ---------------------------------------------------------------------------
// Zip: enough to take an archive apart and put it back together (stored or deflated).

export interface ZipItem {
  name: string;
  /** Uncompressed content. */
  data: Uint8Array;
  method: 0 | 8;
  /** Raw compressed bytes to write instead of compressing `data` (bombs, lies). */
  rawOverride?: Uint8Array;
  /** Sizes to declare instead of the true ones. */
  declaredSize?: number;
  declaredCompressedSize?: number;
}

/** Reads entries through the central directory (no zip64); null when the bytes aren't a readable zip. */
export function readZip(b: Uint8Array): ZipItem[] | null {
  const dv = view(b);
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 65557); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return null;
  const count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  const items: ZipItem[] = [];
  try {
    for (let i = 0; i < count; i++) {
      if (dv.getUint32(at, true) !== 0x02014b50) return null;
      const method = dv.getUint16(at + 10, true);
      const csize = dv.getUint32(at + 20, true);
      const nameLength = dv.getUint16(at + 28, true);
      const extraLength = dv.getUint16(at + 30, true);
      const commentLength = dv.getUint16(at + 32, true);
      const local = dv.getUint32(at + 42, true);
      const name = utf8.decode(b.subarray(at + 46, at + 46 + nameLength));
      const lname = dv.getUint16(local + 26, true);
      const lextra = dv.getUint16(local + 28, true);
      const start = local + 30 + lname + lextra;
      const raw = b.subarray(start, start + csize);
      const size = dv.getUint32(at + 24, true);
      if (method === 0) items.push({ name, data: raw.slice(), method: 0 });
      else if (method === 8) {
        try {
          // A bomb planted by an earlier round stays a bomb: keep its raw stream instead of inflating it.
          items.push({ name, data: new Uint8Array(inflateRawSync(raw, { maxOutputLength: 64 << 20 })), method: 8 });
        } catch {
          items.push({ name, data: new Uint8Array(0), method: 8, rawOverride: raw.slice(), declaredSize: size });
        }
      } else return null;
      at += 46 + nameLength + extraLength + commentLength;
    }
  } catch {
    return null;
  }
  return items;
}

/** Writes a zip; stored entries are padded (like torch.save) so their data is 64-byte aligned. */
export function writeZip(items: readonly ZipItem[], options: { entryCountOverride?: number; cdOffsetDelta?: number } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const item of items) {
    const name = utf8.encode(item.name);
    const body = item.rawOverride ?? (item.method === 8 ? new Uint8Array(deflateRawSync(item.data)) : item.data);
    const crc = crc32(item.data);
    const size = item.declaredSize ?? item.data.length;
    const csize = item.declaredCompressedSize ?? body.length;
    let pad = 0;
    if (item.method === 0) pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
    const extra = new Uint8Array(pad > 0 ? pad + 4 : 0);
    if (pad > 0) {
      view(extra).setUint16(0, 0x4b46, true); // 'FK', as torch writes
      view(extra).setUint16(2, pad, true);
    }
    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = view(local);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, item.method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, csize >>> 0, true);
    lv.setUint32(22, size >>> 0, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = view(central);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, item.method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, csize >>> 0, true);
    cv.setUint32(24, size >>> 0, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local, body);
    centrals.push(central);
    offset += local.length + body.length;
  }
  const cd = concat(centrals);
  const end = new Uint8Array(22);
  const ev = view(end);
  ev.setUint32(0, 0x06054b50, true);
  const count = options.entryCountOverride ?? items.length;
  ev.setUint16(8, count & 0xffff, true);
  ev.setUint16(10, count & 0xffff, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, (offset + (options.cdOffsetDelta ?? 0)) >>> 0, true);
  return concat([...locals, cd, end]);
}

let bombCache: Map<number, Uint8Array> | undefined;

/**
 * A raw deflate stream that expands to `mib` MiB of zeros, built from one
 * sync-flushed 8 MiB block repeated (so it costs ~8 KiB per 8 MiB, and no time).
 */
export function deflateBomb(mib: number): Uint8Array {
  bombCache ??= new Map();
  const hit = bombCache.get(mib);
  if (hit) return hit;
  const block = new Uint8Array(deflateRawSync(new Uint8Array(8 << 20), { finishFlush: zc.Z_SYNC_FLUSH }));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < Math.ceil(mib / 8); i++) parts.push(block);
  parts.push(new Uint8Array(deflateRawSync(new Uint8Array(0))));
  const out = concat(parts);
  bombCache.set(mib, out);
  return out;
}
