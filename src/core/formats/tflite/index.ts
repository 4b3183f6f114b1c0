import { ModelFormatError } from '../../errors';
import { decodeUtf8 } from '../../io/binaryReader';
import { FlatBuffer, type Table } from '../../io/flatbuffers';
import { elementCount, type LayerInfo, type ModelDoc, type TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { decodeRaw } from '../onnx/dtypes';
import {
  BUFFER,
  BUILTIN_CUSTOM,
  builtinName,
  METADATA,
  MODEL,
  OPERATOR,
  OPERATOR_CODE,
  QUANTIZATION,
  SPARSITY,
  SUBGRAPH,
  TENSOR,
  TENSOR_TYPES,
  type TfliteType,
} from './schema';

/**
 * TFLite reader (FlatBuffers, schema.fbs). The flatbuffer is read into memory
 * (it is at most 2 GiB; larger models keep buffers outside it, addressed by
 * Buffer.offset/size), walked with the bounded table reader, and dropped;
 * read() fetches a tensor's bytes from disk again.
 *
 * Accounting choices:
 * - Weights are tensors whose buffer holds data. A buffer shared by several tensors
 *   is counted in bytes once (the others show bytes 0 and detail.sharedBuffer).
 * - Parameters: floating tensors, and integer tensors that carry quantization
 *   scales (quantized weights and int32 biases). Integer tensors without scales
 *   (shapes, paddings, axes), bool/string tensors and variable (state) tensors are not.
 * - Sparse tensors (Tensor.sparsity) count their stored values: shape is
 *   [storedValues], detail.denseShape keeps the logical shape.
 * - A weight belongs to the first operator that reads it, looking through
 *   DEQUANTIZE and DENSIFY (fp16 and sparse weights feed those first).
 * - Layers are the operators that own parameters plus the compute ops (convolutions,
 *   FULLY_CONNECTED, BATCH_MATMUL) even without; other operators' constants go to one
 *   "(constants)" group. Op counts go to metadata. TFLite operators have no names: a
 *   layer is named after its first output tensor.
 * - MACs per sample come from the tensor shapes (TFLite stores static shapes); the
 *   leading dimension of an NHWC/[N, …] tensor is the batch and counts as 1.
 */

const MAX_FLATBUFFER_BYTES = 2 ** 31;

/**
 * A sparse tensor's parameters are its dense logical elements (what the model
 * computes with, and what the independent counts in the manifests use); the
 * stored values are its non-zero count, and its bytes are what the file holds.
 */
const SPARSE_COUNTS_STORED_VALUES = false;

const LOOK_THROUGH = new Set(['DEQUANTIZE', 'DENSIFY']);
const COMPUTE_OPS = new Set([
  'CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'TRANSPOSE_CONV', 'CONV_3D', 'CONV_3D_TRANSPOSE', 'BATCH_MATMUL',
  'Convolution2DTransposeBias',
]);
const PER_ELEMENT_MUL = new Set(['MUL', 'DIV', 'PRELU', 'SQUARED_DIFFERENCE']);
const NO_MULTIPLY = new Set([
  'ADD', 'SUB', 'PAD', 'PADV2', 'MIRROR_PAD', 'RESHAPE', 'CONCATENATION', 'GATHER', 'EMBEDDING_LOOKUP', 'MAXIMUM',
  'MINIMUM', 'STRIDED_SLICE', 'SLICE', 'TRANSPOSE', 'RESIZE_BILINEAR', 'RESIZE_NEAREST_NEIGHBOR', 'MEAN', 'SUM',
  'SQUEEZE', 'EXPAND_DIMS', 'TILE', 'BROADCAST_TO', 'SPLIT', 'SPLIT_V', 'DEPTH_TO_SPACE', 'SPACE_TO_DEPTH',
]);

export const tflite: FormatFactory = {
  id: 'tflite',
  produces: ['tflite'],
  label: 'TFLite',
  extensions: ['.tflite'],
  match,
  open,
};

function hasIdentifier(head: Uint8Array): boolean {
  return head.length >= 8 && head[4] === 0x54 && head[5] === 0x46 && head[6] === 0x4c && head[7] === 0x33; // "TFL3"
}

function match(probe: Probe): boolean {
  return hasIdentifier(probe.head) || probe.name.endsWith('.tflite');
}

interface BufferRef {
  /** Absolute file offset and length of the data, or null when the buffer is empty. */
  offset: number;
  length: number;
  external: boolean;
}

interface TensorRec {
  index: number;
  name: string;
  shape: number[];
  signature: number[] | null;
  type: TfliteType;
  typeCode: number;
  buffer: number;
  isVariable: boolean;
  table: Table;
}

interface OpRec {
  index: number;
  type: string;
  builtin: number;
  version: number;
  inputs: number[];
  outputs: number[];
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  if (!hasIdentifier(ctx.head)) {
    throw new ModelFormatError('bad-magic', `not a TFLite flatbuffer: bytes 4..8 are not the file identifier "TFL3"`);
  }
  const bytes = await ctx.source.read(0, Math.min(ctx.size, MAX_FLATBUFFER_BYTES));
  const fb = new FlatBuffer(bytes);
  const model = fb.root();
  const version = model.u32(MODEL.version);
  if (version < 3) {
    throw new ModelFormatError('unsupported-version', `TFLite schema version ${version} is older than 3 (weights were stored inside tensors then)`);
  }
  return new TfliteBuilder(ctx, fb, model, version).build();
}

class TfliteBuilder {
  private readonly warnings: string[] = [];
  private readonly bufferCache = new Map<number, BufferRef | null>();
  private readonly bufferUsers = new Map<number, number>();
  private readonly buffersVector;
  private readonly opcodes: { type: string; builtin: number; version: number }[];

  constructor(
    private readonly ctx: OpenContext,
    private readonly fb: FlatBuffer,
    private readonly model: Table,
    private readonly version: number,
  ) {
    this.buffersVector = model.vector(MODEL.buffers, 4);
    this.opcodes = model.tables(MODEL.operatorCodes).map((t) => {
      const builtin = Math.max(t.i8(OPERATOR_CODE.deprecatedBuiltinCode), t.i32(OPERATOR_CODE.builtinCode));
      const custom = t.string(OPERATOR_CODE.customCode);
      return { type: builtin === BUILTIN_CUSTOM ? custom || 'CUSTOM' : builtinName(builtin), builtin, version: t.i32(OPERATOR_CODE.version, 1) };
    });
  }

  build(): ModelDoc {
    const subgraphs = this.model.tables(MODEL.subgraphs);
    if (subgraphs.length === 0) throw new ModelFormatError('not-a-model', 'the TFLite model has no subgraphs');
    const layers: LayerInfo[] = [];
    const constants: TensorInfo[] = [];
    const unused: TensorInfo[] = [];
    const opCounts = new Map<string, number>();
    const meta: Record<string, string> = { schemaVersion: String(this.version) };
    let inputShape: (number | null)[] | null = null;

    subgraphs.forEach((sg, sgIndex) => {
      const prefix = subgraphs.length > 1 ? `${sg.string(SUBGRAPH.name) || `subgraph${sgIndex}`}/` : '';
      const tensors = sg.tables(SUBGRAPH.tensors).map((t, i) => this.tensorRec(t, i));
      const tensorAt = (i: number): TensorRec | undefined => (i >= 0 ? tensors[i] : undefined);
      const ops = sg.tables(SUBGRAPH.operators).map((t, i) => this.opRec(t, i, tensors.length));
      for (const op of ops) opCounts.set(op.type, (opCounts.get(op.type) ?? 0) + 1);
      const inputs = sg.i32s(SUBGRAPH.inputs);
      const outputs = sg.i32s(SUBGRAPH.outputs);
      if (sgIndex === 0) {
        meta.inputs = inputs.map((i) => describeTensor(tensorAt(i))).join('; ');
        meta.outputs = outputs.map((i) => describeTensor(tensorAt(i))).join('; ');
        const first = tensorAt(inputs[0] ?? -1);
        if (first) inputShape = displayShape(first);
      }

      // Readers of each tensor, in operator order.
      const readers = new Map<number, OpRec[]>();
      for (const op of ops) for (const i of op.inputs) if (i >= 0) (readers.get(i) ?? readers.set(i, []).get(i)!).push(op);
      const firstConsumer = (tensor: number, hops = 0): OpRec | null => {
        const op = readers.get(tensor)?.[0];
        if (!op) return null;
        if (LOOK_THROUGH.has(op.type) && hops < 8 && op.outputs[0] !== undefined) return firstConsumer(op.outputs[0], hops + 1) ?? op;
        return op;
      };

      // Weights and their owners.
      const owned = new Map<OpRec, TensorInfo[]>();
      for (const t of tensors) {
        const buf = this.buffer(t.buffer);
        if (!buf) continue;
        const info = this.tensorInfo(t, buf, prefix, readers);
        const owner = firstConsumer(t.index);
        if (!owner) {
          (info.isParameter ? unused : constants).push(info);
          continue;
        }
        (owned.get(owner) ?? owned.set(owner, []).get(owner)!).push(info);
      }

      const usedNames = new Set<string>();
      for (const op of ops) {
        const mine = owned.get(op) ?? [];
        const isLayer = COMPUTE_OPS.has(op.type) || mine.some((t) => t.isParameter);
        if (!isLayer) {
          constants.push(...mine);
          continue;
        }
        const out = tensorAt(op.outputs[0] ?? -1);
        let name = prefix + (out?.name || `${op.type}_${op.index}`);
        for (let j = 2; usedNames.has(name); j++) name = `${prefix}${out?.name || `${op.type}_${op.index}`}#${j}`;
        usedNames.add(name);
        layers.push({
          name,
          type: op.type,
          tensors: mine,
          outputShape: out ? displayShape(out) : null,
          macs: countOrNull(opMacs(op, tensorAt, mine)),
          config: { opcodeVersion: op.version, inputs: op.inputs, outputs: op.outputs },
        });
      }
    });

    if (unused.length) {
      layers.push({ name: '(unused constants)', type: 'Constant', tensors: unused, outputShape: null, macs: 0, notes: ['constant tensors no operator reads'] });
    }
    if (constants.length) {
      layers.push({
        name: '(constants)',
        type: 'Constants',
        tensors: constants,
        outputShape: null,
        macs: 0,
        notes: ['non-parameter constants (shapes, paddings, axes) of operators that are not layers'],
      });
    }

    const description = this.model.string(MODEL.description);
    if (description) meta.description = description;
    meta.subgraphs = String(subgraphs.length);
    meta.operators = String([...opCounts.values()].reduce((a, b) => a + b, 0));
    meta.ops = [...opCounts].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}×${n}`).join(', ');
    const metadataNames = this.model.tables(MODEL.metadata).map((m) => m.string(METADATA.name) ?? '');
    if (metadataNames.length) meta.metadata = metadataNames.join(', ');
    for (const m of this.model.tables(MODEL.metadata)) {
      if (m.string(METADATA.name) !== 'min_runtime_version') continue;
      const buf = this.buffer(m.u32(METADATA.buffer));
      if (buf && !buf.external && buf.length <= 64) meta.minRuntimeVersion = decodeUtf8(this.fb.bytes.subarray(buf.offset, buf.offset + buf.length)).replace(/\0+$/, '');
    }
    const signatures = this.model.vector(MODEL.signatureDefs, 4)?.length ?? 0;
    if (signatures) meta.signatures = String(signatures);

    return {
      file: this.ctx.path,
      format: 'tflite',
      files: [this.ctx.path],
      layers,
      metadata: meta,
      warnings: this.warnings,
      inputShape,
    };
  }

  private tensorRec(t: Table, index: number): TensorRec {
    const typeCode = t.i8(TENSOR.type);
    const name = t.string(TENSOR.name) ?? `tensor_${index}`;
    const type = TENSOR_TYPES[typeCode];
    if (!type) throw new ModelFormatError('unsupported-dtype', `tensor '${name}' has TFLite type ${typeCode}, which Parsimony doesn't know`, { offset: t.pos });
    const shape = t.i32s(TENSOR.shape);
    if (shape.length > 16) throw new ModelFormatError('not-a-model', `tensor '${name}' has ${shape.length} dimensions`, { offset: t.pos });
    const sig = t.has(TENSOR.shapeSignature) ? t.i32s(TENSOR.shapeSignature) : null;
    return { index, name, shape, signature: sig, type, typeCode, buffer: t.u32(TENSOR.buffer), isVariable: t.bool(TENSOR.isVariable), table: t };
  }

  private opRec(t: Table, index: number, tensorCount: number): OpRec {
    const opcodeIndex = t.u32(OPERATOR.opcodeIndex);
    const code = this.opcodes[opcodeIndex];
    if (!code) throw new ModelFormatError('not-a-model', `operator ${index} refers to operator code ${opcodeIndex}, but the model has ${this.opcodes.length}`, { offset: t.pos });
    const inputs = t.i32s(OPERATOR.inputs);
    const outputs = t.i32s(OPERATOR.outputs);
    for (const i of [...inputs, ...outputs]) {
      if (i >= tensorCount || i < -1) throw new ModelFormatError('not-a-model', `operator ${index} (${code.type}) refers to tensor ${i}, but the subgraph has ${tensorCount}`, { offset: t.pos });
    }
    return { index, type: code.type, builtin: code.builtin, version: code.version, inputs, outputs };
  }

  /** The data of buffer `index`, or null when empty; offsets are checked against the file. */
  private buffer(index: number): BufferRef | null {
    if (index === 0) return null; // buffer 0 is the empty sentinel
    if (this.bufferCache.has(index)) return this.bufferCache.get(index)!;
    const vec = this.buffersVector;
    if (!vec || index >= vec.length) {
      throw new ModelFormatError('not-a-model', `a tensor refers to buffer ${index}, but the model has ${vec?.length ?? 0} buffers`);
    }
    const table = this.fb.table(this.fb.deref(vec.start + index * 4, 'buffer'));
    let ref: BufferRef | null = null;
    const data = table.vector(BUFFER.data, 1);
    if (data && data.length > 0) ref = { offset: data.start, length: data.length, external: false };
    else {
      const offset = table.u64(BUFFER.offset);
      const size = table.u64(BUFFER.size);
      // Offsets are from the start of the file and only valid when > 1 (schema.fbs).
      if (offset > 1 && size > 0) {
        if (offset + size > this.ctx.size) {
          throw new ModelFormatError('truncated', `buffer ${index} needs bytes ${offset}..${offset + size}, but the file has ${this.ctx.size}`, { offset });
        }
        ref = { offset, length: size, external: true };
      }
    }
    this.bufferCache.set(index, ref);
    return ref;
  }

  private tensorInfo(t: TensorRec, buf: BufferRef, prefix: string, readers: Map<number, OpRec[]>): TensorInfo {
    const sparsity = t.table.table(TENSOR.sparsity);
    const denseCount = elementCount(t.shape);
    if (!Number.isFinite(denseCount) || denseCount > this.ctx.limits.maxTensorElements) {
      throw new ModelFormatError('not-a-model', `tensor '${t.name}' has an invalid shape [${t.shape.join(', ')}]`, { offset: t.table.pos });
    }
    const bits = t.type.bits;
    let count = denseCount;
    /** Values held in the buffer (the stored values of a sparse tensor). */
    let valueCount = denseCount;
    let shape = t.shape;
    const detail: Record<string, unknown> = { buffer: t.buffer };
    if (buf.external) detail.outsideFlatbuffer = true;
    if (sparsity) {
      if (bits === 0 || (buf.length * 8) % bits !== 0) {
        throw new ModelFormatError('not-a-model', `sparse tensor '${t.name}' has ${buf.length} bytes, not a whole number of ${t.type.name} values`);
      }
      const stored = (buf.length * 8) / bits;
      valueCount = stored;
      if (SPARSE_COUNTS_STORED_VALUES) {
        count = stored;
        shape = [stored];
      }
      detail.sparse = {
        denseShape: t.shape,
        denseCount,
        storedValues: stored,
        traversalOrder: sparsity.i32s(SPARSITY.traversalOrder),
        blockMap: sparsity.i32s(SPARSITY.blockMap),
        note: SPARSE_COUNTS_STORED_VALUES ? 'count and shape are the stored values; the logical tensor has denseShape' : 'count and shape are the dense tensor; storedValues are in the file',
      };
    } else if (bits > 0) {
      const need = Math.ceil((denseCount * bits) / 8);
      if (buf.length < need) {
        throw new ModelFormatError(
          'truncated',
          `tensor '${t.name}' [${t.shape.join(', ')}] of ${t.type.name} needs ${need} bytes, but buffer ${t.buffer} has ${buf.length}`,
          { offset: buf.offset },
        );
      }
      if (buf.length > need) this.warnings.push(`buffer ${t.buffer} of tensor '${t.name}' has ${buf.length - need} bytes more than its shape needs`);
    }

    // Quantization parameters.
    const q = t.table.table(TENSOR.quantization);
    const scale = q ? q.f32s(QUANTIZATION.scale) : [];
    const zeroPoint = q ? q.i64s(QUANTIZATION.zeroPoint) : [];
    const axis = q ? q.i32(QUANTIZATION.quantizedDimension) : 0;
    if (scale.length) {
      detail.quantization = {
        scale: scale.length <= 16 ? scale : `(${scale.length} values)`,
        zeroPoint: zeroPoint.length <= 16 ? zeroPoint : `(${zeroPoint.length} values)`,
        axis: scale.length > 1 ? axis : null,
        note: 'TFLite keeps the stored integers; read() returns dequantized values',
      };
    }

    const isFloat = t.type.name.startsWith('float') || t.type.name === 'bfloat16';
    let role: string | null = null;
    if (t.isVariable) role = 'variable (state) tensor';
    else if (!isFloat && !scale.length) role = ['bool', 'string'].includes(t.type.name) ? `${t.type.name} constant` : 'integer constant (shape/index)';
    if (role) detail.role = role;

    // Memory: fp16 (and sparse) weights feeding DEQUANTIZE get a float32 copy at init.
    const dequantized = readers.get(t.index)?.some((op) => LOOK_THROUGH.has(op.type)) ?? false;
    const stored = bits > 0 ? Math.ceil((valueCount * bits) / 8) : buf.length;
    const memoryBytes = dequantized && isFloat ? denseCount * 4 : stored;
    if (dequantized) detail.dequantizedAtInit = 'the runtime keeps a dense float32 copy made by DEQUANTIZE/DENSIFY';

    const users = this.bufferUsers.get(t.buffer) ?? 0;
    this.bufferUsers.set(t.buffer, users + 1);
    if (users > 0) detail.sharedBuffer = true;

    const location = { file: this.ctx.path, offset: buf.offset, length: buf.length };
    const info: TensorInfo = {
      name: prefix + t.name,
      shape: [...shape],
      dtype: t.type.name,
      count,
      bytes: users > 0 ? 0 : buf.length,
      memoryBytes: users > 0 ? 0 : memoryBytes,
      isParameter: role === null,
      location,
      detail,
    };
    // Sparse (DENSIFY) tensors: read() would return only the stored values, which do not
    // match the dense shape; leave them undecoded until densification is implemented.
    if (bits > 0 && !t.type.name.startsWith('complex') && !detail.sparse) {
      const fs = this.ctx.fs;
      const dtype = { code: 0, name: t.type.name, bits, field: 0, decodable: true };
      const dims = t.shape;
      info.read = async () => {
        const src = await fs.open(location.file);
        let raw: Uint8Array;
        try {
          raw = await src.read(location.offset, location.length);
        } finally {
          await src.close();
        }
        const values = decodeRaw(dtype, raw, valueCount);
        return scale.length && !isFloat ? dequantize(values, dims, scale, zeroPoint, axis) : values;
      };
    }
    return info;
  }
}

/** Shape with the batch shown as null when the signature says it is dynamic (-1); a negative dimension is unknown too. */
function displayShape(t: TensorRec): (number | null)[] {
  return t.shape.map((d, i) => ((t.signature && t.signature[i] === -1) || d < 0 ? null : d));
}

function describeTensor(t: TensorRec | undefined): string {
  if (!t) return '?';
  return `${t.name} [${displayShape(t).map((d) => (d === null ? '?' : d)).join(', ')}] ${t.type.name}`;
}

/** Corrupt dims (negative, huge) can make the arithmetic meaningless: an unknown cost, never a wrong one. */
function countOrNull(n: number | null): number | null {
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Elements per sample: the leading (batch) dimension of a rank ≥ 2 tensor counts as 1. */
function perSample(shape: number[] | undefined): number | null {
  if (!shape || shape.length === 0) return null;
  const dims = shape.length >= 2 ? shape.slice(1) : shape;
  const n = elementCount(dims);
  return Number.isFinite(n) ? n : null;
}

function opMacs(op: OpRec, tensorAt: (i: number) => TensorRec | undefined, mine: TensorInfo[]): number | null {
  const shapeOf = (k: number): number[] | undefined => tensorAt(op.inputs[k] ?? -1)?.shape;
  const out = tensorAt(op.outputs[0] ?? -1)?.shape;
  const outs = perSample(out);
  const prod = (dims: number[] | undefined): number | null => {
    if (!dims || dims.length === 0) return null;
    const n = elementCount(dims);
    return Number.isFinite(n) ? n : null;
  };
  switch (op.type) {
    case 'CONV_2D': {
      // weights [O, kh, kw, I/groups]
      const w = prod(shapeOf(1)?.slice(1));
      return w === null || outs === null ? null : outs * w;
    }
    case 'DEPTHWISE_CONV_2D': {
      // weights [1, kh, kw, O]: each output element sums kh*kw products
      const w = shapeOf(1);
      return !w || w.length !== 4 || outs === null ? null : outs * w[1]! * w[2]!;
    }
    case 'CONV_3D': {
      // weights [kd, kh, kw, I, O]
      const w = prod(shapeOf(1)?.slice(0, -1));
      return w === null || outs === null ? null : outs * w;
    }
    case 'FULLY_CONNECTED': {
      // weights [O, I]
      const w = shapeOf(1);
      return !w || w.length !== 2 || outs === null ? null : outs * w[1]!;
    }
    case 'TRANSPOSE_CONV': {
      // inputs: output_shape, weights [O, kh, kw, I], input; each input element feeds O*kh*kw outputs
      const w = prod(shapeOf(1)?.slice(0, 3));
      const ins = perSample(shapeOf(2));
      return w === null || ins === null ? null : ins * w;
    }
    case 'Convolution2DTransposeBias': {
      // MediaPipe custom op: input, weights [O, kh, kw, I], bias
      const w = prod(shapeOf(1)?.slice(0, 3));
      const ins = perSample(shapeOf(0));
      return w === null || ins === null ? null : ins * w;
    }
  }
  if (mine.every((t) => !t.isParameter)) return null;
  if (PER_ELEMENT_MUL.has(op.type)) return outs;
  if (NO_MULTIPLY.has(op.type)) return 0;
  return null;
}

function dequantize(q: Float32Array, dims: number[], scale: number[], zero: number[], axis: number): Float32Array {
  const out = new Float32Array(q.length);
  if (scale.length === 1) {
    const s = scale[0]!;
    const z = zero[0] ?? 0;
    for (let i = 0; i < q.length; i++) out[i] = (q[i]! - z) * s;
    return out;
  }
  const channels = dims[axis] ?? 0;
  if (channels !== scale.length) return q;
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!;
  for (let i = 0; i < q.length; i++) {
    const c = Math.floor(i / inner) % channels;
    out[i] = (q[i]! - (zero[c] ?? 0)) * scale[c]!;
  }
  return out;
}
