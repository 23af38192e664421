// What a training job tells the outside world: plain objects, so they can be posted from the
// Worker and stored as metrics rows. The order they arrive in is described in trainer.ts.
import type { MatchRate } from '../data/synthetic/index.ts';
import type { MetricRow } from './storage.ts';

export type TrainerState = 'loading' | 'ready' | 'running' | 'paused' | 'stopping' | 'done' | 'error';

export interface StepEvent {
  type: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Non-pad tokens of this step per second of wall time it took. */
  tokensPerSecond: number;
  tokensSeen: number;
  /** Mean token accuracy over the trained tokens of the step. */
  accuracy?: number;
  /** The update was not applied (non-finite loss or gradient, or no trained token). */
  skipped: boolean;
  elapsedMs: number;
}

export interface EvalEvent {
  type: 'eval';
  step: number;
  valLoss?: number;
  perplexity?: number;
  valAccuracy?: number;
  exactMatch?: { rate: number; correct: number; total: number; families: Record<string, MatchRate> };
}

export interface RunSummary {
  runId: string;
  steps: number;
  totalSteps: number;
  epoch: number;
  tokensSeen: number;
  elapsedMs: number;
  /** Ended by stop() before totalSteps. */
  stopped: boolean;
  skippedSteps: number;
  /** Mean loss of the last (up to 20) applied steps. */
  finalLoss?: number;
  firstEval?: EvalEvent;
  lastEval?: EvalEvent;
  lastCheckpoint?: number;
}

export type TrainerEvent =
  | { type: 'status'; state: TrainerState; detail?: string }
  | StepEvent
  | EvalEvent
  | { type: 'sample'; step: number; prompt: string; text: string }
  | { type: 'checkpoint'; step: number; runId: string }
  | { type: 'done'; summary: RunSummary }
  | { type: 'error'; message: string; runId?: string; lastCheckpoint?: number };

/** The metrics-history row of a step or eval event: the event with `type` renamed to `kind`. */
export function metricRow(e: StepEvent | EvalEvent): MetricRow {
  const { type, ...rest } = e;
  // JSON has no NaN: a skipped step's loss becomes null rather than vanishing from the line.
  const clean = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, typeof v === 'number' && !Number.isFinite(v) ? null : v]));
  return { kind: type, ...clean, step: e.step };
}
