/**
 * Weight kernels on 10M-weight tensors, ours (src/core) against numpy doing the
 * same operation on the same bytes (peer/numpy_kernels.py).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quantizeTensor } from '../../src/core/compress/quantize';
import { huffmanSize, symbolCounts } from '../../src/core/numeric/huffman';
import { kmeans1d, SortedValues } from '../../src/core/numeric/kmeans1d';
import { rankForEnergy, spectrum } from '../../src/core/numeric/lowRank';
import { magnitudeQuantile } from '../../src/core/numeric/select';
import { checkPython, gaussian, log, measure, ratioOf, runPython, tempDir, timing, writeFloat32, type Row, type Timing } from './util';

export interface KernelOptions {
  runs: number;
  warmup: number;
  /** Weights per tensor (10M by default). */
  size: number;
}

interface NumpyOut {
  numpy: string;
  blas: { libraries: string[]; threadpoolctl: unknown; openblasCore: string | null; env: Record<string, string | null> };
  times: Record<string, number[]>;
  results: Record<string, unknown>;
}

const FAN_IN = 2500;

export async function benchKernels(o: KernelOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const units = Math.round(o.size / FAN_IN);
  const n = units * FAN_IN;
  const weights = gaussian(n, 11, 0.05);
  // Symbols of an 8-bit clustering of the same weights: a bell-shaped histogram over 256 values.
  const indices = new Uint8Array(n);
  for (let i = 0; i < n; i++) indices[i] = Math.max(0, Math.min(255, Math.round(weights[i]! * 640) + 128));
  const rows = 1024;
  const cols = 1024;
  const kernel = gaussian(rows * cols, 12, 0.03);

  const dir = tempDir('kernels');
  const results: Record<string, unknown> = {};
  const ours: Record<string, Timing> = {};
  try {
    writeFloat32(path.join(dir, 'weights.f32'), weights);
    writeFloat32(path.join(dir, 'indices.u8'), indices);
    writeFloat32(path.join(dir, 'kernel.f32'), kernel);
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ rows, cols, units, fanIn: FAN_IN }));

    // Keras Dense layout [fanIn, units]: unit u, position p at p·units + u (src/core/analysis/weightLayout.ts).
    const layout = { units, fanIn: FAN_IN, index: (u: number, p: number) => p * units + u };
    const ops: Record<string, () => unknown> = {
      quantize: () => quantizeTensor(weights, 'int8', layout),
      prune: () => (results['prune'] = magnitudeQuantile(weights, 0.9)),
      kmeans: () => {
        const r = kmeans1d(new SortedValues(weights), 16, { init: 'linear' });
        results['kmeans'] = { sse: r.sse, iterations: r.iterations };
      },
      huffman: () => (results['huffman'] = huffmanSize(symbolCounts(indices, 256)).bits),
      lowrank: () => (results['lowrank'] = rankForEnergy(spectrum(kernel, rows, cols), 0.99)),
    };
    for (const [name, fn] of Object.entries(ops)) {
      log(`kernels: ${name} (ours)`);
      ours[name] = await measure(fn, name === 'lowrank' ? Math.max(3, Math.min(o.runs, 5)) : o.runs, o.warmup);
    }

    const py = checkPython(['numpy']);
    let numpy: NumpyOut | null = null;
    let peerNote: string | undefined;
    if (py.ok) {
      log('kernels: numpy peer');
      // The machine sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; numpy runs with its own defaults (both unset, together).
      numpy = runPython<NumpyOut>('numpy_kernels.py', [dir, String(o.runs), String(o.warmup)], { OPENBLAS_CORETYPE: null, OPENBLAS_L2_SIZE: null }, 900_000);
    } else {
      peerNote = py.missing;
    }
    const labels: Record<string, string> = {
      quantize: `int8 per-channel quantization (${(n / 1e6).toFixed(0)}M, ${units} channels)`,
      prune: 'magnitude-pruning threshold (90% quantile of |w|)',
      kmeans: '16-centroid 1-D k-means (sort + Lloyd)',
      huffman: 'Huffman table + coded size (256 symbols)',
      lowrank: `rank for 99% energy, ${rows}×${cols} kernel`,
    };
    const out: Row[] = Object.keys(ops).map((name) => {
      const peer = numpy?.times[name] ? timing(numpy.times[name]!) : null;
      const agree = numpy ? agreement(name, results[name], numpy.results[name]) : undefined;
      return {
        section: 'kernels',
        case: labels[name]!,
        ours: ours[name]!,
        peerName: numpy ? `numpy ${numpy.numpy}` : 'numpy',
        peer,
        ratio: ratioOf(ours[name]!, peer),
        target: 1,
        note: peerNote ?? agree,
      };
    });
    return {
      rows: out,
      info: numpy
        ? { numpy: numpy.numpy, blas: numpy.blas.libraries, openblasCore: numpy.blas.openblasCore ?? 'not OpenBLAS', threadpoolctl: numpy.blas.threadpoolctl ?? 'not installed', env: numpy.blas.env }
        : { numpy: peerNote },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function agreement(name: string, ours: unknown, theirs: unknown): string | undefined {
  if (theirs === undefined) return undefined;
  if (name === 'kmeans') {
    const a = (ours as { sse: number }).sse;
    const b = (theirs as { sse: number }).sse;
    return `SSE ours ${a.toPrecision(6)}, numpy ${b.toPrecision(6)}`;
  }
  if (name === 'prune') return ours === theirs ? 'same threshold' : `threshold ours ${String(ours)}, numpy ${String(theirs)}`;
  return ours === theirs ? `same result (${String(ours)})` : `ours ${String(ours)}, numpy ${String(theirs)}`;
}
