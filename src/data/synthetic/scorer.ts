// Exact match with only the slack each task can afford: a student that writes "Paris." or
// "3,  12, 45" has answered; one that writes "hello" for HELLO has not.
import type { ScoreMode } from './spec.ts';
import { scoreModeOf } from './tasks.ts';

const NUMBER = /^[-+]?\d+(\.\d+)?$/;

function squash(s: string): string {
  return s.trim().replace(/\s+/g, ' ').replace(/\s*\.$/, '').replace(/\s*,\s*/g, ', ').trim();
}

/** Keys sorted, so {"a":1,"b":2} equals {"b":2,"a":1}. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function parseJson(s: string): string | undefined {
  try {
    return canonicalJson(JSON.parse(s.trim().replace(/\.$/, '')));
  } catch {
    return undefined;
  }
}

function lines(s: string): string {
  return s
    .trim()
    .replace(/\.$/, '')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' ').toLowerCase())
    .filter((l) => l !== '')
    .join('\n');
}

export function compare(mode: ScoreMode, prediction: string, answer: string): boolean {
  switch (mode) {
    case 'case':
      return squash(prediction) === squash(answer);
    case 'number': {
      const p = squash(prediction), a = squash(answer);
      if (NUMBER.test(p) && NUMBER.test(a)) return Number(p) === Number(a);
      return p.toLowerCase() === a.toLowerCase();
    }
    case 'json': {
      const a = parseJson(answer);
      return a === undefined ? squash(prediction) === squash(answer) : parseJson(prediction) === a;
    }
    case 'lines':
      return lines(prediction) === lines(answer);
    case 'text':
      return squash(prediction).toLowerCase() === squash(answer).toLowerCase();
  }
}

/** Whether `prediction` answers a record of `task` ("family/name") whose answer is `answer`. */
export function scoreExample(task: string, prediction: string, answer: string): boolean {
  return compare(scoreModeOf(task), prediction, answer);
}

export interface MatchRate {
  correct: number;
  total: number;
  rate: number;
}

export interface ExactMatchReport extends MatchRate {
  /** Keyed by family ("arithmetic"). */
  families: Record<string, MatchRate>;
  /** Keyed by task ("arithmetic/add"). */
  tasks: Record<string, MatchRate>;
}

/** `predictions[i]` answers `records[i]`. */
export function exactMatch(
  records: readonly { task: string; answer: string }[],
  predictions: readonly string[],
): ExactMatchReport {
  if (records.length !== predictions.length) {
    throw new Error(`exactMatch: ${records.length} records but ${predictions.length} predictions`);
  }
  const families: Record<string, MatchRate> = {}, tasks: Record<string, MatchRate> = {};
  const add = (table: Record<string, MatchRate>, k: string, ok: boolean): void => {
    const r = (table[k] ??= { correct: 0, total: 0, rate: 0 });
    r.total++;
    if (ok) r.correct++;
    r.rate = r.correct / r.total;
  };
  let correct = 0;
  records.forEach((r, i) => {
    const ok = scoreExample(r.task, predictions[i], r.answer);
    if (ok) correct++;
    add(families, r.task.split('/')[0], ok);
    add(tasks, r.task, ok);
  });
  return { correct, total: records.length, rate: records.length ? correct / records.length : 0, families, tasks };
}
