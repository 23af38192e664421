// The single-turn task a dataset record stands for, as the generation loops take it. Shared by
// `pupil distill` and the studio's panel (a small module of its own, so the page does not load the
// generation loops until they run).
import type { Example } from '../data/types.ts';
import type { AlpacaLike } from './regenerate.ts';

/** A record's single-turn task with its extra fields (system, provenance, task metadata). */
export type RegenerateTask = AlpacaLike & { input: string };

/** A single-turn task from any record format (the CLI and the studio agree); a string says why a record has none. */
export function exampleTask(e: Example): { task: RegenerateTask; output: string } | string {
  if (e.kind === 'completion') return 'prompt/completion records have no instruction';
  const meta = e.meta ?? {};
  if (e.alpaca) {
    const { instruction, input, output, system } = e.alpaca;
    return { task: { instruction, input, ...(system ? { system } : {}), ...meta }, output };
  }
  const turns = e.messages.filter((m) => m.role !== 'system');
  if (turns.length !== 2 || turns[0].role !== 'user' || turns[1].role !== 'assistant') return 'not a single user turn and reply';
  const system = e.messages.find((m) => m.role === 'system')?.content;
  return { task: { instruction: turns[0].content, input: '', ...(system ? { system } : {}), ...meta }, output: turns[1].content };
}
