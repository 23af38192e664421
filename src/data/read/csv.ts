// CSV and TSV with a header row. Lines are gathered into records here (a quoted field may span
// lines) and each record is parsed by papaparse; doing the gathering ourselves keeps the input
// streamed and gives every row the line it starts on, which papaparse does not report.
import Papa from 'papaparse';
import { splitLines } from './text.ts';
import { reject, type ReadItem } from './validate.ts';

/** A quoted field still open after this many characters is taken as a missing quote, not data. */
const MAX_RECORD_CHARS = 4 << 20;

interface Parsed {
  fields: string[];
  unterminated: boolean;
}

export async function* readDelimited(
  chunks: AsyncIterable<string>,
  file: string,
  delimiter: string,
): AsyncGenerator<ReadItem> {
  const parser = new Papa.Parser({ delimiter, newline: '\n' });
  const parse = (text: string): Parsed => {
    const r = parser.parse(text, 0, false) as { data: string[][]; errors: { code: string }[] };
    return { fields: r.data[0] ?? [], unterminated: r.errors.some((e) => e.code === 'MissingQuotes') };
  };

  let header: string[] | undefined;
  let record = 0;
  let pending: string[] = [];
  let pendingChars = 0;
  let startLine = 0;
  let quotes = 0;

  const emit = (p: Parsed): ReadItem | undefined => {
    if (!header) {
      header = p.fields.map((h) => h.trim());
      return undefined;
    }
    const source = { file, line: startLine, record: record++ };
    if (p.unterminated) {
      return { source, rejection: reject(source, 'invalid-row', 'a quoted field is never closed') };
    }
    if (p.fields.length !== header.length) {
      const msg = `row has ${p.fields.length} column${p.fields.length === 1 ? '' : 's'}, expected ${header.length} (${header.join(', ')})`;
      return { source, rejection: reject(source, 'invalid-row', msg) };
    }
    const value: Record<string, string> = {};
    header.forEach((h, i) => (value[h] = p.fields[i]));
    return { source, value };
  };

  for await (const { text, line } of splitLines(chunks)) {
    if (pending.length === 0) {
      if (text.trim() === '') continue;
      startLine = line;
      // Most rows have no quotes at all and cannot continue on the next line.
      const p = parse(text);
      if (!p.unterminated) {
        const item = emit(p);
        if (item) yield item;
        continue;
      }
      pending.push(text);
      pendingChars = text.length;
      quotes = countQuotes(text);
      continue;
    }
    pending.push(text);
    pendingChars += text.length + 1;
    quotes += countQuotes(text);
    // Quotes inside a quoted field come in pairs (`""`), so the record can only be complete
    // when the count is even; only then is it worth parsing again.
    if (quotes % 2 === 1 && pendingChars <= MAX_RECORD_CHARS) continue;
    const p = parse(pending.join('\n'));
    if (!p.unterminated || pendingChars > MAX_RECORD_CHARS) {
      pending = [];
      pendingChars = 0;
      const item = emit(p);
      if (item) yield item;
    }
  }
  if (pending.length > 0) {
    const item = emit(parse(pending.join('\n')));
    if (item) yield item;
  }
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i >= 0; i = s.indexOf('"', i + 1)) n++;
  return n;
}
