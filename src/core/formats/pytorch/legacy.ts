import { ModelFormatError } from '../../errors';
import type { OpenContext } from '../format';
import { StorageRef, constructTorch, storageType } from './torchObjects';
import { PickleGlobal, unpickleAt, type UnpickleOptions } from './unpickler';

/**
 * torch.save's legacy stream (torch < 1.6, or `_use_new_zipfile_serialization=False`),
 * as torch/serialization.py `_legacy_save` writes it:
 *
 *   pickle(magic 0x1950a86a20f9469cfc6c) pickle(1001) pickle(sys_info)
 *   pickle(obj)                 storages appear as persistent ids
 *                               ('storage', torch.FloatStorage, key, location, numel, view)
 *   pickle(sorted storage keys)
 *   then for each key, in that order: int64 numel, numel × element-size bytes.
 *
 * Only the pickles are read (they are small; the loop below grows the window
 * until they fit); the storages' offsets come from their 8-byte headers, so no
 * weight byte is read. Older checkpoints saved on GPUs (location 'cuda:0') and on
 * Windows (long = 4 bytes) are read alike: neither changes the layout.
 */

export interface LegacyCheckpoint {
  root: unknown;
  storages: Map<string, StorageRef>;
  littleEndian: boolean;
  /** sys_info.protocol_version (1001 for every torch release that wrote this format). */
  protocolVersion: number | null;
}

const MAGIC = 0x1950a86a20f9469cfc6cn;
const FIRST_WINDOW = 1 << 20;
const HEADER_CHUNK = 1 << 16;

export async function readLegacyCheckpoint(ctx: OpenContext, options: Pick<UnpickleOptions, 'allowGlobal'>): Promise<LegacyCheckpoint> {
  const pickles = await readPickles(ctx, options);
  await placeStorages(ctx, pickles);
  return { root: pickles.root, storages: pickles.storages, littleEndian: pickles.littleEndian, protocolVersion: pickles.protocolVersion };
}

interface Pickles extends LegacyCheckpoint {
  keys: string[];
  /** Offset just after the key list: the first storage block. */
  dataStart: number;
}

/** The five pickles, read from a window of the file that grows until they fit. */
async function readPickles(ctx: OpenContext, options: Pick<UnpickleOptions, 'allowGlobal'>): Promise<Pickles> {
  for (let window = Math.min(ctx.size, FIRST_WINDOW); ; window = Math.min(ctx.size, window * 4)) {
    const bytes = await ctx.source.read(0, window);
    try {
      return parsePickles(ctx, bytes, options);
    } catch (e) {
      // A pickle cut by the window: read more, unless the window is already the whole file.
      if (!(e instanceof ModelFormatError && e.code === 'truncated') || window >= ctx.size) throw e;
      if (window >= ctx.limits.maxMetadataBytes) {
        throw new ModelFormatError('too-large', `the legacy checkpoint's pickles take more than ${ctx.limits.maxMetadataBytes} bytes`, { file: ctx.path });
      }
    }
  }
}

function parsePickles(ctx: OpenContext, bytes: Uint8Array, options: Pick<UnpickleOptions, 'allowGlobal'>): Pickles {
  const what = 'legacy torch.save stream';
  const magic = unpickleAt(bytes, 0, { what });
  if (BigInt(typeof magic.value === 'number' || typeof magic.value === 'bigint' ? magic.value : -1) !== MAGIC) {
    throw new ModelFormatError('bad-magic', "the pickle does not start with torch.save's magic number", { file: ctx.path });
  }
  const protocol = unpickleAt(bytes, magic.end, { what });
  const sysInfo = unpickleAt(bytes, protocol.end, { what });
  const info = sysInfo.value instanceof Map ? sysInfo.value : new Map();
  const storages = new Map<string, StorageRef>();
  const main = unpickleAt(bytes, sysInfo.end, {
    what,
    construct: constructTorch,
    persistentLoad: (pid) => legacyStorage(pid, storages, ctx.limits.maxTensorElements),
    ...options,
  });
  const keys = unpickleAt(bytes, main.end, { what: `${what} (storage keys)` });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new ModelFormatError('not-a-model', 'the legacy checkpoint has no list of storage keys after its object pickle', { file: ctx.path });
  }
  return {
    root: main.value,
    storages,
    littleEndian: info.get('little_endian') !== false,
    protocolVersion: typeof protocol.value === 'number' ? protocol.value : null,
    keys: keys.value as string[],
    dataStart: keys.end,
  };
}

/**
 * Storage blocks follow in the order of the keys: an int64 element count, then the bytes.
 * Only the 8-byte headers are read, through a chunk cache: checkpoints of many small
 * tensors have their headers close together.
 */
async function placeStorages(ctx: OpenContext, p: Pickles): Promise<void> {
  let chunk: { start: number; bytes: Uint8Array } = { start: 0, bytes: new Uint8Array(0) };
  const header = async (at: number): Promise<DataView> => {
    if (at < chunk.start || at + 8 > chunk.start + chunk.bytes.length) {
      chunk = { start: at, bytes: await ctx.source.read(at, Math.min(HEADER_CHUNK, ctx.size - at)) };
    }
    return new DataView(chunk.bytes.buffer, chunk.bytes.byteOffset + at - chunk.start, 8);
  };
  let at = p.dataStart;
  for (const key of p.keys) {
    if (at + 8 > ctx.size) throw new ModelFormatError('truncated', `storage ${key}'s header lies past the end of the file (offset ${at})`, { file: ctx.path });
    const count = (await header(at)).getBigInt64(0, p.littleEndian);
    const storage = p.storages.get(key);
    if (!storage) throw new ModelFormatError('not-a-model', `storage ${key} is listed but no tensor refers to it`, { file: ctx.path });
    if (count !== BigInt(storage.numel)) {
      throw new ModelFormatError('not-a-model', `storage ${key} holds ${count} elements, but the pickle says ${storage.numel}`, { offset: at });
    }
    storage.fileOffset = at + 8;
    at += 8 + storage.numel * storage.elementSize;
    if (at > ctx.size) {
      throw new ModelFormatError('truncated', `storage ${key} (${storage.numel} × ${storage.dtype}) reaches past the end of the file`, { offset: storage.fileOffset });
    }
  }
  const listed = new Set(p.keys);
  const unplaced = [...p.storages.keys()].find((k) => !listed.has(k));
  if (unplaced !== undefined) throw new ModelFormatError('truncated', `storage ${unplaced} has no data block in the file`, { file: ctx.path });
}

/** persistent_load for the legacy stream: the storage's bytes are placed later, from the key list. */
function legacyStorage(pid: unknown, storages: Map<string, StorageRef>, maxElements: number): StorageRef {
  if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
    throw new ModelFormatError('not-a-model', 'unexpected persistent id in a legacy checkpoint (expected a torch storage)');
  }
  const [, type, rawKey, , rawNumel, viewMetadata] = pid as unknown[];
  const key = String(rawKey);
  if (viewMetadata !== undefined && viewMetadata !== null) {
    // Written only by torch < 0.4 for storage views; no torch since writes them.
    throw new ModelFormatError('unsupported-format', `storage ${key} is a view of another storage (a pre-0.4 checkpoint); re-save it with a current torch.save`);
  }
  const known = storages.get(key);
  if (known) return known;
  if (!(type instanceof PickleGlobal)) throw new ModelFormatError('not-a-model', `storage ${key} has no storage type`);
  const dtypeInfo = storageType(type.name);
  if (!dtypeInfo) throw new ModelFormatError('unsupported-dtype', `storage ${key} has unsupported type torch.${type.name}`);
  const numel = Number(rawNumel);
  if (!Number.isSafeInteger(numel) || numel < 0 || numel > maxElements) throw new ModelFormatError('too-large', `storage ${key} declares ${String(rawNumel)} elements`);
  const ref = new StorageRef(key, dtypeInfo[0], dtypeInfo[1], numel, null);
  storages.set(key, ref);
  return ref;
}
