// Look-ups in the generator's own tables. Values cannot be held out here (an unseen fact has no
// learnable answer), so the test split differs from training in phrasing only.
import { CAPITALS, OPPOSITES, PLANETS } from './lexicon.ts';
import { T, type TaskSpec } from './spec.ts';

const BOTH_WAYS = OPPOSITES.flatMap(([a, b]) => [[a, b], [b, a]] as const);

export const FACT_TASKS: readonly TaskSpec[] = [
  {
    family: 'facts', name: 'capital', score: 'text', holdOutValues: false,
    train: [
      T('What is the capital of {country}?'), T('Name the capital city of {country}.'),
      T('What is the capital of this country?', '{country}'), T('Capital of {country}?'),
      T('Which city is the capital of {country}?'), T('Give the capital.', '{country}'),
    ],
    test: [T('The capital of {country} is which city?'), T('Tell me the capital city.', '{country}')],
    sample: (rng) => {
      const [country, capital] = rng.pick(CAPITALS);
      return { vars: { country }, answer: capital, key: country };
    },
  },
  {
    family: 'facts', name: 'country-of-capital', score: 'text', holdOutValues: false,
    train: [
      T('{city} is the capital of which country?'), T('Which country has {city} as its capital?'),
      T('This city is the capital of which country?', '{city}'), T('Country whose capital is {city}?'),
      T('Name the country with the capital {city}.'), T('Give the country of this capital.', '{city}'),
    ],
    test: [T('Of which country is {city} the capital?'), T('Which country is this the capital of?', '{city}')],
    sample: (rng) => {
      const [country, city] = rng.pick(CAPITALS);
      return { vars: { city }, answer: country, key: city };
    },
  },
  {
    family: 'facts', name: 'planet-colour', score: 'text', holdOutValues: false, weight: 0.5,
    train: [
      T('What colour is the planet {p}?'), T('Which colour is {p}?'),
      T('What colour is this planet?', '{p}'), T('Colour of planet {p}?'),
      T('Tell me the colour of {p}.'), T('Give the planet\'s colour.', '{p}'),
    ],
    test: [T('The planet {p} is what colour?'), T('Name the colour of this planet.', '{p}')],
    sample: (rng) => {
      const p = rng.pick(PLANETS);
      return { vars: { p: p.name }, answer: p.colour, key: p.name };
    },
  },
  {
    family: 'facts', name: 'planet-moons', score: 'number', holdOutValues: false, weight: 0.5,
    train: [
      T('How many moons does {p} have?'), T('How many moons orbit the planet {p}?'),
      T('How many moons does this planet have?', '{p}'), T('Number of moons of {p}?'),
      T('Tell me how many moons {p} has.'), T('Give the moon count.', '{p}'),
    ],
    test: [T('The planet {p} has how many moons?'), T('Count the moons of this planet.', '{p}')],
    sample: (rng) => {
      const p = rng.pick(PLANETS);
      return { vars: { p: p.name }, answer: String(p.moons), key: p.name };
    },
  },
  {
    family: 'facts', name: 'opposite', score: 'text', holdOutValues: false,
    train: [
      T('What is the opposite of {w}?'), T('Give the opposite of the word {w}.'),
      T('What is the opposite of this word?', '{w}'), T('Opposite of "{w}"?'),
      T('Name a word that means the opposite of {w}.'), T('Give the antonym.', '{w}'),
    ],
    test: [T('Which word is the opposite of {w}?'), T('Tell me the opposite.', '{w}')],
    sample: (rng) => {
      const [w, o] = rng.pick(BOTH_WAYS);
      return { vars: { w }, answer: o, key: w };
    },
  },
];
