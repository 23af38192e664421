// Unit conversions and calendar questions. Dates are computed from our own month table (not
// Date) so the tests can check them against Date independently.
import { MONTHS, WEEKDAYS } from './lexicon.ts';
import type { Rng } from './prng.ts';
import { plural, T, type TaskSpec, type Template } from './spec.ts';

// Units share phrasings: the unit names carry the task, so one set reads naturally for all.
const UNIT_TRAIN: readonly Template[] = [
  T('Convert {v} {from} to {to}.'), T('How many {to} are in {v} {from}?'), T('{v} {from} is how many {to}?'),
  T('Convert to {to}.', '{v} {from}'), T('Express {v} {from} in {to}.'), T('How many {to} is this?', '{v} {from}'),
];
const UNIT_TEST: readonly Template[] = [T('What is {v} {from} in {to}?'), T('Give this amount in {to}.', '{v} {from}')];

/** v = step * k for k in [kLo, kHi]; answer = v * num / den, exact in decimal. */
function unit(name: string, from: string, to: string, num: number, den: number, step: number, kLo: number, kHi: number): TaskSpec {
  return {
    // Ten similar tasks: a lower weight keeps the family from crowding out the rest.
    family: 'units', name, score: 'number', holdOutValues: true, weight: 0.6, train: UNIT_TRAIN, test: UNIT_TEST,
    sample: (rng) => {
      const v = step * rng.int(kLo, kHi);
      return { vars: { v: String(v), from, to }, answer: String((v * num) / den), key: String(v) };
    },
  };
}

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
export function daysInMonth(month: number, year: number): number {
  return month === 1 ? (isLeap(year) ? 29 : 28) : [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month];
}

/** The one year the weekday and next-date tasks use; 1 January 2025 was a Wednesday. */
export const DATE_YEAR = 2025;
const JAN1_WEEKDAY = 2; // index into WEEKDAYS (Monday = 0)

function dateOfYear(doy: number, year: number): { m: number; d: number } {
  let m = 0;
  while (doy >= daysInMonth(m, year)) doy -= daysInMonth(m++, year);
  return { m, d: doy + 1 };
}

const pad = (n: number): string => String(n).padStart(2, '0');
const iso = (y: number, m: number, d: number): string => `${y}-${pad(m + 1)}-${pad(d)}`;

function stepDays(rng: Rng, sign: 1 | -1) {
  const day = rng.int(0, 6), n = rng.int(1, 9);
  return {
    vars: { day: WEEKDAYS[day], nd: plural(n, 'day') },
    answer: WEEKDAYS[(((day + sign * n) % 7) + 7) % 7],
    key: `${WEEKDAYS[day]},${n}`,
  };
}

export const MEASURE_TASKS: readonly TaskSpec[] = [
  unit('m-to-cm', 'meters', 'centimeters', 100, 1, 1, 2, 300),
  unit('cm-to-m', 'centimeters', 'meters', 1, 100, 50, 2, 300),
  unit('km-to-m', 'kilometers', 'meters', 1000, 1, 1, 2, 200),
  unit('kg-to-g', 'kilograms', 'grams', 1000, 1, 1, 2, 200),
  unit('g-to-kg', 'grams', 'kilograms', 1, 1000, 100, 2, 300),
  unit('hours-to-minutes', 'hours', 'minutes', 60, 1, 1, 2, 100),
  unit('minutes-to-hours', 'minutes', 'hours', 1, 60, 15, 2, 200),
  unit('minutes-to-seconds', 'minutes', 'seconds', 60, 1, 1, 2, 120),
  unit('days-to-hours', 'days', 'hours', 24, 1, 1, 2, 100),
  unit('weeks-to-days', 'weeks', 'days', 7, 1, 1, 2, 100),
  {
    family: 'dates', name: 'day-after', score: 'text', holdOutValues: true,
    train: [
      T('What day is {nd} after {day}?'), T('If today is {day}, what day is it in {nd}?'),
      T('Which weekday comes {nd} after {day}?'), T('What day is {nd} after this day?', '{day}'),
      T('Start on {day} and go forward {nd}. What day is it?'), T('Name the weekday {nd} later.', '{day}'),
    ],
    test: [T('It is {day}. What day will it be in {nd}?'), T('Count forward {nd}. Which day is it?', '{day}')],
    sample: (rng) => stepDays(rng, 1),
  },
  {
    family: 'dates', name: 'day-before', score: 'text', holdOutValues: true,
    train: [
      T('What day is {nd} before {day}?'), T('If today is {day}, what day was it {nd} ago?'),
      T('Which weekday comes {nd} before {day}?'), T('What day is {nd} before this day?', '{day}'),
      T('Start on {day} and go back {nd}. What day is it?'), T('Name the weekday {nd} earlier.', '{day}'),
    ],
    test: [T('It is {day}. What day was it {nd} ago?'), T('Count back {nd}. Which day is it?', '{day}')],
    sample: (rng) => stepDays(rng, -1),
  },
  {
    family: 'dates', name: 'days-in-month', score: 'number', holdOutValues: true,
    train: [
      T('How many days are in {month} {year}?'), T('How many days does {month} {year} have?'),
      T('Number of days in {month} {year}?'), T('How many days are in this month?', '{month} {year}'),
      T('Count the days in {month} of {year}.'), T('How long is this month in days?', '{month} {year}'),
    ],
    test: [T('How many days long is {month} {year}?'), T('Give the number of days in this month.', '{month} {year}')],
    sample: (rng) => {
      const m = rng.int(0, 11), y = rng.int(2020, 2031);
      return { vars: { month: MONTHS[m], year: String(y) }, answer: String(daysInMonth(m, y)), key: `${m},${y}` };
    },
  },
  {
    family: 'dates', name: 'weekday', score: 'text', holdOutValues: true,
    train: [
      T('What day of the week is {long}?'), T('Which weekday is {iso}?'), T('What day of the week is this date?', '{long}'),
      T('Name the weekday of {iso}.'), T('On which day of the week does {long} fall?'),
      T('Give the weekday for this date.', '{iso}'),
    ],
    test: [T('{long} is which day of the week?'), T('Which day of the week is it?', '{iso}')],
    sample: (rng) => {
      const doy = rng.int(0, 364), { m, d } = dateOfYear(doy, DATE_YEAR);
      return {
        vars: { long: `${MONTHS[m]} ${d}, ${DATE_YEAR}`, iso: iso(DATE_YEAR, m, d) },
        answer: WEEKDAYS[(JAN1_WEEKDAY + doy) % 7],
        key: String(doy),
      };
    },
  },
  {
    family: 'dates', name: 'next-date', score: 'text', holdOutValues: true,
    train: [
      T('What date comes after {iso}?'), T('What is the day after {iso}? Use YYYY-MM-DD.'),
      T('Give the next date.', '{iso}'), T('Which date follows {iso}?'),
      T('Add one day to {iso}.'), T('What is the date one day later?', '{iso}'),
    ],
    test: [T('What date is the day after {iso}?'), T('Give the following day as YYYY-MM-DD.', '{iso}')],
    sample: (rng) => {
      const doy = rng.int(0, 364), { m, d } = dateOfYear(doy, DATE_YEAR);
      const next = doy === 364 ? iso(DATE_YEAR + 1, 0, 1) : (({ m: m2, d: d2 }) => iso(DATE_YEAR, m2, d2))(dateOfYear(doy + 1, DATE_YEAR));
      return { vars: { iso: iso(DATE_YEAR, m, d) }, answer: next, key: String(doy) };
    },
  },
  {
    family: 'dates', name: 'month-after', score: 'text', holdOutValues: true,
    train: [
      T('What month is {nm} after {month}?'), T('Which month comes {nm} after {month}?'),
      T('What month is {nm} after this one?', '{month}'), T('Start in {month} and go forward {nm}. Which month is it?'),
      T('If it is {month} now, what month is it in {nm}?'), T('Name the month {nm} later.', '{month}'),
    ],
    test: [T('It is {month}. Which month will it be in {nm}?'), T('Count forward {nm}. Which month is it?', '{month}')],
    sample: (rng) => {
      const m = rng.int(0, 11), n = rng.int(1, 11);
      return { vars: { month: MONTHS[m], nm: plural(n, 'month') }, answer: MONTHS[(m + n) % 12], key: `${m},${n}` };
    },
  },
];
