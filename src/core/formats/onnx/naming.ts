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
    for (let i = 0; i < graph.nodes.length; i++) {
      const node = graph.nodes[i]!;
      for (let k = 0; k < node.attributes.length; k++) {
        const a = node.attributes[k]!;
        if (!a.g && a.graphs.length === 0) continue;
        const label = `${node.name || `${node.opType}_${i}`}/${a.name}`;
        const prefix = path ? `${path}/` : '';
        if (a.g) visit(a.g, prefix + label, graph);
        for (let j = 0; j < a.graphs.length; j++) visit(a.graphs[j]!, `${prefix}${label}[${j}]`, graph);
      }
    }
  };
  visit(main, '', null);
  return out;
}

/**
 * Layer names of every node, by graph and node position: its name, else op_k (k
 * counting that op type over all graphs); duplicates get #2, #3…
 */
export function nodeNames(graphs: readonly GraphEntry[]): Map<GraphRecord, string[]> {
  const names = new Map<GraphRecord, string[]>();
  const used = new Set<string>();
  const opCounter = new Map<string, number>();
  for (let g = 0; g < graphs.length; g++) {
    const nodes = graphs[g]!.graph.nodes;
    const graphNames = new Array<string>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const k = opCounter.get(node.opType) ?? 0;
      opCounter.set(node.opType, k + 1);
      const base = node.name || `${node.opType}_${k}`;
      let name = base;
      for (let j = 2; used.has(name); j++) name = `${base}#${j}`;
      used.add(name);
      graphNames[i] = name;
    }
    names.set(graphs[g]!.graph, graphNames);
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
 * initializers, sparse initializers, Constant nodes), by position in `weights`:
 * the value name, prefixed by its graph path when another graph uses the same
 * name; duplicates get #2, #3…
 */
export function tensorNames(weights: readonly { valueName: string; graphPath: string }[]): string[] {
  // Only a weight of a subgraph (a non-empty path) takes a prefix: without one, the counts are not needed.
  let inSubgraphs = false;
  for (let i = 0; i < weights.length && !inSubgraphs; i++) inSubgraphs = weights[i]!.graphPath !== '';
  const seen = new Map<string, number>();
  if (inSubgraphs) for (let i = 0; i < weights.length; i++) seen.set(weights[i]!.valueName, (seen.get(weights[i]!.valueName) ?? 0) + 1);
  const out = new Array<string>(weights.length);
  const used = new Set<string>();
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    let name = w.valueName || '(unnamed)';
    if (w.graphPath && (seen.get(w.valueName) ?? 0) > 1) name = `${w.graphPath}/${name}`;
    for (let j = 2; used.has(name); j++) name = `${w.valueName}#${j}`;
    used.add(name);
    out[i] = name;
  }
  return out;
}
