// String manipulation and counting over single words and short made-up sentences.
import { ADJECTIVES, NOUNS, OBJECTS, PLACES, VERBS, WORDS } from './lexicon.ts';
import type { Rng } from './prng.ts';
import { T, type Sample, type TaskSpec } from './spec.ts';

const VOWELS = 'aeiou';

function word(rng: Rng, f: (w: string) => string, shown?: (w: string) => string): Sample {
  const w = rng.pick(WORDS);
  const s = shown ? shown(w) : w;
  return { vars: { w: s }, answer: f(w), key: s };
}

const capitalize = (w: string): string => w[0].toUpperCase() + w.slice(1);

const thirdPerson = (v: string): string =>
  /[^aeiou]y$/.test(v) ? `${v.slice(0, -1)}ies` : /(ch|sh|s|x)$/.test(v) ? `${v}es` : `${v}s`;
const a = (w: string): string => `${/^[aeiou]/.test(w) ? 'an' : 'a'} ${w}`;

/** Subject-verb-object sentences of 2 to 10 words from a tiny grammar: plausible and countable. */
export function sentence(rng: Rng): string {
  const n = rng.pick(NOUNS), o = rng.pick(OBJECTS), base = rng.pick(VERBS), v = thirdPerson(base);
  const j = rng.pick(ADJECTIVES), j2 = rng.pick(ADJECTIVES), p = rng.pick(PLACES);
  switch (rng.int(0, 6)) {
    case 0: return `${n}s ${base}`;
    case 1: return `the ${n} ${v} it`;
    case 2: return `the ${j} ${n} ${v} the ${o}`;
    case 3: return `the ${n} ${v} ${a(j2)} ${o}`;
    case 4: return `${a(j)} ${n} ${v} the ${j2} ${o}`;
    case 5: return `the ${n} ${v} the ${o} ${p}`;
    default: return `my ${j} ${n} ${v} ${a(j2)} ${o} ${p}`;
  }
}

export const TEXT_TASKS: readonly TaskSpec[] = [
  {
    family: 'strings', name: 'reverse', score: 'text', holdOutValues: true,
    train: [
      T('Reverse the word {w}.'), T('Spell {w} backwards.'), T('Reverse this word.', '{w}'),
      T('Write "{w}" in reverse order.'), T('What is {w} spelled backwards?'),
      T('Write the letters of this word from last to first.', '{w}'),
    ],
    test: [T('Give the word {w} reversed.'), T('Flip the order of the letters.', '{w}')],
    sample: (rng) => word(rng, (w) => [...w].reverse().join('')),
  },
  {
    family: 'strings', name: 'uppercase', score: 'case', holdOutValues: true,
    train: [
      T('Convert {w} to uppercase.'), T('Write {w} in capital letters.'),
      T('Make this word uppercase.', '{w}'), T('Uppercase: {w}'),
      T('Write the word "{w}" in all caps.'), T('Change every letter to a capital.', '{w}'),
    ],
    test: [T('Put {w} in upper case.'), T('Rewrite in all capitals.', '{w}')],
    sample: (rng) => word(rng, (w) => w.toUpperCase()),
  },
  {
    family: 'strings', name: 'lowercase', score: 'case', holdOutValues: true,
    train: [
      T('Convert {w} to lowercase.'), T('Write {w} in small letters.'),
      T('Make this word lowercase.', '{w}'), T('Lowercase: {w}'),
      T('Write the word "{w}" with no capitals.'), T('Change every letter to lower case.', '{w}'),
    ],
    test: [T('Put {w} in lower case.'), T('Rewrite without capital letters.', '{w}')],
    sample: (rng) => {
      const shown = rng.bool() ? (w: string) => w.toUpperCase() : capitalize;
      return word(rng, (w) => w, shown);
    },
  },
  {
    family: 'strings', name: 'capitalize', score: 'case', holdOutValues: true,
    train: [
      T('Capitalize the word {w}.'), T('Make the first letter of {w} a capital.'),
      T('Capitalize this word.', '{w}'), T('Capitalize: {w}'),
      T('Write "{w}" with a capital first letter.'), T('Start this word with a capital letter.', '{w}'),
    ],
    test: [T('Give {w} an initial capital.'), T('Uppercase only the first letter.', '{w}')],
    sample: (rng) => word(rng, capitalize),
  },
  {
    family: 'strings', name: 'first-letter', score: 'text', holdOutValues: true,
    train: [
      T('What is the first letter of {w}?'), T('Give the first letter of the word {w}.'),
      T('What letter does this word start with?', '{w}'), T('First letter of {w}?'),
      T('Which letter begins "{w}"?'), T('Return the first character.', '{w}'),
    ],
    test: [T('With which letter does {w} begin?'), T('Name the initial letter.', '{w}')],
    sample: (rng) => word(rng, (w) => w[0]),
  },
  {
    family: 'strings', name: 'last-letter', score: 'text', holdOutValues: true,
    train: [
      T('What is the last letter of {w}?'), T('Give the last letter of the word {w}.'),
      T('What letter does this word end with?', '{w}'), T('Last letter of {w}?'),
      T('Which letter ends "{w}"?'), T('Return the final character.', '{w}'),
    ],
    test: [T('With which letter does {w} end?'), T('Name the final letter.', '{w}')],
    sample: (rng) => word(rng, (w) => w[w.length - 1]),
  },
  {
    family: 'strings', name: 'remove-vowels', score: 'text', holdOutValues: true,
    train: [
      T('Remove the vowels from {w}.'), T('Write {w} without vowels.'),
      T('Delete every vowel in this word.', '{w}'), T('Strip the vowels: {w}'),
      T('Drop a, e, i, o and u from "{w}".'), T('Remove all vowels.', '{w}'),
    ],
    test: [T('What is {w} with its vowels taken out?'), T('Keep only the consonants.', '{w}')],
    sample: (rng) => word(rng, (w) => [...w].filter((c) => !VOWELS.includes(c)).join('')),
  },
  {
    family: 'counting', name: 'word-length', score: 'number', holdOutValues: true,
    train: [
      T('How many letters are in {w}?'), T('Count the letters in the word {w}.'),
      T('How many letters does this word have?', '{w}'), T('Length of "{w}"?'),
      T('How long is the word {w}?'), T('Count the characters.', '{w}'),
    ],
    test: [T('What is the number of letters in {w}?'), T('Give the length of this word.', '{w}')],
    sample: (rng) => word(rng, (w) => String(w.length)),
  },
  {
    family: 'counting', name: 'count-words', score: 'number', holdOutValues: true,
    train: [
      T('How many words are in this sentence?', '{s}'), T('Count the words: {s}'),
      T('How many words does "{s}" have?'), T('Count the words in the sentence.', '{s}'),
      T('Number of words in "{s}"?'), T('Tell me how many words there are.', '{s}'),
    ],
    test: [T('What is the word count of "{s}"?'), T('Give the number of words.', '{s}')],
    sample: (rng) => {
      const s = sentence(rng);
      return { vars: { s }, answer: String(s.split(' ').length), key: s };
    },
  },
  {
    family: 'counting', name: 'count-letter', score: 'number', holdOutValues: true,
    train: [
      T('How many times does "{c}" appear in {w}?'), T('Count the letter {c} in {w}.'),
      T('How many "{c}" letters are in this word?', '{w}'), T('Count occurrences of "{c}" in "{w}".'),
      T('In {w}, how many times does {c} occur?'), T('Count how often the letter {c} appears.', '{w}'),
    ],
    test: [T('How often is "{c}" in {w}?'), T('Give the number of {c} letters.', '{w}')],
    sample: (rng) => {
      const w = rng.pick(WORDS);
      // Mostly letters that occur, so the answer is not almost always 0 or 1.
      const c = rng.int(0, 3) > 0 ? rng.pick([...w]) : rng.pick([...'abcdefghijklmnopqrstuvwxyz']);
      return { vars: { w, c }, answer: String([...w].filter((x) => x === c).length), key: `${w},${c}` };
    },
  },
  {
    family: 'counting', name: 'count-vowels', score: 'number', holdOutValues: true,
    train: [
      T('How many vowels are in {w}?'), T('Count the vowels in the word {w}.'),
      T('How many vowels does this word have?', '{w}'), T('Vowels in "{w}"? Give the count.'),
      T('Count a, e, i, o and u in {w}.'), T('Count the vowels.', '{w}'),
    ],
    test: [T('What is the number of vowels in {w}?'), T('Tell me how many vowels there are.', '{w}')],
    sample: (rng) => word(rng, (w) => String([...w].filter((c) => VOWELS.includes(c)).length)),
  },
  {
    family: 'counting', name: 'count-items', score: 'number', holdOutValues: true,
    train: [
      T('How many items are in this list?', '{list}'), T('Count the items: {list}'),
      T('How many things are listed here?', '{list}'), T('Count the words in the list.', '{list}'),
      T('How many entries does "{list}" have?'), T('Number of items in {list}?'),
    ],
    test: [T('What is the length of this list?', '{list}'), T('Tell me how many items: {list}')],
    sample: (rng) => {
      const xs = rng.sample(WORDS, rng.int(2, 7));
      return { vars: { list: xs.join(', ') }, answer: String(xs.length), key: xs.join(',') };
    },
  },
];
