// The registry: every task of the bundled dataset, in a fixed order (the order is part of the
// generated output, so append new tasks rather than insert them).
import type { ScoreMode, TaskSpec } from './spec.ts';
import { taskId } from './spec.ts';
import { FACT_TASKS } from './tasks-facts.ts';
import { LIST_TASKS } from './tasks-lists.ts';
import { MEASURE_TASKS } from './tasks-measures.ts';
import { NUMBER_TASKS } from './tasks-numbers.ts';
import { TEXT_TASKS } from './tasks-text.ts';

export const TASKS: readonly TaskSpec[] = [
  ...NUMBER_TASKS, ...TEXT_TASKS, ...LIST_TASKS, ...MEASURE_TASKS, ...FACT_TASKS,
];

export const TASK_FAMILIES: readonly string[] = [...new Set(TASKS.map((t) => t.family))];

const BY_ID = new Map(TASKS.map((t) => [taskId(t), t]));

export function findTask(id: string): TaskSpec | undefined {
  return BY_ID.get(id);
}

export function scoreModeOf(id: string): ScoreMode {
  return BY_ID.get(id)?.score ?? 'text';
}
