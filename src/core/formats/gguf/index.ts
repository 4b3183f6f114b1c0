import { ModelFormatError } from '../../errors';
import { readFileRange } from '../../io/decodeElements';
import type { FileAccess } from '../../io/fileAccess';
import type { ModelDoc, TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { groupByPrefix, type GroupOverride } from '../groupByPrefix';
import { READABLE_DTYPES, dequantize } from './dequantize';
import { FILE_TYPES } from './ggmlTypes';
import { isGgufArray, readGgufHeader, type GgufTensorInfo, type GgufValue } from './header';

function match(probe: Probe): boolean {
  const h = probe.head;
  return h.length >= 4 && h[0] === 0x47 && h[1] === 0x47 && h[2] === 0x55 && h[3] === 0x46;
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  const header = await readGgufHeader(ctx.source, ctx.limits);
  const tensors = header.tensors.map((t) => toTensor(t, ctx.path, ctx.fs));
  const layers = groupByPrefix(tensors, { override: ggufGroup(header.tensors) });
  const unreadable = [...new Set(tensors.filter((t) => !t.read).map((t) => t.dtype))];
  const warnings = unreadable.length
    ? [`values of ${unreadable.join(', ')} tensors cannot be decoded yet (sizes and counts are exact)`]
    : [];
  return {
    file: ctx.path,
    format: 'gguf',
    files: [ctx.path],
    layers,
    metadata: summarizeMetadata(header.version, header.metadata, header.tensors),
    warnings,
    raw: { metadata: Object.fromEntries([...header.metadata].map(([k, v]) => [k, describeValue(v)])), alignment: header.alignment, dataStart: header.dataStart },
  };
}

function toTensor(t: GgufTensorInfo, file: string, fs: FileAccess): TensorInfo {
  const dtype = t.type.dtype;
  const tensor: TensorInfo = {
    name: t.name,
    // Row-major like numpy/PyTorch: ggml's ne[0] (fastest-moving) comes last.
    shape: [...t.ne].reverse(),
    dtype,
    count: t.count,
    bytes: t.bytes,
    // llama.cpp keeps weights quantized in memory.
    memoryBytes: t.bytes,
    isParameter: dtype !== 'int32' && dtype !== 'int64',
    location: { file, offset: t.offset, length: t.bytes },
    detail: { ggmlType: t.type.id, ne: t.ne, blockSize: t.type.blockSize, blockBytes: t.type.typeSize },
  };
  if (READABLE_DTYPES.has(dtype)) {
    tensor.read = async () => {
      const values = dequantize(await readFileRange(fs, file, t.offset, t.bytes), dtype, t.count);
      if (!values) throw new ModelFormatError('unsupported-dtype', `cannot decode ${dtype} tensor '${t.name}'`, { file });
      return values;
    };
  }
  return tensor;
}

/**
 * llama.cpp names: `blk.N.*` are the repeated transformer blocks; `output` is
 * the LM head, a plain matrix product with ne0·ne1 MACs per token.
 */
function ggufGroup(tensors: GgufTensorInfo[]): (name: string) => GroupOverride | undefined {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return (name) => {
    const block = /^(blk\.\d+)\./.exec(name);
    // Attention cost grows with context length, so a block has no fixed MAC count.
    if (block) return { layer: block[1]!, type: 'transformer block', macs: null };
    const head = byName.get('output.weight');
    if (name === 'output.weight' && head && head.ne.length === 2) {
      return { layer: 'output', type: 'Linear', macs: head.ne[0]! * head.ne[1]! };
    }
    return undefined;
  };
}

function summarizeMetadata(version: number, kv: Map<string, GgufValue>, tensors: GgufTensorInfo[]): Record<string, string> {
  const out: Record<string, string> = { ggufVersion: String(version) };
  const arch = kv.get('general.architecture');
  if (typeof arch === 'string') out.architecture = arch;
  const name = kv.get('general.name');
  if (typeof name === 'string') out.name = name;
  const context = typeof arch === 'string' ? kv.get(`${arch}.context_length`) : undefined;
  if (context !== undefined && !isGgufArray(context)) out.contextLength = String(context);
  const fileType = kv.get('general.file_type');
  if (typeof fileType === 'number') out.fileType = FILE_TYPES[fileType] ?? `unknown (${fileType})`;
  const tokens = kv.get('tokenizer.ggml.tokens');
  if (isGgufArray(tokens)) out.vocabularySize = String(tokens.length);
  // Per-dtype breakdown: "q4_0: 120 tensors, 1234567 params, 694444 bytes".
  const byDtype = new Map<string, { tensors: number; params: number; bytes: number }>();
  for (const t of tensors) {
    const s = byDtype.get(t.type.dtype) ?? { tensors: 0, params: 0, bytes: 0 };
    s.tensors++;
    s.params += t.count;
    s.bytes += t.bytes;
    byDtype.set(t.type.dtype, s);
  }
  for (const [dtype, s] of byDtype) out[`dtype.${dtype}`] = `${s.tensors} tensors, ${s.params} params, ${s.bytes} bytes`;
  return out;
}

/** JSON-safe form of a metadata value; long arrays appear as their length only. */
function describeValue(v: GgufValue): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (isGgufArray(v)) return v.items ? v.items.map(describeValue) : `[${v.length} × ${v.elementType}]`;
  return v;
}

export const gguf: FormatFactory = {
  id: 'gguf',
  produces: ['gguf'],
  label: 'GGUF',
  extensions: ['.gguf'],
  match,
  open,
};
