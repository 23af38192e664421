// The metrics of a run on disk: metrics.jsonl (one JSON object per step or eval, everything the
// event carried) and metrics.csv (fixed columns, for spreadsheets and pandas). Rows are appended
// synchronously so that whatever was printed is also on disk when the process is killed.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One row: a training step or an evaluation. Fields that do not apply are left out. */
export interface MetricsRow {
  type: 'step' | 'eval';
  step: number;
  /** Seconds since the run (or the resumed part of it) started. */
  time?: number;
  loss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSecond?: number;
  tokensSeen?: number;
  accuracy?: number;
  skipped?: boolean;
  valLoss?: number;
  perplexity?: number;
  exactMatch?: number;
}

const COLUMNS: [keyof MetricsRow, string][] = [
  ['type', 'type'],
  ['step', 'step'],
  ['time', 'time_s'],
  ['loss', 'loss'],
  ['lr', 'lr'],
  ['gradNorm', 'grad_norm'],
  ['tokensPerSecond', 'tokens_per_second'],
  ['tokensSeen', 'tokens_seen'],
  ['accuracy', 'accuracy'],
  ['skipped', 'skipped'],
  ['valLoss', 'val_loss'],
  ['perplexity', 'perplexity'],
  ['exactMatch', 'exact_match'],
];
export const CSV_HEADER = COLUMNS.map(([, h]) => h).join(',');

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? '1' : '0';
  // NaN and Infinity stay readable (pandas parses "nan" and "inf").
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return String(v);
}

export function csvLine(row: MetricsRow): string {
  return COLUMNS.map(([k]) => cell(row[k])).join(',');
}

/** JSON has no NaN or Infinity: they are written as strings so the row survives a round trip. */
function jsonLine(row: MetricsRow): string {
  return JSON.stringify(row, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export class MetricsFiles {
  readonly jsonlPath: string;
  readonly csvPath: string;

  private readonly jsonl: boolean;

  /**
   * `jsonl: false` writes only the CSV, for when the run's storage already keeps metrics.jsonl
   * (FolderStorage does): the CSV then mirrors it.
   */
  constructor(dir: string, opts: { jsonl?: boolean } = {}) {
    this.jsonl = opts.jsonl ?? true;
    this.jsonlPath = join(dir, 'metrics.jsonl');
    this.csvPath = join(dir, 'metrics.csv');
    if (!existsSync(this.csvPath)) writeFileSync(this.csvPath, CSV_HEADER + '\n');
    if (this.jsonl && !existsSync(this.jsonlPath)) writeFileSync(this.jsonlPath, '');
  }

  append(row: MetricsRow): void {
    if (this.jsonl) appendFileSync(this.jsonlPath, jsonLine(row) + '\n');
    appendFileSync(this.csvPath, csvLine(row) + '\n');
  }

  /** Rewrites the CSV (and the JSONL when this writes it) as exactly `rows`. */
  replace(rows: readonly MetricsRow[]): void {
    if (this.jsonl) writeFileSync(this.jsonlPath, rows.map((r) => jsonLine(r) + '\n').join(''));
    writeFileSync(this.csvPath, [CSV_HEADER, ...rows.map(csvLine)].join('\n') + '\n');
  }

  /**
   * Drops the rows after `step`: a resumed run restarts from its last checkpoint, so rows written
   * between that checkpoint and the interruption would otherwise appear twice.
   */
  truncateAfter(step: number): void {
    this.replace(this.rows().filter((r) => r.step <= step));
  }

  rows(): MetricsRow[] {
    return this.jsonl ? readMetricsJsonl(this.jsonlPath) : readMetricsCsv(this.csvPath);
  }
}

/**
 * A row of any metrics source as a MetricsRow: the trainer's storage rows say `kind` instead of
 * `type` and carry exact-match as an object ({ rate, families }).
 */
export function toMetricsRow(r: Record<string, unknown>): MetricsRow | undefined {
  const type = r.type ?? r.kind;
  if ((type !== 'step' && type !== 'eval') || typeof r.step !== 'number') return undefined;
  const out: Record<string, unknown> = { type, step: r.step };
  if (typeof r.elapsedMs === 'number') out.time = r.elapsedMs / 1000;
  for (const [k] of COLUMNS) {
    if (k === 'type' || k === 'step') continue;
    let v = r[k];
    if (k === 'exactMatch' && v && typeof v === 'object') v = (v as { rate?: unknown }).rate;
    // JSON turns non-finite numbers into null or strings; both mean "not a number" here.
    if (v === null) v = NaN;
    if (v === 'NaN') v = NaN;
    if (v === 'Infinity') v = Infinity;
    if (v === '-Infinity') v = -Infinity;
    if (v !== undefined && (typeof v === 'number' || typeof v === 'boolean')) out[k] = v;
  }
  return out as unknown as MetricsRow;
}

/** Reads metrics.jsonl; a torn last line (the process died mid-write) is ignored. */
export function readMetricsJsonl(path: string): MetricsRow[] {
  if (!existsSync(path)) return [];
  const out: MetricsRow[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const row = toMetricsRow(JSON.parse(line) as Record<string, unknown>);
      if (row) out.push(row);
    } catch {
      /* torn line */
    }
  }
  return out;
}

/** Parses metrics.csv back into rows (numbers as numbers, empty cells left out). */
export function readMetricsCsv(path: string): MetricsRow[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  const names = header.split(',');
  const keys = names.map((h) => COLUMNS.find(([, c]) => c === h)?.[0]);
  return lines.map((line) => {
    const row: Record<string, unknown> = {};
    line.split(',').forEach((v, i) => {
      const k = keys[i];
      if (!k || v === '') return;
      if (k === 'type') row[k] = v;
      else if (k === 'skipped') row[k] = v === '1';
      else row[k] = v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
    });
    return row as unknown as MetricsRow;
  });
}
