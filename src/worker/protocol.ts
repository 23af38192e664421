// Types that cross the Worker boundary. The UI imports these, never src/gpu. Everything here is
// structured-cloneable; callbacks cross as Comlink proxies.

import type { RunConfigInput } from '../train/config.ts';
import type { MetricRow, RunMeta } from '../train/storage.ts';
import type { RunSummary, TrainerEvent, TrainerState } from '../train/trainer.ts';

export type { MetricRow, RunConfigInput, RunMeta, RunSummary, TrainerEvent, TrainerState };

/** A chat turn as generate() takes it. */
export interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface KernelCheck {
  name: string;
  shape: string;
  ms: number;
  gflops: number;
  /** Largest absolute difference from the CPU result. */
  maxError: number;
  ok: boolean;
}

export interface AdapterReport {
  info: { vendor: string; architecture: string; device: string; description: string };
  features: { f16: boolean; subgroups: boolean; timestamps: boolean };
  limits: Record<string, number>;
  kernel: KernelCheck;
}

/** An error as it reaches the page: `advice` is set when the user can do something about it. */
export interface EngineErrorInfo {
  name: string;
  message: string;
  advice?: string;
}

/** A Trainer event, tagged with the run it belongs to. */
export type EngineEvent = TrainerEvent & { runId: string };

export interface EngineStatus {
  /** The run loaded in the Worker (training, paused, finished or only loaded for chat). */
  runId?: string;
  state: 'idle' | TrainerState;
  step?: number;
  totalSteps?: number;
  lastCheckpoint?: number;
  lastLoss?: number;
  /** 'opfs' | 'indexeddb' | 'memory' once storage has been opened. */
  storage?: string;
  generating: boolean;
}

export interface GenerateRequest {
  /** 'initial': the student as it was before training (loaded again on first use); default 'current'. */
  model?: 'current' | 'initial';
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
}

/** One streamed token: `text` is what it adds (possibly '' while a stop string may be starting). */
export interface TokenEvent {
  token: number;
  text: string;
}

export interface GenerateSummary {
  text: string;
  finishReason: 'eos' | 'length' | 'stop' | 'cancelled';
  tokens: number;
  tokensPerSecond?: number;
}

export interface ExportRequest {
  dtype?: 'f32' | 'f16' | 'bf16';
  /** Folder name inside the zip (default: the run's name). */
  folder?: string;
}

/** The run loaded as a teacher (loadTeacher): a model of its own, apart from the run being trained. */
export interface TeacherInfo {
  runId: string;
  /** For provenance in generated records: "pupil:<runId>". */
  name: string;
  /** The student it was trained from, e.g. "scratch llama C96 L3 …" or a Hub id. */
  label: string;
  /** Prompt and reply together, in tokens (its KV cache). */
  maxLength: number;
  /** Optimizer step of the checkpoint loaded. */
  step?: number;
}

export interface TeacherGenerateRequest {
  maxTokens?: number;
  /** 0 = greedy; default 1 (as OpenAI-compatible endpoints). */
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  /** The top-k log-probabilities of each generated token (from the raw logits). */
  topLogprobs?: number;
}

export interface TeacherGenerateReply {
  text: string;
  finishReason: 'stop' | 'length' | 'cancelled';
  usage: { promptTokens: number; completionTokens: number };
  /** When topLogprobs was asked for. */
  logprobs?: { token: string; logprob: number; top: { token: string; logprob: number }[] }[];
}

export interface EngineOptions {
  /** Hub endpoint for pretrained students and Hub datasets (default https://huggingface.co). */
  endpoint?: string;
  /** Storage backend instead of the best available ('indexeddb' forces the OPFS fallback). */
  storage?: 'opfs' | 'indexeddb' | 'memory';
}

/** What the engine Worker exposes through comlink (src/worker/client.ts wraps it). */
export interface EngineApi {
  /** Must come before any other call that opens storage; startEngine(options) sends it first. */
  configure(options: EngineOptions): Promise<void>;
  /** Acquires the device, reports the adapter and runs a kernel checked against the CPU. */
  probe(): Promise<AdapterReport>;
  /** `listener` must be a Comlink.proxy; returns an id for unsubscribe. */
  subscribe(listener: (e: EngineEvent) => void): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /**
   * Creates the run, saves its meta and starts training in the background; resolves with its id.
   * `files`: the picked model folder when `config.student` is `{ path }` (a browser has no paths).
   */
  start(config: RunConfigInput, files?: File[]): Promise<string>;
  /** Loads a stored run at its last checkpoint and continues training it (`files` as in start). */
  resumeRun(runId: string, files?: File[]): Promise<void>;
  /** Loads a stored run's last checkpoint for chat and export, without training (`files` as in start). */
  openRun(runId: string, files?: File[]): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Graceful: finishes the step in flight, saves a checkpoint, then resolves. */
  stop(): Promise<void>;
  status(): Promise<EngineStatus>;
  /** Streams through `onToken` (a Comlink.proxy); resolves once every token has been delivered. */
  generate(messages: Message[], options: GenerateRequest, onToken: (t: TokenEvent) => void): Promise<GenerateSummary>;
  cancelGeneration(): Promise<void>;
  /** A Hugging Face folder as a store-only zip; the buffer is transferred, not copied. */
  exportModel(options?: ExportRequest): Promise<Uint8Array>;
  listRuns(): Promise<RunMeta[]>;
  deleteRun(runId: string): Promise<void>;
  /** The stored metrics history of a run (step and eval rows), oldest first. */
  metrics(runId: string): Promise<MetricRow[]>;
  /**
   * Loads a stored run's last checkpoint as a teacher, in a slot of its own (the trained run is
   * untouched); replaces (and frees) the teacher loaded before.
   */
  loadTeacher(runId: string): Promise<TeacherInfo>;
  /**
   * One reply from the loaded teacher; calls queue (one KV cache). `onText` (a Comlink.proxy) gets
   * each text delta; `requestId` lets cancelTeacher(requestId) end this call alone.
   */
  teacherGenerate(messages: Message[], options: TeacherGenerateRequest, onText?: (delta: string) => void, requestId?: number): Promise<TeacherGenerateReply>;
  /** Ends one teacher call (running or queued), or all of them without an id. */
  cancelTeacher(requestId?: number): Promise<void>;
  /** Frees the teacher's GPU memory. */
  unloadTeacher(): Promise<void>;
}
