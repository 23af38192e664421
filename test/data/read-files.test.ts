// File formats: each read from a realistic fixture, through every kind of input.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatRejection, loadDataset, type LoadOptions, type LoadResult } from '../../src/data/load.ts';
import type { ChatExample } from '../../src/data/types.ts';
import { writeParquet } from '../fixtures/data/parquet-writer.ts';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/data/${name}`, import.meta.url))));

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (at >= bytes.length) return ctrl.close();
      ctrl.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

const blob = (bytes: Uint8Array, name: string): File => new File([bytes as Uint8Array<ArrayBuffer>], name);
const chat = (r: LoadResult, i: number): ChatExample => r.examples[i] as ChatExample;
const report = (r: LoadResult): string[] => r.rejections.map(formatRejection);

describe('JSON Lines', () => {
  const bytes = fixture('alpaca.jsonl');

  it('reads Alpaca with a BOM, CRLF, unicode and a broken line, keeping line numbers', async () => {
    const r = await loadDataset(blob(bytes, 'alpaca.jsonl'));
    expect(r.summary).toMatchObject({ file: 'alpaca.jsonl', fileFormat: 'jsonl', format: 'alpaca', read: 8, kept: 3 });
    expect(chat(r, 0).messages).toEqual([
      { role: 'user', content: 'Translate to French\n\nGood morning' },
      { role: 'assistant', content: 'Bonjour' },
    ]);
    expect(chat(r, 0).meta).toEqual({ id: 1 });
    expect(chat(r, 1).messages[0].content).toBe('Name a fruit 🍎');
    expect(chat(r, 1).messages[1].content).toBe('Apple — or 林檎 in Japanese.');
    expect(chat(r, 1).source).toEqual({ file: 'alpaca.jsonl', line: 2, record: 1 });
    expect(chat(r, 2).messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    expect(chat(r, 2).alpaca).toEqual({ instruction: 'Summarise', input: 'Ünïcödé text ✓', output: 'Short.', system: 'Be brief.' });
    expect(r.rejections.map((x) => [x.source.line, x.reason, x.field])).toEqual([
      [3, 'invalid-json', undefined],
      [5, 'wrong-type', 'output'],
      [6, 'empty-response', 'output'],
      [7, 'missing-field', 'output'],
      [8, 'wrong-type', 'output'],
    ]);
    expect(report(r)[1]).toBe('alpaca.jsonl line 5: field "output" is a number, expected a string');
    expect(report(r)[3]).toBe('alpaca.jsonl line 7: field "output" is missing');
    expect(report(r)[4]).toBe('alpaca.jsonl line 8: field "output" is null, expected a string');
    expect(report(r)[0]).toMatch(/^alpaca\.jsonl line 3: not valid JSON \(/);
  });

  it('gives identical results for 1-, 3- and 7-byte chunks, a string and a Blob', async () => {
    const reference = await loadDataset(blob(bytes, 'alpaca.jsonl'));
    for (const size of [1, 3, 7]) {
      expect(await loadDataset(chunked(bytes, size), { name: 'alpaca.jsonl' })).toEqual(reference);
    }
    expect(await loadDataset(new TextDecoder().decode(bytes), { name: 'alpaca.jsonl' })).toEqual(reference);
  });

  it('reads a 1 MB line among short ones, in small chunks, with a final line lacking its newline', async () => {
    const long = 'é🙂'.repeat(175_000); // 1 MB of UTF-8 whose multi-byte characters get split across chunks
    const text = [
      JSON.stringify({ instruction: 'a', output: 'b' }),
      JSON.stringify({ instruction: 'long', output: long }),
      JSON.stringify({ instruction: 'c', output: 'd' }),
    ].join('\n');
    const bytes = new TextEncoder().encode(text);
    for (const size of [7, 4093]) {
      const r = await loadDataset(chunked(bytes, size), { name: 'long.jsonl' });
      expect(r.summary.kept).toBe(3);
      expect(chat(r, 1).messages[1].content).toBe(long);
      expect(chat(r, 2).source.line).toBe(3);
    }
  });
});

describe('JSON array', () => {
  const bytes = fixture('sharegpt.json');

  it('reads ShareGPT element by element, rejecting a broken element and an unknown role by line', async () => {
    const r = await loadDataset(blob(bytes, 'sharegpt.json'));
    expect(r.summary).toMatchObject({ fileFormat: 'json', format: 'sharegpt', read: 4, kept: 2 });
    expect(chat(r, 0).messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(chat(r, 0).messages[2].content).toBe('Why did the 🐔 cross the road?');
    expect(chat(r, 0).meta).toEqual({ source: 'jokes' });
    expect(chat(r, 1).source.line).toBe(19);
    expect(r.rejections.map((x) => [x.source.line, x.reason])).toEqual([
      [31, 'invalid-json'],
      [32, 'unknown-role'],
    ]);
    expect(report(r)[1]).toBe(
      'sharegpt.json line 32: conversations[0] has role "narrator", expected system, user, assistant or tool (or human, gpt)',
    );
    for (const size of [1, 3, 7]) expect(await loadDataset(chunked(bytes, size), { name: 'sharegpt.json' })).toEqual(r);
  });

  it('unwraps {"data": [...]} and detects an array in a file with no name', async () => {
    const wrapped = JSON.stringify({ version: 1, data: [{ prompt: 'p', completion: 'c' }] });
    const r = await loadDataset(wrapped);
    expect(r.summary).toMatchObject({ fileFormat: 'json', format: 'completion', kept: 1 });
    const plain = await loadDataset('  [{"instruction":"i","output":"o"}]');
    expect(plain.summary).toMatchObject({ fileFormat: 'json', format: 'alpaca', kept: 1 });
  });

  it('treats a .json file that holds JSON Lines as JSON Lines', async () => {
    const r = await loadDataset('{"instruction":"a","output":"b"}\n{"instruction":"c","output":"d"}\n', { name: 'x.json' });
    expect(r.summary).toMatchObject({ fileFormat: 'jsonl', kept: 2 });
  });
});

describe('CSV and TSV', () => {
  it('reads quoted fields with commas, newlines and quotes, and rejects a row of the wrong width', async () => {
    const bytes = fixture('qa.csv');
    const r = await loadDataset(blob(bytes, 'qa.csv'));
    expect(r.summary).toMatchObject({ fileFormat: 'csv', format: 'alpaca', read: 6, kept: 4 });
    expect(r.examples.map((e) => (e as ChatExample).alpaca)).toEqual([
      { instruction: 'Summarise, briefly', input: 'The quick brown fox, which was quick, jumped.', output: 'A fox jumped.' },
      { instruction: 'Write a haiku', input: '', output: "Old pond\nfrog leaps in\nwater's sound" },
      { instruction: 'Quote me', input: 'He said "hi"', output: '"hi"' },
      { instruction: 'Emoji 🎉', input: '', output: 'Party 🥳' },
    ]);
    expect(r.examples[3].source.line).toBe(10);
    expect(report(r)).toEqual([
      'qa.csv line 7: row has 4 columns, expected 3 (instruction, input, output)',
      'qa.csv line 8: field "output" is empty',
    ]);
    for (const size of [1, 3, 7]) expect(await loadDataset(chunked(bytes, size), { name: 'qa.csv' })).toEqual(r);
  });

  it('reads TSV, keeping a bare quote inside a field and extra columns as meta', async () => {
    const r = await loadDataset(blob(fixture('qa.tsv'), 'qa.tsv'));
    expect(r.summary).toMatchObject({ fileFormat: 'tsv', kept: 3, rejected: { 'invalid-row': 1 } });
    expect(chat(r, 1).alpaca?.instruction).toBe('Define 5" screen');
    expect(chat(r, 2).meta).toEqual({ category: 'brainstorming' });
    expect(formatRejection(r.rejections[0])).toBe('qa.tsv line 4: row has 2 columns, expected 4 (instruction, input, output, category)');
  });

  it('sniffs the delimiter when there is no file name', async () => {
    const text = new TextDecoder().decode(fixture('qa.tsv'));
    expect((await loadDataset(text)).summary.fileFormat).toBe('tsv');
    const semi = await loadDataset('instruction;output\nSay hi;"hi; there"\n');
    expect(semi.summary.fileFormat).toBe('csv');
    expect(chat(semi, 0).alpaca?.output).toBe('hi; there');
  });

  it('parses a chat column holding JSON text', async () => {
    const csv = 'messages,id\n"[{""role"":""user"",""content"":""Hi""},{""role"":""assistant"",""content"":""Hey""}]",7\n';
    const r = await loadDataset(csv, { name: 'chat.csv' });
    expect(r.summary.format).toBe('chat');
    expect(chat(r, 0).messages[1]).toEqual({ role: 'assistant', content: 'Hey' });
    expect(chat(r, 0).meta).toEqual({ id: '7' });
  });
});

describe('Parquet', () => {
  const columns = [
    { name: 'instruction', type: 'string' },
    { name: 'input', type: 'string' },
    { name: 'output', type: 'string' },
    { name: 'id', type: 'int64' },
  ] as const;
  const rows = [
    { instruction: 'Greet', input: null, output: 'Hello 👋', id: 1 },
    { instruction: 'Count', input: 'to 3', output: '1 2 3', id: 2 },
    { instruction: 'Nothing', input: null, output: null, id: 3 },
    { instruction: 'Spaces', input: '', output: ' ', id: 4 },
    { instruction: 'Last', input: null, output: 'done', id: 5 },
  ];
  const bytes = writeParquet([...columns], rows, 2);

  it('reads every row group, with row numbers and int64 as numbers', async () => {
    const opts: LoadOptions = { name: 'train.parquet' };
    const r = await loadDataset(blob(bytes, 'train.parquet'));
    expect(r.summary).toMatchObject({ fileFormat: 'parquet', format: 'alpaca', read: 5, kept: 3 });
    expect(chat(r, 0).messages).toEqual([
      { role: 'user', content: 'Greet' },
      { role: 'assistant', content: 'Hello 👋' },
    ]);
    expect(chat(r, 0).meta).toEqual({ id: 1 });
    expect(chat(r, 2).source).toEqual({ file: 'train.parquet', line: 5, record: 4, unit: 'row' });
    expect(report(r)).toEqual([
      'train.parquet row 3: field "output" is null, expected a string',
      'train.parquet row 4: field "output" is empty',
    ]);
    expect(await loadDataset(chunked(bytes, 7), opts)).toEqual(r);
  });

  it('is detected by its magic number without a name, and a fake one is named clearly', async () => {
    expect((await loadDataset(new Blob([bytes as Uint8Array<ArrayBuffer>]))).summary.fileFormat).toBe('parquet');
    await expect(loadDataset(blob(new TextEncoder().encode('hello'), 'x.parquet'))).rejects.toThrow(
      'x.parquet: not a Parquet file (it does not start with "PAR1")',
    );
    const truncated = bytes.slice(0, 40);
    await expect(loadDataset(blob(truncated, 'cut.parquet'))).rejects.toThrow(/^cut\.parquet: not a readable Parquet file/);
  });
});
