import { ModelFormatError } from '../../errors';
import type { ZipEntry } from '../../io/zip';
import { elementCount } from '../../model';
import { PickleGlobal, unpickleSequence, type Construct } from './unpickler';

/**
 * What torch's pickle records mean, as data: storages named by persistent ids
 * and tensors rebuilt from (storage, offset, size, stride). Nothing here calls
 * into torch; the records are filled in from the pickle's arguments.
 */

/** torch.<Name>Storage → element dtype and size in bytes. */
const STORAGE_TYPES: Record<string, [string, number]> = {
  FloatStorage: ['float32', 4],
  DoubleStorage: ['float64', 8],
  HalfStorage: ['float16', 2],
  BFloat16Storage: ['bfloat16', 2],
  LongStorage: ['int64', 8],
  IntStorage: ['int32', 4],
  ShortStorage: ['int16', 2],
  CharStorage: ['int8', 1],
  ByteStorage: ['uint8', 1],
  BoolStorage: ['bool', 1],
  ComplexFloatStorage: ['complex64', 8],
  ComplexDoubleStorage: ['complex128', 16],
  QInt8Storage: ['qint8', 1],
  QUInt8Storage: ['quint8', 1],
  QInt32Storage: ['qint32', 4],
  QUInt4x2Storage: ['quint4x2', 1],
  QUInt2x4Storage: ['quint2x4', 1],
  UntypedStorage: ['uint8', 1],
  Float8_e4m3fnStorage: ['float8e4m3', 1],
  Float8_e5m2Storage: ['float8e5m2', 1],
  UInt16Storage: ['uint16', 2],
  UInt32Storage: ['uint32', 4],
  UInt64Storage: ['uint64', 8],
};

/** torch.<Name>Storage → [element dtype, element size in bytes], or undefined for an unknown class. */
export function storageType(name: string): readonly [string, number] | undefined {
  return Object.hasOwn(STORAGE_TYPES, name) ? STORAGE_TYPES[name] : undefined;
}

/** One storage, typed by the storage class the pickle names: a `data/<key>` zip entry, or a block of a legacy stream (entry null). */
export class StorageRef {
  /** Offset of the storage's bytes in the file; -1 when unknown (a compressed zip entry). */
  fileOffset = -1;
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly elementSize: number,
    /** Elements the pickle says the storage holds. */
    readonly numel: number,
    readonly entry: ZipEntry | null,
  ) {}
}

export class TorchTensor {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly count: number,
    readonly requiresGrad: boolean,
    /** Pickled as an nn.Parameter (whole-model pickles, some checkpoints). */
    readonly parameter: boolean,
  ) {}

  /** Elements of the storage spanned from the first to the last element (0 when empty). */
  get extent(): number {
    if (this.count === 0) return 0;
    let last = 0;
    for (let i = 0; i < this.size.length; i++) last += (this.size[i]! - 1) * this.stride[i]!;
    return last + 1;
  }

  get contiguous(): boolean {
    let expected = 1;
    for (let i = this.size.length - 1; i >= 0; i--) {
      if (this.size[i] !== 1 && this.stride[i] !== expected) return false;
      expected *= this.size[i]!;
    }
    return true;
  }

  /** Same storage, offset, size and stride: the same values under another name. */
  get aliasKey(): string {
    return `${this.storage.key}|${this.storageOffset}|${this.size.join(',')}|${this.stride.join(',')}`;
  }

  withParameter(requiresGrad: boolean): TorchTensor {
    return new TorchTensor(this.storage, this.storageOffset, this.size, this.stride, this.count, requiresGrad, true);
  }
}

export interface StorageResolver {
  entry(key: string): ZipEntry | undefined;
  maxTensorElements: number;
}

/** persistent_load for torch zips: ('storage', torch.FloatStorage, key, location, numel). */
export function makePersistentLoad(resolver: StorageResolver, storages: Map<string, StorageRef>): (pid: unknown) => StorageRef {
  return (pid) => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
      throw new ModelFormatError('not-a-model', `unexpected persistent id ${describePid(pid)} (expected a torch storage)`);
    }
    const [, type, rawKey, , rawNumel] = pid as unknown[];
    if (!(type instanceof PickleGlobal)) throw new ModelFormatError('not-a-model', `storage ${String(rawKey)} has no storage type`);
    const key = String(rawKey);
    const known = storages.get(key);
    if (known) return known;
    const dtypeInfo = storageType(type.name);
    if (!dtypeInfo) throw new ModelFormatError('unsupported-dtype', `storage ${key} has unsupported type torch.${type.name}`);
    const numel = Number(rawNumel);
    if (!Number.isSafeInteger(numel) || numel < 0 || numel > resolver.maxTensorElements) {
      throw new ModelFormatError('too-large', `storage ${key} declares ${String(rawNumel)} elements`);
    }
    const entry = resolver.entry(key);
    if (!entry) throw new ModelFormatError('truncated', `storage ${key} is missing from the archive (no data/${key} entry)`);
    const [dtype, elementSize] = dtypeInfo;
    if (entry.size < numel * elementSize) {
      throw new ModelFormatError('truncated', `storage data/${key} holds ${entry.size} bytes but ${numel} × ${dtype} needs ${numel * elementSize}`);
    }
    const ref = new StorageRef(key, dtype, elementSize, numel, entry);
    storages.set(key, ref);
    return ref;
  };
}

function describePid(pid: unknown): string {
  if (Array.isArray(pid)) return `(${pid.map((p) => (typeof p === 'string' ? `'${p}'` : typeof p)).join(', ')})`;
  return typeof pid === 'string' ? `'${pid.slice(0, 40)}'` : typeof pid;
}

/** Turns torch's rebuild calls into TorchTensor records; other calls stay generic. */
export const constructTorch: Construct = (callee, args) => {
  switch (callee.qualifiedName) {
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor_v3':
      return rebuildTensor(args);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
    case 'torch.nn.parameter.Parameter': {
      const data = args[0];
      if (!(data instanceof TorchTensor)) return undefined;
      return data.withParameter(args[1] !== false);
    }
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): the tensor is what func(*args) rebuilds.
      const [func, , inner] = args;
      if (func instanceof PickleGlobal && Array.isArray(inner)) return constructTorch(func, inner, 'call');
      return undefined;
    }
    case 'torch.Size':
      return Array.isArray(args[0]) ? args[0] : undefined;
    case 'torch.storage._load_from_bytes':
      checkNestedPickle(args[0]);
      return undefined;
    case 'torch.jit._pickle.restore_type_tag':
    case 'torch.jit._pickle.build_intlist':
    case 'torch.jit._pickle.build_doublelist':
    case 'torch.jit._pickle.build_boollist':
    case 'torch.jit._pickle.build_tensorlist':
      // TorchScript type tags wrap a plain value.
      return args[0] ?? null;
    default:
      return undefined;
  }
};

let nestedDepth = 0;

/**
 * torch.storage._load_from_bytes(b) is torch.load(b) without restrictions, so
 * a pickle nested in those bytes would run in Python. It is never unpickled
 * into the model here, but it is scanned with the same allow-list so a hostile
 * nested pickle makes the whole file 'unsafe'. A nested zip checkpoint is not
 * scanned and is refused outright.
 */
function checkNestedPickle(data: unknown): void {
  if (!(data instanceof Uint8Array)) return;
  if (data[0] === 0x50 && data[1] === 0x4b) {
    throw new ModelFormatError('unsafe', 'torch.storage._load_from_bytes holds a nested zip checkpoint, which Parsimony does not load (torch.load would run its pickle unrestricted)');
  }
  if (nestedDepth >= 4) throw new ModelFormatError('unsafe', 'pickles nested more than 4 levels deep in torch.storage._load_from_bytes');
  nestedDepth++;
  try {
    unpickleSequence(data, { what: 'nested pickle in torch.storage._load_from_bytes', construct: constructTorch, persistentLoad: () => null }, 5);
  } finally {
    nestedDepth--;
  }
}

function rebuildTensor(args: unknown[]): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new ModelFormatError('not-a-model', 'tensor rebuilt from something that is not a storage');
  const ints = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ModelFormatError('not-a-model', `tensor on storage ${storage.key} has a bad storage offset`);
  }
  if (!ints(size)) throw new ModelFormatError('not-a-model', `tensor on storage ${storage.key} has a bad size`);
  if (!ints(stride) || stride.length !== size.length) {
    throw new ModelFormatError('not-a-model', `tensor on storage ${storage.key} has a bad stride for size [${size.join(', ')}]`);
  }
  const count = elementCount(size);
  if (!Number.isSafeInteger(count)) throw new ModelFormatError('too-large', `tensor size [${size.join(', ')}] has too many elements`);
  const tensor = new TorchTensor(storage, offset, size, stride, count, requiresGrad === true, false);
  if (offset + tensor.extent > storage.numel) {
    throw new ModelFormatError(
      'truncated',
      `tensor of size [${size.join(', ')}] at offset ${offset} reaches past the ${storage.numel} elements of storage ${storage.key}`,
    );
  }
  return tensor;
}
