// Independent answers for every synthetic task, computed from the rendered values with different
// code (built-in Date, regexes, sort) than the generator's, so a bug there cannot hide here.
import { CAPITALS, OPPOSITES, PLANETS } from '../../src/data/synthetic/lexicon.ts';

type Vars = Record<string, string>;

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
// Sizes in a base unit per dimension.
const UNIT: Record<string, number> = {
  centimeters: 1, meters: 100, kilometers: 100_000,
  grams: 1, kilograms: 1000,
  seconds: 1, minutes: 60, hours: 3600, days: 86_400, weeks: 604_800,
};

const nums = (s: string): number[] => s.split(/[ ,]+/).map(Number);
const count = (s: string): number => parseInt(s, 10);
const utc = (iso: string): Date => new Date(`${iso}T00:00:00Z`);
const fromLong = (s: string): Date => {
  const [, month, day, year] = /^(\w+) (\d+), (\d+)$/.exec(s)!;
  return new Date(Date.UTC(Number(year), MONTHS.indexOf(month), Number(day)));
};
const itemsOf = (list: string): (string | number)[] => list.split(', ').map((x) => (/^\d+$/.test(x) ? Number(x) : x));
const field = (v: string): string | number => (/^\d+$/.test(v) ? Number(v) : v);
const shiftDay = (day: string, n: number): string => DAYS[(DAYS.indexOf(day) + n + 70) % 7];

const CHECKS: Record<string, (v: Vars) => string> = {
  'arithmetic/add': (v) => String(Number(v.a) + Number(v.b)),
  'arithmetic/subtract': (v) => String(Number(v.a) - Number(v.b)),
  'arithmetic/multiply': (v) => String(Number(v.a) * Number(v.b)),
  'comparison/larger': (v) => (Number(v.a) > Number(v.b) ? v.a : v.b),
  'comparison/smaller': (v) => (Number(v.a) < Number(v.b) ? v.a : v.b),
  'comparison/max-list': (v) => String(nums(v.list).reduce((m, x) => (x > m ? x : m))),
  'comparison/min-list': (v) => String(nums(v.list).reduce((m, x) => (x < m ? x : m))),
  'comparison/even-odd': (v) => (/[02468]$/.test(v.n) ? 'even' : 'odd'),
  'comparison/longer-word': (v) => (v.a.length > v.b.length ? v.a : v.b),
  'strings/reverse': (v) => { let s = ''; for (const c of v.w) s = c + s; return s; },
  'strings/uppercase': (v) => v.w.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32)),
  'strings/lowercase': (v) => v.w.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32)),
  'strings/capitalize': (v) => v.w.charAt(0).toUpperCase() + v.w.substring(1),
  'strings/first-letter': (v) => v.w.charAt(0),
  'strings/last-letter': (v) => v.w.charAt(v.w.length - 1),
  'strings/remove-vowels': (v) => v.w.replace(/[aeiou]/g, ''),
  'counting/word-length': (v) => String(v.w.length),
  'counting/count-words': (v) => String(v.s.trim().split(/\s+/).length),
  'counting/count-letter': (v) => String(v.w.split(v.c).length - 1),
  'counting/count-vowels': (v) => String((v.w.match(/[aeiou]/g) ?? []).length),
  'counting/count-items': (v) => String(v.list.split(',').length),
  'sorting/numbers-asc': (v) => nums(v.list).sort((a, b) => a - b).join(', '),
  'sorting/numbers-desc': (v) => nums(v.list).sort((a, b) => b - a).join(', '),
  'sorting/words-asc': (v) => v.list.split(', ').sort().join(', '),
  'sorting/words-desc': (v) => v.list.split(', ').sort().reverse().join(', '),
  'formatting/json-list': (v) => JSON.stringify(itemsOf(v.list)),
  'formatting/json-object': (v) => JSON.stringify(Object.fromEntries([[v.k1, field(v.v1)], [v.k2, field(v.v2)]])),
  'formatting/comma-list': (v) => v.lines.split('\n').join(', '),
  'formatting/bullet-list': (v) => v.list.split(', ').map((x) => '- ' + x).join('\n'),
  'formatting/numbered-list': (v) => v.list.split(', ').map((x, i) => `${i + 1}. ${x}`).join('\n'),
  'dates/day-after': (v) => shiftDay(v.day, count(v.nd)),
  'dates/day-before': (v) => shiftDay(v.day, -count(v.nd)),
  'dates/days-in-month': (v) => String(new Date(Date.UTC(Number(v.year), MONTHS.indexOf(v.month) + 1, 0)).getUTCDate()),
  'dates/weekday': (v) => {
    const a = DAYS[utc(v.iso).getUTCDay()], b = DAYS[fromLong(v.long).getUTCDay()];
    if (a !== b) throw new Error(`${v.iso} and ${v.long} are different days`);
    return a;
  },
  'dates/next-date': (v) => new Date(utc(v.iso).getTime() + 86_400_000).toISOString().slice(0, 10),
  'dates/month-after': (v) => MONTHS[(MONTHS.indexOf(v.month) + count(v.nm)) % 12],
};

function unitCheck(v: Vars): string {
  const x = (Number(v.v) * UNIT[v.from]) / UNIT[v.to];
  // Round away float noise (0.1 * 3); the generator must have produced the short decimal.
  return String(Math.round(x * 1e6) / 1e6);
}

/** The expected answer, or undefined when the task has no check here (a test failure). */
export function checkAnswer(task: string, vars: Vars): string | undefined {
  if (task.startsWith('units/')) return unitCheck(vars);
  if (task.startsWith('facts/')) return factAnswer(task, vars);
  return CHECKS[task]?.(vars);
}

// Facts have nothing to recompute: this only checks that the question was paired with its own
// table row (not a neighbour's). The test pins a few rows by hand.
function factAnswer(task: string, v: Vars): string | undefined {
  switch (task) {
    case 'facts/capital': return CAPITALS.find((c) => c[0] === v.country)?.[1];
    case 'facts/country-of-capital': return CAPITALS.find((c) => c[1] === v.city)?.[0];
    case 'facts/planet-colour': return PLANETS.find((p) => p.name === v.p)?.colour;
    case 'facts/planet-moons': return String(PLANETS.find((p) => p.name === v.p)?.moons);
    case 'facts/opposite': {
      const pair = OPPOSITES.find((p) => p.includes(v.w));
      return pair && (pair[0] === v.w ? pair[1] : pair[0]);
    }
  }
  return undefined;
}
