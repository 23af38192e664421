// Parquet through hyparquet, one row group at a time so only one group's rows are decoded at once.
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { clip, DatasetError, type ReadItem } from './validate.ts';

export async function* readParquet(file: AsyncBuffer, name: string): AsyncGenerator<ReadItem> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DatasetError(`${name}: not a readable Parquet file (${clip((e as Error).message)})`);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
    } catch (e) {
      throw new DatasetError(`${name}: cannot decode rows ${rowStart + 1}–${rowEnd} (${clip((e as Error).message)})`);
    }
    for (let i = 0; i < rows.length; i++) {
      const record = rowStart + i;
      yield { source: { file: name, line: record + 1, record, unit: 'row' }, value: plain(rows[i]) };
    }
    rowStart = rowEnd;
  }
}

/** INT64 columns arrive as bigint, which JSON (and so every later report or export) cannot hold. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Date || v instanceof Uint8Array) return v;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}
