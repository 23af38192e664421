// A run's data: the config's `data` section turned into tokenized train and validation examples,
// the batches of each epoch, and (for the bundled dataset) the held-out tasks for exact match.
// The order of training batches is a pure function of (seed, epoch, position), so a resumed run
// sees exactly the batches the uninterrupted one would have.
import { epochBatches, padIdOf, splitTrainValidation, type Batch, type BatchOptions } from '../data/batch.ts';
import { loadDataset, type LoadOptions, type LoadResult } from '../data/load.ts';
import { tokenizeExamples, type TokenizedExample } from '../data/mask.ts';
import { generateDataset, toJsonl } from '../data/synthetic/index.ts';
import { resolveRenderer, type ChatRenderer } from '../data/template.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { ChatExample, Rejection } from '../data/types.ts';
import type { DataSource, RunConfig } from './config.ts';

/** What the environment provides for data that is not bundled. */
export type DataLoader = (source: Exclude<DataSource, 'bundled'>, opts: LoadOptions) => Promise<LoadResult>;

/** A held-out bundled task: the prompt as chat messages (the answer removed) and what to score. */
export interface HeldOutTask {
  messages: { role: string; content: string }[];
  task: string;
  answer: string;
}

export interface RunData {
  train: TokenizedExample[];
  validation: TokenizedExample[];
  renderer: ChatRenderer;
  padId: number;
  heldOut: HeldOutTask[];
  rejections: Rejection[];
  /** For the status line: "19000 train, 1000 validation examples (3 rejected: too-long 3)". */
  summary: string;
}

/** The bundled dataset, generated (identical to data/pupil-tasks/*.jsonl) so every environment has it. */
let bundledCache: { train: string; test: ReturnType<typeof generateDataset>['test'] } | undefined;
function bundled() {
  if (!bundledCache) {
    const ds = generateDataset();
    bundledCache = { train: toJsonl(ds.train), test: ds.test };
  }
  return bundledCache;
}

export async function loadRunData(config: RunConfig, tokenizer: TextTokenizer, loader?: DataLoader): Promise<RunData> {
  const d = config.data;
  const loadOpts: LoadOptions = {
    ...(d.format !== 'auto' ? { format: d.format } : {}),
    ...(d.mapping ? { mapping: d.mapping } : {}),
    ...(d.limit !== undefined ? { limit: d.limit } : {}),
  };
  const load = async (source: DataSource, opts: LoadOptions, test = false): Promise<LoadResult> => {
    if (source === 'bundled') {
      return test ? loadDataset(toJsonl(bundled().test), { ...opts, name: 'pupil-tasks/test.jsonl' }) : loadDataset(bundled().train, { ...opts, name: 'pupil-tasks/train.jsonl' });
    }
    if (loader) return loader(source, opts);
    throw new Error('this environment cannot load data from files or URLs (no loader given)');
  };
  const loaded = await load(d.source, loadOpts);
  const renderer = resolveRenderer(d.template, tokenizer);
  const tokenizeOpts = { tokenizer, renderer, policy: d.mask, maxLength: d.maxLength, tooLong: d.tooLong };
  const tok = tokenizeExamples(loaded.examples, tokenizeOpts);
  let split: { train: TokenizedExample[]; validation: TokenizedExample[] };
  const rejections = [...loaded.rejections, ...tok.rejections];
  if (d.validationSource) {
    // A separate validation set: read like the training data, never limited, nothing split off.
    const { limit: _limit, ...validationOpts } = loadOpts;
    const v = await load(d.validationSource, validationOpts, true);
    const vtok = tokenizeExamples(v.examples, tokenizeOpts);
    if (vtok.examples.length === 0) throw new Error(`the validation data (${describeSource(d.validationSource)}) has no usable example (${v.rejections.length + vtok.rejections.length} rejected)`);
    rejections.push(...v.rejections, ...vtok.rejections);
    split = { train: tok.examples, validation: vtok.examples };
  } else split = splitTrainValidation(tok.examples, { validation: d.validation, seed: config.train.seed });
  if (split.train.length === 0) throw new Error(`no training examples left (${tok.examples.length} tokenized, ${split.validation.length} held out for validation)`);

  let heldOut: HeldOutTask[] = [];
  if (d.source === 'bundled' && config.eval.exactMatch > 0) {
    const records = bundled().test.slice(0, config.eval.exactMatch);
    // Converted by the same reader as the training records, so prompts match training exactly.
    const conv = await loadDataset(toJsonl(records), { name: 'pupil-tasks/test.jsonl', format: 'alpaca' });
    heldOut = conv.examples.map((ex, i) => ({
      messages: (ex as ChatExample).messages.filter((m) => m.role !== 'assistant').map((m) => ({ role: m.role, content: m.content })),
      task: records[i].task,
      answer: records[i].answer,
    }));
  }
  const counts = new Map<string, number>();
  for (const r of rejections) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
  const rejected = rejections.length ? ` (${rejections.length} rejected: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')})` : '';
  return {
    train: split.train,
    validation: split.validation,
    renderer,
    padId: padIdOf(tokenizer),
    heldOut,
    rejections,
    summary: `${split.train.length} train, ${split.validation.length} validation examples${d.validationSource ? ` (from ${describeSource(d.validationSource)})` : ''}${rejected}`,
  };
}

export function batchOptions(config: RunConfig, padId: number): BatchOptions {
  return { batchSize: config.train.batchSize, seqLen: config.train.seqLen, pack: config.data.packing, padId, seed: config.train.seed };
}

/** Optimizer steps in one epoch: batches grouped by `accumulation` (the last group may be short). */
export function stepsPerEpoch(train: readonly TokenizedExample[], config: RunConfig, padId: number): number {
  let n = 0;
  for (const _ of epochBatches(train, batchOptions(config, padId), 0)) n++;
  return Math.ceil(n / config.train.accumulation);
}

export function totalSteps(config: RunConfig, perEpoch: number): number {
  return config.train.maxSteps ?? Math.max(1, Math.ceil(config.train.epochs * perEpoch));
}

/**
 * The micro-batches of each optimizer step from (epoch, position): position counts batches already
 * consumed in that epoch. Epochs follow one another (reshuffled) for as long as the caller pulls.
 */
export class StepBatches {
  private iter: Iterator<Batch>;

  constructor(
    private readonly train: readonly TokenizedExample[],
    private readonly opts: BatchOptions,
    private readonly accumulation: number,
    public epoch: number,
    public position: number,
  ) {
    this.iter = this.open(epoch, position);
  }

  private open(epoch: number, skip: number): Iterator<Batch> {
    const it = epochBatches(this.train, this.opts, epoch);
    for (let i = 0; i < skip; i++) if (it.next().done) break;
    return it;
  }

  /** The next step's batches; a step never spans two epochs. */
  next(): Batch[] {
    const out: Batch[] = [];
    while (out.length < this.accumulation) {
      const r = this.iter.next();
      if (r.done) {
        if (out.length) break;
        this.epoch++;
        this.position = 0;
        this.iter = this.open(this.epoch, 0);
        continue;
      }
      out.push(r.value);
      this.position++;
    }
    return out;
  }
}

/** The first `max` validation batches (all when 0), in a fixed order. */
export function validationBatches(validation: readonly TokenizedExample[], config: RunConfig, padId: number, max: number): Batch[] {
  const out: Batch[] = [];
  for (const b of epochBatches(validation, batchOptions(config, padId), 0)) {
    out.push(b);
    if (max > 0 && out.length >= max) break;
  }
  return out;
}

/** A data source for messages: "bundled test set", a path, a URL or hub:owner/name/file. */
function describeSource(s: DataSource): string {
  if (s === 'bundled') return 'the bundled test set';
  if ('path' in s) return s.path;
  if ('url' in s) return s.url;
  return `hub:${s.hub}/${s.file}`;
}
