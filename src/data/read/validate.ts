// Rejections and the words used in them. Messages are for the person who owns the file, so they
// name the field and say what was found and what was expected.
import type { Rejection, SourceRef } from '../types.ts';

/** Thrown for a file that cannot be read at all, and for the first bad record under `onError: 'fail'`. */
export class DatasetError extends Error {
  readonly rejection?: Rejection;
  constructor(message: string, rejection?: Rejection) {
    super(message);
    this.name = 'DatasetError';
    this.rejection = rejection;
  }
}

/** What a reader yields: a parsed record, or a record that could not be parsed. */
export type ReadItem = { source: SourceRef; value: unknown } | { source: SourceRef; rejection: Rejection };

export function reject(source: SourceRef, reason: Rejection['reason'], message: string, field?: string): Rejection {
  return field === undefined ? { source, reason, message } : { source, reason, field, message };
}

/** "a number", "null", "an array": the kind of a JSON value, with its article. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  if (t === 'object') return 'an object';
  if (t === 'undefined') return 'missing';
  return t === 'string' ? 'a string' : `a ${t}`;
}

/** `"field" is missing` / `"field" is a number, expected a string`, as a rejection, or undefined if fine. */
export function expectString(
  value: unknown,
  field: string,
  source: SourceRef,
  required = true,
): Rejection | undefined {
  if (typeof value === 'string') return undefined;
  if (value === undefined || (value === null && !required)) {
    return required ? reject(source, 'missing-field', `field "${field}" is missing`, field) : undefined;
  }
  return reject(source, 'wrong-type', `field "${field}" is ${describe(value)}, expected a string`, field);
}

export function isBlank(s: string): boolean {
  return s.trim().length === 0;
}

export function isRecordObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, single-line excerpt of a parser's complaint. */
export function clip(s: string, max = 120): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function where(source: SourceRef): string {
  const at = `${source.file} ${source.unit ?? 'line'} ${source.line}`;
  return source.sub === undefined ? at : `${at}, item ${source.sub + 1}`;
}
