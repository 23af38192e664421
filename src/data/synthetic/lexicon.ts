// The generator's own small tables, so the dataset needs no network and no other package.
// Everything is lower-case ASCII unless it is a proper name.

/** Subjects for the string and counting tasks: 3 to 9 letters, a-z only. */
export const WORDS: readonly string[] = (
  'apple banana cherry grape lemon mango melon peach pear plum olive onion carrot potato tomato ' +
  'bread butter cheese honey sugar salt pepper water coffee juice cake cookie pizza pasta rice ' +
  'soup salad table chair window door floor house garden river ocean forest desert island ' +
  'mountain valley meadow beach cloud storm rain snow wind thunder sunset morning evening ' +
  'winter summer autumn spring planet rocket comet star moon galaxy orbit robot pencil paper ' +
  'book letter button bottle basket bucket candle mirror pillow blanket ladder hammer needle ' +
  'rabbit tiger lion zebra horse donkey monkey turtle parrot eagle falcon salmon shark whale ' +
  'spider beetle kitten puppy dragon castle bridge tunnel market school library museum ' +
  'doctor farmer pilot sailor singer dancer painter writer teacher student music guitar ' +
  'piano violin drum trumpet silver golden copper marble crystal velvet cotton purple orange ' +
  'yellow green brown happy quiet gentle brave clever lucky simple bright frozen hidden ' +
  'little jump run swim climb paint write read sing dance build carry listen travel wonder ' +
  'whisper kingdom lantern journey puzzle riddle shadow ribbon saddle harbor anchor compass ' +
  'feather pebble blossom thistle walnut almond pepper ginger cactus tulip daisy maple cedar'
)
  .split(' ')
  .filter((w, i, all) => all.indexOf(w) === i);

export const NOUNS: readonly string[] = [
  'cat', 'dog', 'bird', 'frog', 'cook', 'girl', 'boy', 'robot', 'farmer', 'teacher', 'pilot',
  'baker', 'king', 'queen', 'horse', 'rabbit', 'owl', 'sailor', 'doctor', 'student',
];
export const OBJECTS: readonly string[] = [
  'ball', 'book', 'apple', 'river', 'house', 'door', 'box', 'hill', 'tree', 'garden', 'letter',
  'song', 'cake', 'map', 'boat', 'road', 'lamp', 'bridge', 'window', 'park',
];
/** Base forms; `thirdPerson` makes "carries", "watches". */
export const VERBS: readonly string[] = [
  'see', 'like', 'find', 'paint', 'read', 'open', 'build', 'visit', 'carry', 'draw', 'watch',
  'clean', 'follow', 'want', 'need',
];
export const ADJECTIVES: readonly string[] = [
  'big', 'small', 'red', 'old', 'young', 'happy', 'quiet', 'brave', 'tall', 'green', 'lazy',
  'clever', 'tiny', 'bright', 'kind', 'blue',
];
export const PLACES: readonly string[] = [
  'at night', 'every day', 'in the morning', 'after lunch', 'on Sunday', 'near the lake',
  'by the sea', 'at school',
];

export const NAMES: readonly string[] = [
  'Ann', 'Bob', 'Cara', 'Dev', 'Eli', 'Finn', 'Gia', 'Hugo', 'Ivy', 'Jon', 'Kim', 'Leo', 'Mia',
  'Ned', 'Omar', 'Pia', 'Raj', 'Sam', 'Tia', 'Uma', 'Vik', 'Wes', 'Yara', 'Zoe',
];
export const COLOURS: readonly string[] = [
  'red', 'blue', 'green', 'yellow', 'orange', 'purple', 'pink', 'brown', 'black', 'white',
  'gray', 'silver', 'gold', 'teal',
];
export const PETS: readonly string[] = [
  'cat', 'dog', 'fish', 'parrot', 'hamster', 'rabbit', 'turtle', 'lizard', 'horse', 'mouse',
];

export const WEEKDAYS: readonly string[] = [
  'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday',
];
export const MONTHS: readonly string[] = [
  'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
  'October', 'November', 'December',
];

/** [country, capital]: well-known, stable, ASCII spellings. */
export const CAPITALS: readonly (readonly [string, string])[] = [
  ['France', 'Paris'], ['Germany', 'Berlin'], ['Italy', 'Rome'], ['Spain', 'Madrid'],
  ['Portugal', 'Lisbon'], ['Japan', 'Tokyo'], ['China', 'Beijing'], ['India', 'New Delhi'],
  ['Egypt', 'Cairo'], ['Kenya', 'Nairobi'], ['Canada', 'Ottawa'], ['Mexico', 'Mexico City'],
  ['Brazil', 'Brasilia'], ['Argentina', 'Buenos Aires'], ['Peru', 'Lima'], ['Chile', 'Santiago'],
  ['Russia', 'Moscow'], ['Poland', 'Warsaw'], ['Greece', 'Athens'], ['Norway', 'Oslo'],
  ['Sweden', 'Stockholm'], ['Finland', 'Helsinki'], ['Denmark', 'Copenhagen'],
  ['Ireland', 'Dublin'], ['Austria', 'Vienna'], ['Hungary', 'Budapest'], ['Turkey', 'Ankara'],
  ['Thailand', 'Bangkok'], ['Vietnam', 'Hanoi'], ['Indonesia', 'Jakarta'],
  ['Australia', 'Canberra'], ['Iran', 'Tehran'], ['Cuba', 'Havana'], ['Nigeria', 'Abuja'],
  ['Ghana', 'Accra'], ['Morocco', 'Rabat'], ['South Korea', 'Seoul'],
  ['Netherlands', 'Amsterdam'], ['Belgium', 'Brussels'], ['Switzerland', 'Bern'],
  ['Czechia', 'Prague'], ['Ukraine', 'Kyiv'], ['Colombia', 'Bogota'], ['Venezuela', 'Caracas'],
  ['Philippines', 'Manila'], ['Pakistan', 'Islamabad'], ['Saudi Arabia', 'Riyadh'],
  ['New Zealand', 'Wellington'], ['Scotland', 'Edinburgh'], ['Iceland', 'Reykjavik'],
];

/** A made-up solar system: facts no pretrained model knows, so they measure what SFT taught. */
export const PLANETS: readonly { name: string; colour: string; moons: number }[] = [
  { name: 'Zorvan', colour: 'red', moons: 3 },
  { name: 'Quellis', colour: 'blue', moons: 0 },
  { name: 'Miravo', colour: 'green', moons: 7 },
  { name: 'Tesk', colour: 'yellow', moons: 1 },
  { name: 'Ombra', colour: 'purple', moons: 12 },
  { name: 'Velloq', colour: 'orange', moons: 2 },
  { name: 'Drisa', colour: 'white', moons: 5 },
  { name: 'Kaltor', colour: 'gray', moons: 9 },
  { name: 'Nuvia', colour: 'pink', moons: 4 },
  { name: 'Pexa', colour: 'silver', moons: 6 },
  { name: 'Ranth', colour: 'brown', moons: 11 },
  { name: 'Sollo', colour: 'gold', moons: 8 },
  { name: 'Ulbrim', colour: 'teal', moons: 10 },
  { name: 'Yssa', colour: 'black', moons: 2 },
  { name: 'Breld', colour: 'green', moons: 0 },
  { name: 'Corvin', colour: 'blue', moons: 15 },
];

/** Unambiguous opposites: every word occurs once, so each has exactly one answer. */
export const OPPOSITES: readonly (readonly [string, string])[] = [
  ['hot', 'cold'], ['big', 'small'], ['up', 'down'], ['fast', 'slow'], ['happy', 'sad'],
  ['light', 'dark'], ['open', 'closed'], ['early', 'late'], ['hard', 'soft'], ['high', 'low'],
  ['in', 'out'], ['left', 'right'], ['full', 'empty'], ['wet', 'dry'], ['rich', 'poor'],
  ['strong', 'weak'], ['thick', 'thin'], ['loud', 'quiet'], ['push', 'pull'], ['win', 'lose'],
  ['day', 'night'], ['first', 'last'], ['true', 'false'], ['yes', 'no'], ['inside', 'outside'],
  ['above', 'below'], ['buy', 'sell'], ['give', 'take'], ['long', 'short'], ['clean', 'dirty'],
  ['north', 'south'], ['east', 'west'], ['cheap', 'expensive'], ['asleep', 'awake'],
  ['before', 'after'], ['love', 'hate'], ['always', 'never'], ['friend', 'enemy'],
];
