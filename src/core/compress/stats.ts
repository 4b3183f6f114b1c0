import { createReadStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { summarize } from '../analysis/summary';
import type { ModelDoc } from '../model';

/** The before/after figures of a compression (keys are part of the CLI contract). */
export interface SizeStats {
  params: number;
  nonzeroParams: number;
  bytesOnDisk: number;
  bytesGzip: number;
  bytesInMemory: number;
  macs: number | null;
}

export async function sizeStats(doc: ModelDoc): Promise<SizeStats> {
  const s = await summarize(doc);
  let nonzero = 0;
  for (const layer of doc.layers) {
    for (const t of layer.tensors) {
      if (!t.isParameter) continue;
      if (!t.read) {
        nonzero += t.count;
        continue;
      }
      const v = await t.read();
      for (let i = 0; i < v.length; i++) if (v[i] !== 0) nonzero++;
    }
  }
  let gzip = 0;
  for (const f of doc.files) gzip += await gzipSize(f);
  return { params: s.totalParams, nonzeroParams: nonzero, bytesOnDisk: s.bytesOnDisk, bytesGzip: gzip, bytesInMemory: s.bytesInMemory, macs: s.macs };
}

/** gzip -6 size of a file, streamed (constant memory). */
export function gzipSize(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const gz = createGzip({ level: 6 });
    gz.on('data', (chunk: Buffer) => (size += chunk.length));
    gz.on('end', () => resolve(size));
    gz.on('error', reject);
    createReadStream(file).on('error', reject).pipe(gz);
  });
}
