import * as path from 'node:path';
import type { TensorEdit } from '../../compress/types';
import { ModelFormatError } from '../../errors';
import { encodeFloats } from '../../io/encodeElements';
import { readFileRange } from '../../io/decodeElements';
import { nodeFileAccess } from '../../io/fileAccess';
import { allTensors, type ModelDoc, type TensorInfo } from '../../model';
import { DEFAULT_LIMITS } from '../format';
import type { FormatWriter } from '../writer';
import { readSafetensorsHeader, SAFETENSORS_DTYPES } from './header';

const FILE_DTYPE: Record<string, string> = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k]));

/**
 * Writes one .safetensors file: the header lists every tensor in the source's
 * order with 8-byte aligned data. Edited float tensors keep their dtype unless
 * the change asks for float16/bfloat16; other tensors are copied byte for byte.
 * safetensors holds no architecture, so layer-changing edits are refused.
 */
export const safetensorsWriter: FormatWriter = {
  formats: ['safetensors'],
  outputName(doc, tag) {
    const dir = path.dirname(doc.file);
    const base = path.basename(doc.file).replace(/(\.safetensors\.index\.json|\.safetensors)$/i, '');
    return path.join(dir, `${base}.${tag}.safetensors`);
  },
  outputProblem(doc, out) {
    // The output is always one merged file (as the default name model.<method>.safetensors says),
    // so a shard index name would get safetensors bytes under a .json name.
    if (!/\.json$/i.test(out)) return null;
    const suggested = path.join(path.dirname(out), path.basename(out).replace(/(\.safetensors)?(\.index)?\.json$/i, '') + '.safetensors');
    return (
      `${out}: compress writes safetensors models as one .safetensors file (${doc.files.length > 1 ? 'the shards merged, ' : ''}no index), ` +
      `not a sharded ${path.basename(out)}; pass a path ending in .safetensors, e.g. --out ${suggested}`
    );
  },
  check(doc, change) {
    const problems: string[] = [];
    if (change.architecture.length) {
      problems.push('safetensors files store weights only; the architecture lives in the loading code, so factorized or pruned-away units cannot be expressed (use ONNX or a TF.js/Keras model)');
    }
    for (const e of change.tensors) {
      if (e.storage.kind === 'affine') {
        problems.push(`${e.tensor}: integer (${e.storage.dtype}) weights have no standard dequantizing encoding in safetensors; use float16 or bfloat16`);
        break;
      }
    }
    void doc;
    return problems;
  },
  async write(doc, change, out, files) {
    const edits = new Map<string, TensorEdit>(change.tensors.map((e) => [e.tensor, e]));
    const tensors = allTensors(doc);
    const names = new Set<string>();
    const header: Record<string, unknown> = {};
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const t of tensors) {
      if (names.has(t.name)) throw new ModelFormatError('not-a-model', `duplicate tensor name '${t.name}'`, { file: doc.file });
      names.add(t.name);
      const { bytes, dtype } = await encodedTensor(t, edits.get(t.name));
      header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
    }
    header.__metadata__ = { ...(await sourceMetadata(doc)), parsimony: change.method, format: 'pt' };
    let json = JSON.stringify(header);
    // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
    json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
    const headerBytes = Buffer.from(json, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(headerBytes.length));
    await files.write(out, Buffer.concat([length, headerBytes, ...chunks]));
  },
};

async function encodedTensor(t: TensorInfo, edit: TensorEdit | undefined): Promise<{ bytes: Uint8Array; dtype: string }> {
  if (edit) {
    const target =
      edit.storage.kind === 'float16' ? 'float16' : edit.storage.kind === 'bfloat16' ? 'bfloat16' : t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float64' ? t.dtype : 'float32';
    return { bytes: encodeFloats(edit.values, target as 'float32'), dtype: FILE_DTYPE[target]! };
  }
  if (!t.location) throw new ModelFormatError('not-a-model', `tensor '${t.name}' has no stored bytes to copy`);
  const bytes = await readFileRange(nodeFileAccess, t.location.file, t.location.offset, t.location.length);
  const dtype = (t.detail?.safetensorsDtype as string | undefined) ?? FILE_DTYPE[t.dtype];
  if (!dtype) throw new ModelFormatError('unsupported-dtype', `cannot write dtype ${t.dtype} of '${t.name}'`);
  return { bytes, dtype };
}

async function sourceMetadata(doc: ModelDoc): Promise<Record<string, string>> {
  const merged: Record<string, string> = {};
  for (const f of doc.files) {
    if (!f.endsWith('.safetensors')) continue;
    const source = await nodeFileAccess.open(f);
    try {
      Object.assign(merged, (await readSafetensorsHeader(source, DEFAULT_LIMITS)).metadata);
    } finally {
      await source.close();
    }
  }
  return merged;
}

