import * as path from 'node:path';
import { summarize, type ModelSummary } from '../../core/analysis/summary';
import { formatBytes, formatCount, formatPercent } from '../../core/format';
import { openModel } from '../../core/formats/registry';
import { UsageError } from '../args';
import { COMMON_FLAGS, EXIT, type CliCommand } from '../command';
import { renderTable } from '../table';

export const analyzeCommand: CliCommand = {
  name: 'analyze',
  summary: 'per-layer parameters, bytes on disk and in memory, and MACs of a model file',
  usage: 'parsimony analyze <model> [--json]',
  flags: { ...COMMON_FLAGS },
  async run(args, io) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new UsageError('analyze takes exactly one model file');
    const doc = await openModel(path.resolve(io.cwd, file));
    const summary = await summarize(doc);
    if (io.json) io.stdout(JSON.stringify(toJson(summary), null, 2) + '\n');
    else io.stdout(renderSummary(summary) + '\n');
    return EXIT.ok;
  },
};

/** The documented JSON shape; extra keys may be added, none removed. */
export function toJson(s: ModelSummary): Record<string, unknown> {
  return {
    file: s.file,
    format: s.format,
    totalParams: s.totalParams,
    trainableParams: s.trainableParams,
    bytesOnDisk: s.bytesOnDisk,
    bytesInMemory: s.bytesInMemory,
    macs: s.macs,
    files: s.files,
    metadata: s.metadata,
    warnings: s.warnings,
    layers: s.layers.map((l) => ({
      name: l.name,
      type: l.type,
      params: l.params,
      trainableParams: l.trainableParams,
      bytes: l.bytes,
      bytesInMemory: l.memoryBytes,
      macs: l.macs,
      outputShape: l.outputShape,
      share: l.share,
      tensors: l.tensors,
    })),
    byType: s.byType,
    largest: s.largest,
  };
}

export function renderSummary(s: ModelSummary): string {
  const lines: string[] = [];
  lines.push(`${s.file}`);
  lines.push(
    `format ${s.format} · ${formatCount(s.totalParams)} params (${s.totalParams.toLocaleString('en-US')})` +
      (s.trainableParams !== null && s.trainableParams !== s.totalParams ? `, ${formatCount(s.trainableParams)} trainable` : '') +
      ` · ${formatBytes(s.bytesOnDisk)} on disk · ${formatBytes(s.bytesInMemory)} in memory · ${s.macs === null ? 'MACs unknown' : `${formatCount(s.macs)} MACs`}`,
  );
  const meta = Object.entries(s.metadata);
  if (meta.length) lines.push(meta.map(([k, v]) => `${k}: ${v}`).join(' · '));
  lines.push('');
  const rows = s.layers.map((l) => [
    l.name,
    l.type,
    formatCount(l.params),
    formatPercent(l.share),
    formatBytes(l.bytes),
    l.macs === null ? '—' : formatCount(l.macs),
    l.outputShape ? `[${l.outputShape.map((d) => (d === null ? '?' : d)).join(',')}]` : '—',
  ]);
  lines.push(renderTable(['layer', 'type', 'params', 'share', 'bytes', 'MACs', 'output'], rows, new Set([2, 3, 4, 5])));
  if (s.byType.length > 1) {
    lines.push('');
    lines.push(
      renderTable(
        ['type', 'layers', 'params', 'bytes'],
        s.byType.map((t) => [t.type, String(t.layers), formatCount(t.params), formatBytes(t.bytes)]),
        new Set([1, 2, 3]),
      ),
    );
  }
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
