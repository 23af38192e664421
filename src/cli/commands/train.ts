// `pupil train`: one training run in a folder. The config comes from --config and flags (flags
// win); the run folder gets config.json (the resolved config: `pupil train --config
// DIR/config.json` re-runs it), run.json, checkpoint/ (replaced atomically), metrics.jsonl,
// metrics.csv and, at the end, loss.svg. Ctrl-C stops after the step in flight and saves a
// checkpoint; a second Ctrl-C exits at once (the last complete checkpoint stays loadable).
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeGPU } from '../../gpu/node.ts';
import { Runtime } from '../../gpu/runtime.ts';
import { exportRunConfig, RunConfigError, type RunConfig } from '../../train/config.ts';
import { nodeTrainerEnv } from '../../train/node.ts';
import type { MetricRow } from '../../train/storage.ts';
import { FolderStorage } from '../../train/storage-node.ts';
import { makeRunId } from '../../train/storage.ts';
import { Trainer, type RunSummary, type TrainerEvent } from '../../train/trainer.ts';
import { MetricsFiles, readMetricsJsonl, toMetricsRow } from '../metrics-files.ts';
import { lossCurveSvg } from '../plot.ts';
import { Progress } from '../progress.ts';
import { resolveModelDir } from './chat.ts';
import { applyFlags, CONFIG_FLAGS, readConfigFile, resolveConfig, UsageError, type ConfigFlag } from '../train-config.ts';

const USAGE = `usage: pupil train [--config run.json] [flags] [--out DIR]
       pupil train --resume DIR [--eval-every N] [--save-every N]
       pupil train ... --print-config

Flags override the config file. --print-config prints the resolved config (every default filled)
and exits; save it and pass it back with --config to re-run the same job.

model and data:
  --student S          scratch | scratch:llama|qwen2|gpt2 | FOLDER | owner/name[@revision]
  --hidden N --layers N --heads N --kv-heads N --intermediate N --max-positions N --init-seed N
                       scratch student size
  --data D             bundled | FILE | https://URL | hub:owner/name/path/file.jsonl
  --validation-data D  validate on all of D instead of a split of --data (bundled = the
                       bundled held-out test set); the same forms as --data
  --format F --template T --mask M --max-length N --too-long P --validation X --limit N
training:
  --steps N --epochs X --lr X --warmup-ratio X --schedule cosine|linear|constant --min-lr-ratio X
  --batch N --seq N --accumulation N --weight-decay X --max-grad-norm X --seed N
evaluation and saving:
  --eval-every N --eval-batches N --exact-match N (held-out bundled tasks) --sample-tokens N
  --save-every N
distillation (loss = alpha·CE + (1 − alpha)·D over the teacher's top-k; validation stays CE):
  --distill-teacher DIR  online: a checkpoint, run or model folder with the student's tokenizer
  --distill-topk FILE    offline: a file from pupil distill topk (same data and settings)
  --distill-loss forward|reverse|jsd (default forward)   --distill-alpha X (default 0.5)
  --distill-beta X (jsd, default 0.5)   --distill-temperature X (default 1)
  --distill-top-k N (online, default 16)
output:
  --out DIR            run folder (default runs/<name>-<time>)
  --resume DIR         continue the run in DIR from its checkpoint
  --name NAME          run name
  --log-every N        without a terminal, print a progress line every N steps
  --log-scale          loss.svg with a logarithmic loss axis
  --quiet              no sample generations in the log`;

/**
 * FolderStorage that also mirrors the metrics into metrics.csv, row for row, including the
 * truncation a resumed run does, so the CSV never holds rows the JSONL does not.
 */
class CliStorage extends FolderStorage {
  private csv = new Map<string, MetricsFiles>();

  private files(runId: string): MetricsFiles {
    let f = this.csv.get(runId);
    if (!f) this.csv.set(runId, (f = new MetricsFiles(this.runDir(runId), { jsonl: false })));
    return f;
  }

  override async appendMetrics(runId: string, rows: readonly MetricRow[]): Promise<void> {
    await super.appendMetrics(runId, rows);
    const f = this.files(runId);
    for (const r of rows) {
      const m = toMetricsRow(r);
      if (m) f.append(m);
    }
  }

  override async truncateMetrics(runId: string, step: number): Promise<void> {
    await super.truncateMetrics(runId, step);
    this.files(runId).replace(readMetricsJsonl(this.metricsFile(runId)));
  }
}

function oneLine(s: string, max = 100): string {
  const t = JSON.stringify(s).slice(1, -1);
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Writes loss.svg from the run's metrics; returns its path. */
export function writeLossPlot(dir: string, opts: { logScale?: boolean; title?: string } = {}): string {
  const rows = readMetricsJsonl(join(dir, 'metrics.jsonl'));
  const train = rows.filter((r) => r.type === 'step' && !r.skipped && r.loss !== undefined).map((r) => [r.step, r.loss!] as const);
  const validation = rows.filter((r) => r.type === 'eval' && r.valLoss !== undefined).map((r) => [r.step, r.valLoss!] as const);
  const path = join(dir, 'loss.svg');
  writeFileSync(path, lossCurveSvg({ train, validation, logScale: opts.logScale, title: opts.title }));
  return path;
}

/** Checks the distillation paths and makes them absolute (a run folder becomes its latest checkpoint). */
function distillPaths(flags: Partial<Record<ConfigFlag, string>>): void {
  const t = flags['distill-teacher'], f = flags['distill-topk'];
  if (t !== undefined) {
    if (!existsSync(t) || !statSync(t).isDirectory()) throw new UsageError(`--distill-teacher ${t}: no such folder (a checkpoint, run or model folder)`);
    flags['distill-teacher'] = resolveModelDir(resolve(t));
  }
  if (f !== undefined) {
    if (!existsSync(f) || !statSync(f).isFile()) throw new UsageError(`--distill-topk ${f}: no such file (make one with pupil distill topk)`);
    flags['distill-topk'] = resolve(f);
    if (flags['distill-top-k'] !== undefined) throw new UsageError('--distill-top-k applies to --distill-teacher only: with --distill-topk the file\'s K is used');
  }
}

export async function main(argv: string[]): Promise<number> {
  const flagOptions = Object.fromEntries(Object.keys(CONFIG_FLAGS).map((k) => [k, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  const usage = (msg: string) => {
    console.error(`pupil train: ${msg}\n\n${USAGE}`);
    return 2;
  };
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        ...flagOptions,
        config: { type: 'string' },
        student: { type: 'string' },
        data: { type: 'string' },
        'validation-data': { type: 'string' },
        out: { type: 'string', short: 'o' },
        resume: { type: 'string' },
        'print-config': { type: 'boolean' },
        'log-every': { type: 'string' },
        'log-scale': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    return usage((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }

  let config: RunConfig, outDir: string, logEvery: number | undefined;
  const resumeDir = values.resume as string | undefined;
  try {
    if (resumeDir && values.config) throw new UsageError('--resume takes the config of the run it continues; --config cannot be given with it');
    if (resumeDir && values.out && resolve(values.out as string) !== resolve(resumeDir)) throw new UsageError('--resume DIR writes to DIR; --out cannot name another folder');
    let raw: Record<string, unknown> = {};
    if (resumeDir) {
      const file = join(resumeDir, 'config.json');
      if (!existsSync(join(resumeDir, 'checkpoint')) && !existsSync(join(resumeDir, 'checkpoint.previous'))) throw new UsageError(`--resume ${resumeDir}: no checkpoint there (expected ${join(resumeDir, 'checkpoint')})`);
      if (!existsSync(file)) throw new UsageError(`--resume ${resumeDir}: ${file} is missing`);
      raw = readConfigFile(file);
    } else if (values.config) raw = readConfigFile(values.config as string);
    const flags = Object.fromEntries(Object.entries(values).filter(([k, v]) => typeof v === 'string' && (k in CONFIG_FLAGS || k === 'student' || k === 'data' || k === 'validation-data'))) as Partial<Record<ConfigFlag | 'student' | 'data' | 'validation-data', string>>;
    distillPaths(flags);
    config = resolveConfig(applyFlags(raw, flags));
    if (values['log-every'] !== undefined) {
      logEvery = Number(values['log-every']);
      if (!Number.isInteger(logEvery) || logEvery < 1) throw new UsageError(`--log-every expects a positive integer, got ${JSON.stringify(values['log-every'])}`);
    }
    outDir = resolve((resumeDir ?? (values.out as string | undefined)) ?? join('runs', makeRunId(config.name)));
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(basename(outDir))) throw new UsageError(`--out ${outDir}: the folder name may only hold letters, digits, ".", "_" and "-"`);
    if (!resumeDir && !values['print-config'] && (existsSync(join(outDir, 'checkpoint')) || existsSync(join(outDir, 'run.json')))) {
      throw new UsageError(`--out ${outDir} already holds a run; continue it with --resume ${outDir}, or choose another folder`);
    }
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }
  if (values['print-config']) {
    process.stdout.write(exportRunConfig(config));
    return 0;
  }
  return run(config, outDir, { resume: resumeDir !== undefined, logEvery, logScale: values['log-scale'] === true, quiet: values.quiet === true });
}

async function run(config: RunConfig, outDir: string, opts: { resume: boolean; logEvery?: number; logScale: boolean; quiet: boolean }): Promise<number> {
  const root = dirname(outDir), runId = basename(outDir);
  let progress: Progress | undefined;
  let trainer: Trainer | undefined;
  let interrupted = false;
  const log = (line: string) => (progress ? progress.log(line) : console.log(line));
  const onSigint = () => {
    if (interrupted || !trainer) {
      process.stderr.write('\ninterrupted again: exiting now (the last complete checkpoint is kept)\n');
      process.exit(130);
    }
    interrupted = true;
    log('interrupted: finishing the step in flight and saving a checkpoint (Ctrl-C again to quit at once)');
    void trainer.stop();
  };
  process.on('SIGINT', onSigint);

  const onEvent = (e: TrainerEvent) => {
    switch (e.type) {
      case 'status':
        if (e.state === 'loading' && e.detail) log(`loading ${e.detail}`);
        else if (e.state === 'ready') log(`ready: ${e.detail ?? ''}`);
        break;
      case 'step':
        progress?.step(e);
        break;
      case 'eval': {
        const parts = [`eval @ step ${e.step}:`];
        if (e.valLoss !== undefined) parts.push(`val loss ${e.valLoss.toFixed(4)}`, `perplexity ${e.perplexity!.toFixed(2)}`);
        if (e.exactMatch) parts.push(`exact match ${pct(e.exactMatch.rate)} (${e.exactMatch.correct}/${e.exactMatch.total})`);
        log(parts.join(' '));
        break;
      }
      case 'sample':
        if (!opts.quiet) log(`  "${oneLine(e.prompt, 50)}" → "${oneLine(e.text)}"`);
        break;
      case 'checkpoint':
        log(`checkpoint at step ${e.step} saved to ${join(outDir, 'checkpoint')}`);
        break;
      case 'error':
        break; // reported once, by the catch below
    }
  };

  let rt: Runtime | undefined;
  let summary: RunSummary | undefined;
  let code = 0;
  try {
    rt = await Runtime.create({ gpu: await nodeGPU() });
    const env = { ...nodeTrainerEnv(rt, root), storage: new CliStorage(root), readFile: async (p: string) => new Uint8Array(await readFile(p)) };
    if (!opts.resume) {
      mkdirSync(outDir, { recursive: true });
      new MetricsFiles(outDir, { jsonl: false }).replace([]);
    }
    trainer = await Trainer.create(env, config, opts.resume ? { resume: runId, onEvent } : { runId, onEvent });
    writeFileSync(join(outDir, 'config.json'), exportRunConfig(trainer.config));
    const start = trainer.status().step;
    if (opts.resume) log(`resuming ${runId} from step ${start}`);
    progress = new Progress({ total: trainer.totalSteps, start, every: opts.logEvery });
    summary = await trainer.run();
  } catch (e) {
    progress?.stop();
    progress = undefined;
    const ck = trainer?.status().lastCheckpoint;
    console.error(`pupil train: ${(e as Error).message}${ck !== undefined && !(e as Error).message.includes('checkpoint') ? ` (last checkpoint: step ${ck} in ${join(outDir, 'checkpoint')})` : ''}`);
    // A config the trainer rejects (e.g. --steps changed on --resume) is a usage error.
    code = e instanceof RunConfigError ? 2 : 1;
  } finally {
    progress?.stop();
    progress = undefined;
    trainer?.destroy();
    process.off('SIGINT', onSigint);
  }
  if (existsSync(join(outDir, 'metrics.jsonl'))) {
    const svg = writeLossPlot(outDir, { logScale: opts.logScale, title: `${config.name} (${runId})` });
    if (summary) report(summary, outDir, svg);
  }
  if (interrupted && code === 0) {
    console.log(`stopped at step ${summary?.steps}; continue with: pupil train --resume ${outDir}`);
    return 130;
  }
  return code;
}

function report(s: RunSummary, outDir: string, svg: string): void {
  const lines = [`${s.stopped ? 'stopped' : 'done'}: ${s.steps}/${s.totalSteps} steps, ${s.tokensSeen} tokens in ${(s.elapsedMs / 1000).toFixed(1)} s${s.skippedSteps ? `, ${s.skippedSteps} skipped` : ''}`];
  if (s.finalLoss !== undefined) lines.push(`  train loss (last steps): ${s.finalLoss.toFixed(4)}`);
  const a = s.firstEval, b = s.lastEval;
  if (a?.valLoss !== undefined && b?.valLoss !== undefined) lines.push(`  validation loss: ${a.valLoss.toFixed(4)} (step ${a.step}) → ${b.valLoss.toFixed(4)} (step ${b.step})`);
  if (a?.exactMatch && b?.exactMatch) {
    lines.push(`  exact match: ${pct(a.exactMatch.rate)} → ${pct(b.exactMatch.rate)} (${b.exactMatch.correct}/${b.exactMatch.total})`);
    for (const [fam, r] of Object.entries(b.exactMatch.families)) lines.push(`    ${fam.padEnd(12)} ${pct(a.exactMatch.families[fam]?.rate ?? 0).padStart(6)} → ${pct(r.rate).padStart(6)} (${r.correct}/${r.total})`);
  }
  lines.push(`  run folder: ${outDir} (checkpoint/, config.json, metrics.jsonl, metrics.csv, ${basename(svg)})`);
  console.log(lines.join('\n'));
}
