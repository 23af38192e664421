// The training job, the same in Node (CLI) and in a Web Worker: everything environment-specific
// comes in through TrainerEnv (GPU runtime, run storage, loaders for pretrained students and data
// files), and everything the outside sees goes out as TrainerEvents.
//
//   const t = await Trainer.create(env, config, { onEvent, resume?: runId });   // loads, plans
//   t.on(listener); const summary = await t.run();      // rejects (after an 'error' event) on failure
//   t.pause() / t.resume() / t.stop()                    // between steps; stop saves a checkpoint
//   t.generate(messages, opts)                           // streaming chat with the current weights
//   t.generate(messages, { model: 'initial' })           // ... or with the student before training
//   t.exportHuggingFace({ dtype })                       // Map<file name, bytes>
//
// Events, in order: status 'loading' (checkpoint, student, data) → status 'ready' → [run()]
// status 'running' → [eval at start, sample × prompts] → step … (eval + samples every N,
// checkpoint every N) … → final eval + samples → checkpoint → status 'done' → done.
// stop(): status 'stopping' → checkpoint → status 'done' → done (summary.stopped; no final eval).
// pause(): status 'paused' until resume(): status 'running'. Failure (too many non-finite steps in
// a row, device lost, storage): error (with lastCheckpoint) → status 'error', and run() rejects.
// `create` also emits 'error' before rejecting (memory plan, data, checkpoint), so pass `onEvent`
// to see those and the loading status.
//
// The loop never waits for the GPU after each step: step metrics arrive asynchronously and are
// emitted in order as they resolve, with at most MAX_IN_FLIGHT steps submitted ahead. Evaluation,
// checkpoints, pause and stop first drain those steps. Resuming restores parameters, AdamW state,
// the step and the data position (epoch, batches consumed), so later losses are bit-identical.
import type { Batch } from '../data/batch.ts';
import type { TemplateMessage } from '../data/template.ts';
import type { GenerateEvent, GenerateOptions, GenerateResult } from '../generate/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { describePositions, usablePositions } from '../models/config.ts';
import { exportHuggingFace, type ExportDtype } from '../models/export.ts';
import { ParamLayout, ParamStore } from '../models/params.ts';
import { warmupStepsFromRatio, type ScheduleConfig } from '../optim/schedule.ts';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.ts';
import { resolveRunConfig, RunConfigError, type RunConfig, type RunConfigInput } from './config.ts';
import { batchOptions, loadRunData, StepBatches, stepsPerEpoch, totalSteps, validationBatches, type DataLoader, type RunData } from './data.ts';
import { ChatModels } from './chat-models.ts';
import { exactMatchEval, samples, validationLoss } from './evaluate.ts';
import { prepareDistill, type DistillSetup } from './distill-setup.ts';
import { checkPlan, planMemory, type MemoryPlan } from './memory.ts';
import type { StepMetrics } from './metrics.ts';
import { TrainStep } from './step.ts';
import { metricRow, type EvalEvent, type RunSummary, type StepEvent, type TrainerEvent, type TrainerState } from './events.ts';
import { makeRunId, type MetricRow, type RunMeta, type RunStatus, type RunStorage } from './storage.ts';
import { loadStudent, type PretrainedLoader, type Student } from './student.ts';

export interface TrainerEnv {
  rt: Runtime;
  storage: RunStorage;
  loadPretrained?: PretrainedLoader;
  loadData?: DataLoader;
  /** Reads a file by path (an offline distillation top-k file). */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** Clock in ms (default performance.now / Date.now). */
  now?(): number;
}

export type { EvalEvent, RunSummary, StepEvent, TrainerEvent, TrainerState } from './events.ts';

export interface TrainerOptions {
  /** Continue this run from its checkpoint. */
  resume?: string;
  /** Id of a new run (default: name and time). */
  runId?: string;
  /** Registered before loading, so the loading status and errors of create() are seen. */
  onEvent?: (e: TrainerEvent) => void;
  /** Test hook: sees (and may alter) each step's batches before they are submitted. */
  beforeStep?: (step: number, batches: Batch[]) => void;
}

export class TrainerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainerError';
  }
}

/** Steps submitted ahead of their metrics: enough to keep the GPU busy, few enough to stop promptly. */
export const MAX_IN_FLIGHT = 3;

interface Extra {
  config: RunConfig;
  tokensSeen: number;
  elapsedMs: number;
  skippedSteps: number;
}

export class Trainer {
  config!: RunConfig;
  runId!: string;
  student!: Student;
  data!: RunData;
  plan!: MemoryPlan;
  totalSteps = 0;
  schedule!: ScheduleConfig;

  private readonly listeners = new Set<(e: TrainerEvent) => void>();
  private readonly now: () => number;
  private state: TrainerState = 'loading';
  private store?: ParamStore;
  private trainStep?: TrainStep;
  private distill?: DistillSetup;
  /** Why a reopened distillation run's teacher could not be loaded (it cannot train on). */
  private distillUnavailable?: string;
  private batches!: StepBatches;
  private valBatches: Batch[] = [];
  private chatModels?: ChatModels;
  private created = 0;
  private step = 0;
  private tokensSeen = 0;
  private elapsedBefore = 0;
  private skippedSteps = 0;
  private nonFiniteRun = 0;
  private lastCheckpoint?: number;
  private lastEvalStep = -1;
  private firstEval?: EvalEvent;
  private lastEval?: EvalEvent;
  private readonly recentLosses: number[] = [];
  private rows: MetricRow[] = [];
  private inflight: Promise<void>[] = [];
  private lastResolved = 0;
  private runStart = 0;
  private failure?: Error;
  private lost?: Error;
  private unsubscribeLost?: () => void;
  private runPromise?: Promise<RunSummary>;
  private stopRequested = false;
  private pauseRequested = false;
  private gate?: { promise: Promise<void>; open: () => void };
  private pausedWaiters: (() => void)[] = [];

  private constructor(
    readonly env: TrainerEnv,
    private readonly opts: TrainerOptions,
  ) {
    this.now = env.now ?? (() => (typeof performance !== 'undefined' ? performance.now() : Date.now()));
    if (opts.onEvent) this.listeners.add(opts.onEvent);
  }

  /** Loads the student and data, checks the memory plan and builds the step; or resumes a run. */
  static async create(env: TrainerEnv, config: RunConfigInput | null | undefined, opts: TrainerOptions = {}): Promise<Trainer> {
    const t = new Trainer(env, opts);
    try {
      await t.init(config);
    } catch (e) {
      t.emit({ type: 'error', message: (e as Error).message, ...(t.runId ? { runId: t.runId } : {}), ...(t.lastCheckpoint !== undefined ? { lastCheckpoint: t.lastCheckpoint } : {}) });
      t.setState('error');
      t.destroy();
      throw e;
    }
    return t;
  }

  on(listener: (e: TrainerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): { state: TrainerState; runId: string; step: number; totalSteps: number; epoch: number; tokensSeen: number; lastCheckpoint?: number; lastLoss?: number } {
    return {
      state: this.state, runId: this.runId, step: this.step, totalSteps: this.totalSteps, epoch: this.batches?.epoch ?? 0, tokensSeen: this.tokensSeen,
      ...(this.lastCheckpoint !== undefined ? { lastCheckpoint: this.lastCheckpoint } : {}),
      ...(this.recentLosses.length ? { lastLoss: this.recentLosses[this.recentLosses.length - 1] } : {}),
    };
  }

  private emit(e: TrainerEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        console.error('trainer event listener failed:', err);
      }
    }
  }

  private setState(state: TrainerState, detail?: string): void {
    this.state = state;
    this.emit({ type: 'status', state, ...(detail ? { detail } : {}) });
  }

  private async init(input: RunConfigInput | null | undefined): Promise<void> {
    const { rt, storage } = this.env;
    let ck: ReturnType<typeof decodeCheckpoint> | undefined;
    let ckFiles: Map<string, Uint8Array> | undefined;
    let extra: Extra | undefined;
    if (this.opts.resume) {
      this.runId = this.opts.resume;
      this.setState('loading', `checkpoint of ${this.runId}`);
      ckFiles = await storage.loadCheckpoint(this.runId);
      if (!ckFiles) throw new TrainerError(`run ${this.runId} has no checkpoint to resume from`);
      ck = decodeCheckpoint(ckFiles);
      extra = ck.state.trainConfig as Extra;
      this.config = resolveRunConfig(extra?.config);
      if (input) {
        const given = resolveRunConfig(input);
        for (const k of ['student', 'data', 'train', 'distill'] as const) {
          if (JSON.stringify(given[k]) !== JSON.stringify(this.config[k])) throw new RunConfigError(k, `differs from the run being resumed (${this.runId}); only name, eval and save may change`);
        }
        this.config = { ...this.config, name: given.name, eval: given.eval, save: given.save };
      }
      this.lastCheckpoint = ck.state.step;
      this.created = (await storage.loadRun(this.runId))?.created ?? Date.now();
    } else {
      this.config = resolveRunConfig(input ?? {});
      this.runId = this.opts.runId ?? makeRunId(this.config.name);
      this.created = Date.now();
    }
    const c = this.config;

    this.setState('loading', 'student');
    this.student = await loadStudent(c.student, {
      loadPretrained: this.env.loadPretrained,
      onProgress: (p) => this.emit({ type: 'status', state: 'loading', detail: `student: ${p.file} ${Math.round(100 * (p.overallFraction ?? 0))}%` }),
    });
    const { arch, config: cfg, tokenizer } = this.student;
    if (c.train.seqLen > usablePositions(cfg)) throw new RunConfigError('train.seqLen', `${c.train.seqLen} exceeds the student's ${describePositions(cfg)}`);

    this.setState('loading', 'data');
    this.data = await loadRunData(c, tokenizer, this.env.loadData);
    this.emit({ type: 'status', state: 'loading', detail: `data: ${this.data.summary}` });
    if (c.distill) {
      this.setState('loading', 'distillation teacher');
      try {
        this.distill = await prepareDistill(c.distill, this.env, this.student, this.data);
        this.emit({ type: 'status', state: 'loading', detail: this.distill.summary });
      } catch (e) {
        // A reopened run stays usable (chat, evaluation, export) when its teacher is gone; only
        // training on needs the teacher, and run() says so.
        if (!this.opts.resume) throw e;
        this.distillUnavailable = (e as Error).message;
        this.emit({ type: 'status', state: 'loading', detail: `distillation teacher unavailable (${this.distillUnavailable}): this run can be chatted with, evaluated and exported, not trained further` });
      }
    }
    const perEpoch = stepsPerEpoch(this.data.train, c, this.data.padId);
    this.totalSteps = totalSteps(c, perEpoch);

    // Priced before any GPU buffer exists: a plan that cannot fit fails with its own advice.
    const layout = new ParamLayout(arch.parameters(cfg));
    this.plan = planMemory({ arch, cfg, B: c.train.batchSize, T: c.train.seqLen, layout, recompute: c.train.recompute, head: this.distill?.head });
    checkPlan(this.plan, { maxStorageBufferBindingSize: rt.limits.maxStorageBufferBindingSize, maxBufferSize: rt.limits.maxBufferSize, budgetBytes: c.train.memoryBudget });

    this.schedule = ck?.state.schedule ?? {
      lr: c.train.lr, warmupSteps: warmupStepsFromRatio(c.train.warmupRatio, this.totalSteps), totalSteps: this.totalSteps, kind: c.train.schedule, minLrRatio: c.train.minLrRatio,
    };
    this.distill?.allocate(rt);
    this.store = new ParamStore(rt, layout);
    this.trainStep = new TrainStep(rt, arch, cfg, this.store, {
      B: c.train.batchSize, T: c.train.seqLen, accumulation: c.train.accumulation, maxGradNorm: c.train.maxGradNorm, weightDecay: c.train.weightDecay,
      betas: c.train.betas, schedule: this.schedule, recompute: c.train.recompute, memoryBudget: c.train.memoryBudget,
      ...(this.distill ? { head: this.distill.head } : {}),
    });
    let epoch = 0, position = 0;
    if (ck) {
      const expected = layout.entries.map((e) => ({ name: e.name, shape: e.shape, trainable: e.trainable }));
      ck = decodeCheckpoint(ckFiles!, expected);
      this.store.load(ck.params);
      this.trainStep.loadOptimizerState({ m: ck.m, v: ck.v, step: ck.state.step, adamStep: ck.state.adamStep });
      this.step = ck.state.step;
      epoch = ck.state.epoch;
      position = ck.state.positionInEpoch;
      this.tokensSeen = extra?.tokensSeen ?? 0;
      this.elapsedBefore = extra?.elapsedMs ?? 0;
      this.skippedSteps = extra?.skippedSteps ?? 0;
      this.lastEvalStep = this.step;
      await storage.truncateMetrics(this.runId, this.step);
    } else {
      this.store.load(this.student.weights);
    }
    this.student.weights.clear(); // the GPU holds them now; checkpoints read them back
    this.chatModels = new ChatModels({
      rt, config: cfg, tokenizer: this.student.tokenizer, renderer: this.data.renderer, store: () => this.store,
      loadInitial: async () => (await loadStudent(c.student, { loadPretrained: this.env.loadPretrained })).weights,
    });
    this.batches = new StepBatches(this.data.train, batchOptions(c, this.data.padId), c.train.accumulation, epoch, position);
    this.valBatches = validationBatches(this.data.validation, c, this.data.padId, c.eval.batches);
    this.unsubscribeLost = rt.onLost((e) => {
      this.lost = e;
      this.gate?.open();
    });
    await this.saveMeta('paused');
    this.setState('ready', `${this.student.label}; ${this.totalSteps} steps (${perEpoch} per epoch)`);
  }

  /** Trains to the end (or stop()); resolves with the summary, rejects after an 'error' event. */
  run(): Promise<RunSummary> {
    if (this.runPromise) throw new TrainerError('run() was already called');
    if (this.distillUnavailable !== undefined) {
      throw new TrainerError(`run ${this.runId} trains with distillation, and its teacher cannot be loaded (${this.distillUnavailable}): it can be chatted with, evaluated and exported, but not trained further`);
    }
    this.runPromise = this.loop();
    return this.runPromise;
  }

  /** Resolves once the loop is paused between steps (in-flight steps finished). */
  pause(): Promise<void> {
    if (this.state === 'paused') return Promise.resolve();
    if (this.state !== 'running') return Promise.resolve();
    this.pauseRequested = true;
    return new Promise((res) => this.pausedWaiters.push(res));
  }

  resume(): void {
    this.pauseRequested = false;
    this.gate?.open();
  }

  /** Finishes the step in flight, saves a checkpoint, emits done; resolves when that is over. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.pauseRequested = false;
    this.gate?.open();
    if (this.runPromise) await this.runPromise.catch(() => {});
  }

  private async loop(): Promise<RunSummary> {
    const c = this.config;
    this.runStart = this.now();
    const elapsed = () => this.elapsedNow();
    this.setState('running');
    await this.saveMeta('running');
    try {
      if (c.eval.atStart && this.step === 0) await this.evaluateNow();
      while (this.step < this.totalSteps && !this.stopRequested) {
        if (this.lost) throw this.lost;
        if (this.pauseRequested) {
          await this.drain();
          await this.flushRows();
          await this.saveMeta('paused');
          let open!: () => void;
          this.gate = { promise: new Promise<void>((r) => (open = r)), open: () => open() };
          this.setState('paused');
          for (const w of this.pausedWaiters.splice(0)) w();
          await this.gate.promise;
          this.gate = undefined;
          if (this.lost) throw this.lost;
          this.setState('running');
          await this.saveMeta('running');
          continue;
        }
        const batches = this.batches.next();
        const epoch = this.batches.epoch;
        const index = this.step + 1;
        this.opts.beforeStep?.(index, batches);
        const tokens = batches.reduce((n, b) => n + b.tokens, 0);
        const submitted = this.now();
        const handle = this.trainStep!.step(batches);
        this.step = index;
        this.inflight.push(handle.metrics.then((m) => this.onMetrics(m, epoch, tokens, submitted, elapsed)));
        while (this.inflight.length >= MAX_IN_FLIGHT) await this.inflight.shift();
        if (this.failure) throw this.failure;
        const last = this.step >= this.totalSteps;
        if (!last && c.eval.every > 0 && this.step % c.eval.every === 0) await this.evaluateNow();
        if (!last && c.save.every > 0 && this.step % c.save.every === 0) await this.checkpoint();
      }
      if (this.stopRequested && this.state !== 'stopping') this.setState('stopping');
      await this.drain();
      if (this.failure) throw this.failure;
      // A stop (Ctrl-C) should end promptly: the final evaluation is for runs that finish.
      if (!this.stopRequested && this.lastEvalStep !== this.step) await this.evaluateNow();
      if (this.lastCheckpoint !== this.step) await this.checkpoint();
      const summary = this.summary(elapsed(), this.step < this.totalSteps);
      await this.saveMeta(summary.stopped ? 'stopped' : 'done');
      this.setState('done');
      this.emit({ type: 'done', summary });
      return summary;
    } catch (e) {
      await Promise.allSettled(this.inflight.splice(0));
      const message = this.lost
        ? `the GPU device was lost (${this.lost.message})${this.lastCheckpoint !== undefined ? `; resume from the checkpoint at step ${this.lastCheckpoint}` : '; no checkpoint was saved yet'}`
        : (e as Error).message;
      this.emit({ type: 'error', message, runId: this.runId, ...(this.lastCheckpoint !== undefined ? { lastCheckpoint: this.lastCheckpoint } : {}) });
      this.setState('error');
      for (const w of this.pausedWaiters.splice(0)) w();
      await this.flushRows().catch(() => {});
      await this.saveMeta('error', message).catch(() => {});
      throw e instanceof Error && !this.lost ? e : new TrainerError(message);
    }
  }

  private elapsedNow(): number {
    return this.elapsedBefore + (this.runStart ? this.now() - this.runStart : 0);
  }

  private onMetrics(m: StepMetrics, epoch: number, tokens: number, submitted: number, elapsed: () => number): void {
    const t = this.now();
    // A step's wall time starts when it was submitted or when the previous one finished,
    // whichever is later: pauses and evaluations in between do not count.
    const dt = t - Math.max(submitted, this.lastResolved);
    this.lastResolved = t;
    this.tokensSeen += tokens;
    if (m.skipped) this.skippedSteps++;
    if (m.nonFinite) {
      this.nonFiniteRun++;
      if (this.nonFiniteRun >= this.config.train.maxNonFinite && !this.failure) {
        const ck = this.lastCheckpoint !== undefined ? `the last checkpoint is at step ${this.lastCheckpoint}` : 'no checkpoint was saved yet';
        this.failure = new TrainerError(`${this.nonFiniteRun} non-finite steps in a row (loss or gradient NaN/Inf, last at step ${m.step}): stopping; ${ck}. Try a lower train.lr or train.maxGradNorm.`);
      }
    } else if (!m.skipped) {
      this.nonFiniteRun = 0;
      this.recentLosses.push(m.loss);
      if (this.recentLosses.length > 20) this.recentLosses.shift();
    }
    const e: StepEvent = {
      type: 'step', step: m.step, epoch, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm, tokensPerSecond: dt > 0 ? (tokens * 1000) / dt : 0,
      tokensSeen: this.tokensSeen, ...(m.accuracy !== undefined ? { accuracy: m.accuracy } : {}), skipped: m.skipped, elapsedMs: elapsed(),
    };
    this.rows.push(metricRow(e));
    this.emit(e);
  }

  private async drain(): Promise<void> {
    while (this.inflight.length) await this.inflight.shift();
    await this.trainStep!.flush();
    // A failure seen in the drained metrics must not be followed by an eval or a checkpoint.
    if (this.failure) throw this.failure;
  }

  private async evaluateNow(): Promise<void> {
    await this.drain();
    const c = this.config;
    const step = this.step;
    const val = await validationLoss(this.trainStep!, this.valBatches);
    const e: EvalEvent = { type: 'eval', step, ...(val ? { valLoss: val.loss, perplexity: val.perplexity, ...(val.accuracy !== undefined ? { valAccuracy: val.accuracy } : {}) } : {}) };
    let shown: { prompt: string; text: string }[] = [];
    await this.chatModels!.with(async (ctx) => {
      if (this.data.heldOut.length) {
        const r = await exactMatchEval(ctx, this.data.heldOut, c.eval.maxNewTokens);
        e.exactMatch = { rate: r.rate, correct: r.correct, total: r.total, families: r.families };
      }
      shown = await samples(ctx, c.eval.samples, c.eval.maxNewTokens);
    });
    this.lastEvalStep = step;
    this.firstEval ??= e;
    this.lastEval = e;
    this.rows.push(metricRow(e));
    this.emit(e);
    for (const s of shown) this.emit({ type: 'sample', step, prompt: s.prompt, text: s.text });
    await this.flushRows();
  }

  private async checkpoint(): Promise<void> {
    await this.drain();
    const { tokenizer, config: cfg } = this.student;
    const opt = await this.trainStep!.readOptimizerState();
    const extra: Extra = { config: this.config, tokensSeen: this.tokensSeen, elapsedMs: this.elapsedNow(), skippedSteps: this.skippedSteps };
    const files = encodeCheckpoint({
      params: await this.store!.read(),
      shapes: new Map(this.store!.layout.entries.map((e) => [e.name, e.shape])),
      m: opt.m,
      v: opt.v,
      state: {
        step: this.step, adamStep: opt.adamStep, epoch: this.batches.epoch, positionInEpoch: this.batches.position, schedule: this.schedule,
        rng: { seed: this.config.train.seed }, optimizer: { beta1: this.config.train.betas[0], beta2: this.config.train.betas[1], eps: 1e-8, weightDecay: this.config.train.weightDecay, gradClip: this.config.train.maxGradNorm },
        trainConfig: extra,
      },
      config: cfg.hf,
    });
    // With the tokenizer beside config.json, the checkpoint folder loads as a Hugging Face model.
    const enc = new TextEncoder();
    for (const [name, text] of Object.entries(tokenizer.files)) if (text !== undefined && !files.has(name)) files.set(name, enc.encode(text));
    await this.flushRows();
    await this.env.storage.saveCheckpoint(this.runId, files);
    this.lastCheckpoint = this.step;
    await this.saveMeta(this.state === 'stopping' ? 'stopped' : 'running');
    this.emit({ type: 'checkpoint', step: this.step, runId: this.runId });
  }

  private async flushRows(): Promise<void> {
    if (this.rows.length) await this.env.storage.appendMetrics(this.runId, this.rows.splice(0));
  }

  private async saveMeta(status: RunStatus, error?: string): Promise<void> {
    const meta: RunMeta = {
      runId: this.runId, name: this.config.name, config: this.config, created: this.created, updated: Date.now(), status, step: this.step, totalSteps: this.totalSteps,
      ...(this.lastCheckpoint !== undefined ? { lastCheckpoint: this.lastCheckpoint } : {}), ...(error ? { error } : {}),
    };
    await this.env.storage.saveRun(meta);
  }

  private summary(elapsedMs: number, stopped: boolean): RunSummary {
    const l = this.recentLosses;
    return {
      runId: this.runId, steps: this.step, totalSteps: this.totalSteps, epoch: this.batches.epoch, tokensSeen: this.tokensSeen, elapsedMs, stopped, skippedSteps: this.skippedSteps,
      ...(l.length ? { finalLoss: l.reduce((a, b) => a + b, 0) / l.length } : {}),
      ...(this.firstEval ? { firstEval: this.firstEval } : {}), ...(this.lastEval ? { lastEval: this.lastEval } : {}),
      ...(this.lastCheckpoint !== undefined ? { lastCheckpoint: this.lastCheckpoint } : {}),
    };
  }

  /**
   * Streams a reply to `messages` (rendered through the run's chat template) from the current
   * weights, or with `model: 'initial'` from the student as it was before training (loaded again on
   * first use); usable during training (it runs between the GPU work of steps). Greedy by default.
   */
  generate(messages: readonly TemplateMessage[], options: Omit<GenerateOptions, 'tokenizer'> & { model?: 'current' | 'initial' } = {}): AsyncIterable<GenerateEvent> & { result: Promise<GenerateResult> } {
    if (!this.store || !this.chatModels) throw new TrainerError('the trainer has no model (creation failed or it was destroyed)');
    const { model: which = 'current', ...opts } = options;
    return this.chatModels.generate(messages, opts, which);
  }

  /** The current weights as a Hugging Face folder (file name → bytes). */
  async exportHuggingFace(opts: { dtype?: ExportDtype } = {}): Promise<Map<string, Uint8Array>> {
    if (!this.store) throw new TrainerError('the trainer has no model (creation failed or it was destroyed)');
    const weights = await this.store.read();
    return exportHuggingFace({ config: this.student.config, weights, tokenizerFiles: this.student.tokenizer.files, dtype: opts.dtype });
  }

  /** Frees the GPU buffers. The trainer is unusable afterwards. */
  destroy(): void {
    this.unsubscribeLost?.();
    this.chatModels?.destroy();
    this.trainStep?.destroy();
    this.distill?.destroy();
    this.store?.destroy();
    this.chatModels = undefined;
    this.trainStep = undefined;
    this.store = undefined;
  }
}
