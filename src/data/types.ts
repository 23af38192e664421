// The shapes every data module agrees on. `src/data/` knows nothing of the GPU.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface Message {
  role: Role;
  content: string;
  /** 1: trained (its tokens carry loss), 0: context only. Unset: decided by the mask policy. */
  weight?: 0 | 1;
}

/** Where a record came from, for every report about it. Lines are 1-based. */
export interface SourceRef {
  file: string;
  line: number;
  /** Index of the record in the file (0-based), and of the example within an expanded record. */
  record: number;
  sub?: number;
  /** Set for Parquet, which has no lines: `line` is then the 1-based row number. */
  unit?: 'row';
}

/** A conversation; Alpaca records keep their fields so the Alpaca prompt can render them exactly. */
export interface ChatExample {
  kind: 'chat';
  messages: Message[];
  alpaca?: { instruction: string; input: string; output: string; system?: string };
  /** Free-form extra fields (e.g. the synthetic tasks' `task`, `answer`). */
  meta?: Record<string, unknown>;
  source: SourceRef;
}

/** Raw text continuation: no chat template; loss on the completion by default. */
export interface CompletionExample {
  kind: 'completion';
  prompt: string;
  completion: string;
  meta?: Record<string, unknown>;
  source: SourceRef;
}

export type Example = ChatExample | CompletionExample;

/** Why a record was not kept. `reason` is a stable key for summaries; `message` is for people. */
export interface Rejection {
  source: SourceRef;
  reason:
    | 'invalid-json'
    | 'invalid-row'
    | 'missing-field'
    | 'wrong-type'
    | 'empty-response'
    | 'unknown-role'
    | 'too-long'
    | 'no-trainable-tokens'
    /** The chat template failed to render, or its renderings could not be split into messages. */
    | 'template-error'
    | 'unrecognised-format';
  field?: string;
  message: string;
}

export type RecordFormat = 'alpaca' | 'chat' | 'sharegpt' | 'completion' | 'mapped';
export type FileFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';
