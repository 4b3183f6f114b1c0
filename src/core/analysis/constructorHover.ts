import { formatCount } from '../format';
import type { ConstructorFinding } from './layerConstructors';

/** Markdown for a hover over a layer constructor in source code. */
export function constructorMarkdown(f: ConstructorFinding): string {
  const lines: string[] = [];
  const framework = { pytorch: 'PyTorch', keras: 'Keras', tfjs: 'TF.js' }[f.framework];
  if (f.params !== null) {
    lines.push(`**${f.layer}** (${framework}) · **${f.params.toLocaleString('en-US')} parameters** (${formatCount(f.params)})`);
  } else {
    lines.push(`**${f.layer}** (${framework}) · parameters depend on the input`);
  }
  lines.push('', `\`${f.formula}\``);
  if (f.dependsOn.length) {
    lines.push('', 'Depends on:');
    for (const d of f.dependsOn) lines.push(`- ${d}`);
  }
  if (f.alternatives.length) {
    lines.push('', '| smaller alternative | params | saves |', '|---|--:|--:|');
    for (const a of f.alternatives) {
      const share = f.params ? ` (${((a.saving / f.params) * 100).toFixed(0)}%)` : '';
      lines.push(`| ${a.name} \`${a.formula}\` | ${a.params.toLocaleString('en-US')} | ${a.saving.toLocaleString('en-US')}${share} |`);
    }
  }
  return lines.join('\n');
}
