// The page's side of the engine Worker: a typed wrapper over comlink. The page's main thread never
// touches the GPU; training, storage, generation and export all run in the Worker, and only small
// events (and the export's zip, transferred) cross back.
import * as Comlink from 'comlink';
import type { Teacher, TeacherMessage, TeacherOptions, TeacherReply } from '../distill/teacher.ts';
import { BROWSER_ADVICE } from '../gpu/errors.ts';
import type {
  EngineApi, EngineErrorInfo, EngineOptions, EngineEvent, EngineStatus, ExportRequest, GenerateRequest, GenerateSummary, Message, MetricRow,
  RunConfigInput, RunMeta, TeacherInfo, TokenEvent,
} from './protocol.ts';

export interface Engine {
  api: Comlink.Remote<EngineApi>;
  terminate(): void;
}

/** Starts the engine Worker. The page's main thread never touches the GPU itself. */
export function startEngine(options?: EngineOptions): Engine {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'pupil-engine' });
  const api = Comlink.wrap<EngineApi>(worker);
  // Messages on one port are handled in order, so this applies before any later call.
  if (options) void api.configure(options);
  return { api, terminate: () => worker.terminate() };
}

/** A streaming generation: iterate it for tokens; `result` settles when it ends. */
export interface TokenStream extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerateSummary>;
}

/** The engine as the UI uses it. One Worker, one run loaded at a time. */
export class EngineClient {
  private listeners = new Set<(e: EngineEvent) => void>();
  private subscription?: Promise<number>;
  private nextTeacherCall = 1;

  constructor(readonly engine: Engine = startEngine()) {}

  /** A client on a new Worker; `options` choose the storage backend or the Hub endpoint. */
  static create(options?: EngineOptions): EngineClient {
    return new EngineClient(startEngine(options));
  }

  get api(): Comlink.Remote<EngineApi> {
    return this.engine.api;
  }

  probe() {
    return this.api.probe();
  }

  /** Every Trainer event of the run in the Worker, tagged with its runId. Returns an unsubscribe. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    // One proxy for all page listeners: events cross the boundary once.
    this.subscription ??= this.api.subscribe(Comlink.proxy((e: EngineEvent) => {
      for (const l of [...this.listeners]) l(e);
    }));
    return () => void this.listeners.delete(listener);
  }

  /**
   * Subscribes before starting so that no early event (loading, first steps) is missed. `files`:
   * the picked model folder when `config.student` is `{ path }` (cloned to the Worker, not read here).
   */
  async start(config: RunConfigInput, files?: File[]): Promise<string> {
    await this.subscription;
    return files?.length ? this.api.start(config, files) : this.api.start(config);
  }
  /** `files`: as in start, for a run whose student was picked from a folder (lost on reload). */
  async resumeRun(runId: string, files?: File[]): Promise<void> {
    await this.subscription;
    return files?.length ? this.api.resumeRun(runId, files) : this.api.resumeRun(runId);
  }
  openRun(runId: string, files?: File[]): Promise<void> {
    return files?.length ? this.api.openRun(runId, files) : this.api.openRun(runId);
  }
  pause(): Promise<void> {
    return this.api.pause();
  }
  resume(): Promise<void> {
    return this.api.resume();
  }
  stop(): Promise<void> {
    return this.api.stop();
  }
  status(): Promise<EngineStatus> {
    return this.api.status();
  }
  listRuns(): Promise<RunMeta[]> {
    return this.api.listRuns();
  }
  deleteRun(runId: string): Promise<void> {
    return this.api.deleteRun(runId);
  }
  metrics(runId: string): Promise<MetricRow[]> {
    return this.api.metrics(runId);
  }

  /** Streams the reply to `messages` from the loaded model. Breaking out of the loop cancels it. */
  generate(messages: Message[], options: GenerateRequest = {}): TokenStream {
    const queue: TokenEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const onToken = Comlink.proxy((t: TokenEvent) => {
      queue.push(t);
      wake?.();
    });
    const result = this.api.generate(messages, options, onToken).finally(() => {
      finished = true;
      wake?.();
    });
    result.catch(() => {});
    const api = this.api;
    return {
      result,
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            while (queue.length) yield queue.shift()!;
            if (finished) break;
            await new Promise<void>((r) => (wake = r));
            wake = undefined;
          }
          await result;
        } finally {
          if (!finished) await api.cancelGeneration();
        }
      },
    };
  }

  cancelGeneration(): Promise<void> {
    return this.api.cancelGeneration();
  }

  /** The loaded model as a Hugging Face folder in a zip (bytes moved from the Worker, not copied). */
  exportModel(options: ExportRequest = {}): Promise<Uint8Array> {
    return this.api.exportModel(options);
  }

  /** Loads a saved run's last checkpoint as a teacher, beside (not instead of) the run in training. */
  loadTeacher(runId: string): Promise<TeacherInfo> {
    return this.api.loadTeacher(runId);
  }
  unloadTeacher(): Promise<void> {
    return this.api.unloadTeacher();
  }

  /**
   * The teacher loaded with loadTeacher as a `Teacher` (src/distill/teacher.ts), so the page's
   * Self-Instruct and regenerate loops drive it like any endpoint. Aborting `signal` cancels that
   * call in the Worker.
   */
  runTeacher(info: TeacherInfo): Teacher {
    return {
      name: info.name,
      generate: async (messages: TeacherMessage[], o: TeacherOptions = {}): Promise<TeacherReply> => {
        o.signal?.throwIfAborted();
        const id = this.nextTeacherCall++;
        const cancel = () => void this.api.cancelTeacher(id);
        o.signal?.addEventListener('abort', cancel, { once: true });
        try {
          const req = {
            ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}), ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
            ...(o.topP !== undefined ? { topP: o.topP } : {}), ...(o.stop ? { stop: o.stop } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}),
            ...(o.topLogprobs !== undefined ? { topLogprobs: o.topLogprobs } : {}),
          };
          const plain = messages.map((m) => ({ role: m.role, content: m.content }));
          return await this.api.teacherGenerate(plain, req, o.onText ? Comlink.proxy(o.onText) : undefined, id);
        } finally {
          o.signal?.removeEventListener('abort', cancel);
        }
      },
    };
  }

  /** Stops the Worker at once (no checkpoint: call stop() first to keep the progress). */
  terminate(): void {
    this.engine.terminate();
  }
}

/** True when this browser exposes WebGPU at all (the Worker may still find no adapter). */
export function hasWebGPU(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu;
}

/** Turns whatever the Worker threw into something the page can show. */
export function describeError(e: unknown): EngineErrorInfo {
  const err = e as { name?: string; message?: string };
  const name = err?.name ?? 'Error';
  const message = err?.message ?? String(e);
  return name === 'NoWebGPUError' || /WebGPU/.test(message) ? { name, message, advice: BROWSER_ADVICE } : { name, message };
}

export { BROWSER_ADVICE };
