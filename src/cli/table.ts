import type { SizeStats } from '../core/compress/stats';
import { formatBytes, formatCount } from '../core/format';

/** Renders rows as an aligned plain-text table (numbers right-aligned). */
export function renderTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The before/after size table both compress paths print. */
export function beforeAfterTable(b: SizeStats, a: SizeStats): string {
  const ratio = (x: number, y: number) => (y > 0 ? `${(x / y).toFixed(2)}×` : '—');
  return renderTable(
    ['', 'before', 'after', 'after/before'],
    [
      ['params', formatCount(b.params), formatCount(a.params), ratio(a.params, b.params)],
      ['non-zero params', formatCount(b.nonzeroParams), formatCount(a.nonzeroParams), ratio(a.nonzeroParams, b.nonzeroParams)],
      ['bytes on disk', formatBytes(b.bytesOnDisk), formatBytes(a.bytesOnDisk), ratio(a.bytesOnDisk, b.bytesOnDisk)],
      ['gzip bytes', formatBytes(b.bytesGzip), formatBytes(a.bytesGzip), ratio(a.bytesGzip, b.bytesGzip)],
      ['bytes in memory', formatBytes(b.bytesInMemory), formatBytes(a.bytesInMemory), ratio(a.bytesInMemory, b.bytesInMemory)],
      ['MACs', formatCount(b.macs), formatCount(a.macs), b.macs && a.macs ? ratio(a.macs, b.macs) : '—'],
    ],
    new Set([1, 2, 3]),
  );
}
