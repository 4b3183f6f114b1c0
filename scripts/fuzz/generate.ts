import { deflateBomb, readZip, utf8, writeLE, readLE, writeZip, concat, encodeVarint, type ZipItem } from './bytes';
import { mutateJson, serializeJson, type Json } from './jsonMutate';
import { caseSeed, Rng } from './prng';
import { seedsFor, type FuzzFormat, type Seed } from './seeds';
import { encodePb, ggufSites, parsePb, pbSites, pickleOps, tfliteSites, type PbField, type Site } from './structure';

/**
 * Builds fuzz case number `index` of a format for a run seed: picks a seed
 * file, then applies one to three mutations (generic byte-level ones and ones
 * that know the format's structure). The same (seed, format, index) always
 * gives the same bytes and the same description.
 */

export interface FuzzCase {
  format: FuzzFormat;
  index: number;
  runSeed: number;
  seedName: string;
  main: string;
  files: Map<string, Uint8Array>;
  mutations: string[];
}

export function makeCase(format: FuzzFormat, runSeed: number, index: number): FuzzCase {
  const rng = new Rng(caseSeed(runSeed, format, index));
  const seeds = seedsFor(format);
  if (seeds.length === 0) throw new Error(`no seeds for ${format}`);
  const seed = rng.weighted(seeds.map((s) => [s.weight, s] as const));
  const files = new Map(seed.files);
  const c: FuzzCase = { format, index, runSeed, seedName: seed.name, main: seed.main, files, mutations: [] };
  const rounds = rng.weighted([
    [7, 1],
    [2, 2],
    [1, 3],
  ]);
  for (let i = 0; i < rounds; i++) mutateOnce(c, seed, rng);
  return c;
}

function mutateOnce(c: FuzzCase, seed: Seed, rng: Rng): void {
  const apply = (file: string, fn: (b: Uint8Array) => { bytes: Uint8Array; what: string }) => {
    const before = c.files.get(file);
    if (!before) return;
    const { bytes, what } = fn(before);
    c.files.set(file, bytes);
    c.mutations.push(`${file}: ${what}`);
  };
  const siblings = [...c.files.keys()].filter((f) => f !== c.main);
  const main = c.main;
  switch (c.format) {
    case 'safetensors': {
      if (main.endsWith('.index.json')) {
        if (rng.chance(0.5)) apply(main, (b) => jsonFile(b, rng));
        else apply(rng.pick(siblings), (b) => (rng.chance(0.6) ? safetensorsHeader(b, rng) : bytesMutate(b, rng)));
      } else apply(main, (b) => (rng.chance(0.55) ? safetensorsHeader(b, rng) : bytesMutate(b, rng)));
      return;
    }
    case 'gguf':
      apply(main, (b) => (rng.chance(0.55) ? siteMutate(b, ggufSites(b), rng) : bytesMutate(b, rng)));
      return;
    case 'tflite':
      apply(main, (b) => (rng.chance(0.55) ? siteMutate(b, tfliteSites(b), rng) : bytesMutate(b, rng, 4)));
      return;
    case 'onnx':
      if (siblings.length && rng.chance(0.15)) apply(rng.pick(siblings), (b) => bytesMutate(b, rng));
      else apply(main, (b) => (rng.chance(0.6) ? onnxMutate(b, rng) : bytesMutate(b, rng)));
      return;
    case 'keras':
      if (main.endsWith('.keras')) {
        apply(main, (b) =>
          rng.weighted<() => { bytes: Uint8Array; what: string }>([
            [3, () => zipMutate(b, rng, (name, data) => (name.endsWith('.json') ? jsonFile(data, rng) : hdf5Mutate(data, rng)))],
            [1, () => zipStructure(b, rng)],
            [1, () => bytesMutate(b, rng)],
          ])(),
        );
      } else apply(main, (b) => hdf5Mutate(b, rng));
      return;
    case 'pytorch':
      apply(main, (b) =>
        rng.weighted<() => { bytes: Uint8Array; what: string }>([
          [5, () => zipMutate(b, rng, (name, data) => (name.endsWith('.pkl') ? pickleMutate(data, rng) : storageMutate(data, rng)), (name) => (name.endsWith('data.pkl') ? 4 : 1))],
          [2, () => zipStructure(b, rng)],
          [1, () => bytesMutate(b, rng)],
        ])(),
      );
      return;
    case 'tfjs': {
      const shardNames = siblings;
      const r = rng.weighted<string>([
        [6, 'json'],
        [1, 'text'],
        [shardNames.length ? 2 : 0, 'shard'],
        [1, 'paths'],
        [1, 'custom-class'],
      ]);
      if (r === 'shard') apply(rng.pick(shardNames), (b) => (rng.chance(0.6) ? truncateOrExtend(b, rng) : bytesMutate(b, rng)));
      else if (r === 'text') apply(main, (b) => bytesMutate(b, rng));
      else if (r === 'paths') apply(main, (b) => tfjsPaths(b, rng));
      else if (r === 'custom-class') apply(main, (b) => tfjsCustomClass(b, rng));
      else apply(main, (b) => jsonFile(b, rng, tfjsFocus));
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Generic byte mutations.

const INTERESTING: Record<number, bigint[]> = {
  1: [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x10n, 0x20n],
  2: [0n, 1n, 0x7fffn, 0x8000n, 0xffffn, 0x100n, 0x1000n],
  4: [0n, 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0xfffffffen, 0x10000n, 0x100000n, 0x1000000n, 64n],
  8: [0n, 1n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0xffffffffn, 0x100000000n, 1n << 40n, 1n << 53n, (1n << 53n) + 1n, 1n << 62n],
};

function interesting(width: number, rng: Rng, current?: bigint, size?: number): bigint {
  return rng.weighted<() => bigint>([
    [6, () => rng.pick(INTERESTING[width]!)],
    [current !== undefined ? 2 : 0, () => current! + BigInt(rng.pick([1, -1, 2, -2, 4, -4, 8, 64]))],
    [current !== undefined ? 1 : 0, () => current! * BigInt(rng.pick([2, 16, 256, 65536]))],
    [size !== undefined ? 2 : 0, () => BigInt(size! + rng.pick([-8, -4, -1, 0, 1, 4, 8, 1000]))],
    [1, () => BigInt(rng.int(256))],
  ])();
}

export function bytesMutate(b: Uint8Array, rng: Rng, align = 0): { bytes: Uint8Array; what: string } {
  const op = rng.weighted<string>([
    [5, 'truncate'],
    [4, 'flip'],
    [4, 'interesting'],
    [1, 'delete'],
    [1, 'insert'],
    [1, 'duplicate'],
    [1, 'zero'],
    [1, 'append'],
  ]);
  if (b.length === 0) return { bytes: rng.chance(0.5) ? b : new Uint8Array([0x7b]), what: 'empty file' };
  switch (op) {
    case 'truncate': {
      const at = rng.offset(b.length);
      return { bytes: b.slice(0, at), what: `truncate at offset ${at} (of ${b.length})` };
    }
    case 'flip': {
      const out = b.slice();
      const n = rng.weighted([
        [5, 1],
        [3, 4],
        [1, 32],
      ]);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = rng.offset(out.length);
        out[p] = rng.chance(0.5) ? out[p]! ^ (1 << rng.int(8)) : rng.int(256);
        at.push(p);
      }
      return { bytes: out, what: `change ${n} byte(s) at ${at.slice(0, 6).join(',')}${at.length > 6 ? ',…' : ''}` };
    }
    case 'interesting': {
      const out = b.slice();
      const width = rng.pick([1, 2, 4, 4, 8, 8]);
      const a = align || width;
      let at = rng.offset(out.length);
      if (rng.chance(0.7)) at -= at % a;
      const value = interesting(width, rng, readLE(out, at, width), out.length);
      writeLE(out, at, width, value);
      return { bytes: out, what: `set ${width * 8}-bit field at ${at} to ${value}` };
    }
    case 'delete': {
      const at = rng.offset(b.length);
      const n = Math.min(b.length - at, rng.pick([1, 4, 16, 256, 4096]));
      return { bytes: concat([b.subarray(0, at), b.subarray(at + n)]), what: `delete ${n} bytes at ${at}` };
    }
    case 'insert': {
      const at = rng.offset(b.length);
      const n = rng.pick([1, 4, 16, 256]);
      const ins = Uint8Array.from({ length: n }, () => rng.int(256));
      return { bytes: concat([b.subarray(0, at), ins, b.subarray(at)]), what: `insert ${n} random bytes at ${at}` };
    }
    case 'duplicate': {
      const from = rng.offset(b.length);
      const n = Math.min(b.length - from, rng.pick([4, 64, 1024]));
      const to = rng.offset(b.length);
      return { bytes: concat([b.subarray(0, to), b.subarray(from, from + n), b.subarray(to)]), what: `copy ${n} bytes from ${from} to ${to}` };
    }
    case 'zero': {
      const out = b.slice();
      const at = rng.offset(b.length);
      const n = Math.min(b.length - at, rng.pick([4, 64, 1024]));
      out.fill(rng.chance(0.5) ? 0 : 0xff, at, at + n);
      return { bytes: out, what: `fill ${n} bytes at ${at}` };
    }
    default: {
      const n = rng.pick([1, 8, 1000]);
      return { bytes: concat([b, Uint8Array.from({ length: n }, () => rng.int(256))]), what: `append ${n} random bytes` };
    }
  }
}

function truncateOrExtend(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  if (rng.chance(0.7) && b.length > 0) {
    const at = rng.int(b.length);
    return { bytes: b.slice(0, at), what: `truncate shard to ${at} of ${b.length}` };
  }
  const n = rng.pick([1, 4, 100]);
  return { bytes: concat([b, new Uint8Array(n)]), what: `extend shard by ${n}` };
}

function siteMutate(b: Uint8Array, sites: Site[], rng: Rng): { bytes: Uint8Array; what: string } {
  if (sites.length === 0) return bytesMutate(b, rng);
  const hot = (s: Site) => (/dim|length|count|offset|n-dims|type|index|size|option/.test(s.role) ? 3 : 1);
  const site = rng.weighted(sites.map((s) => [hot(s), s] as const));
  const out = b.slice();
  const value = interesting(site.width, rng, readLE(out, site.at, site.width), out.length);
  writeLE(out, site.at, site.width, value);
  return { bytes: out, what: `${site.role} at ${site.at} = ${value}` };
}

// ---------------------------------------------------------------------------
// JSON files (model.json, index files, .keras config.json).

function jsonFile(b: Uint8Array, rng: Rng, focus?: (p: (string | number)[]) => number): { bytes: Uint8Array; what: string } {
  let doc: Json;
  const text = utf8.decode(b);
  // An earlier round may have nested it deeply: mutate such text as bytes (cloning it would overflow).
  if (jsonDepth(text) > 1000) return bytesMutate(b, rng);
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    return bytesMutate(b, rng);
  }
  const { doc: out, what } = mutateJson(doc, rng, focus);
  return { bytes: utf8.encode(serializeJson(out)), what };
}

function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function tfjsFocus(p: (string | number)[]): number {
  const s = p.join('/');
  if (/weightsManifest\/\d+\/weights\/\d+\/(shape|dtype|name|quantization)/.test(s)) return 4;
  if (/weightsManifest/.test(s)) return 2;
  if (/(layers|node)\/\d+/.test(s)) return 2;
  return 1;
}

function tfjsPaths(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  let doc: { weightsManifest?: { paths: unknown[] }[] } | { paths: unknown[] }[];
  if (jsonDepth(utf8.decode(b)) > 1000) return bytesMutate(b, rng);
  try {
    doc = JSON.parse(utf8.decode(b));
  } catch {
    return bytesMutate(b, rng);
  }
  const groups = Array.isArray(doc) ? doc : doc.weightsManifest;
  if (!Array.isArray(groups) || groups.length === 0 || !Array.isArray(groups[0]?.paths)) return bytesMutate(b, rng);
  const g = groups[rng.int(groups.length)]!;
  const p = rng.pick(['../outside.bin', '/etc/passwd', 'missing.bin', '%2e%2e/x.bin', 'sub/../../x.bin', '', '.', 'model.json', 'C:\\x.bin', `${String(g.paths[0])}`, '\u0000']);
  const mode = rng.pick(['replace', 'append', 'duplicate']);
  if (mode === 'replace') g.paths[0] = p;
  else if (mode === 'append') g.paths.push(p);
  else g.paths.push(g.paths[0]);
  return { bytes: utf8.encode(JSON.stringify(doc)), what: `manifest paths ${mode} ${JSON.stringify(mode === 'duplicate' ? g.paths[0] : p)}` };
}

function tfjsCustomClass(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  let doc: { modelTopology?: { config?: { layers?: { class_name: string; config: Record<string, unknown> }[] }; model_config?: unknown } };
  if (jsonDepth(utf8.decode(b)) > 1000) return bytesMutate(b, rng);
  try {
    doc = JSON.parse(utf8.decode(b));
  } catch {
    return bytesMutate(b, rng);
  }
  const layers = doc?.modelTopology?.config?.layers;
  if (!Array.isArray(layers) || layers.length === 0) return jsonFile(b, rng);
  const l = layers[rng.int(layers.length)]!;
  const cls = rng.pick(['Lambda', 'TFOpLambda', 'SlicingOpLambda', 'MyLambda', 'Functional', 'Sequential', 'Model', 'Bidirectional', 'TimeDistributed', 'Wrapper', 'Conv3D', 'SeparableConv2D', 'Conv2DTranspose', 'LSTM', 'GRU', 'Attention', 'MultiHeadAttention']);
  l.class_name = cls;
  if (cls.includes('Lambda')) l.config = { ...l.config, function: ['cHJpbnQoMSk=', null, null], function_type: 'lambda' };
  if (['Functional', 'Sequential', 'Model'].includes(cls)) l.config = { ...l.config, layers: rng.chance(0.5) ? [structuredClone(l)] : 'x' };
  if (['Bidirectional', 'TimeDistributed', 'Wrapper'].includes(cls)) l.config = { ...l.config, layer: rng.chance(0.5) ? structuredClone(l) : null };
  return { bytes: utf8.encode(JSON.stringify(doc)), what: `layer '${String(l.config?.name)}' becomes class ${cls}` };
}

// ---------------------------------------------------------------------------
// safetensors

function safetensorsHeader(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  if (b.length < 10) return bytesMutate(b, rng);
  const n = Number(readLE(b, 0, 8));
  if (n + 8 > b.length) return bytesMutate(b, rng);
  let header: Json;
  if (jsonDepth(utf8.decode(b.subarray(8, 8 + n))) > 1000) return bytesMutate(b, rng);
  try {
    header = JSON.parse(utf8.decode(b.subarray(8, 8 + n)));
  } catch {
    return bytesMutate(b, rng);
  }
  const data = b.subarray(8 + n);
  if (rng.chance(0.15)) {
    // Lie about the header length only.
    const out = b.slice();
    const v = interesting(8, rng, BigInt(n), b.length);
    writeLE(out, 0, 8, v);
    return { bytes: out, what: `header length = ${v} (really ${n})` };
  }
  let what: string;
  let text: string;
  if (rng.chance(0.1)) {
    // Duplicate tensor keys: JSON.parse keeps the last, a streaming parser might not.
    const keys = Object.keys(header as object).filter((k) => k !== '__metadata__');
    const k = keys.length ? rng.pick(keys) : 'x';
    const entry = JSON.stringify((header as Record<string, Json>)[k] ?? {});
    const body = JSON.stringify(header);
    text = body.replace(/^\{/, `{${JSON.stringify(k)}:${entry.replace(/\d+\]\}?$/, (m) => m.replace(/\d+/, '0'))},`);
    what = `duplicate key '${k}' in the header`;
  } else {
    const focus = (p: (string | number)[]) => (p.includes('shape') || p.includes('data_offsets') || p.includes('dtype') ? 4 : 1);
    const r = mutateJson(header, rng, focus);
    text = serializeJson(r.doc);
    what = `header ${r.what}`;
  }
  const bytes = utf8.encode(text);
  const len = new Uint8Array(8);
  writeLE(len, 0, 8, BigInt(bytes.length));
  return { bytes: concat([len, bytes, data]), what };
}

// ---------------------------------------------------------------------------
// ONNX

function onnxMutate(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const model = parsePb(b, 'ModelProto');
  if (!model) return bytesMutate(b, rng);
  const sites = pbSites(model);
  if (sites.length === 0) return bytesMutate(b, rng);
  const hot = (p: string) =>
    /TensorProto\.(1|2|9|13|14)$|Dimension\.1$|StringStringEntryProto\.2$|AttributeProto\.(3|8|2)$|NodeProto\.(1|2|4)$|OperatorSetIdProto\.2$|TensorProto\.[4-8]$/.test(p) ? 4 : 1;
  const op = rng.weighted<string>([
    [6, 'value'],
    [3, 'attribute'],
    [1, 'duplicate'],
    [1, 'delete'],
    [1, 'nest'],
    [1, 'rename'],
  ]);
  if (op === 'nest') return { bytes: onnxNest(model, rng), what: 'wrap the graph in nested If subgraphs' };
  if (op === 'attribute') {
    // Integer attributes and declared dims (strides, pads, kernel_shape, group, axis, dim_value): zero, negative, huge.
    const ints = sites.filter((s) => /AttributeProto\.(3|8)$|Dimension\.1$/.test(s.path) && s.field.wire === 0);
    if (ints.length) {
      const picked = rng.chance(0.3) ? ints : [rng.pick(ints)];
      const v = rng.pick([0n, -1n, -2n, 1n << 31n, 1n << 40n, 1n << 62n, 65536n, 2n, 7n]);
      for (const s of picked) s.field.varint = BigInt.asUintN(64, v);
      return { bytes: encodePb(model), what: `${picked.length} integer attribute/dim field(s) = ${v}` };
    }
  }
  const site = rng.weighted(sites.map((s) => [hot(s.path), s] as const));
  const f = site.field;
  let what = `${site.path}`;
  if (op === 'duplicate') {
    site.list.splice(site.list.indexOf(f) + 1, 0, structuredClone(f));
    what += ' duplicated';
  } else if (op === 'delete') {
    site.list.splice(site.list.indexOf(f), 1);
    what += ' deleted';
  } else if (op === 'rename' || (f.bytes && /NodeProto\.(1|2|3)$|TensorProto\.8$|ValueInfoProto\.1$/.test(site.path))) {
    // Point a name at another name: duplicate outputs, cycles, dangling inputs.
    const names = sites.filter((s) => s.field.bytes && /NodeProto\.(1|2)$|TensorProto\.8$/.test(s.path)).map((s) => s.field.bytes!);
    const target = names.length && rng.chance(0.8) ? rng.pick(names) : utf8.encode(rng.pick(['', 'x', '../../etc/passwd', '\u0000', 'a'.repeat(1000)]));
    if (f.wire === 2 && !f.msg) f.bytes = target.slice();
    what += ` = name '${utf8.decode(target).slice(0, 40)}'`;
  } else if (f.wire === 0) {
    const v = interesting(8, rng, f.varint, undefined);
    f.varint = rng.chance(0.2) ? -BigInt(rng.pick([1, 2, 100])) : v;
    what += ` = ${BigInt.asIntN(64, f.varint)}`;
  } else if (f.wire === 2 && f.bytes) {
    if (/TensorProto\.1$/.test(site.path)) {
      // Packed dims: rewrite one of them.
      const dims = unpackVarints(f.bytes);
      const i = rng.int(Math.max(1, dims.length));
      dims[i] = rng.chance(0.3) ? -BigInt(rng.pick([1, 7])) : interesting(8, rng, dims[i]);
      f.bytes = concat(dims.map((d) => encodeVarint(d)));
      what += ` packed dims[${i}] = ${BigInt.asIntN(64, dims[i]!)}`;
    } else if (/StringStringEntryProto\.2$/.test(site.path)) {
      const v = rng.pick(['../escape.bin', '/etc/passwd', 'missing.bin', '0', '-1', '99999999999', '18446744073709551615', 'weights.bin', '1e3', '']);
      f.bytes = utf8.encode(v);
      what += ` = '${v}'`;
    } else {
      const r = truncateOrExtend(f.bytes, rng);
      f.bytes = r.bytes;
      what += ` bytes: ${r.what}`;
    }
  } else if (f.fixed) {
    const v = interesting(f.fixed.length, rng);
    writeLE(f.fixed, 0, f.fixed.length, v);
    what += ` = ${v}`;
  } else {
    return bytesMutate(b, rng);
  }
  return { bytes: encodePb(model), what };
}

function unpackVarints(b: Uint8Array): bigint[] {
  const out: bigint[] = [];
  let at = 0;
  while (at < b.length) {
    let v = 0n;
    let shift = 0n;
    while (at < b.length) {
      const byte = b[at++]!;
      v |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) break;
    }
    out.push(v);
  }
  return out;
}

/** Moves the graph's nodes into `depth` nested If-node subgraphs. */
function onnxNest(model: PbField[], rng: Rng): Uint8Array {
  const graph = model.find((f) => f.num === 7 && f.msg);
  if (!graph?.msg) return encodePb(model);
  const depth = rng.pick([10, 150, 600]);
  let inner: PbField[] = graph.msg.filter((f) => f.num === 1);
  for (let i = 0; i < depth; i++) {
    const sub: PbField[] = [{ num: 2, wire: 2, bytes: utf8.encode(`g${i}`) }, ...inner];
    const attr: PbField[] = [
      { num: 1, wire: 2, bytes: utf8.encode('then_branch') },
      { num: 20, wire: 0, varint: 5n },
      { num: 6, wire: 2, msg: sub, type: 'GraphProto' },
    ];
    inner = [{ num: 1, wire: 2, msg: [{ num: 1, wire: 2, bytes: utf8.encode('cond') }, { num: 4, wire: 2, bytes: utf8.encode('If') }, { num: 5, wire: 2, msg: attr, type: 'AttributeProto' }], type: 'NodeProto' }];
  }
  graph.msg = [...graph.msg.filter((f) => f.num !== 1), ...inner];
  return encodePb(model);
}

// ---------------------------------------------------------------------------
// HDF5 (.h5 and the weights inside .keras)

function hdf5Mutate(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const r = rng.weighted<string>([
    [4, 'bytes'],
    [3, 'address'],
    [2, 'json'],
  ]);
  if (r === 'address') {
    // HDF5 addresses and lengths are 8-byte little-endian; hit aligned ones in the metadata area.
    const out = b.slice();
    const limit = Math.min(out.length, rng.chance(0.7) ? 4096 : out.length);
    const at = rng.int(Math.max(1, limit >> 3)) << 3;
    const v = interesting(8, rng, readLE(out, at, 8), out.length);
    writeLE(out, at, 8, v);
    return { bytes: out, what: `hdf5 8-byte field at ${at} = ${v}` };
  }
  if (r === 'json') {
    // The model_config attribute is JSON stored as plain bytes: rewrite digits/letters in place.
    const text = Buffer.from(b).toString('latin1');
    const starts: number[] = [];
    for (let i = text.indexOf('"class_name"'); i >= 0 && starts.length < 200; i = text.indexOf('"class_name"', i + 1)) starts.push(i);
    if (starts.length === 0) return bytesMutate(b, rng);
    const out = b.slice();
    const changed: number[] = [];
    for (let k = 0; k < rng.pick([1, 2, 5]); k++) {
      const base = rng.pick(starts);
      for (let tries = 0; tries < 50; tries++) {
        const at = base + rng.int(400);
        const c = out[at];
        if (c === undefined) break;
        if (c >= 0x30 && c <= 0x39) {
          out[at] = 0x30 + rng.int(10);
          changed.push(at);
          break;
        }
        if (c >= 0x61 && c <= 0x7a && rng.chance(0.3)) {
          out[at] = 0x61 + rng.int(26);
          changed.push(at);
          break;
        }
      }
    }
    return { bytes: out, what: `model_config text rewritten at ${changed.join(',')}` };
  }
  return bytesMutate(b, rng, 8);
}

// ---------------------------------------------------------------------------
// Zip archives (.keras, PyTorch checkpoints)

function zipMutate(
  b: Uint8Array,
  rng: Rng,
  content: (name: string, data: Uint8Array) => { bytes: Uint8Array; what: string },
  weight: (name: string) => number = () => 1,
): { bytes: Uint8Array; what: string } {
  const items = readZip(b);
  if (!items || items.length === 0) return bytesMutate(b, rng);
  const item = rng.weighted(items.map((i) => [weight(i.name), i] as const));
  const r = content(item.name, item.data);
  item.data = r.bytes;
  return { bytes: writeZip(items), what: `entry '${item.name}': ${r.what}` };
}

function zipStructure(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const items = readZip(b);
  if (!items || items.length === 0) return bytesMutate(b, rng);
  const i = rng.int(items.length);
  const item = items[i]!;
  const op = rng.weighted<string>([
    [2, 'bomb'],
    [2, 'size-lie'],
    [1, 'duplicate-name'],
    [1, 'delete'],
    [1, 'rename'],
    [1, 'deflate'],
    [1, 'count'],
    [1, 'cd-offset'],
    [1, 'method'],
  ]);
  const opts: { entryCountOverride?: number; cdOffsetDelta?: number } = {};
  let what = '';
  switch (op) {
    case 'bomb': {
      const mib = rng.pick([64, 300, 1024]);
      item.method = 8;
      item.rawOverride = deflateBomb(mib);
      const honest = rng.chance(0.5);
      item.declaredSize = honest ? Math.min(mib * 1024 * 1024, 0xfffffffe) : item.data.length;
      what = `'${item.name}' replaced by a deflate stream of ${mib} MiB of zeros (declared ${item.declaredSize} bytes)`;
      break;
    }
    case 'size-lie': {
      const huge = rng.pick([0, 1, 0xffffffff, 0xfffffffe, 0x7fffffff, item.data.length + 1, Math.max(0, item.data.length - 1)]);
      if (rng.chance(0.5)) item.declaredSize = huge;
      else item.declaredCompressedSize = huge;
      what = `'${item.name}' declares ${item.declaredSize !== undefined ? 'size' : 'compressed size'} ${huge}`;
      break;
    }
    case 'duplicate-name': {
      const copy: ZipItem = { ...item, data: item.data.subarray(0, Math.floor(item.data.length / 2)).slice() };
      items.splice(rng.int(items.length + 1), 0, copy);
      what = `second entry named '${item.name}' (half its size)`;
      break;
    }
    case 'delete':
      items.splice(i, 1);
      what = `entry '${item.name}' removed`;
      break;
    case 'rename': {
      const name = rng.pick([`${item.name}x`, item.name.replace(/\/[^/]*$/, '/../../escape'), '/abs/path', '', item.name.toUpperCase(), items[rng.int(items.length)]!.name]);
      what = `entry '${item.name}' renamed '${name}'`;
      item.name = name;
      break;
    }
    case 'deflate':
      for (const it of items) it.method = 8;
      what = 'every entry deflated';
      break;
    case 'count':
      opts.entryCountOverride = rng.pick([0, items.length + 1, 0xffff, 60000]);
      what = `end record claims ${opts.entryCountOverride} entries`;
      break;
    case 'cd-offset':
      opts.cdOffsetDelta = rng.pick([-1, 1, -46, 1 << 20, -(1 << 30)]);
      what = `central directory offset moved by ${opts.cdOffsetDelta}`;
      break;
    default:
      item.method = rng.pick([1, 12, 14, 93, 99]) as 0;
      what = `'${item.name}' claims compression method ${item.method}`;
  }
  return { bytes: writeZip(items, opts), what };
}

function storageMutate(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  if (rng.chance(0.6)) return truncateOrExtend(b, rng);
  return bytesMutate(b, rng);
}

// ---------------------------------------------------------------------------
// Pickles

const STOP = 0x2e;

function pickleMutate(b: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const { ops, sites } = pickleOps(b);
  const stop = ops.find((o) => o.op === STOP);
  const op = rng.weighted<string>([
    [5, 'site'],
    [1, 'deep'],
    [1, 'cycle'],
    [1, 'global'],
    [1, 'delete-op'],
    [1, 'duplicate-op'],
    [1, 'swap-name'],
    [2, 'bytes'],
  ]);
  const insertBeforeStop = (code: Uint8Array, what: string) => {
    if (!stop) return bytesMutate(b, rng);
    return { bytes: concat([b.subarray(0, stop.at), code, b.subarray(stop.at)]), what };
  };
  const str = (s: string) => {
    const e = utf8.encode(s);
    return e.length < 256 ? concat([Uint8Array.of(0x8c, e.length), e]) : concat([Uint8Array.of(0x58), le32(e.length), e]);
  };
  switch (op) {
    case 'site': {
      if (sites.length === 0) return bytesMutate(b, rng);
      return siteMutate(b, sites, rng);
    }
    case 'deep': {
      const depth = rng.pick([100, 250, 5000, 100000]);
      const code = concat([str('deep'), new Uint8Array(depth).fill(0x5d), new Uint8Array(depth - 1).fill(0x61), Uint8Array.of(0x73)]);
      return insertBeforeStop(code, `root['deep'] = lists nested ${depth} deep`);
    }
    case 'cycle': {
      // memo the root, then root['self'] = root
      const code = concat([Uint8Array.of(0x72), le32(999_999), str('self'), Uint8Array.of(0x6a), le32(999_999), Uint8Array.of(0x73)]);
      return insertBeforeStop(code, "root['self'] = root");
    }
    case 'global': {
      const [m, n] = rng.pick([
        ['os', 'system'],
        ['posix', 'system'],
        ['nt', 'system'],
        ['subprocess', 'Popen'],
        ['builtins', 'eval'],
        ['builtins', 'exec'],
        ['builtins', 'getattr'],
        ['__builtin__', 'eval'],
        ['torch', 'load'],
        ['torch._utils', '_rebuild_tensor_v2'],
        ['collections', 'OrderedDict'],
        ['torch', 'FloatStorage'],
        ['torch.nn.modules.linear', 'Linear'],
        ['numpy.core.multiarray', '_reconstruct'],
      ]);
      const stack = rng.chance(0.5);
      const glob = stack ? concat([str(m), str(n), Uint8Array.of(0x93)]) : concat([Uint8Array.of(0x63), utf8.encode(`${m}\n${n}\n`)]);
      const code = concat([str('g'), glob, Uint8Array.of(0x29, 0x52, 0x73)]);
      return insertBeforeStop(code, `root['g'] = ${m}.${n}() via ${stack ? 'STACK_GLOBAL' : 'GLOBAL'}`);
    }
    case 'delete-op':
    case 'duplicate-op': {
      if (ops.length < 2) return bytesMutate(b, rng);
      const o = ops[1 + rng.int(ops.length - 1)]!;
      const slice = b.subarray(o.at, o.end);
      const out = op === 'delete-op' ? concat([b.subarray(0, o.at), b.subarray(o.end)]) : concat([b.subarray(0, o.end), slice, b.subarray(o.end)]);
      return { bytes: out, what: `${op === 'delete-op' ? 'delete' : 'repeat'} opcode 0x${o.op.toString(16)} at ${o.at}` };
    }
    case 'swap-name': {
      const names = ops.filter((o) => o.op === 0x8c || o.op === 0x58);
      if (names.length === 0) return bytesMutate(b, rng);
      const o = rng.pick(names);
      const to = rng.pick(['_rebuild_tensor', '_rebuild_tensor_v3', '_rebuild_parameter', 'Size', 'OrderedDict', 'FloatStorage', 'HalfStorage', 'QInt8Storage', 'UntypedStorage', 'storage', 'cpu', 'state', 'param_groups', '__torch__', 'torch', '', '0', 'x'.repeat(300)]);
      return { bytes: concat([b.subarray(0, o.at), str(to), b.subarray(o.end)]), what: `string at ${o.at} becomes '${to.slice(0, 30)}'` };
    }
    default:
      return bytesMutate(b, rng);
  }
}

function le32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  writeLE(out, 0, 4, BigInt(n));
  return out;
}
