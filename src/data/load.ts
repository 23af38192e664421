// Reading a dataset file into examples: file format, record format, validation, one report.
// Runs in the page, a Worker and Node; `node.ts` adds reading from a path.
import type { Example, FileFormat, RecordFormat, Rejection } from './types.ts';
import { csvDelimiter, firstLine, formatFromName, isGzip, isParquet, SNIFF_BYTES, sniffText } from './read/detect.ts';
import { convertRecord, detectFormat } from './read/formats.ts';
import { readJsonArray } from './read/json.ts';
import { readJsonl } from './read/jsonl.ts';
import { readDelimited } from './read/csv.ts';
import { convertMapped, type FieldMapping } from './read/mapping.ts';
import { readParquet } from './read/parquet.ts';
import { blobSource, streamSource, type ByteSource } from './read/source.ts';
import { decodeStream, stringChunks } from './read/text.ts';
import { DatasetError, isRecordObject, where, type ReadItem } from './read/validate.ts';

export type { FieldMapping } from './read/mapping.ts';
export { DatasetError } from './read/validate.ts';

export interface LoadOptions {
  /** Shown in every report; defaults to the File's name, else "dataset" (or "text" for a string). */
  name?: string;
  fileFormat?: FileFormat | 'auto';
  /** Ignored when a `mapping` is given: the mapping decides. */
  format?: RecordFormat | 'auto';
  mapping?: FieldMapping;
  onError?: 'skip' | 'fail';
  /** Stop once this many examples are kept. */
  limit?: number;
  onProgress?: (p: { bytes: number; records: number }) => void;
}

export interface LoadSummary {
  file: string;
  fileFormat: FileFormat;
  format: RecordFormat;
  /** Records seen, good or bad (one per line, row or array element; blank lines are not records). */
  read: number;
  /** Examples kept; more than `read` when a mapping's `each` expands records. */
  kept: number;
  rejected: Partial<Record<Rejection['reason'], number>>;
}

export interface LoadResult {
  examples: Example[];
  rejections: Rejection[];
  summary: LoadSummary;
}

/** How many object records decide the record format (a few bad ones among them do not sway it). */
const DETECT_RECORDS = 16;
const PROGRESS_EVERY_BYTES = 1 << 20;

export async function loadDataset(input: Blob | ReadableStream<Uint8Array> | string, opts: LoadOptions = {}): Promise<LoadResult> {
  if (typeof input === 'string') return loadText(input, opts);
  return loadSource(input instanceof ReadableStream ? streamSource(input) : blobSource(input), opts);
}

export function formatRejection(r: Rejection): string {
  return `${where(r.source)}: ${r.message}`;
}

export function formatSummary(s: LoadSummary): string {
  const reasons = Object.entries(s.rejected).sort((a, b) => b[1] - a[1]);
  const total = reasons.reduce((a, [, n]) => a + n, 0);
  const detail = reasons.length ? ` (${reasons.map(([r, n]) => `${n} ${r}`).join(', ')})` : '';
  return `${s.file}: ${s.fileFormat}, ${s.format} records; ${s.read} read, ${s.kept} kept, ${total} rejected${detail}`;
}

/** For other byte sources (Node files): everything `loadDataset` does after wrapping its input. */
export async function loadSource(source: ByteSource, opts: LoadOptions = {}): Promise<LoadResult> {
  const name = opts.name ?? source.name ?? 'dataset';
  const progress = new Progress(opts.onProgress);
  try {
    let head = await source.head(SNIFF_BYTES);
    if (isGzip(head)) {
      // The DOM typings want the writable side typed as BufferSource; Uint8Array chunks are that.
      const gunzip = new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
      source = streamSource(source.stream().pipeThrough(gunzip));
      head = await source.head(SNIFF_BYTES);
    }
    const headText = new TextDecoder().decode(head);
    const fileFormat = chooseFileFormat(name, headText, isParquet(head), head.length < SNIFF_BYTES, opts.fileFormat);
    const items =
      fileFormat === 'parquet'
        ? readParquet(await source.random(), name)
        : textItems(fileFormat, decodeStream(source.stream(), (n) => progress.bytes(n)), name, headText);
    return await collect(items, name, fileFormat, opts, progress);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${name}: cannot read the file (${(e as Error).message})`);
  } finally {
    await source.close?.();
  }
}

async function loadText(text: string, opts: LoadOptions): Promise<LoadResult> {
  const name = opts.name ?? 'text';
  const progress = new Progress(opts.onProgress);
  const head = text.slice(0, SNIFF_BYTES);
  const fileFormat = chooseFileFormat(name, head, head.startsWith('PAR1'), head.length === text.length, opts.fileFormat);
  if (fileFormat === 'parquet') throw new DatasetError(`${name}: Parquet is binary; pass it as a Blob or a stream, not a string`);
  async function* counted(): AsyncGenerator<string> {
    for await (const s of stringChunks(text)) {
      progress.bytes(s.length);
      yield s;
    }
  }
  return collect(textItems(fileFormat, counted(), name, head), name, fileFormat, opts, progress);
}

function chooseFileFormat(
  name: string,
  head: string,
  parquetMagic: boolean,
  complete: boolean,
  override: FileFormat | 'auto' | undefined,
): FileFormat {
  if (override && override !== 'auto') return override;
  if (parquetMagic) return 'parquet';
  if (complete && head.replace(/^\uFEFF/, '').trim() === '') throw new DatasetError(`${name}: the file is empty`);
  const byName = formatFromName(name);
  const sniffed = sniffText(head, complete);
  if (byName === 'parquet') throw new DatasetError(`${name}: not a Parquet file (it does not start with "PAR1")`);
  if (byName === 'json' || byName === 'jsonl') return sniffed === 'json' || sniffed === 'jsonl' ? sniffed : byName;
  if (byName) return byName;
  if (sniffed) return sniffed;
  throw new DatasetError(`${name}: cannot tell the file format (not Parquet, a JSON array, JSON Lines, CSV or TSV); pass fileFormat`);
}

function textItems(format: FileFormat, chunks: AsyncIterable<string>, name: string, head: string): AsyncIterable<ReadItem> {
  switch (format) {
    case 'jsonl':
      return readJsonl(chunks, name);
    case 'json':
      return readJsonArray(chunks, name);
    case 'csv':
      return readDelimited(chunks, name, csvDelimiter(firstLine(head.replace(/^\uFEFF/, ''))) ?? ',');
    case 'tsv':
      return readDelimited(chunks, name, '\t');
    default:
      throw new DatasetError(`${name}: ${format} is not a text format`);
  }
}

async function collect(
  items: AsyncIterable<ReadItem>,
  name: string,
  fileFormat: FileFormat,
  opts: LoadOptions,
  progress: Progress,
): Promise<LoadResult> {
  const mapping = opts.mapping;
  let format: RecordFormat | undefined = mapping ? 'mapped' : opts.format && opts.format !== 'auto' ? opts.format : undefined;
  if (format === 'mapped' && !mapping) throw new DatasetError(`${name}: format "mapped" needs a mapping`);
  const examples: Example[] = [];
  const rejections: Rejection[] = [];
  const rejected: LoadSummary['rejected'] = {};
  let read = 0;

  const addRejection = (r: Rejection): void => {
    if (opts.onError === 'fail') throw new DatasetError(formatRejection(r), r);
    rejections.push(r);
    rejected[r.reason] = (rejected[r.reason] ?? 0) + 1;
  };
  const handle = (item: ReadItem, f: RecordFormat): void => {
    if ('rejection' in item) return addRejection(item.rejection);
    const built = f === 'mapped' ? convertMapped(item.value, item.source, mapping!) : convertRecord(item.value, item.source, f);
    for (const r of built.rejections) addRejection(r);
    for (const e of built.examples) examples.push(e);
  };

  const pending: ReadItem[] = [];
  let pendingObjects = 0;
  for await (const item of items) {
    read++;
    progress.records(read);
    if (format) handle(item, format);
    else {
      pending.push(item);
      if ('value' in item && isRecordObject(item.value)) pendingObjects++;
      if (pendingObjects >= DETECT_RECORDS) {
        format = decideFormat(pending, name, opts);
        for (const p of pending.splice(0)) handle(p, format);
      }
    }
    if (opts.limit !== undefined && examples.length >= opts.limit) break;
  }
  if (!format) {
    format = decideFormat(pending, name, opts);
    for (const p of pending) handle(p, format);
  }
  if (opts.limit !== undefined && examples.length > opts.limit) examples.length = opts.limit;
  progress.done(read);
  return { examples, rejections, summary: { file: name, fileFormat, format, read, kept: examples.length, rejected } };
}

function decideFormat(pending: ReadItem[], name: string, opts: LoadOptions): RecordFormat {
  const values = pending.flatMap((p) => ('value' in p ? [p.value] : []));
  const found = detectFormat(values);
  if (found) return found;
  if (values.length === 0) {
    const first = pending.find((p) => 'rejection' in p);
    if (!first || !('rejection' in first)) throw new DatasetError(`${name}: the file has no records`);
    const problem = formatRejection(first.rejection);
    throw new DatasetError(opts.onError === 'fail' ? problem : `${name}: no readable records (first problem: ${problem})`, first.rejection);
  }
  const fields = [...new Set(values.flatMap((v) => (isRecordObject(v) ? Object.keys(v) : [])))].slice(0, 12);
  const seen = fields.length ? `the records have fields ${fields.join(', ')}` : `the records are not objects`;
  throw new DatasetError(
    `${name}: cannot tell the record format: ${seen}; expected instruction/output (Alpaca), messages (chat), ` +
      `conversations (ShareGPT) or prompt/completion. Pass a mapping, e.g. { instruction: "question", output: "answer" }`,
  );
}

class Progress {
  private seenBytes = 0;
  private reportedBytes = 0;
  private seenRecords = 0;
  constructor(private readonly onProgress?: (p: { bytes: number; records: number }) => void) {}

  bytes(n: number): void {
    this.seenBytes += n;
    if (this.onProgress && this.seenBytes - this.reportedBytes >= PROGRESS_EVERY_BYTES) {
      this.reportedBytes = this.seenBytes;
      this.onProgress({ bytes: this.seenBytes, records: this.seenRecords });
    }
  }

  records(n: number): void {
    this.seenRecords = n;
  }

  done(records: number): void {
    this.onProgress?.({ bytes: this.seenBytes, records });
  }
}
