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

/**
 * log-softmax of the raw logits (before temperature and top-p, as vLLM and OpenAI report them) at
 * `token`, and the k most likely alternatives, most likely first.
 */
export function tokenLogprobs(logits: Float32Array, token: number, k: number, tokenText: (id: number) => string): TokenLogprobs {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const top: number[] = [];
  if (k > 0) {
    // Insertion into a sorted list of k: V·k, small for k <= 20.
    for (let i = 0; i < logits.length; i++) {
      if (top.length === k && logits[i] <= logits[top[k - 1]]) continue;
      let j = Math.min(top.length, k - 1);
      while (j > 0 && logits[top[j - 1]] < logits[i]) j--;
      top.splice(j, 0, i);
      if (top.length > k) top.pop();
    }
  }
  return { token: tokenText(token), logprob: logits[token] - lse, top: top.map((id) => ({ token: tokenText(id), logprob: logits[id] - lse })) };
}
