/**
 * Finds which layer of a TF.js model.json a text offset points at: over a
 * layer's `"name": "…"` value, or over its `"class_name": "…"` (then the layer
 * is the first "name" that follows inside the same object). Works on the
 * one-line files TF.js writes as well as pretty-printed ones.
 */
export interface JsonStringAt {
  value: string;
  start: number;
  end: number;
  key: string | null;
}

export function jsonStringAt(text: string, offset: number): JsonStringAt | null {
  // Scan back to an unescaped quote on the same logical token.
  let start = offset;
  while (start > 0 && text[start - 1] !== '"' && text[start - 1] !== '\n' && offset - start < 512) start--;
  if (start === 0 || text[start - 1] !== '"') return null;
  let end = offset;
  while (end < text.length && text[end] !== '"' && text[end] !== '\n' && end - offset < 512) end++;
  if (text[end] !== '"') return null;
  const value = text.slice(start, end);
  // Is it a value (preceded by "key":) or a key (followed by :)?
  const before = text.slice(Math.max(0, start - 200), start - 1);
  const m = /"([^"\\]+)"\s*:\s*$/.exec(before);
  if (/^\s*:/.test(text.slice(end + 1, end + 10))) return { value, start, end, key: null };
  return { value, start, end, key: m ? m[1]! : null };
}

export function layerNameAt(text: string, offset: number, layerNames: ReadonlySet<string>): { name: string; start: number; end: number } | null {
  const s = jsonStringAt(text, offset);
  if (!s) return null;
  if (s.key === 'name' && layerNames.has(s.value)) return { name: s.value, start: s.start, end: s.end };
  if (s.key === 'class_name' || s.key === 'className') {
    const re = /"name"\s*:\s*"([^"\\]+)"/g;
    re.lastIndex = s.end;
    for (let m = re.exec(text); m && m.index - s.end < 4000; m = re.exec(text)) {
      if (layerNames.has(m[1]!)) return { name: m[1]!, start: s.start, end: s.end };
    }
  }
  return null;
}
