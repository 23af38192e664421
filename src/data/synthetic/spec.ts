// What a task is: phrasings split into train-only and test-only, a sampler of values, and how its
// answers are compared.
import type { Rng } from './prng.ts';

/**
 * How `scoreExample` compares a prediction with the answer.
 * text: whitespace and case folded; case: whitespace only (the task is about case);
 * number: numeric value; json: parsed structure; lines: line by line, case folded.
 */
export type ScoreMode = 'text' | 'case' | 'number' | 'json' | 'lines';

/** `{name}` placeholders are filled from the sample's vars. No input: the data is inlined. */
export interface Template {
  instruction: string;
  input?: string;
}

export interface Sample {
  /** Strings the templates may use; the tests recompute answers from them. */
  vars: Record<string, string>;
  answer: string;
  /** The value tuple, canonical: what "the same values" means for hold-out. */
  key: string;
}

export interface TaskSpec {
  family: string;
  name: string;
  score: ScoreMode;
  /**
   * Whether some value tuples are reserved for the test split. False for closed tables (facts):
   * a fact never seen in training cannot be answered, so only its phrasing is held out.
   */
  holdOutValues: boolean;
  /** Share of the split relative to other tasks (default 1). */
  weight?: number;
  train: readonly Template[];
  test: readonly Template[];
  sample(rng: Rng): Sample;
}

/** One Alpaca JSONL line; `output` is the answer itself so exact match needs no extraction. */
export interface SyntheticRecord {
  instruction: string;
  input: string;
  output: string;
  task: string;
  answer: string;
  id: string;
}

export function T(instruction: string, input?: string): Template {
  return input === undefined ? { instruction } : { instruction, input };
}

export function taskId(t: Pick<TaskSpec, 'family' | 'name'>): string {
  return `${t.family}/${t.name}`;
}

export function render(text: string, vars: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`template placeholder {${name}} has no value`);
    return v;
  });
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
