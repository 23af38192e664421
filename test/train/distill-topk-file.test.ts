// The offline top-k sidecar: round trip, keys that catch changed examples (with a message naming
// how many and the first one's source), id and K bounds, and batches carrying the teacher arrays.
import { describe, expect, it } from 'vitest';
import { rowsToBatch } from '../../src/data/batch.ts';
import type { TokenizedExample } from '../../src/data/mask.ts';
import { attachTopK, decodeTopK, encodeTopK, exampleKey, type TopKData } from '../../src/distill/topk-file.ts';
import { parseSafetensors, writeSafetensors } from '../../src/models/safetensors.ts';

function example(ids: number[], targets: number[], line: number): TokenizedExample {
  return { ids: Int32Array.from(ids), targets: Int32Array.from(targets), trainedTokens: targets.filter((t) => t !== -100).length, source: { file: 'data.jsonl', line, record: line - 1 } };
}

const K = 3;
const exs = [example([1, 2, 3, 4], [-100, 3, 4, -100], 1), example([5, 6, 7], [6, 7, -100], 2)];

function data(vocabSize = 300): TopKData {
  const M = 4;
  return {
    teacher: 'runs/teacher/checkpoint', k: K, vocabSize, tokenizer: 'abc',
    keys: exs.map(exampleKey), offsets: Int32Array.of(0, 2, 4),
    ids: vocabSize > 65536 ? Int32Array.from({ length: M * K }, (_, i) => 66000 + i) : Uint16Array.from({ length: M * K }, (_, i) => 10 + i),
    logprobs: Float32Array.from({ length: M * K }, (_, i) => -0.25 * (i + 1)),
  };
}

describe('top-k file', () => {
  it('round trips (U16 ids and F16 log-probs below 65536 tokens, I32 above)', () => {
    for (const V of [300, 70000]) {
      const d = data(V);
      const bytes = encodeTopK(d);
      const st = parseSafetensors(bytes);
      expect(st.tensors.get('ids')!.dtype).toBe(V > 65536 ? 'I32' : 'U16');
      expect(st.tensors.get('logprobs')!.dtype).toBe('F16');
      expect(st.metadata!.format).toBe('pupil-topk');
      const back = decodeTopK(bytes, 'x.topk.safetensors');
      expect([...back.ids]).toEqual([...d.ids]);
      expect([...back.logprobs]).toEqual([...d.logprobs]); // multiples of 1/4 are exact in f16
      expect(back.keys).toEqual(d.keys);
      expect({ k: back.k, vocabSize: back.vocabSize, teacher: back.teacher, tokenizer: back.tokenizer }).toEqual({ k: K, vocabSize: V, teacher: d.teacher, tokenizer: 'abc' });
    }
  });

  it('attaches rows to examples and lays them out on the batch grid', () => {
    const d = decodeTopK(encodeTopK(data()), 'f');
    const copies = exs.map((e) => ({ ...e }));
    attachTopK(copies, d, 'f');
    const b = rowsToBatch([[copies[0], copies[1]]], 1, 8, 0);
    expect(b.teacherK).toBe(K);
    // Row 1 (the first target of example 0) holds the file's row 0; position 4 (example 1, first token) row 2.
    expect([...b.teacherIds!.subarray(1 * K, 2 * K)]).toEqual([10, 11, 12]);
    expect([...b.teacherIds!.subarray(2 * K, 3 * K)]).toEqual([13, 14, 15]);
    expect([...b.teacherIds!.subarray(4 * K, 5 * K)]).toEqual([16, 17, 18]);
    expect([...b.teacherIds!.subarray(0, K)]).toEqual([0, 1, 2]); // no target: filler
    expect(b.teacherLogprobs![4 * K]).toBe(-1.75);
    expect(rowsToBatch([[exs[0]]], 1, 4, 0).teacherIds).toBeUndefined();
  });

  it('detects examples that changed: a different target, a different id, a missing example', () => {
    const d = decodeTopK(encodeTopK(data()), 'run.topk.safetensors');
    const changed = [example([1, 2, 3, 4], [-100, -100, 4, -100], 7), example([5, 6, 7], [6, 7, -100], 8), example([5, 6, 8], [6, 8, -100], 9)];
    expect(() => attachTopK(changed, d, 'run.topk.safetensors')).toThrow(/run\.topk\.safetensors: 2 of 3 examples have no teacher top-k entry, the first from data\.jsonl:7/);
    expect(exampleKey(exs[0])).not.toBe(exampleKey(changed[0]));
  });

  it('refuses bad files naming the problem: format, K, ids outside the vocabulary, shapes', () => {
    const d = data();
    expect(() => decodeTopK(new Uint8Array(10), 'a.st')).toThrow(/a\.st: not a readable safetensors file/);
    const meta = (m: Record<string, string>) => {
      const st = parseSafetensors(encodeTopK(d));
      return writeSafetensors([...st.tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, bytes: t.bytes }] as const), { ...st.metadata!, ...m });
    };
    expect(() => decodeTopK(meta({ format: 'other' }), 'b')).toThrow(/b: not a Pupil top-k file/);
    expect(() => decodeTopK(meta({ k: '0' }), 'c')).toThrow(/c: metadata k must be an integer from 1 to 256, got "0"/);
    expect(() => decodeTopK(meta({ k: '4' }), 'd')).toThrow(/d: ids has shape \(4, 3\), expected \(4, 4\)/);
    expect(() => decodeTopK(meta({ vocab_size: '20' }), 'e')).toThrow(/e: metadata k|e: ids\[\d+, \d+\] = \d+ is outside the vocabulary \[0, 20\)/);
    expect(() => decodeTopK(meta({ vocab_size: '2' }), 'f')).toThrow(/f: metadata k must be an integer from 1 to 2, got "3"/);
    expect(() => decodeTopK(meta({ examples: '[1]' }), 'g')).toThrow(/g: metadata examples must be a JSON array of example keys/);
  });
});
