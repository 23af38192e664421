// `pupil eval --checkpoint DIR`: validation loss and perplexity on the run's own validation split
// (same data, seed and split as training, from the checkpoint's trainer state) or on a given file,
// and exact match on held-out bundled tasks with a per-family table.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { padIdOf } from '../../data/batch.ts';
import { loadDataset } from '../../data/load.ts';
import { tokenizeExamples } from '../../data/mask.ts';
import type { ExactMatchReport } from '../../data/synthetic/index.ts';
import { resolveRenderer } from '../../data/template.ts';
import type { ChatExample } from '../../data/types.ts';
import { GpuCausalLM } from '../../generate/index.ts';
import { nodeGPU } from '../../gpu/node.ts';
import { Runtime } from '../../gpu/runtime.ts';
import { ParamLayout, ParamStore } from '../../models/params.ts';
import { STATE_FILE } from '../../train/checkpoint.ts';
import { resolveRunConfig, type RunConfig } from '../../train/config.ts';
import { loadRunData, validationBatches, type HeldOutTask } from '../../train/data.ts';
import { exactMatchEval, validationLoss, type ValidationResult } from '../../train/evaluate.ts';
import { loadDataNode } from '../../train/node.ts';
import { TrainStep } from '../../train/step.ts';
import { loadStudent } from '../../train/student.ts';
import { loadPretrainedNode } from '../../models/load-node.ts';
import { dataFromFlag, numberFlag, UsageError } from '../train-config.ts';
import { resolveModelDir } from './chat.ts';

const USAGE = `usage: pupil eval --checkpoint DIR [--data D] [--exact-match N] [options]

DIR is a run folder, a checkpoint folder or a Hugging Face model folder. Without --data the
validation loss is measured on the run's own validation split (a checkpoint remembers its data,
seed and split); with --data (bundled | FILE | URL | hub:owner/name/file) on all of that data.

options:
  --exact-match N      held-out bundled tasks to score greedily (default 100; 0 = off)
  --batches N          validation batches (default 0 = all)
  --batch N --seq N    batch shape for the loss (default: the run's, else 8 × 128)
  --template T         auto | model | chatml | alpaca (default: the run's, else auto)
  --max-new-tokens N   answer budget per task (default 48)
  --json               print the figures as JSON`;

const TEST_FILE = new URL('../../../data/pupil-tasks/test.jsonl', import.meta.url);

/** The first `n` held-out bundled tasks, converted as the trainer converts them. */
export async function heldOutTasks(n: number): Promise<HeldOutTask[]> {
  const lines = readFileSync(TEST_FILE, 'utf8').split('\n').filter((l) => l.trim()).slice(0, n);
  const records = lines.map((l) => JSON.parse(l) as { task: string; answer: string });
  const conv = await loadDataset(lines.join('\n'), { name: 'pupil-tasks/test.jsonl', format: 'alpaca' });
  return conv.examples.map((ex, i) => ({
    messages: (ex as ChatExample).messages.filter((m) => m.role !== 'assistant').map((m) => ({ role: m.role, content: m.content })),
    task: records[i].task,
    answer: records[i].answer,
  }));
}

/** The run config stored in a checkpoint's trainer state, if it is a Pupil checkpoint. */
function runConfigOf(modelDir: string): { config?: RunConfig; step?: number } {
  try {
    const state = JSON.parse(readFileSync(`${modelDir}/${STATE_FILE}`, 'utf8')) as { step?: number; trainConfig?: { config?: unknown } };
    return { config: state.trainConfig?.config ? resolveRunConfig(state.trainConfig.config) : undefined, step: state.step };
  } catch {
    return {};
  }
}

export interface EvalReport {
  checkpoint: string;
  step?: number;
  validation?: ValidationResult & { examples: number; batches: number };
  exactMatch?: ExactMatchReport;
}

function formatTable(r: ExactMatchReport): string[] {
  const rows = Object.entries(r.families).sort(([a], [b]) => a.localeCompare(b));
  const w = Math.max(6, ...rows.map(([f]) => f.length));
  const line = (name: string, m: { correct: number; total: number; rate: number }) => `  ${name.padEnd(w)} ${String(m.correct).padStart(7)} ${String(m.total).padStart(6)} ${(100 * m.rate).toFixed(1).padStart(6)}%`;
  return [`  ${'family'.padEnd(w)} ${'correct'.padStart(7)} ${'total'.padStart(6)} ${'rate'.padStart(7)}`, ...rows.map(([f, m]) => line(f, m)), line('all', r)];
}

export async function main(argv: string[]): Promise<number> {
  let values;
  const usage = (msg: string) => {
    console.error(`pupil eval: ${msg}\n\n${USAGE}`);
    return 2;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        checkpoint: { type: 'string', short: 'c' },
        data: { type: 'string' },
        'exact-match': { type: 'string' },
        batches: { type: 'string' },
        batch: { type: 'string' },
        seq: { type: 'string' },
        template: { type: 'string' },
        'max-new-tokens': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return usage((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.checkpoint) return usage('--checkpoint DIR is missing');
  let exactN: number, batches: number, maxNew: number, B: number | undefined, T: number | undefined, source: unknown;
  try {
    exactN = numberFlag('exact-match', values['exact-match'], { integer: true, min: 0 }) ?? 100;
    batches = numberFlag('batches', values.batches, { integer: true, min: 0 }) ?? 0;
    maxNew = numberFlag('max-new-tokens', values['max-new-tokens'], { integer: true, min: 1 }) ?? 48;
    B = numberFlag('batch', values.batch, { integer: true, min: 1 });
    T = numberFlag('seq', values.seq, { integer: true, min: 2 });
    if (values.template !== undefined && !['auto', 'model', 'chatml', 'alpaca'].includes(values.template)) throw new UsageError(`unknown --template ${values.template} (auto, model, chatml or alpaca)`);
    source = values.data !== undefined ? dataFromFlag(values.data) : undefined;
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }

  const modelDir = resolveModelDir(values.checkpoint);
  const { config: runConfig, step } = runConfigOf(modelDir);
  let rt: Runtime | undefined;
  const cleanup: (() => void)[] = [];
  try {
    const base = runConfig ?? resolveRunConfig({ student: { path: modelDir } });
    const config: RunConfig = structuredClone(base);
    config.student = { path: modelDir };
    if (values.template) config.data.template = values.template as RunConfig['data']['template'];
    if (B) config.train.batchSize = B;
    if (T) config.train.seqLen = config.data.maxLength = T;
    config.eval.exactMatch = 0; // scored below from the test file, whatever the data source
    const student = await loadStudent(config.student, { loadPretrained: (s) => loadPretrainedNode('path' in s ? s.path : s.hub) });
    const { arch, config: cfg, tokenizer } = student;
    if (config.train.seqLen > cfg.maxPositions) config.train.seqLen = config.data.maxLength = Math.min(config.data.maxLength, cfg.maxPositions);

    // Validation examples: the run's split, or all of --data.
    let validation, renderer;
    if (source === undefined) {
      const data = await loadRunData(config, tokenizer, loadDataNode);
      validation = data.validation;
      renderer = data.renderer;
    } else {
      renderer = resolveRenderer(config.data.template, tokenizer);
      const loaded = source === 'bundled' ? await loadDataset(readFileSync(TEST_FILE, 'utf8'), { name: 'pupil-tasks/test.jsonl' }) : await loadDataNode(source as Exclude<RunConfig['data']['source'], 'bundled'>, {});
      validation = tokenizeExamples(loaded.examples, { tokenizer, renderer, policy: config.data.mask, maxLength: config.data.maxLength, tooLong: config.data.tooLong }).examples;
      if (!validation.length) throw new Error(`${values.data}: no example fits in ${config.data.maxLength} tokens`);
    }

    rt = await Runtime.create({ gpu: await nodeGPU() });
    const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
    cleanup.push(() => store.destroy());
    store.load(student.weights);
    const report: EvalReport = { checkpoint: modelDir, ...(step !== undefined ? { step } : {}) };

    const vb = validationBatches(validation, config, padIdOf(tokenizer), batches);
    if (vb.length) {
      const ts = new TrainStep(rt, arch, cfg, store, { B: config.train.batchSize, T: config.train.seqLen, schedule: { lr: 0, warmupSteps: 0, totalSteps: 1, kind: 'constant' } });
      cleanup.push(() => ts.destroy());
      const v = await validationLoss(ts, vb);
      if (v) report.validation = { ...v, examples: validation.length, batches: vb.length };
    }
    if (exactN > 0) {
      const lm = new GpuCausalLM(rt, cfg, store, { maxLength: Math.min(cfg.maxPositions, 2048) });
      cleanup.push(() => lm.destroy());
      const tasks = await heldOutTasks(exactN);
      const r = await exactMatchEval({ model: lm, renderer, tokenizer }, tasks, maxNew);
      report.exactMatch = r;
    }

    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      const out = [`checkpoint ${modelDir}${step !== undefined ? ` (step ${step})` : ''}`];
      const v = report.validation;
      if (v) out.push(`validation (${v.examples} examples, ${v.batches} batches, ${v.tokens} tokens): loss ${v.loss.toFixed(4)}, perplexity ${v.perplexity.toFixed(3)}${v.accuracy !== undefined ? `, token accuracy ${(100 * v.accuracy).toFixed(1)}%` : ''}`);
      const r = report.exactMatch;
      if (r) out.push(`exact match on ${r.total} held-out bundled tasks: ${(100 * r.rate).toFixed(1)}% (${r.correct}/${r.total})`, ...formatTable(r));
      console.log(out.join('\n'));
    }
    return 0;
  } catch (e) {
    console.error(`pupil eval: ${(e as Error).message}`);
    return 1;
  } finally {
    for (const f of cleanup.reverse()) f();
  }
}
