import { describe, expect, it } from 'vitest';
import { exactMatch, generateDataset, scoreExample } from '../../src/data/synthetic/index.ts';

describe('synthetic scorer', () => {
  it('numbers: whitespace, trailing period and value equality', () => {
    expect(scoreExample('arithmetic/add', '82', '82')).toBe(true);
    expect(scoreExample('arithmetic/add', '  82 \n', '82')).toBe(true);
    expect(scoreExample('arithmetic/add', '82.', '82')).toBe(true);
    expect(scoreExample('units/cm-to-m', '2.50', '2.5')).toBe(true);
    expect(scoreExample('arithmetic/add', '83', '82')).toBe(false);
    expect(scoreExample('arithmetic/add', '', '82')).toBe(false);
    expect(scoreExample('arithmetic/add', '82 apples', '82')).toBe(false);
    expect(scoreExample('arithmetic/add', '82..', '82')).toBe(false);
  });

  it('text: case and whitespace folded', () => {
    expect(scoreExample('facts/capital', 'paris', 'Paris')).toBe(true);
    expect(scoreExample('facts/capital', ' New   Delhi.', 'New Delhi')).toBe(true);
    expect(scoreExample('dates/weekday', 'WEDNESDAY', 'Wednesday')).toBe(true);
    expect(scoreExample('facts/capital', 'Lyon', 'Paris')).toBe(false);
    expect(scoreExample('facts/capital', 'Pari s', 'Paris')).toBe(false);
    expect(scoreExample('strings/reverse', 'Elppa', 'elppa')).toBe(true);
  });

  it('case-changing string tasks are case-sensitive', () => {
    expect(scoreExample('strings/uppercase', 'DAISY', 'DAISY')).toBe(true);
    expect(scoreExample('strings/uppercase', ' DAISY.\n', 'DAISY')).toBe(true);
    expect(scoreExample('strings/uppercase', 'daisy', 'DAISY')).toBe(false);
    expect(scoreExample('strings/lowercase', 'Daisy', 'daisy')).toBe(false);
    expect(scoreExample('strings/capitalize', 'daisy', 'Daisy')).toBe(false);
  });

  it('comma lists tolerate spacing but not order', () => {
    expect(scoreExample('sorting/numbers-asc', '3,12 ,  45', '3, 12, 45')).toBe(true);
    expect(scoreExample('sorting/words-asc', 'Apple, pear.', 'apple, pear')).toBe(true);
    expect(scoreExample('sorting/numbers-asc', '3, 45, 12', '3, 12, 45')).toBe(false);
  });

  it('JSON compares structure, not layout or key order', () => {
    expect(scoreExample('formatting/json-list', '[ "a", "b" ]', '["a","b"]')).toBe(true);
    expect(scoreExample('formatting/json-list', '[1, 2].', '[1,2]')).toBe(true);
    expect(scoreExample('formatting/json-object', '{"age": 5, "name": "Ann"}', '{"name":"Ann","age":5}')).toBe(true);
    expect(scoreExample('formatting/json-list', '["b","a"]', '["a","b"]')).toBe(false);
    expect(scoreExample('formatting/json-list', '["1","2"]', '[1,2]')).toBe(false);
    expect(scoreExample('formatting/json-object', '{"name":"ann","age":5}', '{"name":"Ann","age":5}')).toBe(false);
    expect(scoreExample('formatting/json-list', 'a, b', '["a","b"]')).toBe(false);
  });

  it('line lists compare line by line', () => {
    expect(scoreExample('formatting/bullet-list', '- a\n-  b  \n', '- a\n- b')).toBe(true);
    expect(scoreExample('formatting/numbered-list', '1. Apple\n\n2. pear.', '1. apple\n2. pear')).toBe(true);
    expect(scoreExample('formatting/bullet-list', '- a - b', '- a\n- b')).toBe(false);
    expect(scoreExample('formatting/numbered-list', '1. pear\n2. apple', '1. apple\n2. pear')).toBe(false);
  });

  it('unknown tasks fall back to folded text', () => {
    expect(scoreExample('elsewhere/thing', ' Yes. ', 'yes')).toBe(true);
    expect(scoreExample('elsewhere/thing', 'no', 'yes')).toBe(false);
  });

  it('every generated answer scores as correct against itself, and a wrong one does not', () => {
    const { test } = generateDataset({ seed: 5, train: 0, test: 500 });
    for (const r of test) {
      expect(scoreExample(r.task, r.output, r.answer)).toBe(true);
      expect(scoreExample(r.task, `${r.output} x`, r.answer)).toBe(false);
    }
  });

  it('exactMatch reports overall, per-family and per-task rates', () => {
    const records = [
      { task: 'arithmetic/add', answer: '4' },
      { task: 'arithmetic/multiply', answer: '6' },
      { task: 'facts/capital', answer: 'Paris' },
      { task: 'facts/capital', answer: 'Rome' },
    ];
    const report = exactMatch(records, ['4', '7', 'paris.', 'Rome']);
    expect(report.correct).toBe(3);
    expect(report.total).toBe(4);
    expect(report.rate).toBe(0.75);
    expect(report.families.arithmetic).toEqual({ correct: 1, total: 2, rate: 0.5 });
    expect(report.families.facts).toEqual({ correct: 2, total: 2, rate: 1 });
    expect(report.tasks['arithmetic/multiply'].rate).toBe(0);
    expect(exactMatch([], []).rate).toBe(0);
    expect(() => exactMatch(records, ['4'])).toThrow(/4 records but 1 predictions/);
  });
});
