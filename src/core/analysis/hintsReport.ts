import * as path from 'node:path';
import { formatBytes, formatCount } from '../format';
import type { HintsResult } from './hints';
import type { ModelSummary } from './summary';

/**
 * Markdown list of hints, biggest savings first, for the Show Redundancy Hints
 * command. `dataTip` is said when dead units come from the weights alone.
 */
export function hintsMarkdown(result: HintsResult, summary: ModelSummary, epsilon: number, actionLink?: (index: number) => string | undefined, dataTip?: string): string {
  const out: string[] = [];
  out.push(`# Redundancy hints · ${path.basename(result.file)}`, '');
  out.push(
    `${summary.totalParams.toLocaleString('en-US')} parameters, ${formatBytes(summary.bytesOnDisk)} on disk. ` +
      `Each hint is what one compression would save on its own, at a relative weight error of at most ε = ${epsilon}.`,
    '',
  );
  // Results stored by older versions have no basis: they are weights-only.
  if (result.data) {
    out.push(
      `**Basis:** dead units measured on **${result.data.dataset}** (${result.data.samples.toLocaleString('en-US')} samples, ${result.data.layers} layers): a unit is dead when it is never non-zero where the next layer reads it. Every other hint comes from the weights.`,
      '',
    );
  } else out.push(`**Basis:** the weights alone.${dataTip ? ` ${dataTip}` : ''}`, '');
  if (result.hints.length === 0) out.push('_No redundancy found at this error bound._', '');
  else {
    out.push('| # | layer | kind | saves params | saves bytes | error | finding | |', '|--:|---|---|--:|--:|--:|---|---|');
    result.hints.forEach((h, i) => {
      const link = actionLink?.(i);
      out.push(
        `| ${i + 1} | ${cell(h.layer)} | ${h.kind} | ${formatCount(h.savingsParams)} | ${formatBytes(h.savingsBytes)} | ${(h.error * 100).toFixed(2)}% | ${cell(h.message)} | ${link ?? ''} |`,
      );
    });
    out.push('');
  }
  if (result.notes?.length) {
    out.push('## Notes', '');
    for (const n of result.notes) out.push(`- ${cell(n)}`);
    out.push('');
  }
  if (result.skipped.length) {
    out.push('## Not analyzed', '');
    for (const s of result.skipped) out.push(`- ${cell(s.tensor)}: ${s.reason}`);
    out.push('');
  }
  return out.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
