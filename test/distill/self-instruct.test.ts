import { describe, expect, it } from 'vitest';
import {
  checkInstruction,
  parseNumberedTasks,
  selfInstruct,
  selfInstructAll,
  SELF_INSTRUCT_PROMPT_V1,
  type SelfInstructProgress,
  type SyntheticRecord,
} from '../../src/distill/self-instruct.ts';
import { regenerateResponses } from '../../src/distill/regenerate.ts';
import type { Teacher, TeacherMessage, TeacherOptions, TeacherReply } from '../../src/distill/teacher.ts';

const SEEDS = [
  { instruction: 'Give three tips for staying healthy.', output: 'Eat well, sleep, move.' },
  { instruction: 'Translate the sentence into French.', input: 'I like apples.', output: "J'aime les pommes." },
  { instruction: 'Classify the sentiment of this review as positive or negative.', input: 'Great phone!', output: 'positive' },
  { instruction: 'Name the capital city of Australia.', output: 'Canberra' },
];

/** Distinct letter-only words, so generated instructions share no tokens by accident. */
function word(n: number): string {
  let s = '';
  n += 26 * 26;
  while (n > 0) {
    s += String.fromCharCode(97 + (n % 26));
    n = Math.floor(n / 26);
  }
  return s;
}

let uniq = 0;
function freshList(n: number): string {
  return Array.from({ length: n }, (_, i) => `${i + 1}. Explain ${[0, 1, 2, 3].map(() => word(uniq++)).join(' ')} briefly.`).join('\n');
}

const isInstructionPrompt = (m: TeacherMessage[]) => m[m.length - 1].content.startsWith('You are helping to build');

/** Answers instruction prompts from a script (then fresh unique lists), and tasks with "Answer: <task>". */
class FakeTeacher implements Teacher {
  readonly name = 'fake:deterministic';
  prompts: string[] = [];
  answered: string[] = [];
  listCalls = 0;
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private script: (string | TeacherReply)[] = [],
    private fail: (task: string) => 'throw' | 'empty' | null = () => null,
  ) {}

  async generate(messages: TeacherMessage[], options?: TeacherOptions): Promise<TeacherReply> {
    options?.signal?.throwIfAborted();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    this.inFlight--;
    const user = messages[messages.length - 1].content;
    if (isInstructionPrompt(messages)) {
      this.prompts.push(user);
      const s = this.script[this.listCalls++] ?? freshList(5);
      const reply = typeof s === 'string' ? { text: s, finishReason: 'stop' } : s;
      return { ...reply, usage: { promptTokens: 100, completionTokens: 40 } };
    }
    this.answered.push(user);
    const f = this.fail(user);
    if (f === 'throw') throw new Error(`teacher exploded on "${user.slice(0, 20)}"`);
    return { text: f === 'empty' ? '  ' : `Answer: ${user}`, finishReason: 'stop', usage: { promptTokens: 10, completionTokens: 5 } };
  }
}

const FIXED = () => new Date('2025-01-02T03:04:05.000Z');

describe('parseNumberedTasks', () => {
  it('reads numbered lists in the shapes teachers write', () => {
    const text = [
      'Sure! Here are the tasks:',
      '1. Write a haiku about autumn leaves.',
      '2) **Instruction:** Summarise the paragraph below',
      '   in one sentence.',
      '   Input: The cat sat on the mat all day.',
      '**3.** "Sort these numbers in ascending order."',
      'Input: 5, 3, 9',
      'Output: 3, 5, 9',
      'Task 4: Suggest a name for a bakery.',
      'Input: <noinput>',
      '5. Describe the water cycle for a child and',
    ].join('\n');
    expect(parseNumberedTasks(text, true)).toEqual([
      { instruction: 'Write a haiku about autumn leaves.', input: '' },
      { instruction: 'Summarise the paragraph below in one sentence.', input: 'The cat sat on the mat all day.' },
      { instruction: 'Sort these numbers in ascending order.', input: '5, 3, 9' },
      { instruction: 'Suggest a name for a bakery.', input: '' },
    ]);
    expect(parseNumberedTasks(text, false)).toHaveLength(5);
    expect(parseNumberedTasks('no list here at all')).toEqual([]);
  });
});

describe('checkInstruction', () => {
  it('names each reason', () => {
    expect(checkInstruction('Explain how rainbows form in the sky.')).toBeNull();
    expect(checkInstruction('   ')).toBe('empty');
    expect(checkInstruction('Explain rainbows.')).toBe('too-short');
    expect(checkInstruction(Array(151).fill('word').join(' '))).toBe('too-long');
    expect(checkInstruction('Explain rainbows please', { minWords: 3, maxWords: 3 })).toBeNull();
    expect(checkInstruction('Draw a cat sitting on a chair.')).toBe('blacklist');
    expect(checkInstruction('Describe the IMAGE you are given.')).toBe('blacklist');
    expect(checkInstruction('Tell me how to go to the station.')).toBe('blacklist');
    // Word boundaries: "mapping" and "profile" are not "map" and "file".
    expect(checkInstruction('Explain what a profile mapping between sets is.')).toBeNull();
    expect(checkInstruction('- Explain how rainbows form today.')).toBe('punctuation');
    expect(checkInstruction('Écrivez un poème sur la mer.')).toBe('non-english');
    expect(checkInstruction('Write about rainbows in detail', { blacklist: ['rainbows'] })).toBe('blacklist');
  });
});

describe('selfInstruct', () => {
  const canned = [
    '1. Explain how vaccines train the immune system.', // kept
    '2. Give three tips for staying very healthy.', // near-duplicate of a seed
    '3. Explain how vaccines train the immune system quickly.', // near-duplicate of item 1
    '4. Draw a map of your neighbourhood.', // blacklist
    `5. ${Array(160).fill('long').join(' ')}`, // too long
    '6. Hi there.', // too short
    '7. ...and then continue the story about dragons.', // punctuation
    '8. Écrivez une lettre à votre ami.', // non-English
    '9. Rewrite the sentence in the passive voice.', // kept, with input
    '   Input: The dog chased the ball.',
    'this malformed line joins item 9? no: it follows the input line',
    '10.',
    '11. Suggest a catchy name for a new coffee shop.', // kept
  ].join('\n');

  it('filters by every reason, answers what it keeps, and records provenance', async () => {
    const t = new FakeTeacher([canned]);
    const progress: SelfInstructProgress[] = [];
    const { records, summary } = await selfInstructAll(t, {
      seeds: SEEDS, target: 3, seed: 1, now: FIXED, onProgress: (p) => progress.push(p),
    });
    expect(records.map((r) => [r.instruction, r.input])).toEqual([
      ['Explain how vaccines train the immune system.', ''],
      ['Rewrite the sentence in the passive voice.', 'The dog chased the ball.\nthis malformed line joins item 9? no: it follows the input line'],
      ['Suggest a catchy name for a new coffee shop.', ''],
    ]);
    for (const r of records) {
      expect(r.output).toBe(`Answer: ${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}`);
      expect(r).toMatchObject({ teacher: 'fake:deterministic', prompt_version: SELF_INSTRUCT_PROMPT_V1.version, generated_at: '2025-01-02T03:04:05.000Z' });
    }
    expect(summary).toMatchObject({ stopped: 'target', kept: 3, target: 3, teacherCalls: 4, rounds: 1, promptTokens: 130, completionTokens: 55 });
    expect(summary.rejected).toEqual({
      empty: 1, 'too-short': 1, 'too-long': 1, blacklist: 1, punctuation: 1, 'non-english': 1, similar: 2, 'response-failed': 0,
    });
    expect(progress[0].kept).toBe(0);
    expect(progress[progress.length - 1].kept).toBe(3);
    // The prompt shows sampled seeds (with their inputs) and asks for the default 10.
    expect(t.prompts[0]).toMatch(/from 1 to 10\.$/);
    expect(SEEDS.some((s) => t.prompts[0].includes(s.instruction))).toBe(true);
  });

  it('is deterministic for a seed and varies with it', async () => {
    const run = async (seed: number) => {
      const t = new FakeTeacher(Array(6).fill('1. Hi.'));
      await selfInstructAll(t, { seeds: SEEDS, target: 1, seed, maxIdleRounds: 6, now: FIXED });
      return t.prompts;
    };
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    expect(await run(6)).not.toEqual(a);
  });

  it('stops when the teacher keeps repeating itself', async () => {
    const t = new FakeTeacher(Array(10).fill('1. Give three tips for staying healthy.'));
    const { records, summary } = await selfInstructAll(t, { seeds: SEEDS, target: 5, maxIdleRounds: 3 });
    expect(records).toEqual([]);
    expect(summary).toMatchObject({ stopped: 'idle', rounds: 3, kept: 0 });
    expect(summary.rejected.similar).toBe(3);
  });

  it('reports failed responses without stopping', async () => {
    const t = new FakeTeacher([canned], (u) => (u.startsWith('Rewrite') ? 'throw' : u.startsWith('Suggest') ? 'empty' : null));
    const { records, summary } = await selfInstructAll(t, { seeds: SEEDS, target: 3, now: FIXED });
    expect(records).toHaveLength(3);
    expect(records[0].instruction).toBe('Explain how vaccines train the immune system.');
    expect(summary.rejected['response-failed']).toBe(2);
    expect(summary.teacherErrors).toBe(1);
    expect(new Set(records.map((r) => r.instruction)).size).toBe(3);
  });

  it('resumes from earlier records without duplicating them', async () => {
    const first = await selfInstructAll(new FakeTeacher(), { seeds: SEEDS, target: 6, seed: 2, instructionsPerPrompt: 5 });
    expect(first.records).toHaveLength(6);
    const state: SyntheticRecord[] = first.records.slice(0, 4);
    // The resumed teacher first repeats two earlier instructions: the pool must know them.
    const repeat = `1. ${state[0].instruction}\n2. ${state[3].instruction}\n3. Explain why tides follow the moon.`;
    const t = new FakeTeacher([repeat]);
    const rest = await selfInstructAll(t, { seeds: SEEDS, target: 6, seed: 2, state, generatedPerPrompt: 2 });
    expect(rest.records).toHaveLength(2);
    expect(rest.records[0].instruction).toBe('Explain why tides follow the moon.');
    expect(rest.summary).toMatchObject({ kept: 6, stopped: 'target' });
    expect(rest.summary.rejected.similar).toBe(2);
    const all = [...state, ...rest.records].map((r) => r.instruction);
    expect(new Set(all).size).toBe(6);
    // Earlier generated tasks are shown to the teacher alongside the seeds.
    expect(state.some((s) => t.prompts[0].includes(s.instruction))).toBe(true);
    // Already at the target: nothing to do, no teacher call.
    const none = new FakeTeacher();
    const done = await selfInstructAll(none, { seeds: SEEDS, target: 4, state });
    expect(done.records).toEqual([]);
    expect(none.prompts).toEqual([]);
  });

  it('cancels through an AbortSignal, keeping what was yielded', async () => {
    const ac = new AbortController();
    const t = new FakeTeacher();
    const got: SyntheticRecord[] = [];
    const run = async () => {
      for await (const r of selfInstruct(t, { seeds: SEEDS, target: 100, signal: ac.signal, instructionsPerPrompt: 3 })) {
        got.push(r);
        if (got.length === 4) ac.abort(new Error('user stopped'));
      }
    };
    await expect(run()).rejects.toThrow('user stopped');
    expect(got).toHaveLength(4);
    const calls = t.prompts.length + t.answered.length;
    await new Promise((r) => setTimeout(r, 10));
    expect(t.prompts.length + t.answered.length).toBe(calls);
    // Aborted before starting: the first teacher call never happens.
    const t2 = new FakeTeacher();
    await expect(selfInstructAll(t2, { seeds: SEEDS, target: 3, signal: AbortSignal.abort() })).rejects.toThrow();
    expect(t2.prompts).toEqual([]);
  });
});

describe('regenerateResponses', () => {
  const data = [
    { instruction: 'Name a primary colour.', input: '', output: 'old', task: 'colours', id: 'a' },
    { instruction: 'Reverse the word.', input: 'stressed', output: 'old', id: 'b' },
    { instruction: 'Explode now please.', output: 'old', id: 'c' },
    { instruction: 'Say nothing at all.', output: 'old', id: 'd' },
    { instruction: '', output: 'old', id: 'e' },
    { instruction: 'Count to three.', id: 'f' },
  ];
  const failing = (u: string) => (u.startsWith('Explode') ? 'throw' : u.startsWith('Say nothing') ? 'empty' : null);

  it('keeps instructions and inputs, replaces outputs, reports failures by line', async () => {
    const t = new FakeTeacher([], failing);
    const progress: number[] = [];
    const res = await regenerateResponses(t, data, { concurrency: 2, now: FIXED, lines: [3, 4, 5, 6, 7, 9], onProgress: (p) => progress.push(p.done) });
    expect(res.cancelled).toBe(false);
    expect(res.records.map((r) => r.id)).toEqual(['a', 'b', 'f']);
    expect(res.records[0]).toEqual({
      instruction: 'Name a primary colour.', input: '', output: 'Answer: Name a primary colour.', task: 'colours', id: 'a',
      teacher: 'fake:deterministic', prompt_version: 'regenerate-v2/self-instruct-v2', generated_at: '2025-01-02T03:04:05.000Z',
    });
    expect(res.records[1].output).toBe('Answer: Reverse the word.\n\nstressed');
    expect(res.records[2].input).toBe('');
    expect(res.failures.map((f) => [f.index, f.line])).toEqual([[2, 5], [3, 6], [4, 7]]);
    expect(res.failures[0].message).toMatch(/exploded/);
    expect(res.failures[1].message).toMatch(/empty response/);
    expect(res.failures[2].message).toMatch(/no instruction/);
    expect(res.progress).toMatchObject({ done: 6, total: 6, failed: 3, promptTokens: 40, completionTokens: 20 });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.maxInFlight).toBe(2);
    // Default lines are 1-based JSONL positions.
    const again = await regenerateResponses(new FakeTeacher([], failing), data);
    expect(again.failures.map((f) => f.line)).toEqual([3, 4, 5]);
  });

  it("the teacher sees the reader's user turn; a record's own system turn, the default one, or none", async () => {
    const seen: TeacherMessage[][] = [];
    const t: Teacher = { name: 'spy', generate: async (m) => (seen.push(m), { text: 'ok', finishReason: 'stop' }) };
    const recs = [{ instruction: 'Reverse the word.', input: 'stressed' }, { instruction: 'Be terse.', system: 'You are a pirate.' }];
    const withDefault = await regenerateResponses(t, recs, { concurrency: 1 });
    expect(seen[0]).toEqual([{ role: 'system', content: SELF_INSTRUCT_PROMPT_V1.responseSystem }, { role: 'user', content: 'Reverse the word.\n\nstressed' }]);
    expect(seen[1]).toEqual([{ role: 'system', content: 'You are a pirate.' }, { role: 'user', content: 'Be terse.' }]);
    expect(withDefault.records.map((r) => r.prompt_version)).toEqual(['regenerate-v2/self-instruct-v2', 'regenerate-v2/system']);
    const none = await regenerateResponses(t, recs, { concurrency: 1, system: null });
    expect(seen[2]).toEqual([{ role: 'user', content: 'Reverse the word.\n\nstressed' }]);
    expect(seen[3][0]).toEqual({ role: 'system', content: 'You are a pirate.' });
    expect(none.records.map((r) => r.prompt_version)).toEqual(['regenerate-v2', 'regenerate-v2/system']);
  });

  it('stops early on abort and says so', async () => {
    const ac = new AbortController();
    const many = Array.from({ length: 50 }, (_, i) => ({ instruction: `Task number ${i}.` }));
    const res = await regenerateResponses(new FakeTeacher(), many, {
      concurrency: 2, signal: ac.signal, onProgress: (p) => p.done === 5 && ac.abort(),
    });
    expect(res.cancelled).toBe(true);
    expect(res.records.length).toBeGreaterThanOrEqual(5);
    expect(res.records.length).toBeLessThan(10);
    expect(res.failures).toEqual([]);
  });
});
