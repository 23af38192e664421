// Record formats, validation, the fail policy, mappings and options of loadDataset.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError, formatRejection, formatSummary, loadDataset, type LoadResult } from '../../src/data/load.ts';
import { loadDatasetFile } from '../../src/data/node.ts';
import type { ChatExample, CompletionExample } from '../../src/data/types.ts';
import { writeParquet } from '../fixtures/data/parquet-writer.ts';

const fixturePath = (name: string): string => fileURLToPath(new URL(`../fixtures/data/${name}`, import.meta.url));
const text = (name: string): string => readFileSync(fixturePath(name), 'utf8');
const chat = (r: LoadResult, i: number): ChatExample => r.examples[i] as ChatExample;
const report = (r: LoadResult): string[] => r.rejections.map(formatRejection);

describe('chat messages', () => {
  it('keeps roles, weights, tool turns and joined text parts; rejects each bad conversation by line', async () => {
    const r = await loadDataset(text('chat.jsonl'), { name: 'chat.jsonl' });
    expect(r.summary).toMatchObject({ format: 'chat', read: 8, kept: 3 });
    expect(chat(r, 0).messages[2]).toEqual({ role: 'assistant', content: 'Hello.', weight: 0 });
    expect(chat(r, 0).messages[4]).toEqual({ role: 'assistant', content: 'Paris.', weight: 1 });
    expect(chat(r, 0).meta).toEqual({ id: 'c1' });
    expect(chat(r, 1).messages[0].content).toBe('Part one. Part two.');
    expect(chat(r, 2).messages.map((m) => m.role)).toEqual(['user', 'tool', 'assistant']);
    expect(report(r)).toEqual([
      'chat.jsonl line 4: messages[0] has role "narrator", expected system, user, assistant or tool (or human, gpt)',
      'chat.jsonl line 5: conversation in "messages" has no assistant turn',
      'chat.jsonl line 6: messages[1] (assistant) is empty',
      'chat.jsonl line 7: messages[1].weight is 2, expected 0 or 1',
      'chat.jsonl line 8: messages[0].content[0] is a part of type "image_url", expected a text part',
    ]);
    expect(r.rejections.map((x) => x.reason)).toEqual(['unknown-role', 'missing-field', 'empty-response', 'wrong-type', 'wrong-type']);
    expect(r.rejections[2].field).toBe('messages[1].content');
  });
});

describe('prompt / completion', () => {
  it('makes completion examples and rejects empty or non-string completions', async () => {
    const r = await loadDataset(text('completion.jsonl'), { name: 'c.jsonl' });
    expect(r.summary).toMatchObject({ format: 'completion', kept: 2, rejected: { 'empty-response': 1, 'wrong-type': 1 } });
    const e = r.examples[0] as CompletionExample;
    expect(e).toEqual({ kind: 'completion', prompt: 'Once upon a time', completion: ' there was a fox.', meta: { lang: 'en' }, source: { file: 'c.jsonl', line: 1, record: 0 } });
    expect(report(r)).toEqual(['c.jsonl line 3: field "completion" is empty', 'c.jsonl line 4: field "completion" is a number, expected a string']);
  });
});

describe('onError', () => {
  it("'fail' throws the first rejection's message", async () => {
    const p = loadDataset(text('alpaca.jsonl'), { name: 'alpaca.jsonl', onError: 'fail' });
    await expect(p).rejects.toThrow(/^alpaca\.jsonl line 3: not valid JSON/);
    const err = await loadDataset(text('completion.jsonl'), { name: 'c.jsonl', onError: 'fail' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toBe('c.jsonl line 3: field "completion" is empty');
    expect((err as DatasetError).rejection?.reason).toBe('empty-response');
  });

  it('gives one clear error for a file that cannot be read at all', async () => {
    await expect(loadDataset('', { name: 'empty.jsonl' })).rejects.toThrow('empty.jsonl: the file is empty');
    await expect(loadDataset('just some words\nand more', { name: 'notes' })).rejects.toThrow(/^notes: cannot tell the file format/);
    await expect(loadDataset('oops\nnope\n', { name: 'bad.jsonl' })).rejects.toThrow(
      /^bad\.jsonl: no readable records \(first problem: bad\.jsonl line 1: not valid JSON/,
    );
    await expect(loadDataset('{"question":"q","answer":"a"}\n', { name: 'qa.jsonl' })).rejects.toThrow(
      /^qa\.jsonl: cannot tell the record format: the records have fields question, answer;/,
    );
  });
});

describe('format detection and override', () => {
  it('detects by majority over the first records, and rejects records of another shape', async () => {
    const lines = [
      { prompt: 'odd one', completion: 'out' },
      { instruction: 'a', output: 'b' },
      { instruction: 'c', output: 'd' },
    ].map((x) => JSON.stringify(x));
    const r = await loadDataset(lines.join('\n'), { name: 'mix.jsonl' });
    expect(r.summary.format).toBe('alpaca');
    expect(r.rejections[0]).toMatchObject({ reason: 'unrecognised-format', source: { line: 1 } });
    expect(formatRejection(r.rejections[0])).toBe('mix.jsonl line 1: record has none of the alpaca fields (instruction, output); it has prompt, completion');
    const forced = await loadDataset(lines.join('\n'), { name: 'mix.jsonl', format: 'completion' });
    expect(forced.summary).toMatchObject({ format: 'completion', kept: 1, rejected: { 'unrecognised-format': 2 } });
  });

  it('reads a file with a wrong extension when fileFormat is given', async () => {
    const r = await loadDataset('instruction\toutput\nhi\tthere\n', { name: 'data.txt', fileFormat: 'tsv' });
    expect(r.summary).toMatchObject({ fileFormat: 'tsv', kept: 1 });
  });
});

describe('field mapping', () => {
  it('expands one record into an example per element, with nested paths and outer fields', async () => {
    const r = await loadDataset(text('squad.jsonl'), {
      name: 'squad.jsonl',
      mapping: { each: 'qas', instruction: 'question', input: 'context', output: 'answers.text[0]' },
    });
    expect(r.summary).toMatchObject({ format: 'mapped', read: 3, kept: 3 });
    expect(chat(r, 0).alpaca).toEqual({ instruction: 'What is the capital of France?', input: 'Paris is the capital of France.', output: 'Paris' });
    expect(chat(r, 0).meta).toEqual({ title: 'Paris' });
    expect(chat(r, 1).source).toEqual({ file: 'squad.jsonl', line: 1, record: 0, sub: 1 });
    expect(chat(r, 2).source).toEqual({ file: 'squad.jsonl', line: 3, record: 2, sub: 0 });
    expect(report(r)).toEqual([
      'squad.jsonl line 1, item 3: field "answers.text[0]" is missing',
      'squad.jsonl line 2: field "qas" is an empty list',
    ]);
  });

  it('maps chat fields with role names of its own', async () => {
    const r = await loadDataset(text('dialog.jsonl'), { name: 'd.jsonl', mapping: { messages: 'dialog', role: 'speaker', content: 'utterance' } });
    expect(chat(r, 0).messages).toEqual([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!' },
    ]);
    expect(chat(r, 0).meta).toEqual({ lang: 'en' });
    expect(report(r)).toEqual(['d.jsonl line 2: dialog[1] has role "robot", expected system, user, assistant or tool (or human, gpt)']);
  });

  it('maps prompt/completion from nested fields', async () => {
    const r = await loadDataset('{"doc":{"head":"Title: ","body":"text"}}', { mapping: { prompt: 'doc.head', completion: 'doc.body' } });
    expect(r.examples[0]).toMatchObject({ kind: 'completion', prompt: 'Title: ', completion: 'text' });
  });
});

describe('options and reports', () => {
  it('stops at limit, reports progress and summarises', async () => {
    const many = Array.from({ length: 50 }, (_, i) => JSON.stringify({ instruction: `q${i}`, output: `a${i}` })).join('\n');
    const seen: number[] = [];
    const r = await loadDataset(many, { limit: 20, onProgress: (p) => seen.push(p.records) });
    expect(r.examples).toHaveLength(20);
    expect(r.summary.read).toBeLessThan(50);
    expect(seen.at(-1)).toBe(r.summary.read);
    const full = await loadDataset(text('alpaca.jsonl'), { name: 'alpaca.jsonl' });
    expect(formatSummary(full.summary)).toBe(
      'alpaca.jsonl: jsonl, alpaca records; 8 read, 3 kept, 5 rejected (2 wrong-type, 1 invalid-json, 1 empty-response, 1 missing-field)',
    );
  });
  it('cancels its input stream when it stops early', async () => {
    let cancelled = false;
    const line = new TextEncoder().encode('{"prompt":"p","completion":"c"}\n');
    const endless = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(line), cancel: () => void (cancelled = true) });
    const r = await loadDataset(endless, { limit: 3 });
    expect(r.examples).toHaveLength(3);
    expect(cancelled).toBe(true);
  });
});

describe('loadDatasetFile (Node)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pupil-data-'));

  it('reads JSONL, gzip and Parquet from paths', async () => {
    const fromPath = await loadDatasetFile(fixturePath('alpaca.jsonl'));
    expect(fromPath).toEqual(await loadDataset(text('alpaca.jsonl'), { name: 'alpaca.jsonl' }));

    const gz = join(dir, 'chat.jsonl.gz');
    writeFileSync(gz, gzipSync(readFileSync(fixturePath('chat.jsonl'))));
    expect((await loadDatasetFile(gz)).summary).toMatchObject({ file: 'chat.jsonl.gz', fileFormat: 'jsonl', format: 'chat', kept: 3 });

    const pq = join(dir, 'p.parquet');
    const rows = Array.from({ length: 30 }, (_, i) => ({ prompt: `p${i}`, completion: `c${i}` }));
    const cols = [{ name: 'prompt', type: 'string' }, { name: 'completion', type: 'string' }] as const;
    writeFileSync(pq, writeParquet([...cols], rows, 7));
    const p = await loadDatasetFile(pq);
    expect(p.summary).toMatchObject({ fileFormat: 'parquet', format: 'completion', read: 30, kept: 30 });
    expect(p.examples[29]).toMatchObject({ completion: 'c29', source: { line: 30, unit: 'row' } });
  });

  it('names a missing file', async () => {
    await expect(loadDatasetFile(join(dir, 'nope.jsonl'))).rejects.toThrow(/nope\.jsonl: cannot open the file/);
  });
});
