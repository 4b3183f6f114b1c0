/**
 * Header-only analysis (openModel + summarize) of a multi-GB safetensors file
 * and a ~100 MB ONNX file, against reading the same bytes with a plain
 * sequential read loop. Both run on a warm page cache (a warm-up pass first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { openModel } from '../../src/core/formats/registry';
import { largeOnnx } from './onnxModels';
import { checkPython, log, measure, ratioOf, runPython, tempDir, type Row } from './util';

export interface AnalysisOptions {
  runs: number;
  warmup: number;
  /** Size of the sparse safetensors file, bytes. */
  safetensorsBytes: number;
  /** Size of the ONNX file, megabytes. */
  onnxMegabytes: number;
}

/** Reads `file` front to back in 1 MiB chunks (one reused buffer): the throughput the analysis is compared with. */
export function sequentialRead(file: string): number {
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      total += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/** A safetensors file of `bytes` (rounded to whole tensors): a real header, data left as a hole (fs truncate). */
function writeSparseSafetensors(file: string, bytes: number): { tensors: number } {
  const perTensor = 4096 * 1024 * 4; // [4096, 1024] float32, 16 MiB
  const count = Math.max(1, Math.floor(bytes / perTensor));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', producer: 'parsimony bench' } };
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const layer = Math.floor(i / 4);
    const part = ['q_proj', 'k_proj', 'v_proj', 'mlp'][i % 4];
    header[`model.layers.${layer}.${part}.weight`] = { dtype: 'F32', shape: [4096, 1024], data_offsets: [offset, offset + perTensor] };
    offset += perTensor;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'utf8');
  fs.writeFileSync(file, head);
  fs.truncateSync(file, head.length + offset);
  return { tensors: count };
}

export async function benchAnalysis(o: AnalysisOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const dir = tempDir('analysis');
  const rows: Row[] = [];
  const info: Record<string, unknown> = {};
  try {
    const free = fs.statfsSync(dir);
    const freeBytes = free.bavail * free.bsize;
    // A sparse file takes almost no space, but a file system without holes would write it all.
    const stBytes = Math.min(o.safetensorsBytes, Math.floor(freeBytes * 0.5));
    const st = path.join(dir, 'model.safetensors');
    const { tensors } = writeSparseSafetensors(st, stBytes);
    const stSize = fs.statSync(st).size;
    info['safetensors'] = { bytes: stSize, tensors, sparse: true };

    const onnxFile = path.join(dir, 'model.onnx');
    let producer = 'onnx.helper (python3-onnx)';
    const py = checkPython(['numpy', 'onnx']);
    if (py.ok) {
      runPython('make_onnx.py', [onnxFile, String(o.onnxMegabytes)]);
    } else {
      producer = `our protobuf writer (${py.missing})`;
      fs.writeFileSync(onnxFile, largeOnnx(o.onnxMegabytes * 1e6, 256));
    }
    const onnxSize = fs.statSync(onnxFile).size;
    info['onnx'] = { bytes: onnxSize, producer };

    const cases: [string, string, number][] = [
      [`safetensors ${(stSize / 2 ** 30).toFixed(1)} GiB (${tensors} tensors, sparse file)`, st, stSize],
      [`ONNX ${(onnxSize / 1e6).toFixed(0)} MB (${producer.startsWith('onnx') ? 'onnx.helper' : 'own writer'}, random initializers)`, onnxFile, onnxSize],
    ];
    for (const [label, file, size] of cases) {
      log(`analysis: ${label}`);
      let layers = 0;
      const ours = await measure(async () => {
        const doc = await openModel(file);
        layers = (await summarize(doc)).layers.length;
      }, o.runs, o.warmup);
      const peer = await measure(() => {
        if (sequentialRead(file) !== size) throw new Error(`short read of ${file}`);
      }, Math.max(2, Math.min(o.runs, 3)), 1);
      const throughput = (t: { median: number }) => `${(size / t.median / 2 ** 30).toFixed(size / t.median > 2 ** 33 ? 0 : 2)} GiB/s`;
      rows.push({
        section: 'analysis',
        case: label,
        ours,
        oursLabel: throughput(ours),
        peerName: 'sequential fs.readSync, 1 MiB chunks',
        peer,
        peerLabel: throughput(peer),
        ratio: ratioOf(ours, peer),
        target: 0.5,
        note: `${layers} layers summarized`,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows, info };
}
