import { ModelFormatError } from '../../errors';
import { decodeUtf8 } from '../../io/binaryReader';
import { decodeElements, readFileRange } from '../../io/decodeElements';
import type { FileAccess } from '../../io/fileAccess';
import { ZipArchive } from '../../io/zip';
import type { ModelDoc, TensorInfo } from '../../model';
import type { FormatFactory, OpenContext, Probe } from '../format';
import { groupByPrefix, isFloatDtype } from '../groupByPrefix';
import { collectTensors, type FoundTensor } from './collectTensors';
import { readLegacyCheckpoint } from './legacy';
import { StorageRef, TorchTensor, constructTorch, makePersistentLoad } from './torchObjects';
import { unpickle } from './unpickler';

const EXTENSIONS = ['.pt', '.pth', '.bin', '.ckpt'];
/** LONG1 of torch.save's legacy magic number 0x1950a86a20f9469cfc6c, right after PROTO (and a FRAME from protocol 4 on). */
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function isLegacyStream(head: Uint8Array): boolean {
  if (head[0] !== 0x80) return false;
  const at = head[2] === 0x95 ? 11 : 2;
  return head.length >= at + LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[at + i] === b);
}

function match(probe: Probe): boolean {
  const { head, name } = probe;
  if (isLegacyStream(head)) return true;
  const zip = ZipArchive.isZip(head);
  // torch.save writes `<name>/data.pkl` as the first zip entry.
  if (zip && /data\.pkl/.test(decodeUtf8(head.subarray(30, 30 + 512)))) return true;
  // .bin is also TF.js shards and raw dumps: only the byte checks above accept it.
  if (name.endsWith('.bin')) return false;
  return EXTENSIONS.some((e) => name.endsWith(e)) && (zip || (head[0] === 0x80 && head[1]! <= 5));
}

async function open(ctx: OpenContext): Promise<ModelDoc> {
  if (!ZipArchive.isZip(ctx.head)) {
    if (isLegacyStream(ctx.head)) return openLegacy(ctx);
    if (ctx.head[0] === 0x80) {
      throw new ModelFormatError(
        'unsupported-format',
        "this is a plain pickle without torch.save's magic number, not a PyTorch checkpoint; Parsimony reads torch.save files " +
          '(zip, or the legacy pre-1.6 stream). Re-save the tensors with torch.save(obj, path)',
        { file: ctx.path },
      );
    }
    throw new ModelFormatError('bad-magic', 'not a PyTorch zip checkpoint', { file: ctx.path });
  }
  const archive = await ZipArchive.open(ctx.source);
  const names = archive.names();
  const pickle = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl').sort((a, b) => a.length - b.length)[0];
  const torchScript = names.some((n) => /^([^/]+\/)?(constants\.pkl|code\/)/.test(n));
  if (!pickle) {
    throw new ModelFormatError(
      'not-a-model',
      torchScript ? 'TorchScript archive without data.pkl: its weights cannot be located' : 'zip archive without data.pkl: not a PyTorch checkpoint',
      { file: ctx.path },
    );
  }
  const prefix = pickle.slice(0, pickle.length - 'data.pkl'.length);
  const byteorder = names.includes(`${prefix}byteorder`) ? decodeUtf8(await archive.read(`${prefix}byteorder`, 16)).trim() : 'little';

  const data = await archive.read(pickle, Math.min(ctx.limits.maxZipEntryBytes, ctx.limits.maxMetadataBytes));
  const storages = new Map<string, StorageRef>();
  const root = unpickle(data, {
    what: pickle,
    persistentLoad: makePersistentLoad({ entry: (key) => archive.entries.get(`${prefix}data/${key}`), maxTensorElements: ctx.limits.maxTensorElements }, storages),
    construct: constructTorch,
    // TorchScript pickles name their scripted classes `__torch__.…` and tag types via torch.jit._pickle.
    allowGlobal: torchScript ? (module) => module === '__torch__' || module.startsWith('__torch__.') || module === 'torch.jit._pickle' : undefined,
  });
  for (const storage of storages.values()) {
    if (storage.entry?.method === 0) storage.fileOffset = await archive.dataOffset(storage.entry);
  }

  const warnings: string[] = [];
  if (byteorder !== 'little') warnings.push(`tensors are stored ${byteorder}-endian; their values cannot be read here`);
  if ([...storages.values()].some((s) => s.fileOffset < 0)) warnings.push('some storages are compressed in the zip; their values cannot be read here');
  const version = names.includes(`${prefix}version`) ? decodeUtf8(await archive.read(`${prefix}version`, 64)).trim() : null;
  return checkpointDoc(ctx, root, storages, { readable: byteorder === 'little', torchScript, version }, warnings);
}

/** torch.save's legacy (pre-1.6) stream: the same pickle records, storages placed after the pickles (legacy.ts). */
async function openLegacy(ctx: OpenContext): Promise<ModelDoc> {
  const legacy = await readLegacyCheckpoint(ctx, {});
  const warnings: string[] = [];
  if (!legacy.littleEndian) warnings.push('tensors are stored big-endian; their values cannot be read here');
  const version = legacy.protocolVersion === null ? null : String(legacy.protocolVersion);
  const doc = checkpointDoc(ctx, legacy.root, legacy.storages, { readable: legacy.littleEndian, torchScript: false, version }, warnings);
  doc.metadata.serialization = 'legacy stream (torch.save before 1.6, or _use_new_zipfile_serialization=False)';
  return doc;
}

/** The model for an unpickled checkpoint (zip or legacy), with its storages placed in the file. */
function checkpointDoc(
  ctx: OpenContext,
  root: unknown,
  storages: Map<string, StorageRef>,
  how: { readable: boolean; torchScript: boolean; version: string | null },
  warnings: string[],
): ModelDoc {
  const collected = collectTensors(root, ctx.limits.maxDepth);
  const tensors = toTensorInfos(collected.tensors, ctx.path, ctx.fs, how.readable, warnings);
  const optimizer = collected.tensors.filter((t) => t.inOptimizer).length;
  if (optimizer > 0) {
    warnings.push(`${optimizer} optimizer-state tensors (e.g. Adam moments) are listed but not counted as model parameters`);
  }
  if (collected.tensors.length === 0) warnings.push('the checkpoint holds no tensors');

  const metadata: Record<string, string> = { tensors: String(tensors.length), storages: String(storages.size) };
  if (how.torchScript) metadata.kind = 'TorchScript';
  else if (collected.moduleClasses.size > 0) metadata.kind = 'whole-model pickle';
  if (how.version !== null) metadata.serializationVersion = how.version;
  for (const [k, v] of Object.entries(collected.scalars)) metadata[`checkpoint.${k}`] = v;

  return { file: ctx.path, format: 'pytorch', files: [ctx.path], layers: groupByPrefix(tensors), metadata, warnings };
}

function toTensorInfos(found: FoundTensor[], file: string, fs: FileAccess, readable: boolean, warnings: string[]): TensorInfo[] {
  const firstByAlias = new Map<string, string>();
  // Storage bytes are counted once, however many views share them.
  const bytesLeft = new Map<StorageRef, number>();
  const used = new Map<StorageRef, number>();
  const infos = found.map(({ name, tensor, inOptimizer }) => {
    const { storage } = tensor;
    const elementBytes = tensor.count * storage.elementSize;
    const aliasOf = firstByAlias.get(tensor.aliasKey);
    if (!aliasOf) firstByAlias.set(tensor.aliasKey, name);
    const left = bytesLeft.get(storage) ?? storage.numel * storage.elementSize;
    const bytes = aliasOf ? 0 : Math.min(elementBytes, left);
    bytesLeft.set(storage, left - bytes);
    used.set(storage, Math.max(used.get(storage) ?? 0, (tensor.storageOffset + tensor.extent) * storage.elementSize));
    const info: TensorInfo = {
      name,
      shape: tensor.size,
      dtype: storage.dtype,
      count: tensor.count,
      bytes,
      memoryBytes: aliasOf ? 0 : elementBytes,
      // Counters and aliases (tied weights) are not separate learned parameters.
      isParameter: !inOptimizer && !aliasOf && isFloatDtype(storage.dtype) && !/(^|\.)num_batches_tracked$/.test(name),
      detail: {
        storage: storage.key,
        storageOffset: tensor.storageOffset,
        ...(tensor.contiguous ? {} : { stride: tensor.stride }),
        ...(aliasOf ? { aliasOf } : {}),
        ...(inOptimizer ? { optimizerState: true } : {}),
        ...(tensor.parameter ? { requiresGrad: tensor.requiresGrad } : {}),
      },
    };
    if (tensor.parameter) info.trainable = tensor.requiresGrad;
    if (storage.fileOffset >= 0) {
      info.location = { file, offset: storage.fileOffset + tensor.storageOffset * storage.elementSize, length: tensor.extent * storage.elementSize };
      // decodeElements answers undefined for dtypes it cannot decode (complex, quantized).
      if (readable && decodeElements(new Uint8Array(0), storage.dtype)) info.read = () => readTensor(fs, file, tensor);
    }
    return info;
  });
  for (const [storage, usedBytes] of used) {
    const total = storage.numel * storage.elementSize;
    if (total > 0 && usedBytes < total / 2 && total - usedBytes > 4096) {
      warnings.push(`storage data/${storage.key} holds ${total} bytes but its tensors use ${usedBytes}: a slice was saved without .clone()`);
    }
  }
  return infos;
}

async function readTensor(fs: FileAccess, file: string, tensor: TorchTensor): Promise<Float32Array> {
  const { storage } = tensor;
  const bytes = await readFileRange(fs, file, storage.fileOffset + tensor.storageOffset * storage.elementSize, tensor.extent * storage.elementSize);
  const span = decodeElements(bytes, storage.dtype);
  if (!span) throw new ModelFormatError('unsupported-dtype', `cannot decode ${storage.dtype} values`, { file });
  if (tensor.contiguous) return span.length === tensor.count ? span : span.subarray(0, tensor.count);
  // Strided view: gather element by element in row-major order.
  const out = new Float32Array(tensor.count);
  const index = new Array<number>(tensor.size.length).fill(0);
  for (let i = 0; i < tensor.count; i++) {
    let at = 0;
    for (let d = 0; d < index.length; d++) at += index[d]! * tensor.stride[d]!;
    out[i] = span[at]!;
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d]! < tensor.size[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

export const pytorch: FormatFactory = {
  id: 'pytorch',
  produces: ['pytorch'],
  label: 'PyTorch',
  extensions: EXTENSIONS,
  match,
  open,
};
