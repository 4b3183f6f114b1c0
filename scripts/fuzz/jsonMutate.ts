import type { Rng } from './prng';

/**
 * Structure-aware JSON mutation: pick a node (biased towards keys that carry
 * sizes, names, offsets and classes) and replace, delete, duplicate or deepen it.
 * Deep nesting and huge strings are spliced in as text after serialisation, so
 * building them costs nothing and JSON.stringify never recurses into them.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const HOT_KEYS = new Set([
  'shape', 'dtype', 'name', 'data_offsets', 'paths', 'weights', 'quantization', 'scale', 'min', 'units', 'filters',
  'kernel_size', 'strides', 'dilation_rate', 'pool_size', 'batch_input_shape', 'batch_shape', 'input_shape', 'class_name',
  'inbound_nodes', 'layers', 'config', 'input_layers', 'output_layers', 'node', 'op', 'input', 'attr', 'size', 'dim',
  'weight_map', 'metadata', '__metadata__', 'total_size', 'depth_multiplier', 'groups', 'target_shape', 'axis',
  'use_bias', 'padding', 'data_format', 'output_dim', 'input_dim', 'rate', 'dims', 'original_dtype', 'module', 'registered_name',
]);

const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', '.', '..', '../../x', '/etc/passwd', 'a/b/c', 'x'.repeat(300), '\u0000', 'ü∆', 'dense/kernel', 'conv2d/bias'];

export const DEEP_MARK = '\u0001DEEP:';
export const LONG_MARK = '\u0001LONG:';

function interestingNumber(rng: Rng): number {
  return rng.pick([0, 1, -1, 2, 3, 7, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, -1e300, 0.5, -0.5, 1.5, 1e-300, Number.MIN_VALUE]);
}

function interestingValue(rng: Rng, current: Json, pathKey: string | number | undefined): Json {
  const key = typeof pathKey === 'string' ? pathKey : '';
  return rng.weighted<() => Json>([
    [4, () => interestingNumber(rng)],
    [1, () => null],
    [1, () => rng.chance(0.5)],
    [2, () => rng.pick(NAMES)],
    [1, () => []],
    [1, () => ({})],
    [1, () => [interestingNumber(rng), interestingNumber(rng)]],
    [1, () => Array.from({ length: rng.range(2, 8) }, () => interestingNumber(rng))],
    [1, () => `${DEEP_MARK}${rng.pick([150, 199, 201, 300, 2000, 100000])}`],
    [1, () => `${LONG_MARK}${rng.pick([1 << 16, 1 << 20, 8 << 20])}`],
    [1, () => Array.from({ length: rng.pick([1000, 100000]) }, (_, i) => i)],
    [key === 'dtype' || key === 'class_name' || key === 'op' ? 6 : 0, () => rng.pick(['float32', 'float16', 'bfloat16', 'int32', 'uint8', 'uint16', 'int8', 'bool', 'string', 'complex64', 'complex128', 'F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'X99', 'Lambda', 'TFOpLambda', 'Functional', 'Model', 'Sequential', 'Dense', 'Conv2D', 'Const', 'MatMul', 'Conv2D', 'Reshape', 'Placeholder', 'Bidirectional', 'TimeDistributed', 'Embedding', 'LSTM'])],
    [typeof current === 'string' ? 2 : 0, () => (current as string) + rng.pick(['0', '/x', '_1', ':0', '^', '\u0000'])],
  ])();
}

interface Node {
  path: Path;
  value: Json;
  key: string | number | undefined;
  parent: Json[] | { [k: string]: Json } | undefined;
}

function collect(root: Json, limit = 50_000): Node[] {
  const out: Node[] = [{ path: [], value: root, key: undefined, parent: undefined }];
  for (let i = 0; i < out.length && out.length < limit; i++) {
    const { path, value } = out[i]!;
    if (Array.isArray(value)) value.forEach((v, k) => out.push({ path: [...path, k], value: v, key: k, parent: value }));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push({ path: [...path, k], value: v, key: k, parent: value });
  }
  return out;
}

function hotness(n: Node): number {
  const own = typeof n.key === 'string' && HOT_KEYS.has(n.key) ? 10 : 1;
  const parentKey = n.path.length >= 2 ? n.path[n.path.length - 2] : undefined;
  const inHot = typeof parentKey === 'string' && HOT_KEYS.has(parentKey) ? 4 : 1;
  return own * inHot;
}

/** Returns the mutated document (a copy) and a description of what changed. */
export function mutateJson(doc: Json, rng: Rng, focus?: (path: Path) => number): { doc: Json; what: string } {
  const root = structuredClone(doc);
  const nodes = collect(root);
  const weighted = nodes.map((n) => [hotness(n) * (focus ? focus(n.path) : 1), n] as const).filter(([w]) => w > 0);
  const node = weighted.length ? rng.weighted(weighted) : nodes[0]!;
  const where = '/' + node.path.map(String).join('/');
  const set = (v: Json) => {
    if (!node.parent) return v;
    (node.parent as Record<string | number, Json>)[node.key as string] = v;
    return root;
  };
  const op = rng.weighted<string>([
    [6, 'replace'],
    [2, 'delete'],
    [2, 'duplicate'],
    [1, 'copy-subtree'],
    [Array.isArray(node.value) && node.value.every((x) => typeof x === 'number') ? 5 : 0, 'numeric-element'],
    [Array.isArray(node.value) ? 1 : 0, 'grow'],
  ]);
  switch (op) {
    case 'replace': {
      const v = interestingValue(rng, node.value, node.key);
      return { doc: set(v), what: `json ${where} = ${describe(v)}` };
    }
    case 'delete': {
      if (!node.parent) return { doc: {}, what: 'json root = {}' };
      if (Array.isArray(node.parent)) node.parent.splice(node.key as number, 1);
      else delete node.parent[node.key as string];
      return { doc: root, what: `json delete ${where}` };
    }
    case 'duplicate': {
      // Duplicate an array element (duplicate layer, weight or node names) or the array holding this node.
      const arrayNode = Array.isArray(node.parent) ? node : nodes.find((n) => Array.isArray(n.value) && (n.value as Json[]).length > 0);
      if (!arrayNode) return { doc: set(null), what: `json ${where} = null` };
      const list = (Array.isArray(arrayNode.parent) ? arrayNode.parent : arrayNode.value) as Json[];
      const i = Array.isArray(arrayNode.parent) ? (arrayNode.key as number) : rng.int(list.length);
      list.splice(i + 1, 0, structuredClone(list[i]!));
      return { doc: root, what: `json duplicate element ${i} of /${(Array.isArray(arrayNode.parent) ? arrayNode.path.slice(0, -1) : arrayNode.path).join('/')}` };
    }
    case 'copy-subtree': {
      const other = rng.pick(nodes);
      return { doc: set(structuredClone(other.value)), what: `json ${where} = copy of /${other.path.join('/')}` };
    }
    case 'numeric-element': {
      const list = node.value as number[];
      const i = rng.int(Math.max(1, list.length));
      const v = interestingNumber(rng);
      list[i] = v;
      return { doc: root, what: `json ${where}[${i}] = ${v}` };
    }
    default: {
      const list = node.value as Json[];
      const n = rng.pick([2, 10, 1000]);
      for (let i = 0; i < n && list.length > 0; i++) list.push(structuredClone(list[list.length - 1]!));
      return { doc: root, what: `json ${where} grows by ${n} copies of its last element` };
    }
  }
}

function describe(v: Json): string {
  const s = JSON.stringify(v);
  if (typeof v === 'string' && v.startsWith(DEEP_MARK)) return `<array nested ${v.slice(DEEP_MARK.length)} deep>`;
  if (typeof v === 'string' && v.startsWith(LONG_MARK)) return `<string of ${v.slice(LONG_MARK.length)} chars>`;
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** JSON.stringify, then the marker strings become the deep arrays / long strings they stand for. */
export function serializeJson(doc: Json, indent?: number): string {
  const text = JSON.stringify(doc, null, indent);
  return text.replace(/"\\u0001(DEEP|LONG):(\d+)"/g, (_m, kind: string, n: string) => {
    const count = Number(n);
    return kind === 'DEEP' ? '['.repeat(count) + ']'.repeat(count) : `"${'a'.repeat(count)}"`;
  });
}

export type { Json };
