import type { ByteSource, FileAccess } from '../../src/core/io/fileAccess';

/**
 * Wraps a FileAccess: counts the bytes its sources hand out, through every read
 * method the wrapped source has, and can run `onRead` after each read (a test
 * uses it to change the file under the reader).
 */
export function watchedAccess(inner: FileAccess, onRead?: (n: number) => void): FileAccess & { bytesRead: number; reads: number } {
  const state = { bytesRead: 0, reads: 0 };
  const count = (bytes: number) => {
    state.bytesRead += bytes;
    onRead?.(++state.reads);
  };
  const wrap = (src: ByteSource): ByteSource => ({
    path: src.path,
    size: src.size,
    async read(offset, length) {
      const out = await src.read(offset, length);
      count(out.length);
      return out;
    },
    ...(src.readInto && {
      async readInto(offset: number, target: Uint8Array) {
        await src.readInto!(offset, target);
        count(target.length);
      },
    }),
    ...(src.readIntoSync && {
      readIntoSync(offset: number, target: Uint8Array) {
        src.readIntoSync!(offset, target);
        count(target.length);
      },
    }),
    close: () => src.close(),
  });
  return Object.assign(state, {
    stat: (f: string) => inner.stat(f),
    open: async (f: string) => wrap(await inner.open(f)),
    readFile: async (f: string, max?: number) => {
      const out = await inner.readFile(f, max);
      count(out.length);
      return out;
    },
    exists: (f: string) => inner.exists(f),
    readdir: (d: string) => inner.readdir(d),
  });
}
