// A JSON array read element by element: a small scanner finds where each top-level element
// starts and ends (tracking strings and nesting), and only that element is parsed. So a large
// array is never parsed whole, each element knows its line, and one broken element does not
// lose the rest.
import { clip, DatasetError, isRecordObject, reject, type ReadItem } from './validate.ts';

const QUOTE = 34;
const BACKSLASH = 92;
const NEWLINE = 10;

/** Keys under which a top-level object commonly wraps its records. */
const WRAPPER_KEYS = ['data', 'rows', 'records', 'examples', 'train', 'items'];

export async function* readJsonArray(chunks: AsyncIterable<string>, file: string): AsyncGenerator<ReadItem> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let line = 1;
  let record = 0;
  let parts: string[] = [];
  let inElement = false;
  let elementLine = 0;
  let state: 'start' | 'array' | 'object' | 'done' = 'start';
  const whole: string[] = [];

  const finish = (text: string): ReadItem | undefined => {
    if (text.trim() === '') return undefined; // `[]`, or a trailing comma
    const source = { file, line: elementLine, record: record++ };
    try {
      return { source, value: JSON.parse(text) };
    } catch (e) {
      return { source, rejection: reject(source, 'invalid-json', `not valid JSON (${clip((e as Error).message)})`) };
    }
  };

  for await (const chunk of chunks) {
    if (state === 'object') {
      whole.push(chunk);
      continue;
    }
    if (state === 'done') continue;
    let start = inElement ? 0 : -1;
    const items: ReadItem[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        else if (c === NEWLINE) line++;
        continue;
      }
      if (c === NEWLINE) {
        line++;
        continue;
      }
      if (c === 32 || c === 9 || c === 13 || c === 0xfeff) continue;
      if (state === 'start') {
        if (c === 91 /* [ */) {
          state = 'array';
          depth = 1;
          continue;
        }
        state = 'object';
        whole.push(chunk.slice(i));
        break;
      }
      if (depth === 1 && (c === 44 /* , */ || c === 93) /* ] */) {
        if (inElement) {
          parts.push(chunk.slice(start, i));
          const item = finish(parts.join(''));
          if (item) items.push(item);
          parts = [];
          inElement = false;
        }
        if (c === 93) {
          state = 'done';
          depth = 0;
          break;
        }
        continue;
      }
      if (depth === 1 && !inElement) {
        inElement = true;
        start = i;
        elementLine = line;
      }
      if (c === QUOTE) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) depth--;
    }
    if (inElement && state === 'array') parts.push(chunk.slice(start));
    yield* items;
  }

  if (state === 'array' && inElement) {
    // The array was cut short: its last element is probably broken, and says so.
    const item = finish(parts.join(''));
    if (item) yield item;
  }
  if (state === 'object') yield* unwrapObject(whole.join(''), file);
}

/** A top-level object: either a wrapper around the records (`{"data": [...]}`) or one record. */
function* unwrapObject(text: string, file: string): Generator<ReadItem> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(`${file}: not a valid JSON document (${clip((e as Error).message)})`);
  }
  let records: unknown[] = [doc];
  if (isRecordObject(doc)) {
    const arrays = Object.keys(doc).filter((k) => Array.isArray(doc[k]));
    const only = Object.keys(doc).length === 1 ? arrays[0] : undefined;
    const key = WRAPPER_KEYS.find((k) => arrays.includes(k)) ?? only;
    if (key !== undefined) records = doc[key] as unknown[];
  }
  // Lines of elements inside a document parsed whole are not known; line 1 is honest about that.
  for (let i = 0; i < records.length; i++) yield { source: { file, line: 1, record: i }, value: records[i] };
}
