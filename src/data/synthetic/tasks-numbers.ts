// Arithmetic and comparisons on small integers. The last two templates of each task are never
// used for training: they measure whether a student follows a phrasing it has not seen.
import { WORDS } from './lexicon.ts';
import type { Rng } from './prng.ts';
import { T, type Sample, type TaskSpec } from './spec.ts';

function pair(rng: Rng, max: number, distinct: boolean): [number, number] {
  for (;;) {
    const a = rng.int(0, max), b = rng.int(0, max);
    if (!distinct || a !== b) return [a, b];
  }
}

function numberList(rng: Rng): number[] {
  const n = rng.int(3, 6);
  return Array.from({ length: n }, () => rng.int(0, 99));
}

function ab(a: number, b: number, answer: number | string): Sample {
  return { vars: { a: String(a), b: String(b) }, answer: String(answer), key: `${a},${b}` };
}

function listSample(xs: number[], answer: number): Sample {
  return {
    vars: { list: xs.join(', '), spaced: xs.join(' ') },
    answer: String(answer),
    key: xs.join(','),
  };
}

export const NUMBER_TASKS: readonly TaskSpec[] = [
  {
    // Arithmetic is the headline skill of the demo: it gets more examples.
    family: 'arithmetic', name: 'add', score: 'number', holdOutValues: true, weight: 1.5,
    train: [
      T('What is {a} + {b}?'), T('What is {a} plus {b}?'), T('Add {a} and {b}.'),
      T('Add these two numbers.', '{a}, {b}'), T('Compute the sum of {a} and {b}.'),
      T('Find the sum.', '{a} + {b}'),
    ],
    test: [T('Calculate {a} + {b}.'), T('What do these numbers add up to?', '{a} and {b}')],
    sample: (rng) => { const [a, b] = pair(rng, 99, false); return ab(a, b, a + b); },
  },
  {
    family: 'arithmetic', name: 'subtract', score: 'number', holdOutValues: true, weight: 1.5,
    train: [
      T('What is {a} - {b}?'), T('What is {a} minus {b}?'), T('Subtract {b} from {a}.'),
      T('Subtract the second number from the first.', '{a}, {b}'),
      T('Compute the difference {a} - {b}.'), T('Take {b} away from {a}.'),
    ],
    test: [T('Calculate {a} - {b}.'), T('What is left when you take the second from the first?', '{a} and {b}')],
    sample: (rng) => {
      const a = rng.int(0, 99), b = rng.int(0, a);
      return ab(a, b, a - b);
    },
  },
  {
    family: 'arithmetic', name: 'multiply', score: 'number', holdOutValues: true, weight: 1.5,
    train: [
      T('What is {a} * {b}?'), T('What is {a} times {b}?'), T('Multiply {a} by {b}.'),
      T('Multiply these numbers.', '{a}, {b}'), T('Compute the product of {a} and {b}.'),
      T('Find the product.', '{a} x {b}'),
    ],
    test: [T('Calculate {a} * {b}.'), T('What do you get when you multiply the two?', '{a} and {b}')],
    sample: (rng) => { const a = rng.int(0, 20), b = rng.int(0, 12); return ab(a, b, a * b); },
  },
  {
    family: 'comparison', name: 'larger', score: 'number', holdOutValues: true,
    train: [
      T('Which is larger, {a} or {b}?'), T('Which number is bigger: {a} or {b}?'),
      T('Give the larger of {a} and {b}.'), T('Return the larger number.', '{a}, {b}'),
      T('What is the maximum of {a} and {b}?'), T('Pick the bigger number.', '{a} and {b}'),
    ],
    test: [T('Which is greater, {a} or {b}?'), T('Name the larger value.', '{a} {b}')],
    sample: (rng) => { const [a, b] = pair(rng, 999, true); return ab(a, b, Math.max(a, b)); },
  },
  {
    family: 'comparison', name: 'smaller', score: 'number', holdOutValues: true,
    train: [
      T('Which is smaller, {a} or {b}?'), T('Which number is less: {a} or {b}?'),
      T('Give the smaller of {a} and {b}.'), T('Return the smaller number.', '{a}, {b}'),
      T('What is the minimum of {a} and {b}?'), T('Pick the lower number.', '{a} and {b}'),
    ],
    test: [T('Which is lesser, {a} or {b}?'), T('Name the smaller value.', '{a} {b}')],
    sample: (rng) => { const [a, b] = pair(rng, 999, true); return ab(a, b, Math.min(a, b)); },
  },
  {
    family: 'comparison', name: 'max-list', score: 'number', holdOutValues: true,
    train: [
      T('What is the largest number in this list?', '{list}'), T('Find the maximum: {list}'),
      T('Which number is biggest? {list}'), T('Return the highest value.', '{spaced}'),
      T('Give the largest of these numbers: {spaced}'), T('Find the max.', '{list}'),
    ],
    test: [T('What is the greatest number here?', '{list}'), T('Largest value in {spaced}?')],
    sample: (rng) => { const xs = numberList(rng); return listSample(xs, Math.max(...xs)); },
  },
  {
    family: 'comparison', name: 'min-list', score: 'number', holdOutValues: true,
    train: [
      T('What is the smallest number in this list?', '{list}'), T('Find the minimum: {list}'),
      T('Which number is lowest? {list}'), T('Return the smallest value.', '{spaced}'),
      T('Give the smallest of these numbers: {spaced}'), T('Find the min.', '{list}'),
    ],
    test: [T('What is the least number here?', '{list}'), T('Smallest value in {spaced}?')],
    sample: (rng) => { const xs = numberList(rng); return listSample(xs, Math.min(...xs)); },
  },
  {
    family: 'comparison', name: 'even-odd', score: 'text', holdOutValues: true,
    train: [
      T('Is {n} even or odd?'), T('Is {n} odd or even?'), T('Tell me if {n} is even or odd.'),
      T('Is this number even or odd?', '{n}'), T('Even or odd: {n}'),
      T('Say whether the number is even or odd.', '{n}'),
    ],
    test: [T('Is the number {n} even or odd?'), T('Classify as even or odd.', '{n}')],
    sample: (rng) => {
      const n = rng.int(0, 999);
      return { vars: { n: String(n) }, answer: n % 2 === 0 ? 'even' : 'odd', key: String(n) };
    },
  },
  {
    family: 'comparison', name: 'longer-word', score: 'text', holdOutValues: true,
    train: [
      T('Which word is longer, {a} or {b}?'), T('Which has more letters: {a} or {b}?'),
      T('Give the longer word.', '{a}, {b}'), T('Return the longer of "{a}" and "{b}".'),
      T('Pick the longer word: {a} {b}'), T('Which of these words is longer?', '{a} and {b}'),
    ],
    test: [T('Of {a} and {b}, which word is longer?'), T('Name the longest word.', '{a} {b}')],
    sample: (rng) => {
      for (;;) {
        const a = rng.pick(WORDS), b = rng.pick(WORDS);
        if (a.length === b.length) continue;
        return { vars: { a, b }, answer: a.length > b.length ? a : b, key: `${a},${b}` };
      }
    },
  },
];
