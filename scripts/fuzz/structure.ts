import { decodeVarint, encodeVarint, concat, readLE, view } from './bytes';

/**
 * Walkers that find where the numbers that matter live in each binary format
 * (GGUF dims and lengths, FlatBuffer offsets and shapes, pickle arguments), and a
 * schema-guided protobuf tree for ONNX that re-encodes with correct lengths.
 */

export interface Site {
  at: number;
  width: 1 | 2 | 4 | 8;
  role: string;
}

// ---------------------------------------------------------------------------
// GGUF

const GGUF_FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function ggufSites(b: Uint8Array): Site[] {
  const sites: Site[] = [];
  if (b.length < 24) return sites;
  const u32 = (at: number) => Number(readLE(b, at, 4));
  const u64 = (at: number) => readLE(b, at, 8);
  sites.push({ at: 4, width: 4, role: 'version' }, { at: 8, width: 8, role: 'tensor-count' }, { at: 16, width: 8, role: 'kv-count' });
  const tensorCount = Number(u64(8));
  const kvCount = Number(u64(16));
  let at = 24;
  const ok = (n: number) => at + n <= b.length;
  const string = (role: string): boolean => {
    if (!ok(8)) return false;
    const n = u64(at);
    sites.push({ at, width: 8, role });
    if (n > BigInt(b.length)) return false;
    at += 8 + Number(n);
    return at <= b.length;
  };
  const value = (type: number, depth: number): boolean => {
    if (GGUF_FIXED[type] !== undefined) {
      if (!ok(GGUF_FIXED[type]!)) return false;
      sites.push({ at, width: Math.min(8, GGUF_FIXED[type]!) as Site['width'], role: 'kv-scalar' });
      at += GGUF_FIXED[type]!;
      return true;
    }
    if (type === 8) return string('kv-string-length');
    if (type === 9 && depth < 4) {
      if (!ok(12)) return false;
      const elementType = u32(at);
      sites.push({ at, width: 4, role: 'array-type' }, { at: at + 4, width: 8, role: 'array-length' });
      const n = Number(u64(at + 4));
      at += 12;
      if (n > b.length) return false;
      for (let i = 0; i < n; i++) if (!value(elementType, depth + 1)) return false;
      return true;
    }
    return false;
  };
  for (let i = 0; i < kvCount && i < 10_000; i++) {
    if (!string('key-length') || !ok(4)) return sites;
    const type = u32(at);
    sites.push({ at, width: 4, role: 'value-type' });
    at += 4;
    if (!value(type, 0)) return sites;
  }
  for (let i = 0; i < tensorCount && i < 10_000; i++) {
    if (!string('tensor-name-length') || !ok(4)) return sites;
    const nDims = u32(at);
    sites.push({ at, width: 4, role: 'n-dims' });
    at += 4;
    if (nDims > 8 || !ok(nDims * 8 + 12)) return sites;
    for (let d = 0; d < nDims; d++) sites.push({ at: at + d * 8, width: 8, role: 'dim' });
    at += nDims * 8;
    sites.push({ at, width: 4, role: 'ggml-type' }, { at: at + 4, width: 8, role: 'tensor-offset' });
    at += 12;
  }
  return sites;
}

// ---------------------------------------------------------------------------
// FlatBuffers (TFLite)

export function tfliteSites(b: Uint8Array): Site[] {
  const sites: Site[] = [];
  const dv = view(b);
  const inside = (at: number, n: number) => Number.isInteger(at) && at >= 0 && at + n <= b.length;
  const u32 = (at: number) => (inside(at, 4) ? dv.getUint32(at, true) : -1);
  const table = (t: number) => {
    if (!inside(t, 4)) return null;
    const vt = t - dv.getInt32(t, true);
    if (!inside(vt, 4)) return null;
    const vtSize = dv.getUint16(vt, true);
    sites.push({ at: t, width: 4, role: 'table-vtable-offset' });
    return (field: number): number => {
      const slot = vt + 4 + field * 2;
      if (4 + field * 2 >= vtSize || !inside(slot, 2)) return 0;
      const o = dv.getUint16(slot, true);
      if (o) sites.push({ at: slot, width: 2, role: 'vtable-field' });
      return o ? t + o : 0;
    };
  };
  const deref = (at: number) => (at && inside(at, 4) ? at + u32(at) : 0);
  const vector = (fieldAt: number, role: string): { start: number; length: number } | null => {
    if (!fieldAt) return null;
    sites.push({ at: fieldAt, width: 4, role: `${role}-offset` });
    const v = deref(fieldAt);
    if (!inside(v, 4)) return null;
    const length = u32(v);
    sites.push({ at: v, width: 4, role: `${role}-length` });
    return { start: v + 4, length: Math.min(length, 100_000) };
  };
  const tables = (fieldAt: number, role: string, each: (t: number) => void) => {
    const v = vector(fieldAt, role);
    if (!v) return;
    for (let i = 0; i < v.length; i++) {
      const at = v.start + i * 4;
      if (!inside(at, 4)) return;
      sites.push({ at, width: 4, role: `${role}-element-offset` });
      each(deref(at));
    }
  };
  const ints = (fieldAt: number, role: string) => {
    const v = vector(fieldAt, role);
    if (!v) return;
    for (let i = 0; i < v.length && inside(v.start + i * 4, 4); i++) sites.push({ at: v.start + i * 4, width: 4, role });
  };
  sites.push({ at: 0, width: 4, role: 'root-offset' });
  const model = table(u32(0));
  if (!model) return sites;
  tables(model(2), 'subgraphs', (sg) => {
    const f = table(sg);
    if (!f) return;
    tables(f(0), 'tensors', (t) => {
      const tf = table(t);
      if (!tf) return;
      ints(tf(0), 'shape-dim');
      if (tf(1)) sites.push({ at: tf(1), width: 1, role: 'tensor-type' });
      if (tf(2)) sites.push({ at: tf(2), width: 4, role: 'buffer-index' });
      ints(tf(7), 'shape-signature-dim');
      const q = tf(4);
      if (q) {
        const qf = table(deref(q));
        if (qf) {
          vector(qf(2), 'quant-scale');
          vector(qf(3), 'quant-zero-point');
        }
      }
      if (tf(6)) {
        const sp = table(deref(tf(6)));
        if (sp) {
          ints(sp(0), 'sparsity-traversal');
          ints(sp(1), 'sparsity-block-map');
        }
      }
    });
    ints(f(1), 'subgraph-input');
    ints(f(2), 'subgraph-output');
    tables(f(3), 'operators', (op) => {
      const of = table(op);
      if (!of) return;
      if (of(0)) sites.push({ at: of(0), width: 4, role: 'opcode-index' });
      ints(of(1), 'operator-input');
      ints(of(2), 'operator-output');
      if (of(3)) sites.push({ at: of(3), width: 1, role: 'builtin-options-type' });
      // The options table (strides, padding, activation, …): every scalar field, sized by the gap to the next.
      const optionsAt = deref(of(4));
      const opts = optionsAt ? table(optionsAt) : null;
      if (opts) {
        const fields: number[] = [];
        for (let i = 0; i < 16; i++) {
          const at = opts(i);
          if (at) fields.push(at);
        }
        fields.sort((a, b) => a - b);
        fields.forEach((at, i) => {
          const gap = (fields[i + 1] ?? at + 4) - at;
          sites.push({ at, width: gap >= 4 ? 4 : gap >= 2 ? 2 : 1, role: 'builtin-option' });
        });
      }
    });
  });
  tables(model(1), 'operator-codes', (oc) => {
    const f = table(oc);
    if (!f) return;
    if (f(0)) sites.push({ at: f(0), width: 1, role: 'deprecated-builtin-code' });
    if (f(3)) sites.push({ at: f(3), width: 4, role: 'builtin-code' });
  });
  tables(model(4), 'buffers', (buf) => {
    const f = table(buf);
    if (!f) return;
    vector(f(0), 'buffer-data');
    if (f(1)) sites.push({ at: f(1), width: 8, role: 'buffer-offset' });
    if (f(2)) sites.push({ at: f(2), width: 8, role: 'buffer-size' });
  });
  return sites;
}

// ---------------------------------------------------------------------------
// Pickle (protocol 0–5 opcodes with fixed-size arguments)

const ARG: Record<number, [number, string] | 'line' | 'line2'> = {
  0x80: [1, 'proto'], 0x95: [8, 'frame-length'], 0x4a: [4, 'binint'], 0x4b: [1, 'binint1'], 0x4d: [2, 'binint2'],
  0x47: [8, 'binfloat'], 0x71: [1, 'binput'], 0x72: [4, 'long-binput'], 0x68: [1, 'binget'], 0x6a: [4, 'long-binget'],
  0x49: 'line', 0x4c: 'line', 0x46: 'line', 0x53: 'line', 0x56: 'line', 0x70: 'line', 0x67: 'line', 0x50: 'line', 0x63: 'line2', 0x69: 'line2',
};
/** Length-prefixed opcodes: [prefix width, role]. */
const LENGTH_PREFIXED: Record<number, [1 | 4 | 8, string]> = {
  0x8a: [1, 'long1-length'], 0x8b: [4, 'long4-length'], 0x54: [4, 'binstring-length'], 0x55: [1, 'short-binstring-length'],
  0x58: [4, 'binunicode-length'], 0x8c: [1, 'short-binunicode-length'], 0x8d: [8, 'binunicode8-length'], 0x42: [4, 'binbytes-length'],
  0x43: [1, 'short-binbytes-length'], 0x8e: [8, 'binbytes8-length'], 0x96: [8, 'bytearray8-length'],
};

export interface PickleOp {
  at: number;
  op: number;
  end: number;
}

export function pickleOps(b: Uint8Array): { ops: PickleOp[]; sites: Site[] } {
  const ops: PickleOp[] = [];
  const sites: Site[] = [];
  let at = 0;
  while (at < b.length && ops.length < 200_000) {
    const op = b[at]!;
    const start = at;
    at++;
    const arg = ARG[op];
    const lp = LENGTH_PREFIXED[op];
    if (lp) {
      const [w, role] = lp;
      if (at + w > b.length) break;
      sites.push({ at, width: w, role });
      const n = Number(readLE(b, at, w));
      at += w + n;
    } else if (Array.isArray(arg)) {
      sites.push({ at, width: Math.min(arg[0], 8) as Site['width'], role: arg[1] });
      at += arg[0];
    } else if (arg === 'line' || arg === 'line2') {
      for (let k = 0; k < (arg === 'line' ? 1 : 2); k++) {
        const nl = b.indexOf(0x0a, at);
        if (nl < 0) return { ops, sites };
        at = nl + 1;
      }
    }
    if (at > b.length) break;
    ops.push({ at: start, op, end: at });
    if (op === 0x2e) break;
  }
  return { ops, sites };
}

// ---------------------------------------------------------------------------
// Protobuf, guided by the ONNX schema (which length-delimited fields are messages).

export interface PbField {
  num: number;
  wire: number;
  varint?: bigint;
  fixed?: Uint8Array;
  bytes?: Uint8Array;
  msg?: PbField[];
  /** Message type name when `msg` is set. */
  type?: string;
}

const ONNX: Record<string, Record<number, string>> = {
  ModelProto: { 7: 'GraphProto', 8: 'OperatorSetIdProto', 14: 'StringStringEntryProto', 25: 'FunctionProto' },
  GraphProto: { 1: 'NodeProto', 5: 'TensorProto', 15: 'SparseTensorProto', 11: 'ValueInfoProto', 12: 'ValueInfoProto', 13: 'ValueInfoProto' },
  NodeProto: { 5: 'AttributeProto' },
  AttributeProto: { 5: 'TensorProto', 6: 'GraphProto', 10: 'TensorProto', 11: 'GraphProto', 22: 'SparseTensorProto', 14: 'TypeProto' },
  TensorProto: { 13: 'StringStringEntryProto' },
  SparseTensorProto: { 1: 'TensorProto', 2: 'TensorProto' },
  ValueInfoProto: { 2: 'TypeProto' },
  TypeProto: { 1: 'TypeProtoTensor', 8: 'TypeProtoTensor' },
  TypeProtoTensor: { 2: 'TensorShapeProto' },
  TensorShapeProto: { 1: 'Dimension' },
  FunctionProto: { 7: 'NodeProto', 11: 'AttributeProto' },
};

/** Parses a message; null if the bytes are not a well-formed message. */
export function parsePb(b: Uint8Array, type: string, depth = 0): PbField[] | null {
  const fields: PbField[] = [];
  let at = 0;
  while (at < b.length) {
    const key = decodeVarint(b, at);
    if (!key) return null;
    at = key.next;
    const num = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    if (num === 0) return null;
    if (wire === 0) {
      const v = decodeVarint(b, at);
      if (!v) return null;
      fields.push({ num, wire, varint: v.value });
      at = v.next;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (at + n > b.length) return null;
      fields.push({ num, wire, fixed: b.slice(at, at + n) });
      at += n;
    } else if (wire === 2) {
      const len = decodeVarint(b, at);
      if (!len || len.value > BigInt(b.length - len.next)) return null;
      at = len.next;
      const body = b.subarray(at, at + Number(len.value));
      at += Number(len.value);
      const childType = ONNX[type]?.[num];
      const msg = childType && depth < 64 ? parsePb(body, childType, depth + 1) : null;
      fields.push(msg ? { num, wire, msg, type: childType } : { num, wire, bytes: body.slice() });
    } else {
      return null;
    }
  }
  return fields;
}

export function encodePb(fields: readonly PbField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(encodeVarint(BigInt((f.num << 3) | f.wire)));
    if (f.wire === 0) parts.push(encodeVarint(f.varint ?? 0n));
    else if (f.wire === 1 || f.wire === 5) parts.push(f.fixed ?? new Uint8Array(f.wire === 1 ? 8 : 4));
    else {
      const body = f.msg ? encodePb(f.msg) : (f.bytes ?? new Uint8Array(0));
      parts.push(encodeVarint(BigInt(body.length)), body);
    }
  }
  return concat(parts);
}

export interface PbSite {
  field: PbField;
  /** The enclosing list, to delete or duplicate. */
  list: PbField[];
  path: string;
}

/** Every field with its message path, e.g. ModelProto.7/GraphProto.5/TensorProto.1. */
export function pbSites(fields: PbField[], type = 'ModelProto', path = 'ModelProto', out: PbSite[] = [], depth = 0): PbSite[] {
  for (const f of fields) {
    const here = `${path}.${f.num}`;
    out.push({ field: f, list: fields, path: `${type}.${f.num}` });
    if (f.msg && depth < 64 && out.length < 200_000) pbSites(f.msg, f.type!, here, out, depth + 1);
  }
  return out;
}
