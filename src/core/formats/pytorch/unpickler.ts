import { ModelFormatError } from '../../errors';
import { BinaryReader, decodeUtf8 } from '../../io/binaryReader';

/**
 * A restricted pickle reader (protocols 0–5) that treats a pickle as data.
 * It never imports or calls anything: GLOBAL/STACK_GLOBAL resolve only through
 * an allow-list to inert `PickleGlobal` placeholders, REDUCE/NEWOBJ/BUILD build
 * plain `PickleObject` records (the caller's `construct` hook may turn known
 * calls, like torch's tensor rebuilders, into its own records). Any other global
 * (os.system, builtins.eval, subprocess.Popen, …) fails with 'unsafe'.
 */

/** A global name from the pickle, e.g. torch._utils._rebuild_tensor_v2. Never resolved to code. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling or instantiating an allowed global would have produced, kept as data. */
export class PickleObject {
  state: unknown = undefined;
  listItems: unknown[] | undefined;
  dictItems: Map<unknown, unknown> | undefined;
  constructor(
    readonly callee: PickleGlobal,
    readonly args: unknown[],
    /** How it was made: REDUCE (a call) or NEWOBJ/INST/OBJ (an instance). */
    readonly how: 'call' | 'new',
  ) {}
}

/** A persistent id the pickle refers to (torch: a storage in the zip). */
export type PersistentLoad = (pid: unknown) => unknown;
/** Lets the caller build its own value for a known call; return undefined for the default record. */
export type Construct = (callee: PickleGlobal, args: unknown[], how: 'call' | 'new') => unknown;

export interface UnpickleOptions {
  persistentLoad?: PersistentLoad;
  construct?: Construct;
  /** Extra allowed globals beyond the built-in list (TorchScript's `__torch__.*` classes). */
  allowGlobal?: (module: string, name: string) => boolean;
  /** For error messages: which file/entry this pickle came from. */
  what?: string;
}

const TORCH_DTYPES = new Set([
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int8', 'uint8', 'int16', 'short', 'int32', 'int',
  'int64', 'long', 'bool', 'complex64', 'cfloat', 'complex128', 'cdouble', 'complex32', 'chalf', 'qint8', 'quint8', 'qint32',
  'quint4x2', 'quint2x4', 'uint16', 'uint32', 'uint64', 'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz',
]);

const ALLOWED = new Set([
  'collections.OrderedDict',
  'collections.defaultdict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._utils._rebuild_qtensor',
  'torch._utils._rebuild_meta_tensor_no_storage',
  'torch._tensor._rebuild_from_type_v2',
  'torch.storage.UntypedStorage',
  'torch.storage.TypedStorage',
  'torch.storage._load_from_bytes',
  'torch.Size',
  'torch.device',
  'torch.nn.parameter.Parameter',
  'builtins.set',
  'builtins.frozenset',
  'builtins.slice',
  'builtins.bytearray',
  'builtins.complex',
  '__builtin__.set',
  '__builtin__.frozenset',
  '__builtin__.slice',
  '__builtin__.bytearray',
  '_codecs.encode',
  'numpy.core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray.scalar',
  'numpy._core.multiarray._reconstruct',
  'numpy.dtype',
  'numpy.ndarray',
  'argparse.Namespace',
]);

export function isAllowedGlobal(module: string, name: string): boolean {
  if (!/^[A-Za-z_][\w.]*$/.test(module) || !/^[A-Za-z_]\w*$/.test(name)) return false;
  if (ALLOWED.has(`${module}.${name}`)) return true;
  if (module === 'torch' && (/^[A-Za-z0-9_]+Storage$/.test(name) || TORCH_DTYPES.has(name))) return true;
  // Module classes referenced by whole-model pickles: kept as opaque records, never instantiated.
  if (module.startsWith('torch.nn.modules.') && /^[A-Z]\w*$/.test(name)) return true;
  return false;
}

/** Unpickles `data` as inert data. Throws ModelFormatError for hostile or malformed input. */
export function unpickle(data: Uint8Array, options: UnpickleOptions = {}): unknown {
  return new Unpickler(data, options).run();
}

/**
 * Unpickles up to `max` pickles written back to back (torch's legacy format:
 * magic, protocol, sys info, the object, storage keys, then raw bytes). Stops
 * at the end of the data or at the first stream that is not a pickle, since
 * that is where Python's reader stops too; 'unsafe' errors always propagate.
 */
export function unpickleSequence(data: Uint8Array, options: UnpickleOptions, max: number): unknown[] {
  const values: unknown[] = [];
  let at = 0;
  while (at < data.length && values.length < max) {
    const u = new Unpickler(data.subarray(at), options);
    try {
      values.push(u.run());
    } catch (e) {
      if (e instanceof ModelFormatError && e.code !== 'unsafe') break;
      throw e;
    }
    at += u.consumed;
  }
  return values;
}

/** Unpickles the one pickle that starts at `offset`; `end` is the offset just after its STOP. */
export function unpickleAt(data: Uint8Array, offset: number, options: UnpickleOptions): { value: unknown; end: number } {
  const u = new Unpickler(data.subarray(offset), options);
  const value = u.run();
  return { value, end: offset + u.consumed };
}

class Unpickler {
  private readonly r: BinaryReader;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly what: string;

  constructor(
    data: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.r = new BinaryReader(data);
    this.what = options.what ?? 'pickle';
  }

  private fail(code: 'not-a-model' | 'unsafe' | 'unsupported-format' | 'unsupported-version' | 'too-large' | 'truncated', message: string): never {
    throw new ModelFormatError(code, `${this.what}: ${message}`, { offset: this.r.position });
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('not-a-model', 'pickle stack underflow');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('not-a-model', 'pickle stack underflow');
    return this.stack[this.stack.length - 1];
  }

  /**
   * Pushes onto the stack as it is after the call: `this.stack.push(this.popMark())`
   * would push onto the popped frame, since `this.stack` is evaluated first.
   */
  private pushValue(value: unknown): void {
    this.stack.push(value);
  }

  /** Pops everything above the last MARK. */
  private popMark(): unknown[] {
    const items = this.stack;
    const previous = this.marks.pop();
    if (!previous) this.fail('not-a-model', 'pickle MARK missing');
    this.stack = previous;
    return items;
  }

  private line(): string {
    const bytes = this.r.bytes;
    const start = this.r.position;
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) this.fail('truncated', 'pickle text argument has no newline');
    this.r.position = end + 1;
    return decodeUtf8(bytes.subarray(start, end));
  }

  private resolveGlobal(module: string, name: string): PickleGlobal {
    if (!isAllowedGlobal(module, name) && !this.options.allowGlobal?.(module, name)) {
      const hint = /^(torch|collections|numpy|builtins|__builtin__)\b/.test(module)
        ? ''
        : '; if this is a whole model saved with torch.save(model), save model.state_dict() instead';
      this.fail('unsafe', `refuses to load '${module}.${name}': pickles may only refer to tensors and plain containers (this global could run code)${hint}`);
    }
    return new PickleGlobal(module, name);
  }

  private call(callee: unknown, args: unknown, how: 'call' | 'new'): unknown {
    if (!(callee instanceof PickleGlobal)) this.fail('not-a-model', `pickle calls a non-global (${describe(callee)})`);
    const list = Array.isArray(args) ? args : [];
    const custom = this.options.construct?.(callee, list, how);
    if (custom !== undefined) return custom;
    switch (callee.qualifiedName) {
      case 'collections.OrderedDict': {
        // Python 2 pickles an OrderedDict as OrderedDict([[key, value], …]) (its __reduce__ passes the
        // items as the argument); Python 3 passes nothing and adds the items with SETITEMS.
        const map = new Map<unknown, unknown>();
        const items = list[0];
        if (Array.isArray(items)) {
          for (const pair of items) if (Array.isArray(pair) && pair.length === 2) map.set(dictKey(pair[0]), pair[1]);
        }
        return map;
      }
      case 'collections.defaultdict':
        return new Map();
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
      case '__builtin__.frozenset':
        return Array.isArray(list[0]) ? [...list[0]] : [];
      case '_codecs.encode':
        // Protocol-2 bytes: _codecs.encode(text, 'latin1').
        if (typeof list[0] === 'string') return Uint8Array.from(list[0], (c) => c.charCodeAt(0) & 0xff);
        break;
      case 'builtins.bytearray':
      case '__builtin__.bytearray':
        if (list[0] instanceof Uint8Array) return list[0];
        break;
    }
    return new PickleObject(callee, list, how);
  }

  private build(target: unknown, state: unknown): void {
    if (target instanceof PickleObject) {
      target.state = state;
    } else if (target instanceof Map && state instanceof Map) {
      // OrderedDict attributes (a state_dict's `_metadata`) are not items: keep them aside.
      Object.defineProperty(target, 'pickleState', { value: state, enumerable: false, configurable: true });
    }
    // State on anything else (tensors built by `construct`) carries no weights.
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail('not-a-model', 'pickle SETITEMS with an odd number of items');
    let map: Map<unknown, unknown>;
    if (target instanceof Map) map = target;
    else if (target instanceof PickleObject) map = target.dictItems ??= new Map();
    else return this.fail('not-a-model', `pickle sets items on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) map.set(dictKey(items[i]), items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    if (Array.isArray(target)) {
      for (const item of items) target.push(item);
    } else if (target instanceof PickleObject) {
      const list = (target.listItems ??= []);
      for (const item of items) list.push(item);
    } else {
      this.fail('not-a-model', `pickle appends to ${describe(target)}`);
    }
  }

  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) this.fail('not-a-model', `pickle memo ${index} is not set`);
    return this.memo.get(index);
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) this.fail('unsupported-format', 'pickle refers to external data (persistent id) that this reader does not provide');
    return this.options.persistentLoad(pid);
  }

  /** Bytes read so far (after run(): the pickle's length up to and including STOP). */
  get consumed(): number {
    return this.r.position;
  }

  run(): unknown {
    const r = this.r;
    while (r.position < r.length) {
      const op = r.u8();
      switch (op) {
        case 0x80: // PROTO
          if (r.u8() > 5) this.fail('unsupported-version', 'pickle protocol above 5');
          break;
        case 0x95: // FRAME: a length prefix only; the opcodes follow inline.
          r.skip(8, 'pickle frame length');
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length === 0 && this.marks.length > 0) this.popMark();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.stack.push(this.top());
          break;

        // Numbers.
        case 0x4e: // NONE
          this.stack.push(null);
          break;
        case 0x88: // NEWTRUE
          this.stack.push(true);
          break;
        case 0x89: // NEWFALSE
          this.stack.push(false);
          break;
        case 0x4a: // BININT
          this.stack.push(r.i32());
          break;
        case 0x4b: // BININT1
          this.stack.push(r.u8());
          break;
        case 0x4d: // BININT2
          this.stack.push(r.u16());
          break;
        case 0x49: {
          // INT (text); I01/I00 are protocol-0 booleans.
          const text = this.line();
          if (text === '01') this.stack.push(true);
          else if (text === '00') this.stack.push(false);
          else this.stack.push(parseIntText(text, () => this.fail('not-a-model', `bad INT '${text.slice(0, 40)}'`)));
          break;
        }
        case 0x4c: {
          // LONG (text, trailing L)
          const text = this.line().replace(/L$/, '');
          this.stack.push(parseIntText(text, () => this.fail('not-a-model', `bad LONG '${text.slice(0, 40)}'`)));
          break;
        }
        case 0x8a: // LONG1
          this.stack.push(decodeLong(r.read(r.u8(), 'LONG1')));
          break;
        case 0x8b: {
          // LONG4
          const n = r.i32();
          if (n < 0 || n > 4096) this.fail('too-large', `LONG4 of ${n} bytes`);
          this.stack.push(decodeLong(r.read(n, 'LONG4')));
          break;
        }
        case 0x46: {
          // FLOAT (text)
          const text = this.line();
          const v = Number(text);
          if (Number.isNaN(v) && !/nan/i.test(text)) this.fail('not-a-model', `bad FLOAT '${text.slice(0, 40)}'`);
          this.stack.push(v);
          break;
        }
        case 0x47: {
          // BINFLOAT: big-endian double
          const b = r.read(8, 'BINFLOAT');
          this.stack.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }

        // Strings and bytes.
        case 0x53: // STRING (quoted repr)
          this.stack.push(unquote(this.line(), () => this.fail('not-a-model', 'bad STRING literal')));
          break;
        case 0x54: // BINSTRING
          this.stack.push(latin1(r.read(this.length(r.i32()), 'BINSTRING')));
          break;
        case 0x55: // SHORT_BINSTRING
          this.stack.push(latin1(r.read(r.u8(), 'SHORT_BINSTRING')));
          break;
        case 0x56: // UNICODE (raw-unicode-escape text)
          this.stack.push(rawUnicodeEscape(this.r.bytes, this.lineBytes()));
          break;
        case 0x58: // BINUNICODE
          this.stack.push(decodeUtf8(r.read(this.length(r.u32()), 'BINUNICODE')));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.stack.push(decodeUtf8(r.read(r.u8(), 'SHORT_BINUNICODE')));
          break;
        case 0x8d: // BINUNICODE8
          this.stack.push(decodeUtf8(r.read(this.length(r.u64('BINUNICODE8 length')), 'BINUNICODE8')));
          break;
        case 0x42: // BINBYTES
          this.stack.push(r.read(this.length(r.u32()), 'BINBYTES').slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.stack.push(r.read(r.u8(), 'SHORT_BINBYTES').slice());
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.stack.push(r.read(this.length(r.u64('BINBYTES8 length')), 'BINBYTES8').slice());
          break;
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          this.fail('unsupported-format', 'pickle uses out-of-band buffers (protocol 5), which a file cannot carry');

        // Containers.
        case 0x5d: // EMPTY_LIST
          this.stack.push([]);
          break;
        case 0x6c: // LIST
          this.pushValue(this.popMark());
          break;
        case 0x61: {
          // APPEND
          const item = this.pop();
          this.appendItems(this.top(), [item]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x29: // EMPTY_TUPLE
          this.stack.push([]);
          break;
        case 0x74: // TUPLE
          this.pushValue(this.popMark());
          break;
        case 0x85: // TUPLE1
          this.stack.push([this.pop()]);
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.stack.push([a, b]);
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.stack.push([a, b, c]);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.stack.push(new Map());
          break;
        case 0x64: {
          // DICT
          const map = new Map();
          this.setItems(map, this.popMark());
          this.stack.push(map);
          break;
        }
        case 0x73: {
          // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.top(), [key, value]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.stack.push([]);
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!Array.isArray(set)) this.fail('not-a-model', 'pickle ADDITEMS on a non-set');
          for (const item of items) set.push(item);
          break;
        }
        case 0x91: // FROZENSET
          this.pushValue(this.popMark());
          break;

        // Memo.
        case 0x70: // PUT (text)
          this.memo.set(this.index(this.line()), this.top());
          break;
        case 0x71: // BINPUT
          this.memo.set(r.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memo.set(r.u32(), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x67: // GET (text)
          this.stack.push(this.memoGet(this.index(this.line())));
          break;
        case 0x68: // BINGET
          this.stack.push(this.memoGet(r.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.stack.push(this.memoGet(r.u32()));
          break;

        // Globals and objects: names only, nothing is imported or called.
        case 0x63: {
          // GLOBAL "module\nname\n"
          const module = this.line();
          const name = this.line();
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('not-a-model', 'pickle STACK_GLOBAL without strings');
          this.stack.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const callee = this.pop();
          this.stack.push(this.call(callee, args, 'call'));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.stack.push(this.call(cls, args, 'new'));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX (keyword arguments are dropped: data only)
          this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.stack.push(this.call(cls, args, 'new'));
          break;
        }
        case 0x69: {
          // INST "module\nname\n" with arguments above the mark
          const module = this.line();
          const name = this.line();
          const cls = this.resolveGlobal(module, name);
          const args = this.popMark();
          this.stack.push(this.call(cls, args, 'new'));
          break;
        }
        case 0x6f: {
          // OBJ: mark, class, args…
          const items = this.popMark();
          if (items.length === 0) this.fail('not-a-model', 'pickle OBJ without a class');
          this.stack.push(this.call(items[0], items.slice(1), 'new'));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail('unsafe', 'pickle uses the copyreg extension registry, which resolves to arbitrary code');
        case 0x50: // PERSID (text)
          this.stack.push(this.persistent(this.line()));
          break;
        case 0x51: // BINPERSID
          this.stack.push(this.persistent(this.pop()));
          break;
        default:
          this.fail('not-a-model', `unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${r.position - 1}`);
      }
    }
    return this.fail('truncated', 'pickle ends without STOP');
  }

  /** A declared length must fit in what is left of the pickle. */
  private length(n: number): number {
    if (n < 0 || n > this.r.remaining) this.fail('truncated', `pickle declares ${n} bytes but only ${this.r.remaining} remain`);
    return n;
  }

  private index(text: string): number {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) this.fail('not-a-model', `bad memo index '${text.slice(0, 40)}'`);
    return n;
  }

  private lineBytes(): [number, number] {
    const bytes = this.r.bytes;
    const start = this.r.position;
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) this.fail('truncated', 'pickle text argument has no newline');
    this.r.position = end + 1;
    return [start, end];
  }
}

function dictKey(key: unknown): unknown {
  // Flat tuple keys of plain values become strings so equal tuples are one key;
  // anything nested stays keyed by identity (no recursion over hostile nesting).
  if (!Array.isArray(key) || key.length > 64) return key;
  const parts: string[] = [];
  for (const k of key) {
    if (typeof k === 'string') parts.push(JSON.stringify(k));
    else if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k === null) parts.push(String(k));
    else return key;
  }
  return `(${parts.join(', ')})`;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof PickleObject) return `${v.callee.qualifiedName}(…)`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  return typeof v;
}

function parseIntText(text: string, bad: () => never): number | bigint {
  if (!/^[+-]?\d{1,4300}$/.test(text)) bad();
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/** Little-endian two's-complement integer (LONG1/LONG4). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** Python 2 `repr()` of a str: quotes plus backslash escapes. */
function unquote(text: string, bad: () => never): string {
  const quote = text[0];
  if ((quote !== "'" && quote !== '"') || text.length < 2 || text[text.length - 1] !== quote) bad();
  const body = text.slice(1, -1);
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    return simple[e] ?? `\\${e}`;
  });
}

/** Protocol-0 UNICODE: latin-1 bytes where \uXXXX and \UXXXXXXXX are escapes. */
function rawUnicodeEscape(bytes: Uint8Array, [start, end]: [number, number]): string {
  const text = latin1(bytes.subarray(start, end));
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => {
    const cp = parseInt((u4 ?? u8)!, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
  });
}
