// Learning-rate schedules with linear warmup, with the semantics of Hugging Face transformers'
// get_{cosine,linear,constant}_schedule_with_warmup (optimization.py), so a Pupil run and a
// Trainer run with the same arguments use the same rates:
//   warmup (step < W):   lr · step / max(1, W)
//   cosine:              lr · ½(1 + cos(π · p)),   p = (step − W) / max(1, S − W)
//   linear:              lr · max(0, (S − step) / max(1, S − W))
//   constant:            lr
// `step` is the 0-based index of the optimizer update about to run (HF's LambdaLR is stepped after
// each optimizer.step(), so update k uses lambda(k)): with warmup, the first update has rate 0.
// With minLrRatio r (HF's get_cosine_with_min_lr_schedule_with_warmup, min_lr_rate) the decay
// factor f becomes r + (1 − r)·f; we apply it to the linear decay too. Unlike HF, cosine stops
// at its floor after totalSteps instead of rising again (HF leaves progress unclamped).

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export interface ScheduleConfig {
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  /** Optimizer updates in the whole run (HF's num_training_steps). */
  totalSteps: number;
  kind: ScheduleKind;
  /** Floor as a fraction of lr for cosine and linear decay (default 0). */
  minLrRatio?: number;
}

export class ScheduleError extends Error {
  constructor(message: string) {
    super(`learning-rate schedule: ${message}`);
    this.name = 'ScheduleError';
  }
}

const KINDS: readonly ScheduleKind[] = ['cosine', 'linear', 'constant'];

/** Throws a ScheduleError naming the first bad field; returns the config for chaining. */
export function checkSchedule(c: ScheduleConfig): ScheduleConfig {
  if (!KINDS.includes(c.kind)) throw new ScheduleError(`kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(c.kind)}`);
  if (!Number.isFinite(c.lr) || c.lr < 0) throw new ScheduleError(`lr must be a finite number >= 0, got ${c.lr}`);
  if (!Number.isSafeInteger(c.warmupSteps) || c.warmupSteps < 0) throw new ScheduleError(`warmupSteps must be an integer >= 0, got ${c.warmupSteps}`);
  if (!Number.isSafeInteger(c.totalSteps) || c.totalSteps < 0) throw new ScheduleError(`totalSteps must be an integer >= 0, got ${c.totalSteps}`);
  const r = c.minLrRatio ?? 0;
  if (!(r >= 0 && r <= 1)) throw new ScheduleError(`minLrRatio must be in [0, 1], got ${c.minLrRatio}`);
  return c;
}

/** The multiplier of lr at `step` (HF's lr_lambda). */
export function lrFactor(step: number, c: ScheduleConfig): number {
  checkSchedule(c);
  if (!Number.isSafeInteger(step) || step < 0) throw new ScheduleError(`step must be an integer >= 0, got ${step}`);
  const W = c.warmupSteps;
  if (step < W) return step / Math.max(1, W);
  if (c.kind === 'constant') return 1;
  const r = c.minLrRatio ?? 0;
  const span = Math.max(1, c.totalSteps - W);
  let f: number;
  if (c.kind === 'cosine') {
    const progress = Math.min(1, (step - W) / span);
    f = 0.5 * (1 + Math.cos(Math.PI * progress));
  } else {
    f = Math.max(0, (c.totalSteps - step) / span);
  }
  return r + (1 - r) * f;
}

/** The learning rate of the optimizer update with 0-based index `step`. */
export function learningRate(step: number, c: ScheduleConfig): number {
  return c.lr * lrFactor(step, c);
}

/**
 * Warmup steps from a fraction of the run, rounded up as HF's TrainingArguments.get_warmup_steps
 * does (ceil(total · ratio)).
 */
export function warmupStepsFromRatio(ratio: number, totalSteps: number): number {
  if (!(ratio >= 0 && ratio <= 1)) throw new ScheduleError(`warmup ratio must be in [0, 1], got ${ratio}`);
  if (!Number.isSafeInteger(totalSteps) || totalSteps < 0) throw new ScheduleError(`totalSteps must be an integer >= 0, got ${totalSteps}`);
  // Same double product as Python, so even 30 · 0.1 = 3.0000000000000004 → 4 matches HF.
  return Math.ceil(totalSteps * ratio);
}
