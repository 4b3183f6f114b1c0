import type { AttrRecord, GraphRecord, NodeRecord, TensorRecord } from './proto';

/**
 * How Parsimony names what it finds in an ONNX model: subgraph paths, layers
 * (nodes) and tensors (weights). The reader (index.ts) shows these names and the
 * writer (rewrite.ts) resolves them, so both take them from here.
 */

export interface GraphEntry {
  graph: GraphRecord;
  /** '' for the main graph, else "node/attr" (and "[j]" for the j-th graph of a list), nested with "/". */
  path: string;
  parent: GraphRecord | null;
}

/** Every graph, depth first in node order: the main graph, then the subgraphs of If/Loop/Scan attributes. */
export function listGraphs(main: GraphRecord): GraphEntry[] {
  const out: GraphEntry[] = [];
  const visit = (graph: GraphRecord, path: string, parent: GraphRecord | null): void => {
    out.push({ graph, path, parent });
    graph.nodes.forEach((node, i) => {
      for (const a of node.attributes) {
        const label = `${node.name || `${node.opType}_${i}`}/${a.name}`;
        const prefix = path ? `${path}/` : '';
        if (a.g) visit(a.g, prefix + label, graph);
        a.graphs.forEach((g, j) => visit(g, `${prefix}${label}[${j}]`, graph));
      }
    });
  };
  visit(main, '', null);
  return out;
}

/** Layer names of every node: its name, else op_k (k counting that op type over all graphs); duplicates get #2, #3… */
export function nodeNames(graphs: readonly GraphEntry[]): Map<NodeRecord, string> {
  const names = new Map<NodeRecord, string>();
  const used = new Set<string>();
  const opCounter = new Map<string, number>();
  for (const { graph } of graphs) {
    for (const node of graph.nodes) {
      const k = opCounter.get(node.opType) ?? 0;
      opCounter.set(node.opType, k + 1);
      const base = node.name || `${node.opType}_${k}`;
      let name = base;
      for (let j = 2; used.has(name); j++) name = `${base}#${j}`;
      used.add(name);
      names.set(node, name);
    }
  }
  return names;
}

/**
 * The tensor a Constant node's attribute holds, named after the node's output:
 * value and sparse_value carry a TensorProto; value_float(s)/value_int(s) are
 * described as float32/int64 tensors whose data is the attribute itself.
 * Undefined for the other attributes.
 */
export function constantTensor(a: AttrRecord, output: string): TensorRecord | undefined {
  const synth = (dims: number[], dataType: number, field: number, payloadBytes: number, entries: number): TensorRecord => ({
    name: output,
    dims,
    dataType,
    data: { kind: 'attr', field, message: a.span, payloadBytes, entries },
    at: a.span.offset,
    hasSegment: false,
  });
  switch (a.name) {
    case 'value':
      return a.t ? { ...a.t, name: output } : undefined;
    case 'sparse_value':
      return a.sparse?.values ? { ...a.sparse.values, name: output } : undefined;
    case 'value_float':
      return synth([], 1, 2, 4, 1);
    case 'value_floats':
      return synth([a.floatsCount], 1, 7, a.floatsBytes, a.floatsCount);
    case 'value_int':
      return synth([], 7, 3, 8, 1);
    case 'value_ints':
      return synth([a.intsCount], 7, 8, a.intsBytes, a.intsCount);
    default:
      return undefined;
  }
}

/** Whether a node is a Constant of the default domain (whose attribute holds a weight). */
export function isConstantNode(node: NodeRecord): boolean {
  return node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx');
}

/**
 * Tensor names, for weights listed in the reader's order (per graph:
 * initializers, sparse initializers, Constant nodes): the value name, prefixed
 * by its graph path when another graph uses the same name; duplicates get #2, #3…
 */
export function tensorNames<W extends { valueName: string; graphPath: string }>(weights: readonly W[]): Map<W, string> {
  const seen = new Map<string, number>();
  for (const w of weights) seen.set(w.valueName, (seen.get(w.valueName) ?? 0) + 1);
  const out = new Map<W, string>();
  const used = new Set<string>();
  for (const w of weights) {
    let name = w.valueName || '(unnamed)';
    if ((seen.get(w.valueName) ?? 0) > 1 && w.graphPath) name = `${w.graphPath}/${name}`;
    for (let j = 2; used.has(name); j++) name = `${w.valueName}#${j}`;
    used.add(name);
    out.set(w, name);
  }
  return out;
}
