// File format detection: the extension picks the family, the content settles the rest. Many
// files named `.json` are really JSON Lines, so within the JSON family the content wins.
import type { FileFormat } from '../types.ts';

/** How much of the start of a file the sniffers look at. */
export const SNIFF_BYTES = 64 * 1024;

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

export function isParquet(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31;
}

export function formatFromName(name: string | undefined): FileFormat | undefined {
  const m = /\.([a-z0-9]+)$/i.exec((name ?? '').replace(/\.gz$/i, ''));
  switch (m?.[1].toLowerCase()) {
    case 'jsonl':
    case 'ndjson':
      return 'jsonl';
    case 'json':
      return 'json';
    case 'csv':
      return 'csv';
    case 'tsv':
    case 'tab':
      return 'tsv';
    case 'parquet':
    case 'pq':
      return 'parquet';
    default:
      return undefined;
  }
}

/** JSON array vs JSON Lines vs delimited text, from the first characters of the (decoded) text. */
export function sniffText(text: string, complete: boolean): FileFormat | undefined {
  const s = text.replace(/^\uFEFF/, '').replace(/^\s+/, '');
  if (s.startsWith('[')) return 'json';
  if (s.startsWith('{')) {
    const nl = s.indexOf('\n');
    // A line longer than the sample is a record, not the `{` of a pretty-printed document; a
    // whole file on one line is one document either way, and the JSON reader also unwraps
    // `{"data": [...]}`.
    if (nl < 0) return complete ? 'json' : 'jsonl';
    const first = s.slice(0, nl).trim();
    return first.length > 1 && first.endsWith('}') ? 'jsonl' : 'json';
  }
  const header = firstLine(s);
  const tabs = count(header, '\t');
  if (tabs > 0 && tabs >= count(header, ',')) return 'tsv';
  return csvDelimiter(header) ? 'csv' : undefined;
}

/** The delimiter of a CSV header line: the commonest of `,` `;` `|`, or undefined if none. */
export function csvDelimiter(header: string): string | undefined {
  let best: string | undefined;
  let most = 0;
  for (const d of [',', ';', '|']) {
    const n = count(header, d);
    if (n > most) [best, most] = [d, n];
  }
  return best;
}

export function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return (nl < 0 ? s : s.slice(0, nl)).replace(/\r$/, '');
}

function count(s: string, ch: string): number {
  let n = 0;
  let inQuotes = false;
  for (const c of s) {
    if (c === '"') inQuotes = !inQuotes;
    else if (c === ch && !inQuotes) n++;
  }
  return n;
}
