/**
 * Parameter counts for layer constructors written in source code — the core of
 * the hover over `nn.Linear(784, 512)`, `Conv2D(32, (3, 3))` or
 * `tf.layers.dense({units: 10})`.
 *
 * A small tokenizer (strings, comments, brackets) finds calls whose callee is a
 * known layer; a literal evaluator reads the arguments; one analyzer per layer
 * turns them into a count with the framework's own defaults. Anything that is not
 * a literal (a variable, a call, a `**kwargs`) makes the count unknown (null) and is
 * named in `dependsOn`, never guessed. Pure: no 'vscode', no I/O.
 */

export type ConstructorLanguage = 'python' | 'typescript' | 'javascript' | 'typescriptreact' | 'javascriptreact';
export type ConstructorFramework = 'pytorch' | 'keras' | 'tfjs';
export type ConstructorKind =
  | 'linear'
  | 'conv'
  | 'depthwise-conv'
  | 'separable-conv'
  | 'embedding'
  | 'lstm'
  | 'gru'
  | 'conv-transpose';

export interface ConstructorAlternative {
  name: string;
  params: number;
  formula: string;
  /** params of the original layer − params of this alternative (> 0). */
  saving: number;
}

export interface ConstructorFinding {
  /** Character range [start, end) of the whole call expression within the given text. */
  start: number;
  end: number;
  framework: ConstructorFramework;
  /** Canonical name: 'nn.Linear', 'Conv2D', 'tf.layers.dense'. */
  layer: string;
  kind: ConstructorKind;
  /** null when the count depends on something that is not a literal. */
  params: number | null;
  /** Formula with the numbers, e.g. "784·512 + 512 (bias)"; symbolic where unknown. */
  formula: string;
  /** What the count depends on when not literal, e.g. "input features (inferred from the previous layer)". */
  dependsOn: string[];
  bias: boolean;
  /** Alternatives that save parameters (only when params is known). */
  alternatives: ConstructorAlternative[];
}

/** The constructor call whose range contains `offset` (the innermost one), or null. */
export function findConstructorAt(text: string, offset: number, languageId: ConstructorLanguage): ConstructorFinding | null {
  const scan = scanCalls(text, languageId);
  let best: Candidate | null = null;
  for (const c of scan.candidates) {
    if (c.start <= offset && offset < c.end && (best === null || c.start >= best.start)) best = c;
  }
  return best === null ? null : analyzeCandidate(scan, best);
}

/** Every layer constructor call in `text`, in source order. */
export function findConstructors(text: string, languageId: ConstructorLanguage): ConstructorFinding[] {
  const scan = scanCalls(text, languageId);
  return scan.candidates.map((c) => analyzeCandidate(scan, c));
}

// ---------------------------------------------------------------------------
// Tokens

type TokenKind = 'id' | 'num' | 'str' | 'op' | 'open' | 'close';

interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
  /** Index of the matching bracket (open/close tokens), -1 if none. */
  match: number;
  /** Contents of a string literal, without prefix and quotes (escapes left as written). */
  value: string | undefined;
}

const PY_OPS3 = ['**=', '//=', '...', '<<=', '>>='];
const PY_OPS2 = ['**', '//', '==', '!=', '<=', '>=', '->', ':=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>', '@='];
const JS_OPS4 = ['>>>='];
const JS_OPS3 = ['===', '!==', '**=', '...', '>>>', '&&=', '||=', '??=', '<<=', '>>='];
const JS_OPS2 = ['=>', '==', '!=', '<=', '>=', '**', '&&', '||', '??', '?.', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>'];
/** After these keywords a `/` starts a regular expression, not a division. */
const JS_REGEX_KEYWORDS = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);
const NUMBER_RE = /(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)[jJnlL]?/y;

function isIdStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c > 127;
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || c === 0xa0 || c === 0xfeff;
}

function token(kind: TokenKind, text: string, start: number, end: number): Token {
  return { kind, text, start, end, match: -1, value: undefined };
}

function lexNumber(src: string, i: number, out: Token[]): number {
  NUMBER_RE.lastIndex = i;
  const m = NUMBER_RE.exec(src);
  const end = m && m[0].length > 0 ? i + m[0].length : i + 1;
  out.push(token('num', src.slice(i, end), i, end));
  return end;
}

function lexPunct(src: string, i: number, out: Token[], ops: string[][]): number {
  const c = src[i]!;
  if (c === '(' || c === '[' || c === '{') {
    out.push(token('open', c, i, i + 1));
    return i + 1;
  }
  if (c === ')' || c === ']' || c === '}') {
    out.push(token('close', c, i, i + 1));
    return i + 1;
  }
  // Most punctuation is one character: skip the multi-character tables unless the
  // next character is punctuation too.
  const next = src.charCodeAt(i + 1);
  if (Number.isNaN(next) || isSpace(next) || isIdPart(next)) {
    out.push(token('op', c, i, i + 1));
    return i + 1;
  }
  for (const group of ops) {
    const len = group[0]!.length;
    const s = src.slice(i, i + len);
    if (group.includes(s)) {
      out.push(token('op', s, i, i + len));
      return i + len;
    }
  }
  out.push(token('op', c, i, i + 1));
  return i + 1;
}

/** A quoted string starting at `quote` (its prefix, if any, starts at `start`). Returns the end. */
function lexQuoted(src: string, start: number, quote: number, out: Token[], allowTriple: boolean): number {
  const n = src.length;
  const q = src.charCodeAt(quote);
  const triple = allowTriple && src.charCodeAt(quote + 1) === q && src.charCodeAt(quote + 2) === q;
  const open = triple ? 3 : 1;
  let j = quote + open;
  let contentEnd = n;
  let end = n;
  while (j < n) {
    const d = src.charCodeAt(j);
    if (d === 92) {
      j += 2;
      continue;
    }
    if (d === q && (!triple || (src.charCodeAt(j + 1) === q && src.charCodeAt(j + 2) === q))) {
      contentEnd = j;
      end = j + open;
      break;
    }
    if (d === 10 && !triple) {
      // Unterminated single-line string: stop at the line end so one stray quote
      // cannot swallow the rest of the file.
      contentEnd = j;
      end = j;
      break;
    }
    j++;
  }
  const t = token('str', src.slice(start, end), start, end);
  t.value = src.slice(quote + open, Math.min(contentEnd, n));
  out.push(t);
  return end;
}

function lexPython(src: string): Token[] {
  const out: Token[] = [];
  const n = src.length;
  const ops = [PY_OPS3, PY_OPS2];
  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (isSpace(c) || c === 92 /* line continuation */) {
      i++;
    } else if (c === 35 /* # */) {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? n : nl;
    } else if (c === 34 || c === 39) {
      i = lexQuoted(src, i, i, out, true);
    } else if (isIdStart(c)) {
      let j = i + 1;
      while (j < n && isIdPart(src.charCodeAt(j))) j++;
      const q = src.charCodeAt(j);
      if ((q === 34 || q === 39) && j - i <= 2 && /^(?:[rRuUbBfFtT]|[rR][bBfFtT]|[bBfFtT][rR])$/.test(src.slice(i, j))) {
        i = lexQuoted(src, i, j, out, true);
      } else {
        out.push(token('id', src.slice(i, j), i, j));
        i = j;
      }
    } else if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      i = lexNumber(src, i, out);
    } else {
      i = lexPunct(src, i, out, ops);
    }
  }
  return out;
}

/** Scans a template literal's text from `i`; stops after the closing backtick or after `${`. */
function scanTemplate(src: string, i: number): { end: number; expr: boolean } {
  const n = src.length;
  let j = i;
  while (j < n) {
    const d = src.charCodeAt(j);
    if (d === 92) j += 2;
    else if (d === 96) return { end: j + 1, expr: false };
    else if (d === 36 && src.charCodeAt(j + 1) === 123) return { end: j + 2, expr: true };
    else j++;
  }
  return { end: n, expr: false };
}

function regexAllowedAfter(prev: Token | undefined): boolean {
  if (prev === undefined) return true;
  if (prev.kind === 'op' || prev.kind === 'open') return true;
  if (prev.kind === 'id') return JS_REGEX_KEYWORDS.has(prev.text);
  return false;
}

/** A regular expression literal at `i` (a `/`); returns its end, or -1 if it is not one. */
function scanRegex(src: string, i: number): number {
  const n = src.length;
  let j = i + 1;
  let inClass = false;
  while (j < n) {
    const d = src.charCodeAt(j);
    if (d === 10) return -1;
    if (d === 92) {
      j += 2;
      continue;
    }
    if (inClass) {
      if (d === 93) inClass = false;
    } else if (d === 91) inClass = true;
    else if (d === 47) {
      j++;
      while (j < n && isIdPart(src.charCodeAt(j))) j++;
      return j;
    }
    j++;
  }
  return -1;
}

function lexJs(src: string): Token[] {
  const out: Token[] = [];
  const n = src.length;
  const ops = [JS_OPS4, JS_OPS3, JS_OPS2];
  /** Brace depth inside each open `${ … }` of template literals. */
  const templates: number[] = [];
  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (isSpace(c)) {
      i++;
    } else if (c === 47 /* / */ && src.charCodeAt(i + 1) === 47) {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? n : nl;
    } else if (c === 47 && src.charCodeAt(i + 1) === 42) {
      const close = src.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === 34 || c === 39) {
      i = lexQuoted(src, i, i, out, false);
    } else if (c === 96 /* ` */) {
      const r = scanTemplate(src, i + 1);
      out.push(token('str', src.slice(i, r.end), i, r.end));
      if (r.expr) templates.push(0);
      i = r.end;
    } else if (c === 125 /* } */ && templates.length > 0 && templates[templates.length - 1] === 0) {
      templates.pop();
      const r = scanTemplate(src, i + 1);
      out.push(token('str', src.slice(i, r.end), i, r.end));
      if (r.expr) templates.push(0);
      i = r.end;
    } else if (isIdStart(c)) {
      let j = i + 1;
      while (j < n && isIdPart(src.charCodeAt(j))) j++;
      out.push(token('id', src.slice(i, j), i, j));
      i = j;
    } else if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      i = lexNumber(src, i, out);
    } else if (c === 47 && regexAllowedAfter(out[out.length - 1])) {
      const end = scanRegex(src, i);
      if (end < 0) i = lexPunct(src, i, out, ops);
      else {
        out.push(token('str', src.slice(i, end), i, end));
        i = end;
      }
    } else {
      if (templates.length > 0) {
        if (c === 123) templates[templates.length - 1]!++;
        else if (c === 125) templates[templates.length - 1]!--;
      }
      i = lexPunct(src, i, out, ops);
    }
  }
  return out;
}

const OPENER: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

/** Links each bracket to its partner; a stray closer is ignored, an unclosed opener keeps -1. */
function matchBrackets(toks: Token[]): void {
  const stack: number[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'open') stack.push(i);
    else if (t.kind === 'close') {
      const want = OPENER[t.text];
      let k = stack.length - 1;
      while (k >= 0 && toks[stack[k]!]!.text !== want) k--;
      if (k < 0) continue;
      const o = stack[k]!;
      stack.length = k;
      toks[o]!.match = i;
      t.match = o;
    }
  }
}

/** Token ranges [a, b) of the comma-separated items between a and b (top level only). */
function splitTop(toks: Token[], a: number, b: number): [number, number][] {
  const out: [number, number][] = [];
  let s = a;
  for (let i = a; i < b; i++) {
    const t = toks[i]!;
    if (t.kind === 'open' && t.match > i && t.match < b) {
      i = t.match;
    } else if (t.kind === 'op' && t.text === ',') {
      out.push([s, i]);
      s = i + 1;
    }
  }
  out.push([s, b]);
  return out;
}

// ---------------------------------------------------------------------------
// Literal values

type Value =
  | { k: 'num'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'str'; v: string }
  | { k: 'none' }
  | { k: 'seq'; items: Value[]; text: string }
  | { k: 'obj'; entries: Map<string, Value>; spreads: string[] }
  | Unknown;

interface Unknown {
  k: 'unknown';
  /** Source text of the expression (or the splat that may set it). */
  text: string;
  /** True when the value is missing but a `*args`/`**kwargs`/`...spread` may supply it. */
  splat?: boolean;
}

const NOT_LITERAL = Symbol('not a literal');

class Evaluator {
  constructor(
    private readonly src: string,
    private readonly toks: Token[],
    private readonly python: boolean,
  ) {}

  text(a: number, b: number): string {
    if (a >= b) return '';
    return this.src.slice(this.toks[a]!.start, this.toks[b - 1]!.end).replace(/\s+/g, ' ');
  }

  /** The literal value of tokens [a, b), or an Unknown carrying their text. */
  value(a: number, b: number): Value {
    if (!this.python) b = this.stripTypeAssertion(a, b);
    if (a >= b) return { k: 'unknown', text: '' };
    const p = { i: a };
    try {
      const v = this.sum(p, b);
      if (p.i !== b) throw NOT_LITERAL;
      return v;
    } catch (e) {
      if (e === NOT_LITERAL) return { k: 'unknown', text: this.text(a, b) };
      throw e;
    }
  }

  /** `x as T` / `x satisfies T` (TypeScript) only change the type: read x. */
  private stripTypeAssertion(a: number, b: number): number {
    for (let i = a + 1; i < b; i++) {
      const t = this.toks[i]!;
      if (t.kind === 'open' && t.match > i && t.match < b) i = t.match;
      else if (t.kind === 'id' && (t.text === 'as' || t.text === 'satisfies')) return i;
    }
    return b;
  }

  private num(v: Value): number {
    if (v.k !== 'num') throw NOT_LITERAL;
    return v.v;
  }

  private sum(p: { i: number }, b: number): Value {
    let left = this.term(p, b);
    while (p.i < b) {
      const t = this.toks[p.i]!;
      if (t.kind !== 'op' || (t.text !== '+' && t.text !== '-')) break;
      p.i++;
      const right = this.term(p, b);
      left = { k: 'num', v: t.text === '+' ? this.num(left) + this.num(right) : this.num(left) - this.num(right) };
    }
    return left;
  }

  private term(p: { i: number }, b: number): Value {
    let left = this.unary(p, b);
    while (p.i < b) {
      const t = this.toks[p.i]!;
      if (t.kind !== 'op' || !(t.text === '*' || t.text === '/' || (this.python && t.text === '//'))) break;
      p.i++;
      const l = this.num(left);
      const r = this.num(this.unary(p, b));
      if (t.text !== '*' && r === 0) throw NOT_LITERAL;
      left = { k: 'num', v: t.text === '*' ? l * r : t.text === '//' ? Math.floor(l / r) : l / r };
    }
    return left;
  }

  private unary(p: { i: number }, b: number): Value {
    const t = this.toks[p.i];
    if (p.i < b && t !== undefined && t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      p.i++;
      const v = this.num(this.unary(p, b));
      return { k: 'num', v: t.text === '-' ? -v : v };
    }
    const base = this.primary(p, b);
    const op = this.toks[p.i];
    if (p.i < b && op !== undefined && op.kind === 'op' && op.text === '**') {
      p.i++;
      return { k: 'num', v: this.num(base) ** this.num(this.unary(p, b)) };
    }
    return base;
  }

  private primary(p: { i: number }, b: number): Value {
    if (p.i >= b) throw NOT_LITERAL;
    const t = this.toks[p.i]!;
    switch (t.kind) {
      case 'num': {
        const s = t.text.replace(/_/g, '');
        if (/[jJ]$/.test(s)) throw NOT_LITERAL; // complex
        const v = Number(s.replace(/[nlL]$/, ''));
        if (!Number.isFinite(v)) throw NOT_LITERAL;
        p.i++;
        return { k: 'num', v };
      }
      case 'str': {
        if (t.value === undefined) throw NOT_LITERAL; // template literal, regex
        p.i++;
        return { k: 'str', v: t.value };
      }
      case 'id': {
        const lit = this.python ? PY_CONSTANTS[t.text] : JS_CONSTANTS[t.text];
        if (lit === undefined) throw NOT_LITERAL;
        p.i++;
        return lit;
      }
      case 'open': {
        if (t.match < 0 || t.match >= b) throw NOT_LITERAL;
        const close = t.match;
        const start = p.i;
        p.i = close + 1;
        if (t.text === '{') {
          if (this.python) throw NOT_LITERAL;
          return this.object(start, close);
        }
        const pieces = splitTop(this.toks, start + 1, close);
        if (t.text === '(' && pieces.length === 1) {
          const [a, e] = pieces[0]!;
          if (a === e) return { k: 'seq', items: [], text: '()' };
          const inner = this.value(a, e);
          if (inner.k === 'unknown') throw NOT_LITERAL;
          return inner;
        }
        const items: Value[] = [];
        pieces.forEach(([a, e], idx) => {
          if (a < e) items.push(this.value(a, e));
          else if (idx !== pieces.length - 1) throw NOT_LITERAL; // `(1,,2)`
        });
        return { k: 'seq', items, text: this.text(start, close + 1) };
      }
      default:
        throw NOT_LITERAL;
    }
  }

  /** A JS object literal between the braces at `open` and `close`. */
  private object(open: number, close: number): Value {
    const entries = new Map<string, Value>();
    const spreads: string[] = [];
    for (const [a, e] of splitTop(this.toks, open + 1, close)) {
      if (a >= e) continue;
      const first = this.toks[a]!;
      const second = this.toks[a + 1];
      if (first.kind === 'op' && first.text === '...') {
        spreads.push(this.text(a, e));
      } else if (second !== undefined && a + 1 < e && second.kind === 'op' && second.text === ':' &&
        (first.kind === 'id' || first.kind === 'num' || (first.kind === 'str' && first.value !== undefined))) {
        entries.set(first.kind === 'str' ? first.value! : first.text, this.value(a + 2, e));
      } else if (first.kind === 'id' && e === a + 1) {
        entries.set(first.text, { k: 'unknown', text: first.text }); // shorthand `{units}`
      } else if (first.kind === 'open' && first.text === '[') {
        spreads.push(this.text(a, e)); // computed key: may set anything
      }
    }
    return { k: 'obj', entries, spreads };
  }
}

const PY_CONSTANTS: Record<string, Value> = {
  True: { k: 'bool', v: true },
  False: { k: 'bool', v: false },
  None: { k: 'none' },
};
const JS_CONSTANTS: Record<string, Value> = {
  true: { k: 'bool', v: true },
  false: { k: 'bool', v: false },
  null: { k: 'none' },
  undefined: { k: 'none' },
};

function showValue(v: Value): string {
  switch (v.k) {
    case 'num':
      return String(v.v);
    case 'bool':
      return String(v.v);
    case 'str':
      return JSON.stringify(v.v);
    case 'none':
      return 'None';
    case 'seq':
      return v.text;
    case 'obj':
      return '{…}';
    case 'unknown':
      return v.text;
  }
}

// ---------------------------------------------------------------------------
// Arguments

interface ArgSource {
  /** The value given for `name` (or at position `pos`), undefined when not given. */
  get(name: string, pos?: number): Value | undefined;
}

/** Python call arguments: positional, keywords, `*args`, `**kwargs`. */
function pythonArgs(ev: Evaluator, toks: Token[], open: number, close: number): ArgSource {
  const positional: Value[] = [];
  const keywords = new Map<string, Value>();
  let star: string | undefined;
  let doubleStar: string | undefined;
  for (const [a, e] of splitTop(toks, open + 1, close)) {
    if (a >= e) continue;
    const first = toks[a]!;
    const second = toks[a + 1];
    if (first.kind === 'op' && first.text === '*') {
      star ??= ev.text(a, e);
    } else if (first.kind === 'op' && first.text === '**') {
      doubleStar ??= ev.text(a, e);
    } else if (first.kind === 'id' && second !== undefined && a + 1 < e && second.kind === 'op' && second.text === '=') {
      keywords.set(first.text, ev.value(a + 2, e));
    } else if (star === undefined) {
      positional.push(ev.value(a, e));
    }
  }
  return {
    get(name, pos) {
      const kw = keywords.get(name);
      if (kw !== undefined) return kw;
      if (pos !== undefined && pos < positional.length) return positional[pos];
      if (pos !== undefined && star !== undefined) return { k: 'unknown', text: star, splat: true };
      if (doubleStar !== undefined) return { k: 'unknown', text: doubleStar, splat: true };
      return undefined;
    },
  };
}

/** TF.js layer arguments: one object literal (`{units: 10, inputShape: [784]}`). */
function objectArgs(ev: Evaluator, toks: Token[], open: number, close: number): ArgSource {
  const first = splitTop(toks, open + 1, close)[0]!;
  if (first[0] >= first[1]) return { get: () => undefined };
  const config = ev.value(first[0], first[1]);
  if (config.k === 'obj') {
    return {
      get(name) {
        const v = config.entries.get(name);
        if (v !== undefined) return v;
        if (config.spreads.length > 0) return { k: 'unknown', text: config.spreads.join(', '), splat: true };
        return undefined;
      },
    };
  }
  const base = showValue(config);
  const simple = /^[\w$.]+$/.test(base);
  return { get: (name) => ({ k: 'unknown', text: simple ? `${base}.${name}` : `(${base}).${name}` }) };
}

/** A dimension: a known number or a symbol shown in the formula. */
type Dim = number | string;

class Reader {
  readonly dependsOn: string[] = [];
  constructor(readonly args: ArgSource) {}

  note(s: string): void {
    if (!this.dependsOn.includes(s)) this.dependsOn.push(s);
  }

  raw(name: string, pos?: number): Value | undefined {
    return this.args.get(name, pos);
  }

  /** Records an unknown and returns the symbol to show for it. */
  unknown(v: Unknown, label: string, symbol?: string): string {
    this.note(v.splat ? `${label} (may be set by ${v.text})` : `${label} = ${v.text} (not a literal)`);
    if (symbol !== undefined) return symbol;
    return !v.splat && v.text.length > 0 && v.text.length <= 24 ? v.text : label;
  }

  /** A quantity the framework infers at build time: always a symbol. */
  inferred(symbol: string, why: string): string {
    this.note(why);
    return symbol;
  }

  int(name: string, pos: number | undefined, dflt?: number, label = name): Dim {
    const v = this.raw(name, pos);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      this.note(`${label} (argument missing)`);
      return label;
    }
    return this.toInt(v, label);
  }

  toInt(v: Value, label: string): Dim {
    if (v.k === 'num' && Number.isInteger(v.v) && v.v >= 0) return v.v;
    if (v.k === 'unknown') return this.unknown(v, label);
    this.note(`${label} = ${showValue(v)} (not a non-negative integer)`);
    return label;
  }

  /** null when not literal (the reason is noted). Python truthiness: 0 and None are false. */
  bool(name: string, pos: number | undefined, dflt: boolean): boolean | null {
    const v = this.raw(name, pos);
    if (v === undefined) return dflt;
    if (v.k === 'bool') return v.v;
    if (v.k === 'num') return v.v !== 0;
    if (v.k === 'none') return false;
    if (v.k === 'unknown') this.unknown(v, name);
    else this.note(`${name} = ${showValue(v)} (not a boolean)`);
    return null;
  }

  /** null when not literal (the reason is noted). */
  str(name: string, pos: number | undefined, dflt: string): string | null {
    const v = this.raw(name, pos);
    if (v === undefined || v.k === 'none') return dflt;
    if (v.k === 'str') return v.v;
    if (v.k === 'unknown') this.unknown(v, name);
    else this.note(`${name} = ${showValue(v)} (not a string)`);
    return null;
  }

  /** An int or a tuple/list of `rank` ints (kernel sizes). */
  ints(name: string, pos: number | undefined, rank: number, layer: string): Dim[] {
    const v = this.raw(name, pos);
    if (v === undefined) {
      this.note(`${name} (argument missing)`);
      return Array<Dim>(rank).fill(name);
    }
    if (v.k === 'seq') {
      if (v.items.length !== rank) {
        this.note(`${name} = ${v.text} has ${v.items.length} value(s); ${layer} needs ${rank}`);
        return Array<Dim>(rank).fill(name);
      }
      return v.items.map((item, i) => this.toInt(item, rank === 1 ? name : `${name}[${i}]`));
    }
    const d = this.toInt(v, name);
    return Array<Dim>(rank).fill(d);
  }
}

// ---------------------------------------------------------------------------
// Formula helpers

const isNum = (d: Dim): d is number => typeof d === 'number';

/** A dimension as shown in a formula; composite symbols are parenthesized. */
function fd(d: Dim): string {
  if (isNum(d)) return String(d);
  return /^[\w$.[\]]+$/.test(d) ? d : `(${d})`;
}

function prodF(ds: Dim[]): string {
  return ds.map(fd).join('·');
}

function product(ds: Dim[]): number | null {
  let p = 1;
  for (const d of ds) {
    if (!isNum(d)) return null;
    p *= d;
  }
  return p;
}

/** `a` divided by `groups`, as a formula term and a value; notes a non-divisible pair. */
function perGroup(r: Reader, a: Dim, aLabel: string, groups: Dim, framework: string): { f: string; v: Dim } {
  if (isNum(groups) && groups === 1) return { f: fd(a), v: a };
  if (isNum(groups) && groups === 0) {
    r.note(`groups = 0 (${framework} requires groups ≥ 1)`);
    return { f: `(${fd(a)}/0)`, v: aLabel };
  }
  if (isNum(a) && isNum(groups)) {
    if (a % groups !== 0) {
      r.note(`${aLabel} (${a}) is not divisible by groups (${groups}); ${framework} rejects this layer`);
      return { f: `(${a}/${groups})`, v: `${a}/${groups}` };
    }
    return { f: `(${a}/${groups})`, v: a / groups };
  }
  return { f: `(${fd(a)}/${fd(groups)})`, v: `${fd(a)}/${fd(groups)}` };
}

/** Wraps an expression that has a top-level `+` in parentheses. */
function wrapSum(expr: string): string {
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '+' && depth === 0) return `(${expr})`;
  }
  return expr;
}

function times(coef: number | string, expr: string): string {
  return coef === 1 ? expr : `${coef}·${wrapSum(expr)}`;
}

function biasTerm(bias: boolean, d: Dim): string {
  return bias ? ` + ${fd(d)} (bias)` : '';
}

/** Low-rank W ≈ U·V for a dense M×N weight: (M+N)·K (+ N bias) instead of M·N. */
function linearAlternatives(m: number, n: number, bias: boolean, params: number): ConstructorAlternative[] {
  const b = bias ? n : 0;
  const breakEven = Math.floor((m * n - 1) / (m + n));
  const ranks: { k: number; breakEven: boolean }[] = [];
  for (const k of [Math.max(1, Math.round(n / 4)), Math.max(1, Math.round(n / 8)), breakEven]) {
    if (k < 1) continue;
    const seen = ranks.find((x) => x.k === k);
    if (seen) seen.breakEven ||= k === breakEven;
    else ranks.push({ k, breakEven: k === breakEven });
  }
  const out: ConstructorAlternative[] = [];
  for (const { k, breakEven: be } of ranks) {
    const alt = (m + n) * k + b;
    if (alt >= params) continue;
    out.push({
      name: `rank-${k} factorization${be ? ' (break-even rank)' : ''}`,
      params: alt,
      formula: `(${m}+${n})·${k}${bias ? ` + ${n}` : ''}`,
      saving: params - alt,
    });
  }
  return out;
}

/** For a standard 2-D convolution kh×kw, I→O channels. */
function convAlternatives(kh: number, kw: number, i: number, o: number, bias: boolean, params: number): ConstructorAlternative[] {
  const b = bias ? o : 0;
  const out: ConstructorAlternative[] = [];
  const separable = kh * kw * i + i * o + b;
  if (separable < params) {
    out.push({
      name: 'depthwise-separable (depthwise k·k·I + pointwise I·O' + (bias ? ' + O bias)' : ')'),
      params: separable,
      formula: `${kh}·${kw}·${i} + ${i}·${o}${bias ? ` + ${o}` : ''}`,
      saving: params - separable,
    });
  }
  const k = Math.max(1, Math.round(o / 4));
  const factored = kh * kw * i * k + k * o + b;
  if (factored < params) {
    out.push({
      name: `rank-${k} channel factorization (k·k·I·K conv + K·O pointwise)`,
      params: factored,
      formula: `${kh}·${kw}·${i}·${k} + ${k}·${o}${bias ? ` + ${o}` : ''}`,
      saving: params - factored,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Analyzers

interface Analysis {
  kind: ConstructorKind;
  params: number | null;
  formula: string;
  bias: boolean;
  alternatives?: ConstructorAlternative[];
}

type Analyzer = (r: Reader) => Analysis;

function torchLinear(lazy: boolean): Analyzer {
  return (r) => {
    const m = lazy ? r.inferred('in_features', 'in_features (inferred by LazyLinear from the first input)') : r.int('in_features', 0);
    const n = r.int('out_features', lazy ? 0 : 1);
    const bias = r.bool('bias', lazy ? 1 : 2, true);
    const b = bias ?? true;
    const params = isNum(m) && isNum(n) ? m * n + (b ? n : 0) : null;
    return {
      kind: 'linear',
      params,
      formula: prodF([m, n]) + biasTerm(b, n),
      bias: b,
      alternatives: params !== null && isNum(m) && isNum(n) ? linearAlternatives(m, n, b, params) : [],
    };
  };
}

function torchConv(rank: number, transpose: boolean, lazy: boolean): Analyzer {
  const layer = `${lazy ? 'Lazy' : ''}Conv${transpose ? 'Transpose' : ''}${rank}d`;
  // (in_channels,) out_channels, kernel_size, stride, padding, dilation|output_padding, groups, bias
  const shift = lazy ? 1 : 0;
  return (r) => {
    const i = lazy ? r.inferred('in_channels', `in_channels (inferred by ${layer} from the first input)`) : r.int('in_channels', 0);
    const o = r.int('out_channels', 1 - shift);
    const k = r.ints('kernel_size', 2 - shift, rank, `nn.${layer}`);
    const groups = r.int('groups', 6 - shift, 1);
    const bias = r.bool('bias', 7 - shift, true);
    const b = bias ?? true;
    const weight = transpose ? perGroup(r, o, 'out_channels', groups, 'PyTorch') : perGroup(r, i, 'in_channels', groups, 'PyTorch');
    // PyTorch checks both channel counts against groups.
    if (transpose) perGroup(r, i, 'in_channels', groups, 'PyTorch');
    else perGroup(r, o, 'out_channels', groups, 'PyTorch');
    const lead = transpose ? i : o;
    const w = product([lead, weight.v, ...k]);
    const params = w !== null && isNum(o) ? w + (b ? o : 0) : null;
    const kind: ConstructorKind = transpose
      ? 'conv-transpose'
      : isNum(groups) && groups > 1 && groups === i
        ? 'depthwise-conv'
        : 'conv';
    const alternatives =
      params !== null && !transpose && rank === 2 && groups === 1 && isNum(i) && isNum(o) && isNum(k[0]!) && isNum(k[1]!)
        ? convAlternatives(k[0], k[1], i, o, b, params)
        : [];
    return {
      kind,
      params,
      formula: [fd(lead), weight.f, ...k.map(fd)].join('·') + biasTerm(b, o),
      bias: b,
      alternatives,
    };
  };
}

function torchEmbedding(): Analyzer {
  return (r) => {
    const n = r.int('num_embeddings', 0);
    const d = r.int('embedding_dim', 1);
    return { kind: 'embedding', params: product([n, d]), formula: prodF([n, d]), bias: false };
  };
}

/** nn.LSTM / nn.GRU: per layer and direction gates·(h·in + h·r + 2h) (+ p·h projection). */
function torchRecurrent(gates: 3 | 4): Analyzer {
  return (r) => {
    const input = r.int('input_size', 0);
    const h = r.int('hidden_size', 1);
    const layers = r.int('num_layers', 2, 1);
    const bias = r.bool('bias', 3, true);
    const bidi = r.bool('bidirectional', 6, false);
    const proj = gates === 4 ? r.int('proj_size', 7, 0) : 0;
    const b = bias ?? true;
    const dirs = bidi === true ? 2 : 1;
    const hasProj = !(isNum(proj) && proj === 0);
    const rec: Dim = hasProj ? proj : h; // size of the recurrent state fed back (h, or proj_size)
    const unitF = (inL: Dim): string =>
      `${gates}·(${fd(h)}·${fd(inL)} + ${fd(h)}·${fd(rec)}${b ? ` + 2·${fd(h)}` : ''})` + (hasProj ? ` + ${fd(proj)}·${fd(h)}` : '');
    const unitV = (inL: Dim): number | null =>
      isNum(h) && isNum(inL) && isNum(rec) && isNum(proj)
        ? gates * (h * inL + h * rec + (b ? 2 * h : 0)) + (hasProj ? proj * h : 0)
        : null;
    const deeperIn: Dim = isNum(rec) ? rec * dirs : dirs === 1 ? rec : `${fd(rec)}·${dirs}`;
    let formula = times(dirs, unitF(input));
    let params: number | null = unitV(input);
    if (params !== null) params *= dirs;
    if (!isNum(layers)) {
      formula += ` + (${fd(layers)} - 1)·${wrapSum(times(dirs, unitF(deeperIn)))}`;
      params = null;
    } else if (layers === 0) {
      r.note('num_layers = 0 (PyTorch requires at least 1)');
      params = null;
    } else if (layers > 1) {
      formula += ` + ${times((layers - 1) * dirs, unitF(deeperIn))}`;
      const deeper = unitV(deeperIn);
      params = params !== null && deeper !== null ? params + (layers - 1) * dirs * deeper : null;
    }
    return { kind: gates === 4 ? 'lstm' : 'gru', params, formula, bias: b };
  };
}

/** Keras (snake_case, positional arguments) or TF.js (camelCase object). */
interface Style {
  tfjs: boolean;
  framework: string;
}
const KERAS: Style = { tfjs: false, framework: 'Keras' };
const TFJS: Style = { tfjs: true, framework: 'TF.js' };

function optName(s: Style, snake: string): string {
  return s.tfjs ? snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : snake;
}
function optPos(s: Style, pos: number | undefined): number | undefined {
  return s.tfjs ? undefined : pos;
}

/**
 * The input size Keras/TF.js infer from the previous layer, unless the layer is
 * given `input_shape` / `batch_input_shape` / `input_dim` (features only).
 * `dataFormatPos`: the positional index of data_format (convolutions), or null for
 * layers that always read the last axis.
 */
function kerasInput(r: Reader, s: Style, what: 'features' | 'channels', dataFormatPos: number | undefined | null): Dim {
  const shapeName = optName(s, 'input_shape');
  const batchName = optName(s, 'batch_input_shape');
  const dimName = optName(s, 'input_dim');
  const fromShape = (v: Value, name: string, batch: boolean): Dim => {
    if (v.k === 'unknown') return r.unknown(v, name, 'in');
    if (v.k !== 'seq' || v.items.length === 0) {
      r.note(`${name} = ${showValue(v)} (not a shape)`);
      return 'in';
    }
    let channelsFirst = false;
    if (dataFormatPos !== null) {
      const df = r.str(optName(s, 'data_format'), optPos(s, dataFormatPos), 'channels_last');
      if (df === null) return 'in';
      channelsFirst = df.replace(/_/g, '').toLowerCase() === 'channelsfirst';
    }
    const idx = channelsFirst ? (batch ? 1 : 0) : v.items.length - 1;
    const item = v.items[idx];
    const label = `${name}[${idx === v.items.length - 1 ? -1 : idx}]`;
    if (item === undefined) {
      r.note(`${name} = ${v.text} has no ${what} axis`);
      return 'in';
    }
    if (item.k === 'none') {
      r.note(`input ${what}: ${label} is ${s.tfjs ? 'null' : 'None'}`);
      return 'in';
    }
    const d = r.toInt(item, label);
    return isNum(d) ? d : 'in';
  };
  const shape = r.raw(shapeName);
  if (shape !== undefined && !(shape.k === 'unknown' && shape.splat)) return fromShape(shape, shapeName, false);
  const batch = r.raw(batchName);
  if (batch !== undefined && !(batch.k === 'unknown' && batch.splat)) return fromShape(batch, batchName, true);
  if (what === 'features') {
    const dim = r.raw(dimName);
    if (dim !== undefined && !(dim.k === 'unknown' && dim.splat)) {
      const d = r.toInt(dim, dimName);
      return isNum(d) ? d : 'in';
    }
  }
  if (shape !== undefined && shape.k === 'unknown') return r.unknown(shape, shapeName, 'in');
  return r.inferred('in', `input ${what} (inferred from the previous layer)`);
}

function kerasDense(s: Style): Analyzer {
  return (r) => {
    const n = r.int(optName(s, 'units'), optPos(s, 0));
    const bias = r.bool(optName(s, 'use_bias'), optPos(s, 2), true);
    const m = kerasInput(r, s, 'features', null);
    const b = bias ?? true;
    const params = isNum(m) && isNum(n) ? m * n + (b ? n : 0) : null;
    return {
      kind: 'linear',
      params,
      formula: prodF([m, n]) + biasTerm(b, n),
      bias: b,
      alternatives: params !== null && isNum(m) && isNum(n) ? linearAlternatives(m, n, b, params) : [],
    };
  };
}

/** Conv1D/2D/3D (kernel (k…, in/groups, filters)) and ConvNDTranspose (kernel (k…, filters, in)). */
function kerasConv(s: Style, rank: number, transpose: boolean, layer: string): Analyzer {
  return (r) => {
    const o = r.int(optName(s, 'filters'), optPos(s, 0));
    const k = r.ints(optName(s, 'kernel_size'), optPos(s, 1), rank, layer);
    // Positions after kernel_size differ between Keras 2 and 3 for the transposed layers: keywords only there.
    const groups = !s.tfjs && !transpose ? r.int('groups', 6, 1) : 1;
    const bias = r.bool(optName(s, 'use_bias'), transpose ? undefined : optPos(s, 8), true);
    const i = kerasInput(r, s, 'channels', transpose ? undefined : 4);
    const b = bias ?? true;
    const perG = transpose ? { f: fd(i), v: i } : perGroup(r, i, 'input channels', groups, s.framework);
    if (!transpose) perGroup(r, o, 'filters', groups, s.framework);
    // Kernel shapes: (k…, in/groups, filters) for a convolution, (k…, filters, in) transposed.
    const w = product([...k, perG.v, o]);
    const params = w !== null && isNum(o) ? w + (b ? o : 0) : null;
    const alternatives =
      params !== null && !transpose && rank === 2 && groups === 1 && isNum(i) && isNum(o) && isNum(k[0]!) && isNum(k[1]!)
        ? convAlternatives(k[0], k[1], i, o, b, params)
        : [];
    return {
      kind: transpose ? 'conv-transpose' : 'conv',
      params,
      formula: [...k.map(fd), ...(transpose ? [fd(o), perG.f] : [perG.f, fd(o)])].join('·') + biasTerm(b, o),
      bias: b,
      alternatives,
    };
  };
}

/** DepthwiseConv: kernel (k…, in, depth_multiplier), bias in·depth_multiplier. */
function kerasDepthwise(s: Style, rank: number, layer: string): Analyzer {
  return (r) => {
    const k = r.ints(optName(s, 'kernel_size'), optPos(s, 0), rank, layer);
    const dm = r.int(optName(s, 'depth_multiplier'), optPos(s, 3), 1);
    const bias = r.bool(optName(s, 'use_bias'), optPos(s, 7), true);
    const i = kerasInput(r, s, 'channels', 4);
    const b = bias ?? true;
    const w = product([...k, i, dm]);
    const params = w !== null && isNum(i) && isNum(dm) ? w + (b ? i * dm : 0) : null;
    return {
      kind: 'depthwise-conv',
      params,
      formula: prodF([...k, i, dm]) + (b ? ` + ${prodF([i, dm])} (bias)` : ''),
      bias: b,
    };
  };
}

/** SeparableConv: depthwise (k…, in, dm) + pointwise (1, in·dm, filters) + filters bias. */
function kerasSeparable(s: Style, rank: number, layer: string): Analyzer {
  return (r) => {
    const o = r.int(optName(s, 'filters'), optPos(s, 0));
    const k = r.ints(optName(s, 'kernel_size'), optPos(s, 1), rank, layer);
    const dm = r.int(optName(s, 'depth_multiplier'), optPos(s, 6), 1);
    const bias = r.bool(optName(s, 'use_bias'), optPos(s, 8), true);
    const i = kerasInput(r, s, 'channels', 4);
    const b = bias ?? true;
    const depthwise = product([...k, i, dm]);
    const pointwise = product([i, dm, o]);
    const params = depthwise !== null && pointwise !== null && isNum(o) ? depthwise + pointwise + (b ? o : 0) : null;
    return {
      kind: 'separable-conv',
      params,
      formula: `${prodF([...k, i, dm])} + ${prodF([i, dm, o])}` + biasTerm(b, o),
      bias: b,
    };
  };
}

function kerasEmbedding(s: Style): Analyzer {
  return (r) => {
    const n = r.int(optName(s, 'input_dim'), optPos(s, 0));
    const d = r.int(optName(s, 'output_dim'), optPos(s, 1));
    return { kind: 'embedding', params: product([n, d]), formula: prodF([n, d]), bias: false };
  };
}

/**
 * Keras/TF.js LSTM: 4·(in·u + u·u + u) — one bias vector per gate.
 * GRU: Keras 2/3 default reset_after=True keeps two bias vectors (3·(in·u + u·u + 2u));
 * TF.js has no reset_after (it throws when asked) and keeps one (3·(in·u + u·u + u)).
 */
function kerasRecurrent(s: Style, gates: 3 | 4): Analyzer {
  return (r) => {
    const u = r.int(optName(s, 'units'), optPos(s, 0));
    const bias = r.bool(optName(s, 'use_bias'), optPos(s, 3), true);
    const i = kerasInput(r, s, 'features', null);
    const b = bias ?? true;
    let biasVectors = 1;
    if (gates === 3) {
      const resetAfter = r.bool(optName(s, 'reset_after'), undefined, !s.tfjs);
      if (s.tfjs && resetAfter === true) r.note('resetAfter: true (TF.js GRU does not support it and throws)');
      biasVectors = (resetAfter ?? !s.tfjs) ? 2 : 1;
    }
    const biasF = b ? ` + ${biasVectors === 1 ? fd(u) : `${biasVectors}·${fd(u)}`}` : '';
    const params = isNum(u) && isNum(i) ? gates * (i * u + u * u + (b ? biasVectors * u : 0)) : null;
    return {
      kind: gates === 4 ? 'lstm' : 'gru',
      params,
      formula: `${gates}·(${prodF([i, u])} + ${prodF([u, u])}${biasF})`,
      bias: b,
    };
  };
}

const TORCH_LAYERS: Record<string, Analyzer> = {
  Linear: torchLinear(false),
  LazyLinear: torchLinear(true),
  Embedding: torchEmbedding(),
  EmbeddingBag: torchEmbedding(),
  LSTM: torchRecurrent(4),
  GRU: torchRecurrent(3),
};
for (const rank of [1, 2, 3]) {
  TORCH_LAYERS[`Conv${rank}d`] = torchConv(rank, false, false);
  TORCH_LAYERS[`ConvTranspose${rank}d`] = torchConv(rank, true, false);
  TORCH_LAYERS[`LazyConv${rank}d`] = torchConv(rank, false, true);
  TORCH_LAYERS[`LazyConvTranspose${rank}d`] = torchConv(rank, true, true);
}

const KERAS_LAYERS: Record<string, Analyzer> = {
  Dense: kerasDense(KERAS),
  Embedding: kerasEmbedding(KERAS),
  LSTM: kerasRecurrent(KERAS, 4),
  GRU: kerasRecurrent(KERAS, 3),
};
for (const rank of [1, 2, 3]) {
  for (const base of ['Conv', 'Convolution']) {
    KERAS_LAYERS[`${base}${rank}D`] = kerasConv(KERAS, rank, false, `Conv${rank}D`);
    KERAS_LAYERS[`${base}${rank}DTranspose`] = kerasConv(KERAS, rank, true, `Conv${rank}DTranspose`);
  }
}
for (const rank of [1, 2]) {
  KERAS_LAYERS[`DepthwiseConv${rank}D`] = kerasDepthwise(KERAS, rank, `DepthwiseConv${rank}D`);
  KERAS_LAYERS[`SeparableConv${rank}D`] = kerasSeparable(KERAS, rank, `SeparableConv${rank}D`);
  KERAS_LAYERS[`SeparableConvolution${rank}D`] = kerasSeparable(KERAS, rank, `SeparableConv${rank}D`);
}

const TFJS_LAYERS: Record<string, Analyzer> = {
  dense: kerasDense(TFJS),
  conv1d: kerasConv(TFJS, 1, false, 'conv1d'),
  conv2d: kerasConv(TFJS, 2, false, 'conv2d'),
  conv3d: kerasConv(TFJS, 3, false, 'conv3d'),
  conv2dTranspose: kerasConv(TFJS, 2, true, 'conv2dTranspose'),
  conv3dTranspose: kerasConv(TFJS, 3, true, 'conv3dTranspose'),
  depthwiseConv2d: kerasDepthwise(TFJS, 2, 'depthwiseConv2d'),
  separableConv2d: kerasSeparable(TFJS, 2, 'separableConv2d'),
  embedding: kerasEmbedding(TFJS),
  lstm: kerasRecurrent(TFJS, 4),
  gru: kerasRecurrent(TFJS, 3),
};

// ---------------------------------------------------------------------------
// Finding calls

interface Candidate {
  start: number;
  end: number;
  open: number;
  close: number;
  framework: ConstructorFramework;
  layer: string;
  analyze: Analyzer;
}

interface Scan {
  toks: Token[];
  ev: Evaluator;
  python: boolean;
  candidates: Candidate[];
}

const DEFAULT_PY_ALIASES: Record<string, string> = {
  nn: 'torch.nn',
  torch: 'torch',
  tf: 'tensorflow',
  tensorflow: 'tensorflow',
  keras: 'keras',
  tf_keras: 'tf_keras',
  layers: 'keras.layers',
};

interface PyImports {
  aliases: Map<string, string>;
  torchStar: boolean;
}

/** `import a.b as c`, `from a.b import c as d, e`, `from a import *`. */
function pythonImports(toks: Token[]): PyImports {
  const aliases = new Map<string, string>();
  let torchStar = false;
  const dotted = (j: number): { name: string; next: number } | null => {
    let name = '';
    while (toks[j]?.kind === 'op' && (toks[j]!.text === '.' || toks[j]!.text === '...')) name += toks[j++]!.text;
    if (toks[j]?.kind !== 'id') return name.length > 0 ? { name, next: j } : null;
    name += toks[j++]!.text;
    while (toks[j]?.text === '.' && toks[j + 1]?.kind === 'id') {
      name += '.' + toks[j + 1]!.text;
      j += 2;
    }
    return { name, next: j };
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind !== 'id' || toks[i - 1]?.text === '.') continue;
    if (t.text === 'from') {
      const mod = dotted(i + 1);
      if (mod === null || toks[mod.next]?.text !== 'import') continue;
      let j = mod.next + 1;
      if (toks[j]?.text === '(') j++;
      if (toks[j]?.text === '*') {
        if (mod.name === 'torch.nn' || mod.name.startsWith('torch.nn.modules')) torchStar = true;
        i = j;
        continue;
      }
      while (toks[j]?.kind === 'id') {
        const name = toks[j]!.text;
        let alias = name;
        j++;
        if (toks[j]?.text === 'as' && toks[j + 1]?.kind === 'id') {
          alias = toks[j + 1]!.text;
          j += 2;
        }
        aliases.set(alias, `${mod.name}.${name}`);
        if (toks[j]?.text !== ',') break;
        j++;
      }
      i = j - 1;
    } else if (t.text === 'import') {
      let j = i + 1;
      for (;;) {
        const mod = dotted(j);
        if (mod === null) break;
        j = mod.next;
        if (toks[j]?.text === 'as' && toks[j + 1]?.kind === 'id') {
          aliases.set(toks[j + 1]!.text, mod.name);
          j += 2;
        } else {
          const head = mod.name.split('.')[0]!;
          aliases.set(head, head);
        }
        if (toks[j]?.text !== ',') break;
        j++;
      }
      i = j - 1;
    }
  }
  return { aliases, torchStar };
}

const KERAS_MODULE_RE = /^(?:tensorflow\.(?:python\.)?keras|tf_keras|keras)(?:\.src)?\.layers$/;

function isTorchModule(m: string): boolean {
  return m === 'torch.nn' || m.startsWith('torch.nn.modules');
}

function classifyPython(chain: string[], imports: PyImports): Omit<Candidate, 'start' | 'end' | 'open' | 'close'> | null {
  let full: string | undefined;
  if (chain.length === 1) {
    full = imports.aliases.get(chain[0]!);
    if (full === undefined) {
      const name = chain[0]!;
      if (imports.torchStar && lookup(TORCH_LAYERS, name)) return torchCandidate(name);
      const analyze = lookup(KERAS_LAYERS, name);
      return analyze ? { framework: 'keras', layer: name, analyze } : null;
    }
  } else {
    const head = imports.aliases.get(chain[0]!) ?? DEFAULT_PY_ALIASES[chain[0]!] ?? chain[0]!;
    full = [head, ...chain.slice(1)].join('.');
  }
  const dot = full.lastIndexOf('.');
  if (dot < 0) return null;
  const mod = full.slice(0, dot);
  const name = full.slice(dot + 1);
  if (isTorchModule(mod) && lookup(TORCH_LAYERS, name)) return torchCandidate(name);
  const analyze = lookup(KERAS_LAYERS, name);
  if (KERAS_MODULE_RE.test(mod) && analyze) return { framework: 'keras', layer: name, analyze };
  return null;
}

/** Own entries only: `nn.toString(` must not find Object.prototype.toString. */
function lookup(table: Record<string, Analyzer>, name: string): Analyzer | undefined {
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

function torchCandidate(name: string): Omit<Candidate, 'start' | 'end' | 'open' | 'close'> {
  return { framework: 'pytorch', layer: `nn.${name}`, analyze: TORCH_LAYERS[name]! };
}

function classifyJs(chain: string[]): Omit<Candidate, 'start' | 'end' | 'open' | 'close'> | null {
  if (chain.length < 2 || chain.length > 3 || chain[chain.length - 2] !== 'layers') return null;
  const name = chain[chain.length - 1]!;
  const analyze = lookup(TFJS_LAYERS, name);
  return analyze ? { framework: 'tfjs', layer: `tf.layers.${name}`, analyze } : null;
}

function scanCalls(text: string, languageId: ConstructorLanguage): Scan {
  const python = languageId === 'python';
  const toks = python ? lexPython(text) : lexJs(text);
  matchBrackets(toks);
  const ev = new Evaluator(text, toks, python);
  const imports = python ? pythonImports(toks) : null;
  const candidates: Candidate[] = [];
  for (let i = 1; i < toks.length; i++) {
    const open = toks[i]!;
    if (open.kind !== 'open' || open.text !== '(' || open.match < 0 || toks[i - 1]!.kind !== 'id') continue;
    // Walk back over `a.b.c`.
    let j = i - 1;
    const chain = [toks[j]!.text];
    while (j >= 2 && toks[j - 1]!.kind === 'op' && toks[j - 1]!.text === '.' && toks[j - 2]!.kind === 'id') {
      j -= 2;
      chain.unshift(toks[j]!.text);
    }
    const before = toks[j - 1];
    if (before !== undefined) {
      if (before.kind === 'op' && (before.text === '.' || before.text === '?.')) continue; // `f().layers.dense(`
      if (before.kind === 'id' && (before.text === 'def' || before.text === 'class' || before.text === 'function')) continue;
    }
    if (!python && chain.length === 1) continue;
    const hit = python ? classifyPython(chain, imports!) : classifyJs(chain);
    if (hit === null) continue;
    candidates.push({ ...hit, start: toks[j]!.start, end: toks[open.match]!.end, open: i, close: open.match });
  }
  return { toks, ev, python, candidates };
}

function analyzeCandidate(scan: Scan, c: Candidate): ConstructorFinding {
  const args = scan.python ? pythonArgs(scan.ev, scan.toks, c.open, c.close) : objectArgs(scan.ev, scan.toks, c.open, c.close);
  const r = new Reader(args);
  const a = c.analyze(r);
  const known = r.dependsOn.length === 0 && a.params !== null;
  return {
    start: c.start,
    end: c.end,
    framework: c.framework,
    layer: c.layer,
    kind: a.kind,
    params: known ? a.params : null,
    formula: a.formula,
    dependsOn: r.dependsOn,
    bias: a.bias,
    alternatives: known ? (a.alternatives ?? []).filter((x) => x.saving > 0) : [],
  };
}
