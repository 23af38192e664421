// One optimizer step of training on the GPU, planned once for a (B, T): inputs, the model graph,
// the head, AdamW moments, decay mask and the small per-step tensors are allocated and every
// dispatch (and its bind group) is built in the constructor. A step then only writes a few bytes
// (batch inputs, gradScale, hyper-parameters) and submits, never allocating GPU buffers (except
// one more metrics staging buffer while more steps are in flight than ever before) and never
// waiting for the GPU: metrics arrive later through a promise.
//
//   per micro-batch:  inputs ← batch; forward; head (loss, dhidden, head grads); Σ losses, Σ correct
//                     into stats (accumulating); backward (grads +=)
//   per step:         gradNorm → stats[norm, clipScale]; guard (skip if non-finite); AdamW with
//                     gradScale = clipScale; copy stats → staging; clear grads and stats
//
// The loss gradient is scaled by gradScale = 1 / Σ count(batch) over ALL micro-batches of the step
// (count = rows with a target for the LM head), written once before the first micro-batch, so k
// micro-batches of B give the same update as one batch of k·B.
//
// A NaN or infinite loss or gradient norm must not reach the parameters, and the host only learns
// of it later. Clipping alone cannot stop it (a clip scale of 0 times a NaN gradient is NaN, and
// AdamW would still decay the moments), so a one-invocation guard kernel writes AdamW's indirect
// dispatch arguments: zero workgroups when non-finite. The update is then skipped entirely, like
// torch's GradScaler skipping optimizer.step(): parameters, moments and AdamW's step count (kept
// on the GPU, in hyper) are unchanged; the schedule still advances (stepIndex counts submitted
// steps) and the metrics say `skipped`.
//
// Letters: B batch, T sequence, N = B·T rows, C hidden, P elements of the trainable flat buffer.
import type { Dispatch, Runtime, Step } from '../gpu/runtime.ts';
import { byteSize, type Tensor } from '../gpu/tensor.ts';
import type { Batch } from '../data/batch.ts';
import type { Architecture, BatchInputs, ModelGraph } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import type { ParamStore } from '../models/params.ts';
import { adamw, buildDecayMask, decayMaskShape, HYPER_SIZE } from '../ops/adamw.ts';
import { gradNorm, partialsShape, sum } from '../ops/reduce.ts';
import { checkSchedule, learningRate, type ScheduleConfig } from '../optim/schedule.ts';
import guardCode from '../../shaders/train_guard.wgsl?raw';
import { lmHead, type Head, type HeadSpec } from './head.ts';
import { allocInputs, freeInputs, inputSpecOf, InputWriter } from './inputs.ts';
import { checkPlan, planMemory, type MemoryPlan } from './memory.ts';
import { StagingRing, type EvalMetrics, type StepMetrics } from './metrics.ts';

export type { StepMetrics, EvalMetrics } from './metrics.ts';

export interface TrainConfig {
  /** Rows and sequence length of one micro-batch (smaller batches are padded). */
  B: number;
  T: number;
  /** Micro-batches per optimizer step (gradient accumulation); a step may get fewer (end of epoch). Default 1. */
  accumulation?: number;
  /** Clip the global gradient norm to this; ≤ 0 disables clipping. Default 1. */
  maxGradNorm?: number;
  /** Decoupled weight decay on parameters whose ParamSpec says decay. Default 0 (as HF). */
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  schedule: ScheduleConfig;
  /** Gradient checkpointing: recompute each block's activations in the backward. */
  recompute?: boolean;
  /** The loss; default the LM head with masked cross-entropy. */
  head?: HeadSpec;
  /** Total bytes the plan may use; the per-buffer device limits are always checked. */
  memoryBudget?: number;
  /** Called with each step's metrics as they arrive (in step order). */
  onMetrics?: (m: StepMetrics) => void;
}

/** A submitted step. `metrics` resolves once the GPU has finished it. */
export interface StepHandle {
  step: number;
  metrics: Promise<StepMetrics>;
}

// stats (f32): [0] gradient norm, [1] clip scale (gradNorm writes both), [2] Σ loss, [3] Σ correct,
// [4] skipped flag (the guard). 64 elements so the tensor is one aligned 256-byte block.
const NORM = 0, LOSS = 2, CORRECT = 3, SKIPPED = 4, STAT_WORDS = 5;
// hyper (f32): AdamW's [lr, beta1, beta2, eps, weightDecay, step]; the host writes the first five,
// the guard advances the step on the GPU (only when the update is applied).
const HYPER_HOST = 5, HYPER_STEP = 5;

export class TrainStep {
  readonly inputs: BatchInputs;
  readonly graph: ModelGraph;
  readonly head: Head;
  readonly plan: MemoryPlan;
  readonly accumulation: number;
  /** Optimizer steps submitted so far; the next uses learningRate(stepIndex). Set it to resume. */
  stepIndex = 0;

  private readonly writer: InputWriter;
  private readonly headSpec: HeadSpec;
  private readonly m: Tensor; // (P)
  private readonly v: Tensor; // (P)
  private readonly decayMask: Tensor; // (ceil(P / 32)) u32
  private readonly hyper: Tensor; // (6) f32
  private readonly stats: Tensor; // (64) f32
  private readonly evalStats: Tensor; // (64) f32: [Σ loss, Σ correct]
  private readonly gradScale: Tensor; // (1) f32
  private readonly partials: Tensor; // (G) f32
  private readonly indirect: GPUBuffer; // AdamW's dispatch arguments, written by the guard
  private readonly micro: Step[];
  private readonly evalMicro: Step[];
  private readonly prelude: Dispatch[]; // gradNorm + guard
  private readonly adam: Dispatch;
  private readonly owned: Step[] = []; // dispatches built here (the graph and head release theirs)
  private readonly ring: StagingRing;
  private readonly pending = new Set<Promise<StepMetrics>>();
  private last: Promise<unknown> = Promise.resolve();
  private readonly hostHyper = new Float32Array(HYPER_HOST);
  private readonly hyperHost: Tensor; // view of hyper's first HYPER_HOST elements
  private readonly scaleValue = new Float32Array(1);
  private readonly cfgHyper: { beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number };

  constructor(
    readonly rt: Runtime,
    readonly arch: Architecture,
    readonly cfg: ModelConfig,
    readonly store: ParamStore,
    readonly config: TrainConfig,
  ) {
    const { B, T } = config;
    checkSchedule(config.schedule);
    const [beta1, beta2] = config.betas ?? [0.9, 0.999];
    this.cfgHyper = { beta1, beta2, eps: config.eps ?? 1e-8, weightDecay: config.weightDecay ?? 0, maxGradNorm: config.maxGradNorm ?? 1 };
    for (const [k, v] of Object.entries(this.cfgHyper)) if (!Number.isFinite(v)) throw new Error(`TrainStep: ${k} must be a finite number, got ${v}`);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new Error(`TrainStep: betas must be in [0, 1), got (${beta1}, ${beta2})`);
    this.accumulation = config.accumulation ?? 1;
    if (!Number.isInteger(this.accumulation) || this.accumulation < 1) throw new Error(`TrainStep: accumulation must be a positive integer, got ${config.accumulation}`);
    const layout = store.layout;
    if (layout.trainableCount === 0) throw new Error('TrainStep: no parameter is trainable');
    this.headSpec = config.head ?? lmHead();

    // Fail before allocating anything (the store already exists: its buffers are in the plan too).
    this.plan = planMemory({ arch, cfg, B, T, layout, recompute: config.recompute, head: this.headSpec });
    checkPlan(this.plan, { maxStorageBufferBindingSize: rt.limits.maxStorageBufferBindingSize, maxBufferSize: rt.limits.maxBufferSize, budgetBytes: config.memoryBudget });

    const spec = inputSpecOf(cfg);
    this.inputs = allocInputs(rt, B, T, spec);
    this.writer = new InputWriter(rt, this.inputs, spec);
    this.graph = arch.build(rt, cfg, store, this.inputs, { recompute: config.recompute });
    this.gradScale = rt.tensor([1], 'f32', 'gradScale', true);
    this.head = this.headSpec.build(rt, {
      cfg, store, inputs: this.inputs, hidden: this.graph.hidden, dhidden: this.graph.dhidden, gradScale: this.gradScale, lmHeadWeight: arch.lmHeadWeight(cfg),
    });

    const P = store.params.shape[0];
    this.m = rt.tensor([P], 'f32', 'adamw.m', true);
    this.v = rt.tensor([P], 'f32', 'adamw.v', true);
    const ranges = layout.entries.filter((e) => e.trainable).map((e) => ({ offset: e.offset, size: e.size, decay: e.decay }));
    this.decayMask = rt.upload(buildDecayMask(P, ranges), decayMaskShape(P), 'u32', 'adamw.decayMask');
    this.hyper = rt.tensor([HYPER_SIZE], 'f32', 'adamw.hyper', true);
    this.hyperHost = { ...this.hyper, shape: [HYPER_HOST] };
    this.stats = rt.tensor([64], 'f32', 'step.stats', true);
    this.evalStats = rt.tensor([64], 'f32', 'step.evalStats', true);
    const rows = Math.max(this.head.losses.shape.reduce((a, b) => a * b, 1), this.head.correct?.shape.reduce((a, b) => a * b, 1) ?? 1);
    this.partials = rt.tensor(partialsShape(Math.max(P, rows)), 'f32', 'step.partials');
    this.indirect = rt.device.createBuffer({ label: 'adamw indirect args', size: 16, usage: 0x80 | 0x100 | 0x08 /* STORAGE | INDIRECT | COPY_DST */ });

    const sums = (out: Tensor, lossIndex: number, correctIndex: number): Step[] => {
      const steps = [
        ...sum(rt, { out, inp: this.head.losses, partials: this.partials, outIndex: lossIndex, accumulate: true }),
        ...(this.head.correct ? sum(rt, { out, inp: this.head.correct, partials: this.partials, outIndex: correctIndex, accumulate: true }) : []),
      ];
      this.owned.push(...steps);
      return steps;
    };
    this.micro = [...this.graph.forward, ...this.head.train, ...sums(this.stats, LOSS, CORRECT), ...this.graph.backward];
    this.evalMicro = [...this.graph.forward, ...this.head.evaluate, ...sums(this.evalStats, 0, 1)];

    [this.adam] = adamw(rt, {
      params: store.params, grads: store.grads, m: this.m, v: this.v, decayMask: this.decayMask, hyper: this.hyper, gradScale: this.stats, gradScaleIndex: 1,
    });
    const [wx, wy, wz] = this.adam.workgroups;
    this.prelude = [
      ...gradNorm(rt, { out: this.stats, grads: store.grads, partials: this.partials, maxNorm: this.cfgHyper.maxGradNorm }),
      rt.kernel({
        key: { kernel: 'train_guard', variant: 'main', dtype: 'f32' },
        code: guardCode,
        bindings: { 1: this.stats, 2: this.hyper, 3: { buffer: this.indirect, offset: 0, size: 16 } },
        params: [['u32', wx], ['u32', wy], ['u32', wz], ['u32', NORM], ['u32', LOSS], ['u32', SKIPPED], ['u32', HYPER_STEP]],
        workgroups: [1],
      }),
    ];
    this.owned.push(...this.prelude, this.adam);
    this.ring = new StagingRing(rt, 4 * 8);
  }

  /** The loss normaliser of one batch (rows with a target, for the LM head). */
  count(batch: Batch): number {
    return this.headSpec.count ? this.headSpec.count(batch) : batch.trainedTokens;
  }

  /**
   * Enqueues one optimizer step over the micro-batches and returns at once. Gradients of all of
   * them are summed with the loss normalised by their total count, then clipped and applied.
   */
  step(batches: readonly Batch[]): StepHandle {
    if (batches.length < 1 || batches.length > this.accumulation) {
      throw new Error(`TrainStep.step: got ${batches.length} micro-batches, expected 1 to ${this.accumulation} (accumulation)`);
    }
    for (const b of batches) this.writer.check(b);
    const rt = this.rt;
    let total = 0;
    for (const b of batches) total += this.count(b);
    const index = this.stepIndex++;
    const lr = learningRate(index, this.config.schedule);
    const micro = batches.length;
    if (total === 0) {
      // Nothing carries loss: no gradient to apply, and AdamW would still decay weights and moments.
      const m: StepMetrics = { step: index + 1, loss: NaN, gradNorm: 0, clipScale: 0, lr, tokens: 0, micro, nonFinite: false, skipped: true };
      return this.deliver(index, Promise.resolve(m));
    }
    const h = this.cfgHyper;
    this.hostHyper.set([lr, h.beta1, h.beta2, h.eps, h.weightDecay]);
    rt.write(this.hyperHost, this.hostHyper);
    this.scaleValue[0] = 1 / total;
    rt.write(this.gradScale, this.scaleValue);

    for (const b of batches) {
      this.writer.write(b);
      this.head.write?.(b, 'train');
      rt.run(this.micro, 'train micro-batch');
    }

    // gradNorm and the guard go through rt.run; AdamW needs an indirect dispatch, which the runtime
    // does not encode, so the rest of the step is encoded here (profiled through rt.timestampWrites).
    rt.run(this.prelude, 'train clip');
    const staging = this.ring.acquire();
    const enc = rt.device.createCommandEncoder({ label: 'train update' });
    const pass = enc.beginComputePass({ label: 'adamw', timestampWrites: rt.timestampWrites(this.adam.label) });
    pass.setPipeline(this.adam.pipeline);
    pass.setBindGroup(0, this.adam.bindGroup);
    pass.dispatchWorkgroupsIndirect(this.indirect, 0);
    pass.end();
    enc.copyBufferToBuffer(this.stats.buffer, this.stats.byteOffset, staging, 0, 4 * STAT_WORDS);
    enc.clearBuffer(this.store.grads.buffer, this.store.grads.byteOffset, byteSize(this.store.grads));
    enc.clearBuffer(this.stats.buffer, this.stats.byteOffset, byteSize(this.stats));
    rt.submit(enc);

    const read = this.ring.read(staging).then((s): StepMetrics => {
      const gradNorm = s[NORM];
      const loss = s[LOSS] / total;
      return {
        step: index + 1,
        loss,
        ...(this.head.correct ? { accuracy: s[CORRECT] / total } : {}),
        gradNorm,
        clipScale: s[1],
        lr,
        tokens: total,
        micro,
        nonFinite: !Number.isFinite(gradNorm) || !Number.isFinite(s[LOSS]),
        skipped: s[SKIPPED] !== 0,
      };
    });
    return this.deliver(index, read);
  }

  /** Callbacks fire in step order even if mappings resolve out of order. */
  private deliver(index: number, read: Promise<StepMetrics>): StepHandle {
    const ordered = this.last.then(() => read).then((m) => {
      this.config.onMetrics?.(m);
      return m;
    });
    this.last = ordered.catch(() => {});
    this.pending.add(ordered);
    ordered.then(
      () => this.pending.delete(ordered),
      () => this.pending.delete(ordered),
    );
    return { step: index + 1, metrics: ordered };
  }

  /** Resolves when every submitted step's metrics have arrived, with those not yet flushed. */
  async flush(): Promise<StepMetrics[]> {
    const all = [...this.pending];
    return Promise.all(all);
  }

  /** Loss (and accuracy) over batches without any update, e.g. held-out evaluation. */
  async evaluate(batches: readonly Batch[]): Promise<EvalMetrics> {
    const rt = this.rt;
    let total = 0;
    rt.zero(this.evalStats);
    for (const b of batches) {
      total += this.count(b);
      this.writer.write(b);
      this.head.write?.(b, 'evaluate');
      rt.run(this.evalMicro, 'evaluate micro-batch');
    }
    const s = await rt.read({ ...this.evalStats, shape: [2] });
    return { loss: s[0] / total, ...(this.head.correct ? { accuracy: s[1] / total } : {}), tokens: total };
  }

  /** Buffers for metrics readback allocated so far (the number of steps that were in flight at once). */
  get stagingBuffers(): number {
    return this.ring.size;
  }

  /** AdamW's moments by parameter name (trainable ones) and its applied-update count, for checkpoints. */
  async readOptimizerState(): Promise<{ m: Map<string, Float32Array>; v: Map<string, Float32Array>; adamStep: number }> {
    const [m, v, hyper] = await Promise.all([this.rt.read(this.m), this.rt.read(this.v), this.rt.read(this.hyper)]);
    const split = (flat: ArrayLike<number>) => {
      const out = new Map<string, Float32Array>();
      for (const e of this.store.layout.entries) if (e.trainable) out.set(e.name, Float32Array.from((flat as Float32Array).subarray(e.offset, e.offset + e.size)));
      return out;
    };
    return { m: split(m), v: split(v), adamStep: hyper[HYPER_STEP] };
  }

  /**
   * Restores AdamW's moments and step counts (resume). `step` is the schedule's step (optimizer
   * steps run); `adamStep` the updates actually applied (fewer when some were skipped; default step).
   */
  loadOptimizerState(s: { m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array>; step: number; adamStep?: number }): void {
    for (const e of this.store.layout.entries) {
      if (!e.trainable) continue;
      for (const [which, t] of [['m', this.m], ['v', this.v]] as const) {
        const data = s[which].get(e.name);
        if (!data || data.length !== e.size) throw new Error(`optimizer state: ${which} of ${e.name} is ${data ? `${data.length} values, expected ${e.size}` : 'missing'}`);
        this.rt.write({ ...t, byteOffset: t.byteOffset + 4 * e.offset, shape: [e.size] }, data);
      }
    }
    this.stepIndex = s.step;
    this.rt.write({ ...this.hyper, byteOffset: this.hyper.byteOffset + 4 * HYPER_STEP, shape: [1] }, [s.adamStep ?? s.step]);
  }

  destroy(): void {
    const rt = this.rt;
    rt.release(this.owned);
    this.head.destroy();
    this.graph.destroy();
    freeInputs(rt, this.inputs);
    rt.free(this.m, this.v, this.decayMask, this.hyper, this.stats, this.evalStats, this.gradScale, this.partials);
    this.indirect.destroy();
    this.ring.destroy();
  }
}
