// Sorting and reformatting short lists. Inputs come in several layouts (commas, spaces, lines)
// so the student learns the operation, not one separator.
import { CAPITALS, COLOURS, NAMES, PETS, WORDS } from './lexicon.ts';
import type { Rng } from './prng.ts';
import { T, type Sample, type TaskSpec } from './spec.ts';

type Item = string | number;

function layouts(xs: readonly Item[]): Record<string, string> {
  return { list: xs.join(', '), spaced: xs.join(' '), lines: xs.join('\n') };
}

function listOf(xs: readonly Item[], answer: string): Sample {
  return { vars: layouts(xs), answer, key: xs.join(',') };
}

const numbers = (rng: Rng, lo: number, hi: number): number[] =>
  Array.from({ length: rng.int(lo, hi) }, () => rng.int(0, 99));
const words = (rng: Rng, lo: number, hi: number): string[] => rng.sample(WORDS, rng.int(lo, hi));

const byNumber = (a: number, b: number): number => a - b;
const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Fields a JSON object may have, each with its own kind of value. */
const FIELDS: readonly [string, (rng: Rng) => Item][] = [
  ['name', (rng) => rng.pick(NAMES)],
  ['age', (rng) => rng.int(1, 99)],
  ['city', (rng) => rng.pick(CAPITALS)[1]],
  ['color', (rng) => rng.pick(COLOURS)],
  ['pet', (rng) => rng.pick(PETS)],
  ['score', (rng) => rng.int(0, 100)],
];

export const LIST_TASKS: readonly TaskSpec[] = [
  {
    family: 'sorting', name: 'numbers-asc', score: 'text', holdOutValues: true,
    train: [
      T('Sort these numbers in ascending order: {list}'), T('Sort from smallest to largest.', '{list}'),
      T('Put these numbers in increasing order.', '{spaced}'), T('Order low to high: {spaced}'),
      T('Arrange in ascending order.', '{list}'), T('Sort ascending: {list}'),
    ],
    test: [T('List these from lowest to highest: {list}'), T('Sort the numbers, smallest first.', '{spaced}')],
    sample: (rng) => { const xs = numbers(rng, 3, 6); return listOf(xs, xs.slice().sort(byNumber).join(', ')); },
  },
  {
    family: 'sorting', name: 'numbers-desc', score: 'text', holdOutValues: true,
    train: [
      T('Sort these numbers in descending order: {list}'), T('Sort from largest to smallest.', '{list}'),
      T('Put these numbers in decreasing order.', '{spaced}'), T('Order high to low: {spaced}'),
      T('Arrange in descending order.', '{list}'), T('Sort descending: {list}'),
    ],
    test: [T('List these from highest to lowest: {list}'), T('Sort the numbers, largest first.', '{spaced}')],
    sample: (rng) => {
      const xs = numbers(rng, 3, 6);
      return listOf(xs, xs.slice().sort((a, b) => b - a).join(', '));
    },
  },
  {
    family: 'sorting', name: 'words-asc', score: 'text', holdOutValues: true,
    train: [
      T('Sort these words alphabetically: {list}'), T('Put these words in alphabetical order.', '{list}'),
      T('Sort A to Z.', '{spaced}'), T('Alphabetize: {spaced}'),
      T('Arrange these words from A to Z.', '{lines}'), T('Sort the words.', '{list}'),
    ],
    test: [T('Order these words alphabetically.', '{spaced}'), T('Write these in dictionary order: {list}')],
    sample: (rng) => { const xs = words(rng, 3, 5); return listOf(xs, xs.slice().sort(byCode).join(', ')); },
  },
  {
    family: 'sorting', name: 'words-desc', score: 'text', holdOutValues: true,
    train: [
      T('Sort these words in reverse alphabetical order: {list}'), T('Sort from Z to A.', '{list}'),
      T('Put these words in reverse alphabetical order.', '{spaced}'), T('Sort Z to A: {spaced}'),
      T('Arrange these words from Z to A.', '{lines}'), T('Reverse-alphabetize: {list}'),
    ],
    test: [T('Order these words from Z down to A.', '{spaced}'), T('Write these in reverse dictionary order: {list}')],
    sample: (rng) => {
      const xs = words(rng, 3, 5);
      return listOf(xs, xs.slice().sort((a, b) => byCode(b, a)).join(', '));
    },
  },
  {
    family: 'formatting', name: 'json-list', score: 'json', holdOutValues: true,
    train: [
      T('Format these as a JSON list: {list}'), T('Write these as a JSON array.', '{lines}'),
      T('Turn this into a JSON list.', '{spaced}'), T('JSON array of: {spaced}'),
      T('Convert the list to JSON.', '{list}'), T('Make a JSON list from these items.', '{lines}'),
    ],
    test: [T('Give these as a JSON array: {list}'), T('Encode these items as a JSON list.', '{spaced}')],
    sample: (rng) => {
      const xs: Item[] = rng.bool() ? words(rng, 2, 4) : numbers(rng, 2, 5);
      return listOf(xs, JSON.stringify(xs));
    },
  },
  {
    family: 'formatting', name: 'json-object', score: 'json', holdOutValues: true,
    train: [
      T('Format this as a JSON object.', '{pairs}'), T('Write as JSON: {pairs}'),
      T('Make a JSON object with {k1} {v1} and {k2} {v2}.'), T('Convert to a JSON object.', '{eq}'),
      T('Turn these fields into JSON: {eq}'), T('Create a JSON object where {k1} is {v1} and {k2} is {v2}.'),
    ],
    test: [T('Give a JSON object for: {pairs}'), T('Express these fields as JSON.', '{eq}')],
    sample: (rng) => {
      const [f1, f2] = rng.sample(FIELDS, 2);
      const v1 = f1[1](rng), v2 = f2[1](rng);
      const k1 = f1[0], k2 = f2[0];
      return {
        vars: { k1, v1: String(v1), k2, v2: String(v2), pairs: `${k1}: ${v1}, ${k2}: ${v2}`, eq: `${k1}=${v1} ${k2}=${v2}` },
        answer: JSON.stringify({ [k1]: v1, [k2]: v2 }),
        key: `${k1}=${v1},${k2}=${v2}`,
      };
    },
  },
  {
    family: 'formatting', name: 'comma-list', score: 'text', holdOutValues: true,
    train: [
      T('Make a comma-separated list.', '{lines}'), T('Join these with commas: {spaced}'),
      T('Write these words separated by commas.', '{spaced}'), T('Comma-separate: {spaced}'),
      T('Put commas between these items.', '{lines}'), T('Turn this into a comma-separated list.', '{spaced}'),
    ],
    test: [T('List these items with commas between them.', '{lines}'), T('Separate these with commas: {spaced}')],
    sample: (rng) => { const xs = words(rng, 2, 5); return listOf(xs, xs.join(', ')); },
  },
  {
    family: 'formatting', name: 'bullet-list', score: 'lines', holdOutValues: true,
    train: [
      T('Make a bulleted list: {list}'), T('Format these as bullet points.', '{list}'),
      T('Write each item on its own line starting with "- ".', '{spaced}'), T('Bullet list of: {spaced}'),
      T('Turn this into a bulleted list.', '{list}'), T('Put these items in a dash list.', '{spaced}'),
    ],
    test: [T('Give these as bullet points: {list}'), T('Write a bullet point for each item.', '{spaced}')],
    sample: (rng) => { const xs = words(rng, 2, 4); return listOf(xs, xs.map((x) => `- ${x}`).join('\n')); },
  },
  {
    family: 'formatting', name: 'numbered-list', score: 'lines', holdOutValues: true,
    train: [
      T('Make a numbered list: {list}'), T('Format these as a numbered list.', '{list}'),
      T('Number these items, one per line.', '{spaced}'), T('Numbered list of: {spaced}'),
      T('Turn this into a numbered list.', '{list}'), T('List these with numbers 1, 2, 3...', '{spaced}'),
    ],
    test: [T('Give these as a numbered list: {list}'), T('Write the items as 1., 2. and so on.', '{spaced}')],
    sample: (rng) => {
      const xs = words(rng, 2, 4);
      return listOf(xs, xs.map((x, i) => `${i + 1}. ${x}`).join('\n'));
    },
  },
];
