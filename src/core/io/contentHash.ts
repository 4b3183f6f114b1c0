import { createHash } from 'node:crypto';
import { nodeFileAccess, type FileAccess } from './fileAccess';

/** sha256 over the bytes of every file of a model, in order, read in 4 MiB chunks. */
export async function contentHash(files: readonly string[], fs: FileAccess = nodeFileAccess): Promise<string> {
  const hash = createHash('sha256');
  const chunk = 4 * 1024 * 1024;
  for (const file of files) {
    const source = await fs.open(file);
    try {
      for (let offset = 0; offset < source.size; offset += chunk) {
        hash.update(await source.read(offset, Math.min(chunk, source.size - offset)));
      }
    } finally {
      await source.close();
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}
