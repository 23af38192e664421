// A teacher writes (or improves) responses for the student to learn from: an OpenAI-compatible
// endpoint, a model in the browser, or one of the user's own Pupil checkpoints. Every kind sits
// behind this one interface.

export interface TeacherMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface TeacherOptions {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  /** Ask for the top-k log-probabilities of each generated token (where the teacher can). */
  topLogprobs?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Called with each text delta while streaming. */
  onText?: (delta: string) => void;
}

/** One generated token with the teacher's top-k alternatives (natural-log probabilities). */
export interface TokenLogprobs {
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

export interface TeacherReply {
  text: string;
  finishReason: 'stop' | 'length' | 'cancelled' | string;
  /** Present when asked for and available. */
  logprobs?: TokenLogprobs[];
  usage?: { promptTokens: number; completionTokens: number };
}

export interface Teacher {
  /** For provenance: e.g. "openai:http://127.0.0.1:8080/v1 model=qwen2.5-7b". */
  readonly name: string;
  generate(messages: TeacherMessage[], options?: TeacherOptions): Promise<TeacherReply>;
}
