import { ModelFormatError } from '../errors';

/**
 * JSON.parse with a nesting limit checked first, in one linear scan without
 * recursion: model files are walked recursively afterwards, and a config nested
 * 100 000 levels deep must end in an error, not a stack overflow.
 */
export function parseBoundedJson(text: string, maxDepth: number, what = 'JSON'): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new ModelFormatError('too-large', `${what} is nested more than ${maxDepth} levels deep (at character ${i})`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const truncated = /end of (JSON|data) input|Unterminated string/i.test(message);
    throw new ModelFormatError(truncated ? 'truncated' : 'not-a-model', `${what} is ${truncated ? 'cut short' : 'not valid JSON'}: ${message}`);
  }
}
