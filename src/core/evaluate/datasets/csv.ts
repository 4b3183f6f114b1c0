import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import { nodeFileAccess } from '../../io/fileAccess';
import { labelValue } from './labels';
import { DEFAULT_MAX_DATA_BYTES, type Dataset, type DatasetOptions } from './types';

/**
 * CSV with a header row: numeric feature columns and, optionally, a label column
 * (named label, target, y or class — or the one given with `labelColumn`).
 * Quoted fields ("a, b", "" escapes) are understood; the separator is a comma,
 * or a tab/semicolon when the header uses those instead.
 */
export const LABEL_COLUMN_NAMES = ['label', 'target', 'y', 'class'];

export async function readCsvDataset(file: string, spec: string, options: DatasetOptions = {}): Promise<Dataset> {
  const bytes = await nodeFileAccess.readFile(file, options.maxBytes ?? DEFAULT_MAX_DATA_BYTES);
  return parseCsvDataset(new TextDecoder('utf-8').decode(bytes), spec, path.basename(file), options);
}

export function parseCsvDataset(text: string, spec: string, where: string, options: DatasetOptions = {}): Dataset {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const firstLine = body.slice(0, body.indexOf('\n') >= 0 ? body.indexOf('\n') : body.length);
  const sep = firstLine.includes(',') ? ',' : firstLine.includes('\t') ? '\t' : firstLine.includes(';') ? ';' : ',';
  const rows = splitCsv(body, sep, where);
  if (rows.length === 0) throw new ModelFormatError('invalid-option', `${where}: the CSV file is empty (expected a header row and data rows)`);
  const header = rows[0]!.map((h) => h.trim());
  const data = rows.slice(1);
  if (data.length === 0) throw new ModelFormatError('invalid-option', `${where}: the CSV file has a header but no data rows`);
  if (header.every((h) => h !== '' && Number.isFinite(Number(h)))) {
    throw new ModelFormatError('invalid-option', `${where}: the first row is numeric; a CSV dataset needs a header row naming the columns (and a label column: ${LABEL_COLUMN_NAMES.join(', ')})`);
  }
  let labelIndex = -1;
  if (options.labelColumn !== undefined) {
    labelIndex = header.indexOf(options.labelColumn);
    if (labelIndex < 0) labelIndex = header.findIndex((h) => h.toLowerCase() === options.labelColumn!.toLowerCase());
    if (labelIndex < 0) {
      throw new ModelFormatError('invalid-option', `${where}: no column named '${options.labelColumn}' (columns: ${preview(header)})`);
    }
  } else {
    for (const name of LABEL_COLUMN_NAMES) {
      labelIndex = header.findIndex((h) => h.toLowerCase() === name);
      if (labelIndex >= 0) break;
    }
  }
  const featureCount = header.length - (labelIndex >= 0 ? 1 : 0);
  if (featureCount === 0) throw new ModelFormatError('invalid-option', `${where}: no feature columns besides the label column '${header[labelIndex]}'`);
  const count = data.length;
  const x = new Float32Array(count * featureCount);
  const y = labelIndex >= 0 ? new Int32Array(count) : null;
  data.forEach((row, r) => {
    const line = r + 2;
    if (row.length !== header.length) {
      throw new ModelFormatError('invalid-option', `${where}: line ${line} has ${row.length} fields but the header has ${header.length}`);
    }
    let f = 0;
    row.forEach((cell, c) => {
      const trimmed = cell.trim();
      const v = trimmed === '' ? Number.NaN : Number(trimmed);
      if (c === labelIndex) {
        if (!Number.isFinite(v)) {
          throw new ModelFormatError('invalid-option', `${where}: line ${line}: label '${trimmed}' in column '${header[c]}' is not a number (labels must be class indices 0, 1, …)`);
        }
        y![r] = labelValue(v, r, `${where}: line ${line}`);
        return;
      }
      if (!Number.isFinite(v)) {
        throw new ModelFormatError('invalid-option', `${where}: line ${line}: '${trimmed}' in column '${header[c]}' is not a number (feature columns must be numeric)`);
      }
      x[r * featureCount + f++] = v;
    });
  });
  const notes = labelIndex >= 0 ? [] : [`${where}: no label column (${LABEL_COLUMN_NAMES.join(', ')} or --label-column); only agreement with a reference can be measured`];
  return { name: spec, count, sampleShape: [featureCount], x, y, notes };
}

function preview(header: string[]): string {
  return header.length > 12 ? `${header.slice(0, 12).join(', ')}, … (${header.length} in all)` : header.join(', ');
}

/** Splits CSV text into rows of fields (RFC 4180 quoting); skips blank lines. */
function splitCsv(text: string, sep: string, where: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let line = 1;
  const endRow = () => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0]!.trim() === '')) rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === sep) {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      endRow();
      line++;
    } else if (ch !== '\r') field += ch;
    i++;
  }
  if (quoted) throw new ModelFormatError('truncated', `${where}: a quoted field opened before line ${line} is never closed`);
  if (field !== '' || row.length > 0) endRow();
  return rows;
}
