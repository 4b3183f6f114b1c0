import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { weightLayout } from '../../analysis/weightLayout';
import type { FactorizeEdit, ModelChange, RemoveUnitsEdit, TensorEdit } from '../../compress/types';
import { ModelFormatError } from '../../errors';
import { encodeFloats } from '../../io/encodeElements';
import { ProtoWriter } from '../../io/protobufWriter';
import { elementCount, type LayerInfo, type ModelDoc, type TensorInfo } from '../../model';
import type { FormatWriter } from '../writer';
import { onnxDtype } from './dtypes';
import type { AttrRecord, GraphRecord, NodeRecord } from './proto';
import {
  DT_FLOAT,
  DT_FLOAT16,
  DT_INT8,
  DT_UINT8,
  encodeAttribute,
  encodeNode,
  encodeValueInfo,
  ExternalSink,
  GraphPlan,
  OnnxIndex,
  Rewriter,
  type DataSpec,
  type NewTensor,
  type WeightEntry,
} from './rewrite';

/**
 * ONNX writer. The source ModelProto is re-encoded field by field: everything
 * is copied byte for byte (unknown fields, field order, other producers'
 * extensions) except the tensors, nodes and graph inputs a change touches.
 *
 * - New values in the original dtype (prune, cluster, binarize, Huffman): the
 *   initializer's data is replaced (raw_data).
 * - float16: the initializer becomes `<name>_fp16` (FLOAT16) and a Cast node at
 *   the head of its graph produces the original float32 name, so graph inputs,
 *   outputs and every consumer stay as they were.
 * - int8/uint8: `<name>_quantized` + `<name>_scale` + `<name>_zero_point` and a
 *   DequantizeLinear producing the original name (axis = the weight's output
 *   channel axis when per channel); onnxruntime folds QDQ weights into its
 *   integer kernels where it can.
 * - Low rank: Gemm/MatMul → MatMul through a rank-K bottleneck then the original
 *   op; Conv (group 1) → K-filter Conv then a 1×1 Conv with the bias.
 * - Removed units: a Gemm/MatMul/Conv whose output reaches exactly one
 *   Gemm/MatMul/Conv (through Relu/Sigmoid/Tanh/BatchNormalization/MaxPool or a
 *   bias Add) is sliced together with its consumer.
 *
 * External data: the output is self-contained when it stays under 1.5 GiB;
 * larger models keep their tensors in `<output>.data`.
 */

export const ONNX_WRITE_LIMITS = {
  /** Write tensors inline when the whole model stays below this. */
  inlineBytes: 1.5 * 2 ** 30,
  /** In an external-data output, tensors at least this large go to the data file. */
  externalThreshold: 1024,
};

const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64']);
/** Ops that keep channels one to one, so sliced units pass through them. */
const PASS_OPS = new Set([
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Elu',
  'Identity',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'BatchNormalization',
  'Add',
  'Flatten',
]);

export const onnxWriter: FormatWriter = {
  formats: ['onnx'],
  outputName(doc, tag) {
    const dir = path.dirname(doc.file);
    const base = path.basename(doc.file).replace(/\.onnx$/i, '');
    return path.join(dir, `${base}.${tag}.onnx`);
  },
  check(doc, change) {
    return new Planner(doc, change, indexOf(doc)).check();
  },
  planArchitecture(doc, change) {
    const planner = new Planner(doc, change, indexOf(doc));
    const problems = planner.check();
    return { problems, shapes: planner.slicedShapes(), paths: new Map() };
  },
  async write(doc, change, out, files) {
    const index = indexOf(doc);
    const planner = new Planner(doc, change, index);
    const problems = planner.check();
    if (problems.length) throw new ModelFormatError('invalid-option', problems.join('; '), { file: doc.file });
    await planner.build();

    const externalIn = index.weights.filter((w) => w.record.data.kind === 'external');
    const externalBytes = externalIn.reduce((s, w) => s + (w.record.data.kind === 'external' ? (w.record.data.length ?? byteSize(w)) : 0), 0);
    const estimate = index.bytes.length + externalBytes + planner.sizeDelta;
    const sink =
      externalIn.length && estimate >= ONNX_WRITE_LIMITS.inlineBytes
        ? new ExternalSink({ location: `${path.basename(out)}.data`, threshold: ONNX_WRITE_LIMITS.externalThreshold })
        : null;
    const model = await new Rewriter(index, planner.plans, ['parsimony', change.method], sink).model();
    if (model.length >= 2 ** 31) {
      throw new ModelFormatError('too-large', `the rewritten model is ${model.length} bytes; protobuf limits a model to 2 GiB`, { file: doc.file });
    }
    await files.writeParts(out, iterate(model.chunks()));
    if (sink && sink.parts.length) await files.writeParts(path.join(path.dirname(out), sink.out.location), sink.stream());
  },
};

async function* iterate(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

const indexCache = new WeakMap<ModelDoc, OnnxIndex>();

function indexOf(doc: ModelDoc): OnnxIndex {
  let index = indexCache.get(doc);
  if (!index) {
    try {
      index = new OnnxIndex(doc.file, readFileSync(doc.file));
    } catch (e) {
      if (e instanceof ModelFormatError) e.file ??= doc.file;
      throw e;
    }
    indexCache.set(doc, index);
  }
  return index;
}

function byteSize(w: WeightEntry): number {
  const dt = onnxDtype(w.record.dataType);
  return dt ? Math.ceil((elementCount(w.record.dims) * dt.bits) / 8) : 0;
}

function dtypeName(w: WeightEntry): string {
  return onnxDtype(w.record.dataType)?.name ?? `type ${w.record.dataType}`;
}

function encodeAs(values: Float32Array, dtype: string): Uint8Array {
  return encodeFloats(values, dtype as 'float32' | 'float16' | 'bfloat16' | 'float64');
}

function attr(node: NodeRecord, name: string): AttrRecord | undefined {
  return node.attributes.find((a) => a.name === name);
}

function intAttr(node: NodeRecord, name: string, fallback: number): number {
  return attr(node, name)?.i ?? fallback;
}

const isDefaultDomain = (node: NodeRecord) => !node.domain || node.domain === 'ai.onnx';

// ---------------------------------------------------------------------------

type Action =
  | { kind: 'values'; edit: TensorEdit; w: WeightEntry }
  | { kind: 'fp16'; edit: TensorEdit; w: WeightEntry }
  | { kind: 'affine'; edit: TensorEdit; w: WeightEntry; axis: number | null }
  | { kind: 'factorize'; edit: FactorizeEdit; w: WeightEntry; node: NodeRecord; graph: GraphRecord; index: number; units: number; fanIn: number }
  | { kind: 'remove'; edit: RemoveUnitsEdit; slices: Slice[]; values: string[]; graph: GraphRecord };

/** One tensor sliced along one axis by a unit removal. */
interface Slice {
  w: WeightEntry;
  axis: number;
  keep: number[];
}

class Planner {
  readonly plans = new Map<GraphRecord, GraphPlan>();
  /** Output bytes minus source bytes of the tensors changed (for the inline/external choice). */
  sizeDelta = 0;
  private readonly actions: Action[] = [];
  /** Names in use, so new tensors and nodes get unique ones (a copy: the index is cached per document). */
  private readonly names: Set<string>;
  private readonly problems: string[] = [];

  constructor(
    private readonly doc: ModelDoc,
    private readonly change: ModelChange,
    private readonly ix: OnnxIndex,
  ) {
    this.names = new Set(ix.names);
  }

  private fresh(base: string): string {
    let name = base;
    for (let j = 2; this.names.has(name); j++) name = `${base}_${j}`;
    this.names.add(name);
    return name;
  }

  check(): string[] {
    this.problems.length = 0;
    this.actions.length = 0;
    const seen = new Set<WeightEntry>();
    for (const edit of this.change.tensors) {
      const w = this.weight(edit.tensor, edit.layer);
      if (!w) continue;
      if (seen.has(w)) {
        this.problems.push(`${edit.tensor}: edited twice in one change`);
        continue;
      }
      seen.add(w);
      this.checkTensor(edit, w);
    }
    for (const edit of this.change.architecture) {
      if (edit.kind === 'factorize') this.checkFactorize(edit);
      else this.checkRemove(edit);
    }
    const touched = new Map<WeightEntry, number>();
    for (const a of this.actions) {
      const ws = a.kind === 'remove' ? a.slices.map((s) => s.w) : [a.w];
      for (const w of new Set(ws)) touched.set(w, (touched.get(w) ?? 0) + 1);
    }
    for (const a of this.actions) {
      if (a.kind === 'factorize' && (touched.get(a.w) ?? 0) > 1) this.problems.push(`${a.edit.layer}: '${a.w.displayName}' is changed by another edit of the same step`);
    }
    return [...this.problems];
  }

  /** After check(): the shape each unit removal leaves its sliced tensors with. */
  slicedShapes(): Map<string, number[]> {
    const shapes = new Map<string, number[]>();
    for (const a of this.actions) {
      if (a.kind !== 'remove') continue;
      for (const s of a.slices) {
        const shape = shapes.get(s.w.displayName) ?? [...s.w.record.dims];
        shape[s.axis] = s.keep.length;
        shapes.set(s.w.displayName, shape);
      }
    }
    return shapes;
  }

  private weight(name: string, layer: string): WeightEntry | undefined {
    const w = this.ix.byDisplay.get(name);
    if (!w) {
      this.problems.push(`tensor '${name}' (layer '${layer}') is not in ${path.basename(this.doc.file)}`);
      return undefined;
    }
    const info = this.tensorInfo(name);
    if (info && info.shape.join(',') !== w.record.dims.join(',')) {
      this.problems.push(`tensor '${name}': the model on disk has shape [${w.record.dims.join(', ')}], the analysis [${info.shape.join(', ')}]`);
      return undefined;
    }
    return w;
  }

  private tensorInfo(name: string): TensorInfo | undefined {
    for (const l of this.doc.layers) for (const t of l.tensors) if (t.name === name) return t;
    return undefined;
  }

  private layerInfo(name: string): LayerInfo | undefined {
    return this.doc.layers.find((l) => l.name === name);
  }

  private checkTensor(edit: TensorEdit, w: WeightEntry): void {
    const name = edit.tensor;
    const dtype = dtypeName(w);
    if (w.source === 'sparse initializer' || w.attrName === 'sparse_value') {
      this.problems.push(`${name}: stored as a sparse tensor; Parsimony doesn't rewrite sparse initializers`);
      return;
    }
    if (!FLOAT_DTYPES.has(dtype)) {
      const dq = this.ix.uses(w.graph, w.valueName).some((u) => u.node.opType === 'DequantizeLinear');
      this.problems.push(`${name}: stored as ${dtype}${dq ? ' behind a DequantizeLinear (already quantized)' : ''}; compress the float model instead`);
      return;
    }
    if (edit.values.length !== elementCount(w.record.dims)) {
      this.problems.push(`${name}: ${edit.values.length} new values for a tensor of ${elementCount(w.record.dims)}`);
      return;
    }
    const s = edit.storage;
    if (s.kind === 'float32' || s.kind === 'clustered' || s.kind === dtype) {
      this.actions.push({ kind: 'values', edit, w });
      return;
    }
    if (s.kind === 'bfloat16') {
      this.problems.push(`${name}: bfloat16 weights are not written for ONNX (onnxruntime's CPU kernels are float32/float16); use float16`);
      return;
    }
    if (s.kind === 'float16') {
      if (this.ix.opset < 6) {
        this.problems.push(`${name}: float16 storage needs a Cast node of opset ≥ 6; the model imports opset ${this.ix.opset}`);
        return;
      }
      this.actions.push({ kind: 'fp16', edit, w });
      return;
    }
    // Affine integer: QDQ.
    if (s.dtype !== 'int8' && s.dtype !== 'uint8') {
      this.problems.push(`${name}: ${s.dtype} DequantizeLinear needs opset 21, which onnxruntime's QDQ path doesn't use for weights; choose int8 or uint8`);
      return;
    }
    if (this.ix.opset < 10) {
      this.problems.push(`${name}: DequantizeLinear needs opset ≥ 10; the model imports opset ${this.ix.opset}`);
      return;
    }
    if (!s.axisUnits) {
      if (s.scale.length !== 1) this.problems.push(`${name}: a per-tensor quantization has ${s.scale.length} scales`);
      else this.actions.push({ kind: 'affine', edit, w, axis: null });
      return;
    }
    if (this.ix.opset < 13) {
      this.problems.push(
        `${name}: per-channel DequantizeLinear (an axis attribute) needs opset ≥ 13; the model imports opset ${this.ix.opset} — quantize per tensor instead`,
      );
      return;
    }
    const axis = this.channelAxis(edit, w, s.scale.length);
    if (axis === null) {
      this.problems.push(`${name}: its output channels don't lie along one axis of its ONNX shape [${w.record.dims.join(', ')}], so per-channel scales can't be expressed`);
      return;
    }
    this.actions.push({ kind: 'affine', edit, w, axis });
  }

  /** The axis of the stored tensor that holds the layout's output units, if it is one. */
  private channelAxis(edit: TensorEdit, w: WeightEntry, units: number): number | null {
    const layer = this.layerInfo(edit.layer);
    const info = this.tensorInfo(edit.tensor);
    if (!layer || !info) return null;
    const layout = weightLayout('onnx', layer, info);
    if (!layout || layout.units !== units) return null;
    const dims = w.record.dims;
    if (dims[0] === units && (units === 1 || layout.index(1, 0) === layout.fanIn)) return 0;
    if (dims.length === 2 && dims[1] === units && layout.index(1, 0) === 1) return 1;
    return null;
  }

  private node(layer: string): { node: NodeRecord; graph: GraphRecord; index: number } | null {
    const e = this.ix.nodes.get(layer);
    if (!e) {
      this.problems.push(`layer '${layer}' is not a node of ${path.basename(this.doc.file)}`);
      return null;
    }
    return e;
  }

  /** The float initializer a node reads at input `at`, used by that node only; or a reason. */
  private ownWeight(node: NodeRecord, graph: GraphRecord, at: number, layer: string): WeightEntry | string {
    const name = node.inputs[at];
    const w = name ? this.ix.weights.find((x) => x.valueName === name && x.graph === graph && x.source === 'initializer') : undefined;
    if (!w) return `${layer}: its weight (input ${at}) is not an initializer of its graph (computed, cast or dequantized weights are not rewritten)`;
    if (!FLOAT_DTYPES.has(dtypeName(w)) || dtypeName(w) === 'bfloat16') return `${layer}: its weight '${w.displayName}' is stored as ${dtypeName(w)}`;
    const uses = this.ix.uses(graph, name!);
    if (uses.length !== 1 || this.ix.isGraphOutput(graph, name!)) return `${layer}: its weight '${w.displayName}' is shared with ${uses.length - 1} other node(s) or is a graph output`;
    return w;
  }

  private checkFactorize(edit: FactorizeEdit): void {
    const e = this.node(edit.layer);
    if (!e) return;
    const { node, graph, index } = e;
    if (!isDefaultDomain(node) || !['Gemm', 'MatMul', 'Conv'].includes(node.opType)) {
      this.problems.push(`${edit.layer}: low-rank factorization is written for Gemm, MatMul and Conv nodes, not ${node.opType}`);
      return;
    }
    const w = this.ownWeight(node, graph, 1, edit.layer);
    if (typeof w === 'string') {
      this.problems.push(w);
      return;
    }
    if (w.displayName !== edit.tensor) {
      this.problems.push(`${edit.layer}: factorized tensor '${edit.tensor}' is not the node's weight '${w.displayName}'`);
      return;
    }
    const dims = w.record.dims;
    let units: number;
    let fanIn: number;
    if (node.opType === 'Conv') {
      if (intAttr(node, 'group', 1) !== 1) {
        this.problems.push(`${edit.layer}: grouped convolutions (group ${intAttr(node, 'group', 1)}) are not factorized`);
        return;
      }
      if (dims.length < 3) {
        this.problems.push(`${edit.layer}: Conv weight of rank ${dims.length}`);
        return;
      }
      units = dims[0]!;
      fanIn = elementCount(dims.slice(1));
    } else {
      if (dims.length !== 2) {
        this.problems.push(`${edit.layer}: ${node.opType} weight of rank ${dims.length} (only 2-D weights are factorized)`);
        return;
      }
      if (node.opType === 'MatMul' && node.inputs[0] === w.valueName) {
        this.problems.push(`${edit.layer}: the weight is the MatMul's first operand`);
        return;
      }
      const transB = node.opType === 'Gemm' && intAttr(node, 'transB', 0) === 1;
      units = transB ? dims[0]! : dims[1]!;
      fanIn = transB ? dims[1]! : dims[0]!;
    }
    if (edit.a.length !== units * edit.rank || edit.b.length !== edit.rank * fanIn) {
      this.problems.push(`${edit.layer}: factors of rank ${edit.rank} don't match the weight's ${units}×${fanIn} layout`);
      return;
    }
    this.actions.push({ kind: 'factorize', edit, w, node, graph, index, units, fanIn });
  }

  private checkRemove(edit: RemoveUnitsEdit): void {
    const e = this.node(edit.layer);
    if (!e) return;
    const { node, graph } = e;
    const refuse = (why: string): void => {
      this.problems.push(`${edit.layer}: units can't be removed: ${why}`);
    };
    if (!isDefaultDomain(node) || !['Gemm', 'MatMul', 'Conv'].includes(node.opType)) return refuse(`it is a ${node.opType} node (only Gemm, MatMul and Conv are sliced)`);
    const slices: Slice[] = [];
    const values: string[] = [];
    const keep = edit.keep;
    if (keep.length === 0 || keep.some((k, i) => !Number.isInteger(k) || k < 0 || k >= edit.units || (i > 0 && k <= keep[i - 1]!))) return refuse('the kept units are not an increasing list of unit indices');

    // The producer: its weight's unit axis and its bias.
    const w = this.ownWeight(node, graph, 1, edit.layer);
    if (typeof w === 'string') return refuse(w.replace(`${edit.layer}: `, ''));
    const dims = w.record.dims;
    let kind: 'conv' | 'dense' | 'pooled' = node.opType === 'Conv' ? 'conv' : 'dense';
    let axis: number;
    if (node.opType === 'Conv') {
      if (intAttr(node, 'group', 1) !== 1) return refuse('grouped convolution');
      axis = 0;
    } else {
      if (dims.length !== 2) return refuse(`its weight has rank ${dims.length}`);
      if (node.opType === 'Gemm' && intAttr(node, 'transA', 0) !== 0) return refuse('Gemm with transA');
      axis = node.opType === 'Gemm' && intAttr(node, 'transB', 0) === 1 ? 0 : 1;
    }
    if (dims[axis] !== edit.units) return refuse(`its weight [${dims.join(', ')}] doesn't have ${edit.units} units on axis ${axis}`);
    slices.push({ w, axis, keep });
    if (node.inputs[2]) {
      const b = this.ownWeight(node, graph, 2, edit.layer);
      if (typeof b === 'string') return refuse(`its bias: ${b.replace(`${edit.layer}: `, '')}`);
      const bd = b.record.dims;
      if (bd[bd.length - 1] === edit.units && elementCount(bd) === edit.units) slices.push({ w: b, axis: bd.length - 1, keep });
      else if (elementCount(bd) !== 1) return refuse(`its bias has shape [${bd.join(', ')}]`);
    }

    // Follow the single path to the consumer.
    if (node.outputs.length !== 1) return refuse(`it has ${node.outputs.length} outputs`);
    let value = node.outputs[0]!;
    for (let hop = 0; hop < 16; hop++) {
      values.push(value);
      if (this.ix.isGraphOutput(graph, value)) return refuse(`its output '${value}' is a graph output`);
      const uses = this.ix.uses(graph, value);
      if (uses.length !== 1) return refuse(`its output '${value}' feeds ${uses.length} nodes`);
      const u = uses[0]!;
      const c = u.node;
      const cname = c.name || c.opType;
      if (u.input === -1) return refuse(`its output '${value}' is read inside a subgraph of '${cname}'`);
      if (!isDefaultDomain(c)) return refuse(`its output reaches ${c.domain}.${c.opType} '${cname}'`);
      if (['Gemm', 'MatMul', 'Conv'].includes(c.opType)) {
        if (u.input !== 0) return refuse(`it feeds input ${u.input} of ${c.opType} '${cname}'`);
        if (kind === 'pooled' ? c.opType !== 'Conv' : (c.opType === 'Conv') !== (kind === 'conv')) return refuse(`a ${node.opType} feeding a ${c.opType} ('${cname}') would need a reshape of the channels`);
        const cw = this.ownWeight(c, graph, 1, cname);
        if (typeof cw === 'string') return refuse(`its consumer: ${cw}`);
        const cd = cw.record.dims;
        let caxis: number;
        if (c.opType === 'Conv') {
          if (intAttr(c, 'group', 1) !== 1) return refuse(`its consumer '${cname}' is a grouped convolution`);
          caxis = 1;
        } else {
          if (cd.length !== 2) return refuse(`its consumer '${cname}' has a weight of rank ${cd.length}`);
          if (c.opType === 'Gemm' && intAttr(c, 'transA', 0) !== 0) return refuse(`its consumer '${cname}' is a Gemm with transA`);
          caxis = c.opType === 'Gemm' && intAttr(c, 'transB', 0) === 1 ? 1 : 0;
        }
        if (cd[caxis] !== edit.units) return refuse(`its consumer '${cname}' reads ${cd[caxis]} inputs, not ${edit.units}`);
        slices.push({ w: cw, axis: caxis, keep });
        this.actions.push({ kind: 'remove', edit, slices, values, graph });
        return;
      }
      if (!PASS_OPS.has(c.opType)) {
        return refuse(
          `its output reaches ${c.opType} '${cname}'; only Relu, Sigmoid, Tanh, BatchNormalization, pooling, a bias Add or a Flatten after global pooling may sit between it and one Gemm/MatMul/Conv`,
        );
      }
      if (c.opType.startsWith('Global')) kind = 'pooled';
      else if (c.opType === 'Flatten') {
        // [N, C, 1, 1] → [N, C] keeps channels one to one only after global pooling.
        if (kind !== 'pooled' || intAttr(c, 'axis', 1) !== 1) return refuse(`Flatten '${cname}' mixes channels with spatial positions`);
        kind = 'dense';
      }
      const usedOutputs = c.outputs.filter((o, i) => i > 0 && o && (this.ix.uses(graph, o).length || this.ix.isGraphOutput(graph, o)));
      if (usedOutputs.length) return refuse(`${c.opType} '${cname}' has extra outputs in use`);
      if (c.opType === 'BatchNormalization') {
        if (u.input !== 0) return refuse(`it feeds input ${u.input} of BatchNormalization '${cname}'`);
        for (let i = 1; i <= 4; i++) {
          const p = this.ownWeight(c, graph, i, cname);
          if (typeof p === 'string') return refuse(`BatchNormalization '${cname}': ${p}`);
          if (p.record.dims.length !== 1 || p.record.dims[0] !== edit.units) return refuse(`BatchNormalization '${cname}' input ${i} has shape [${p.record.dims.join(', ')}]`);
          slices.push({ w: p, axis: 0, keep });
        }
      } else if (c.opType === 'Add') {
        const other = c.inputs[1 - u.input];
        const b = other !== undefined ? this.ix.weights.find((x) => x.valueName === other && x.graph === graph && x.source === 'initializer') : undefined;
        if (!b || kind !== 'dense') return refuse(`its output reaches Add '${cname}', which is not a bias add of an initializer`);
        const bw = this.ownWeight(c, graph, 1 - u.input, cname);
        if (typeof bw === 'string') return refuse(`Add '${cname}': ${bw}`);
        const bd = bw.record.dims;
        if (bd[bd.length - 1] === edit.units && elementCount(bd) === edit.units) slices.push({ w: bw, axis: bd.length - 1, keep });
        else if (elementCount(bd) !== 1) return refuse(`Add '${cname}' adds a tensor of shape [${bd.join(', ')}]`);
      }
      value = c.outputs[0]!;
    }
    refuse('no Gemm/MatMul/Conv consumer within 16 nodes');
  }

  // -------------------------------------------------------------------------

  private plan(graph: GraphRecord): GraphPlan {
    let p = this.plans.get(graph);
    if (!p) this.plans.set(graph, (p = new GraphPlan()));
    return p;
  }

  async build(): Promise<void> {
    const removals = new Map<WeightEntry, Map<number, number[]>>();
    for (const a of this.actions) {
      switch (a.kind) {
        case 'values':
          this.replaceValues(a.w, encodeAs(a.edit.values, dtypeName(a.w)));
          break;
        case 'fp16':
          this.toFloat16(a.w, a.edit.values);
          break;
        case 'affine':
          this.toQdq(a.w, a.edit, a.axis);
          break;
        case 'factorize':
          this.factorize(a);
          break;
        case 'remove':
          for (const s of a.slices) {
            const axes = removals.get(s.w) ?? new Map<number, number[]>();
            if (axes.has(s.axis)) throw new ModelFormatError('invalid-option', `${a.edit.layer}: '${s.w.displayName}' is sliced twice along axis ${s.axis}`);
            axes.set(s.axis, s.keep);
            removals.set(s.w, axes);
          }
          for (const v of a.values) this.plan(a.graph).dropValueInfo.add(v);
          break;
      }
    }
    for (const [w, axes] of removals) {
      const info = this.tensorInfo(w.displayName);
      if (!info?.read) throw new ModelFormatError('unsupported-dtype', `values of '${w.displayName}' cannot be read`);
      const { values, dims } = sliceAxes(await info.read(), w.record.dims, axes);
      this.replaceValues(w, encodeAs(values, dtypeName(w)), dims);
    }
  }

  /** New data for a tensor in its own dtype (optionally a new shape). */
  private replaceValues(w: WeightEntry, bytes: Uint8Array, dims?: number[]): void {
    const data: DataSpec = { kind: 'bytes', bytes };
    this.sizeDelta += bytes.length - byteSize(w);
    if (w.source === 'initializer') {
      this.plan(w.graph).initializers.set(w.initIndex!, dims ? { data, dims } : { data });
      if (dims) {
        // Its declared shapes change with it.
        this.plan(w.graph).dropValueInfo.add(w.valueName);
        this.inputsFor(w.graph, w.valueName, [{ name: w.valueName, dataType: w.record.dataType, dims }]);
      }
    } else {
      this.plan(w.graph).node(w.nodeIndex!).constantValue = { dataType: w.record.dataType, dims: dims ?? w.record.dims, data };
    }
  }

  /**
   * Stores `w` under a new name and type and lets `nodes` (which read the new
   * name) produce the original one: at the head of the graph for initializers,
   * right after the Constant node for constants.
   */
  private restore(w: WeightEntry, newName: string, dataType: number, bytes: Uint8Array, nodes: ProtoWriter[], extra: NewTensor[] = []): void {
    const plan = this.plan(w.graph);
    const data: DataSpec = { kind: 'bytes', bytes };
    this.sizeDelta += bytes.length - byteSize(w) + extra.reduce((s, t) => s + (t.data.kind === 'bytes' ? t.data.bytes.length : 0), 0);
    if (w.source === 'initializer') {
      plan.initializers.set(w.initIndex!, { name: newName, dataType, data });
      plan.prependNodes.push(...nodes);
      this.inputsFor(w.graph, w.valueName, [{ name: newName, dataType, dims: w.record.dims }]);
    } else {
      const c = plan.node(w.nodeIndex!);
      c.outputs = new Map([[w.valueName, newName]]);
      c.constantValue = { dataType, dims: w.record.dims, data };
      c.after = nodes;
    }
    plan.appendInitializers.push(...extra);
    this.inputsFor(w.graph, null, extra);
  }

  /**
   * Graph inputs: an initializer that is also listed as a graph input (an
   * overridable default) loses that input when it is renamed or removed; models
   * of IR version < 4 must list every initializer as an input.
   */
  private inputsFor(graph: GraphRecord, removed: string | null, added: { name: string; dataType: number; dims: readonly number[] }[]): void {
    const plan = this.plan(graph);
    if (removed !== null && graph.inputs.some((v) => v.name === removed)) plan.dropInputs.add(removed);
    if (this.ix.irVersion < 4) for (const t of added) plan.addInputs.push(encodeValueInfo(t.name, t.dataType, t.dims));
  }

  private toFloat16(w: WeightEntry, values: Float32Array): void {
    const name = this.fresh(`${w.valueName}_fp16`);
    const cast = encodeNode({
      name: this.fresh(`${w.valueName}_Cast`),
      opType: 'Cast',
      inputs: [name],
      outputs: [w.valueName],
      attributes: [encodeAttribute('to', { int: w.record.dataType })],
    });
    this.restore(w, name, DT_FLOAT16, encodeFloats(values, 'float16'), [cast]);
  }

  private toQdq(w: WeightEntry, edit: TensorEdit, axis: number | null): void {
    const s = edit.storage;
    if (s.kind !== 'affine') return;
    const signed = s.dtype === 'int8';
    const dims = w.record.dims;
    const values = edit.values;
    const q = signed ? new Int8Array(values.length) : new Uint8Array(values.length);
    const [lo, hi] = signed ? [-128, 127] : [0, 255];
    let inner = 1;
    if (axis !== null) for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!;
    const channels = axis !== null ? dims[axis]! : 1;
    for (let i = 0; i < values.length; i++) {
      const c = axis === null ? 0 : Math.floor(i / inner) % channels;
      q[i] = Math.max(lo, Math.min(hi, Math.round(values[i]! / s.scale[c]!) + s.zeroPoint[c]!));
    }
    const zp = signed ? Int8Array.from(s.zeroPoint) : Uint8Array.from(s.zeroPoint);
    const qType = signed ? DT_INT8 : DT_UINT8;
    const qName = this.fresh(`${w.valueName}_quantized`);
    const scaleName = this.fresh(`${w.valueName}_scale`);
    const zpName = this.fresh(`${w.valueName}_zero_point`);
    const paramDims = axis === null ? [] : [channels];
    const extra: NewTensor[] = [
      { name: scaleName, dataType: DT_FLOAT, dims: paramDims, data: { kind: 'bytes', bytes: encodeFloats(Float32Array.from(s.scale), 'float32') } },
      { name: zpName, dataType: qType, dims: paramDims, data: { kind: 'bytes', bytes: new Uint8Array(zp.buffer) } },
    ];
    const float32 = w.record.dataType === DT_FLOAT;
    const dqOut = float32 ? w.valueName : this.fresh(`${w.valueName}_dequantized`);
    const nodes = [
      encodeNode({
        name: this.fresh(`${w.valueName}_DequantizeLinear`),
        opType: 'DequantizeLinear',
        inputs: [qName, scaleName, zpName],
        outputs: [dqOut],
        attributes: axis === null ? [] : [encodeAttribute('axis', { int: axis })],
      }),
    ];
    if (!float32) {
      nodes.push(
        encodeNode({ name: this.fresh(`${w.valueName}_Cast`), opType: 'Cast', inputs: [dqOut], outputs: [w.valueName], attributes: [encodeAttribute('to', { int: w.record.dataType })] }),
      );
    }
    this.restore(w, qName, qType, new Uint8Array(q.buffer), nodes, extra);
  }

  private factorize(a: Extract<Action, { kind: 'factorize' }>): void {
    const { edit, w, node, graph, index, units, fanIn } = a;
    const rank = edit.rank;
    const plan = this.plan(graph);
    const dtype = dtypeName(w);
    const base = node.name || node.outputs[0] || `${node.opType}_${index}`;
    const bName = this.fresh(`${base}_lowrank_B`);
    const aName = this.fresh(`${base}_lowrank_A`);
    const hidden = this.fresh(`${base}_lowrank_hidden`);
    const first = this.fresh(`${base}_lowrank_0`);
    const second = this.fresh(`${base}_lowrank_1`);
    const copyAttr = (r: AttrRecord) => rawAttribute(this.ix.bytes, r);
    const tensors: NewTensor[] = [];
    const add = (name: string, dims: number[], values: Float32Array) => tensors.push({ name, dataType: w.record.dataType, dims, data: { kind: 'bytes', bytes: encodeAs(values, dtype) } });
    let nodes: ProtoWriter[];
    if (node.opType === 'Conv') {
      const spatial = w.record.dims.slice(2);
      add(bName, [rank, ...w.record.dims.slice(1)], edit.b);
      add(aName, [units, rank, ...spatial.map(() => 1)], edit.a);
      nodes = [
        encodeNode({ name: first, opType: 'Conv', inputs: [node.inputs[0]!, bName], outputs: [hidden], attributes: node.attributes.map(copyAttr) }),
        encodeNode({
          name: second,
          opType: 'Conv',
          inputs: [hidden, aName, ...node.inputs.slice(2)],
          outputs: node.outputs,
          attributes: [encodeAttribute('kernel_shape', { ints: spatial.map(() => 1) })],
        }),
      ];
    } else {
      // First: x·Bᵀ with Bᵀ stored [fanIn, rank].
      add(bName, [fanIn, rank], transpose(edit.b, rank, fanIn));
      const transA = node.opType === 'Gemm' && intAttr(node, 'transA', 0) === 1;
      nodes = [
        transA
          ? encodeNode({ name: first, opType: 'Gemm', inputs: [node.inputs[0]!, bName], outputs: [hidden], attributes: [encodeAttribute('transA', { int: 1 })] })
          : encodeNode({ name: first, opType: 'MatMul', inputs: [node.inputs[0]!, bName], outputs: [hidden] }),
      ];
      if (node.opType === 'Gemm') {
        // Then the original Gemm (alpha, beta, C, transB kept) on the rank-K hidden values.
        const transB = intAttr(node, 'transB', 0) === 1;
        add(aName, transB ? [units, rank] : [rank, units], transB ? edit.a : transpose(edit.a, units, rank));
        nodes.push(
          encodeNode({
            name: second,
            opType: 'Gemm',
            inputs: [hidden, aName, ...node.inputs.slice(2)],
            outputs: node.outputs,
            attributes: node.attributes.filter((r) => r.name !== 'transA').map(copyAttr),
          }),
        );
      } else {
        add(aName, [rank, units], transpose(edit.a, units, rank));
        nodes.push(encodeNode({ name: second, opType: 'MatMul', inputs: [hidden, aName], outputs: node.outputs }));
      }
    }
    plan.node(index).replace = nodes;
    plan.initializers.set(w.initIndex!, null);
    plan.appendInitializers.push(...tensors);
    this.inputsFor(graph, w.valueName, tensors);
    this.sizeDelta += tensors.reduce((s, t) => s + (t.data.kind === 'bytes' ? t.data.bytes.length : 0), 0) - byteSize(w);
  }
}

/** An attribute of the source, copied verbatim. */
function rawAttribute(bytes: Uint8Array, a: AttrRecord): ProtoWriter {
  return new ProtoWriter().raw(bytes.subarray(a.span.offset, a.span.offset + a.span.length));
}

/** rows×cols row-major → cols×rows row-major. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** Keeps only the listed indices along each given axis. */
export function sliceAxes(values: Float32Array, dims: readonly number[], axes: Map<number, number[]>): { values: Float32Array; dims: number[] } {
  const outDims = dims.map((d, i) => axes.get(i)?.length ?? d);
  const picks = dims.map((d, i) => axes.get(i) ?? Array.from({ length: d }, (_, j) => j));
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(elementCount(outDims));
  const idx = new Array<number>(dims.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < dims.length; i++) src += picks[i]![idx[i]!]! * strides[i]!;
    out[o] = values[src]!;
    for (let i = dims.length - 1; i >= 0; i--) {
      if (++idx[i]! < outDims[i]!) break;
      idx[i] = 0;
    }
  }
  return { values: out, dims: outDims };
}

