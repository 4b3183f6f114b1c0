import * as path from 'node:path';
import { formatBytes, formatCount, formatPercent } from '../format';
import type { ModelSummary } from './summary';

/** A Markdown analysis report, shown by the Analyze Model command. */
export function analysisMarkdown(s: ModelSummary): string {
  const out: string[] = [];
  out.push(`# ${path.basename(s.file)}`, '');
  out.push(`\`${s.file}\``, '');
  out.push('| | |', '|---|---|');
  out.push(`| format | ${s.format} |`);
  out.push(`| parameters | ${s.totalParams.toLocaleString('en-US')} (${formatCount(s.totalParams)}) |`);
  if (s.trainableParams !== null) out.push(`| trainable | ${s.trainableParams.toLocaleString('en-US')} |`);
  out.push(`| bytes on disk | ${formatBytes(s.bytesOnDisk)} (${s.files.length} file${s.files.length === 1 ? '' : 's'}) |`);
  out.push(`| bytes in memory | ${formatBytes(s.bytesInMemory)}${s.format.startsWith('tfjs') ? ' (TF.js dequantizes weights to float32)' : ''} |`);
  out.push(`| MACs per sample | ${s.macs === null ? 'unknown' : `${s.macs.toLocaleString('en-US')} (${formatCount(s.macs)})`} |`);
  for (const [k, v] of Object.entries(s.metadata)) out.push(`| ${k} | ${cell(v)} |`);
  out.push('');
  if (s.warnings.length) {
    out.push('## Warnings', '');
    for (const w of s.warnings) out.push(`- ${w}`);
    out.push('');
  }
  out.push('## Layers', '');
  out.push('| # | layer | type | params | share | bytes | memory | MACs | output |', '|--:|---|---|--:|--:|--:|--:|--:|---|');
  s.layers.forEach((l, i) => {
    out.push(
      `| ${i + 1} | ${cell(l.name)} | ${cell(l.type)} | ${l.params.toLocaleString('en-US')} | ${formatPercent(l.share)} | ${formatBytes(l.bytes)} | ${formatBytes(l.memoryBytes)} | ${l.macs === null ? '—' : formatCount(l.macs)} | ${l.outputShape ? `[${l.outputShape.map((d) => d ?? '?').join(', ')}]` : '—'} |`,
    );
  });
  out.push('');
  if (s.byType.length) {
    out.push('## By layer type', '', '| type | layers | params | bytes |', '|---|--:|--:|--:|');
    for (const t of s.byType) out.push(`| ${cell(t.type)} | ${t.layers} | ${t.params.toLocaleString('en-US')} | ${formatBytes(t.bytes)} |`);
    out.push('');
  }
  return out.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
