// JSON Lines: one record per non-blank line; a broken line is rejected and reading goes on.
import { splitLines } from './text.ts';
import { clip, reject, type ReadItem } from './validate.ts';

export async function* readJsonl(chunks: AsyncIterable<string>, file: string): AsyncGenerator<ReadItem> {
  let record = 0;
  for await (const { text, line } of splitLines(chunks)) {
    if (text.trim() === '') continue;
    const source = { file, line, record: record++ };
    try {
      yield { source, value: JSON.parse(text) };
    } catch (e) {
      yield { source, rejection: reject(source, 'invalid-json', `not valid JSON (${clip(String((e as Error).message))})`) };
    }
  }
}
