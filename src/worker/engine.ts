// The engine behind the Worker's comlink API: one GPU runtime, one run storage and at most one
// Trainer loaded at a time (a run training, paused, finished, or opened only for chat). Training
// runs in the background of the Worker; every call here returns promptly except those that are
// meant to wait (start loads the student and data, stop saves a checkpoint).
import * as Comlink from 'comlink';
import { PupilTeacher } from '../distill/teachers/pupil.ts';
import { Runtime } from '../gpu/runtime.ts';
import { loadPretrained } from '../models/load.ts';
import { ParamLayout, ParamStore } from '../models/params.ts';
import { zipParts } from '../models/zip.ts';
import { loadStudent } from '../train/student.ts';
import { resolveRunConfig, type RunConfig } from '../train/config.ts';
import { BrowserRunStorage } from '../train/storage-browser.ts';
import { makeRunId } from '../train/storage.ts';
import { Trainer, type TrainerEvent } from '../train/trainer.ts';
import { browserTrainerEnv, readRunModel } from './env.ts';
import { probeRuntime } from './probe.ts';
import type {
  EngineApi, EngineEvent, EngineOptions, EngineStatus, ExportRequest, GenerateRequest, GenerateSummary, Message, RunConfigInput, TeacherGenerateReply,
  TeacherGenerateRequest, TeacherInfo, TokenEvent,
} from './protocol.ts';

const ACTIVE = new Set(['loading', 'running', 'paused', 'stopping']);

/** What a Node test (or another host) can put in place of the page's defaults. */
export interface EngineDeps {
  /** Default: Runtime.create() (navigator.gpu). */
  runtime?: () => Promise<Runtime>;
}

/** A run loaded as a teacher: its own weights and KV cache, apart from the trainer's. */
interface TeacherSlot {
  info: TeacherInfo;
  /** Generation goes through it (its own queue: one KV cache); destroy() frees the model and weights. */
  teacher: PupilTeacher;
}

export class Engine implements EngineApi {
  private runtime?: Promise<Runtime>;
  private storage?: Promise<BrowserRunStorage>;
  private readonly listeners = new Map<number, (e: EngineEvent) => void>();
  private nextListener = 1;
  private trainer?: Trainer;
  /** A start/resume/open in progress: a second one waits for it rather than racing. */
  private loading?: Promise<unknown>;
  private generation?: AbortController;
  /** Picked model folders by student.path: kept for this Worker's life so a run can be reopened. */
  private readonly localStudents = new Map<string, File[]>();

  private teacher?: TeacherSlot;
  private teacherLoading?: Promise<unknown>;
  private readonly teacherCalls = new Map<number, AbortController>();
  private nextTeacherCall = -1;

  constructor(
    private opts: EngineOptions = {},
    private readonly deps: EngineDeps = {},
  ) {}

  async configure(options: EngineOptions): Promise<void> {
    if (this.storage && options.storage !== this.opts.storage) throw new Error('configure: storage is already open; configure the engine before using it');
    this.opts = { ...this.opts, ...options };
  }

  private getRuntime(): Promise<Runtime> {
    this.runtime ??= (this.deps.runtime ?? (() => Runtime.create()))().then((rt) => {
      // A lost device cannot be reused: the next run acquires a fresh one.
      rt.onLost(() => (this.runtime = undefined));
      return rt;
    }, (e) => {
      this.runtime = undefined;
      throw e;
    });
    return this.runtime;
  }

  private getStorage(): Promise<BrowserRunStorage> {
    this.storage ??= BrowserRunStorage.open(this.opts.storage).catch((e) => {
      this.storage = undefined;
      throw e;
    });
    return this.storage;
  }

  async probe() {
    return probeRuntime(await this.getRuntime());
  }

  async subscribe(listener: (e: EngineEvent) => void): Promise<number> {
    const id = this.nextListener++;
    this.listeners.set(id, listener);
    return id;
  }

  async unsubscribe(id: number): Promise<void> {
    const l = this.listeners.get(id) as { [Comlink.releaseProxy]?: () => void } | undefined;
    this.listeners.delete(id);
    l?.[Comlink.releaseProxy]?.();
  }

  private emit(runId: string, e: TrainerEvent): void {
    for (const [id, l] of this.listeners) {
      // A proxy call returns a promise that rejects once the page is gone: drop that listener.
      Promise.resolve(l({ ...e, runId } as EngineEvent)).catch(() => this.listeners.delete(id));
    }
  }

  /** Loads a Trainer (new, resumed or opened) after unloading an inactive one. */
  private async load(runId: string, make: (onEvent: (e: TrainerEvent) => void) => Promise<Trainer>): Promise<Trainer> {
    while (this.loading) await this.loading.catch(() => {});
    const current = this.trainer?.status();
    if (current && ACTIVE.has(current.state)) throw new Error(`run ${current.runId} is ${current.state}: stop it before starting or opening another`);
    this.generation?.abort();
    this.trainer?.destroy();
    this.trainer = undefined;
    const p = make((e) => this.emit(runId, e));
    this.loading = p;
    try {
      this.trainer = await p;
      return this.trainer;
    } finally {
      this.loading = undefined;
    }
  }

  async start(config: RunConfigInput, files?: File[]): Promise<string> {
    // Resolved here first so a bad field fails before any loading, with the field named.
    const { name, student } = resolveRunConfig(config);
    this.keepFiles(student, files);
    const [rt, storage] = await Promise.all([this.getRuntime(), this.getStorage()]);
    let runId = makeRunId(name);
    // makeRunId has one-second resolution: two runs started in the same second get a suffix.
    for (let i = 2; await storage.loadRun(runId); i++) runId = `${makeRunId(name)}-${i}`;
    const t = await this.load(runId, (onEvent) => Trainer.create(this.env(rt, storage, runId), config, { runId, onEvent }));
    void t.run().catch(() => {}); // failures arrive as 'error' events
    return runId;
  }

  async resumeRun(runId: string, files?: File[]): Promise<void> {
    const t = await this.open(runId, files);
    void t.run().catch(() => {});
  }

  async openRun(runId: string, files?: File[]): Promise<void> {
    await this.open(runId, files);
  }

  private async open(runId: string, files?: File[]): Promise<Trainer> {
    const [rt, storage] = await Promise.all([this.getRuntime(), this.getStorage()]);
    const meta = await storage.loadRun(runId);
    if (!meta) throw new Error(`no run ${runId} in this browser's storage`);
    this.keepFiles(meta.config.student, files);
    return this.load(runId, (onEvent) => Trainer.create(this.env(rt, storage, runId), null, { resume: runId, onEvent }));
  }

  private keepFiles(student: RunConfig['student'], files?: File[]): void {
    if (!files?.length) return;
    if (!('path' in student)) throw new Error('files were given but the student is not { path }: local files are only read for a student picked from a folder');
    this.localStudents.set(student.path, files);
  }

  private env(rt: Runtime, storage: BrowserRunStorage, runId: string) {
    return browserTrainerEnv(rt, storage, { ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}), localStudents: this.localStudents, runId });
  }

  private need(): Trainer {
    if (!this.trainer) throw new Error('no run is loaded: start a run or open one first');
    return this.trainer;
  }

  async pause(): Promise<void> {
    await this.need().pause();
  }

  async resume(): Promise<void> {
    this.need().resume();
  }

  async stop(): Promise<void> {
    await this.trainer?.stop();
  }

  async status(): Promise<EngineStatus> {
    const storage = this.storage ? (await this.storage.catch(() => undefined))?.kind : undefined;
    const base = { generating: !!this.generation, ...(storage ? { storage } : {}) };
    if (!this.trainer) return { state: this.loading ? 'loading' : 'idle', ...base };
    const s = this.trainer.status();
    return {
      ...base, runId: s.runId, state: s.state, step: s.step, totalSteps: s.totalSteps,
      ...(s.lastCheckpoint !== undefined ? { lastCheckpoint: s.lastCheckpoint } : {}), ...(s.lastLoss !== undefined ? { lastLoss: s.lastLoss } : {}),
    };
  }

  async generate(messages: Message[], o: GenerateRequest, onToken: (t: TokenEvent) => void): Promise<GenerateSummary> {
    const t = this.need();
    if (this.generation) throw new Error('a generation is already running: cancel it first');
    const ac = new AbortController();
    this.generation = ac;
    try {
      const sampling = {
        ...(o.temperature !== undefined ? { temperature: o.temperature } : {}), ...(o.topK !== undefined ? { topK: o.topK } : {}),
        ...(o.topP !== undefined ? { topP: o.topP } : {}), ...(o.repetitionPenalty !== undefined ? { repetitionPenalty: o.repetitionPenalty } : {}),
      };
      const g = t.generate(messages, {
        signal: ac.signal, sampling, ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.stop ? { stop: o.stop } : {}), ...(o.model ? { model: o.model } : {}),
      });
      // Calls on one proxy arrive in order; waiting for the last one means every token has reached
      // the page before the reply (which travels on another port) does.
      let last: unknown;
      for await (const ev of g) last = onToken({ token: ev.token, text: ev.text });
      await last;
      const r = await g.result;
      return { text: r.text, finishReason: r.finishReason, tokens: r.tokens.length, tokensPerSecond: r.tokensPerSecond };
    } finally {
      if (this.generation === ac) this.generation = undefined;
      (onToken as { [Comlink.releaseProxy]?: () => void })[Comlink.releaseProxy]?.();
    }
  }

  async cancelGeneration(): Promise<void> {
    this.generation?.abort();
  }

  async exportModel(o: ExportRequest = {}): Promise<Uint8Array> {
    const t = this.need();
    const files = await t.exportHuggingFace({ dtype: o.dtype });
    const parts = zipParts(files, { folder: o.folder ?? t.runId });
    const zip = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      zip.set(p, at);
      at += p.length;
    }
    return Comlink.transfer(zip, [zip.buffer]);
  }

  async listRuns() {
    return (await this.getStorage()).listRuns();
  }

  async deleteRun(runId: string): Promise<void> {
    if (this.trainer?.runId === runId) {
      const s = this.trainer.status();
      if (ACTIVE.has(s.state)) throw new Error(`run ${runId} is ${s.state}: stop it before deleting it`);
      this.trainer.destroy();
      this.trainer = undefined;
    }
    if (this.teacher?.info.runId === runId) await this.unloadTeacher();
    await (await this.getStorage()).deleteRun(runId);
  }

  async metrics(runId: string) {
    return (await this.getStorage()).readMetrics(runId);
  }

  async loadTeacher(runId: string): Promise<TeacherInfo> {
    while (this.teacherLoading) await this.teacherLoading.catch(() => {});
    const p = this.openTeacher(runId);
    this.teacherLoading = p;
    try {
      return await p;
    } finally {
      this.teacherLoading = undefined;
    }
  }

  private async openTeacher(runId: string): Promise<TeacherInfo> {
    const [rt, storage] = await Promise.all([this.getRuntime(), this.getStorage()]);
    const { meta, files: picked } = await readRunModel(storage, runId, 'teacher');
    // The old teacher goes first: two models side by side may not fit where one does.
    await this.unloadTeacher();
    // A checkpoint is a Hugging Face folder (config, safetensors, tokenizer): load it as one, through
    // the same student loader a run uses, so tokenizer and generation_config match training.
    const student = await loadStudent({ path: runId }, { loadPretrained: () => loadPretrained({ files: picked }, { cache: null }) });
    const store = new ParamStore(rt, new ParamLayout(student.arch.parameters(student.config)));
    try {
      store.load(student.weights);
      student.weights.clear();
      // The run's own chat template, so the teacher is prompted as it was trained.
      const teacher = PupilTeacher.fromModel(
        { rt, config: student.config, store, tokenizer: student.tokenizer, destroy: () => store.destroy() },
        { name: `pupil:${runId}`, template: meta.config.data.template, owns: true },
      );
      const maxLength = teacher.maxLength;
      const info: TeacherInfo = {
        runId, name: `pupil:${runId}`,
        label: `${meta.name}: ${student.config.arch} C${student.config.hiddenSize} L${student.config.numLayers}${'hub' in meta.config.student ? ` from ${meta.config.student.hub}` : ''}`,
        maxLength, ...(meta.lastCheckpoint !== undefined ? { step: meta.lastCheckpoint } : {}),
      };
      this.teacher = { info, teacher };
      return info;
    } catch (e) {
      store.destroy();
      throw e;
    }
  }

  async teacherGenerate(messages: Message[], o: TeacherGenerateRequest, onText?: (delta: string) => void, requestId?: number): Promise<TeacherGenerateReply> {
    const slot = this.teacher;
    if (!slot) throw new Error('teacher: no run is loaded as a teacher (loadTeacher first), or it was unloaded');
    const id = requestId ?? this.nextTeacherCall--;
    const ac = new AbortController();
    this.teacherCalls.set(id, ac);
    let last: unknown;
    try {
      const r = await slot.teacher.generate(messages, {
        ...o, signal: ac.signal,
        // Every delta reaches the page before the reply does (awaited below, as in generate()).
        ...(onText ? { onText: (d: string) => void (last = onText(d)) } : {}),
      });
      await last;
      return { text: r.text, finishReason: r.finishReason === 'length' || r.finishReason === 'cancelled' ? r.finishReason : 'stop', usage: r.usage, ...(r.logprobs ? { logprobs: r.logprobs } : {}) };
    } catch (e) {
      // Cancelled while still queued behind another call.
      if (ac.signal.aborted) return { text: '', finishReason: 'cancelled', usage: { promptTokens: 0, completionTokens: 0 } };
      throw e;
    } finally {
      this.teacherCalls.delete(id);
      (onText as { [Comlink.releaseProxy]?: () => void } | undefined)?.[Comlink.releaseProxy]?.();
    }
  }

  async cancelTeacher(requestId?: number): Promise<void> {
    for (const [id, ac] of this.teacherCalls) if (requestId === undefined || id === requestId) ac.abort();
  }

  async unloadTeacher(): Promise<void> {
    const slot = this.teacher;
    if (!slot) return;
    this.teacher = undefined;
    await this.cancelTeacher();
    await slot.teacher.destroy();
  }
}
