// `npm run experiment:distill [-- --config FILE] [--fresh]`: the distillation experiment of the
// README, offline and re-runnable. A larger teacher is trained on the bundled tasks; then one small
// student three ways on the same first `prompts` training records:
//   sft           SFT on the original responses
//   teacher-data  SFT on the teacher's greedy responses to the same prompts (pupil distill regenerate)
//   sft+kd        SFT plus token-level distillation from the teacher's top-k (pupil train --distill-teacher)
// Every step is an ordinary `pupil` command, printed before it runs, so any of them can be re-run
// by hand. A finished step is skipped and an interrupted one resumed, so the whole experiment can
// be stopped and started again. All runs validate on the same held-out file, and each checkpoint
// is scored with `pupil eval` (held-out validation loss, greedy exact match on held-out tasks).
// Results: experiments/results/distill.{json,md,svg}.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readMetricsJsonl } from '../src/cli/metrics-files.ts';
import { lineChartSvg, PALETTE } from '../src/cli/plot.ts';
import { scoreExample } from '../src/data/synthetic/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface ExperimentConfig {
  out: string;
  prompts: number;
  heldOut: string;
  teacher: string[];
  student: string[];
  regenerate: string[];
  distill: string[];
  eval: string[];
}

interface EvalJson {
  step?: number;
  validation?: { loss: number; perplexity: number; examples: number };
  exactMatch?: { correct: number; total: number; rate: number };
}

interface Row {
  name: string;
  description: string;
  run: string;
  trainedOn: string;
  step?: number;
  validationLoss?: number;
  perplexity?: number;
  exactMatch?: { correct: number; total: number; rate: number };
  seconds?: number;
}

const { values } = parseArgs({ options: { config: { type: 'string' }, fresh: { type: 'boolean' } } });
const configPath = resolve(values.config ?? join(ROOT, 'experiments/distill.json'));
const config = JSON.parse(readFileSync(configPath, 'utf8')) as ExperimentConfig;
for (const k of ['out', 'prompts', 'heldOut', 'teacher', 'student', 'regenerate', 'distill', 'eval'] as const) {
  if (config[k] === undefined) throw new Error(`${configPath}: the field "${k}" is missing`);
}
const out = resolve(ROOT, config.out);
const heldOut = resolve(ROOT, config.heldOut);
if (values.fresh && existsSync(out)) throw new Error(`--fresh: ${out} exists; remove it yourself (nothing is deleted for you)`);
mkdirSync(join(out, 'data'), { recursive: true });

function pupil(args: string[], opts: { capture?: boolean } = {}): string {
  console.log(`\n$ pupil ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/pupil.js'), ...args], { cwd: ROOT, stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`pupil ${args[0]} failed (exit ${r.status ?? r.signal}); fix the cause and run the experiment again: finished steps are kept`);
  return r.stdout ?? '';
}

function status(runDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { status?: string }).status;
  } catch {
    return undefined;
  }
}

/** Trains into runDir unless it is done; resumes it if it was interrupted. */
function train(runDir: string, name: string, flags: string[]): void {
  const s = status(runDir);
  if (s === 'done') console.log(`\n${name}: done already (${runDir})`);
  else if (s && existsSync(join(runDir, 'checkpoint'))) pupil(['train', '--resume', runDir]);
  else pupil(['train', '--name', name, '--out', runDir, ...flags]);
}

/** Training seconds from the run's metrics (the sum over its parts when it was resumed). */
function trainSeconds(runDir: string): number {
  let total = 0, last = 0;
  for (const m of readMetricsJsonl(join(runDir, 'metrics.jsonl'))) {
    if (m.type !== 'step' || m.time === undefined) continue;
    if (m.time < last) total += last; // a resumed part restarts its clock
    last = m.time;
  }
  return total + last;
}

/** `pupil eval` of a finished run, kept next to it (experiment-eval.json) so a re-run reuses it. */
function evaluate(runDir: string): EvalJson {
  const file = join(runDir, 'experiment-eval.json');
  const key = JSON.stringify({ heldOut: config.heldOut, eval: config.eval, step: (JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { step?: number }).step });
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { key: string; report: EvalJson };
    if (saved.key === key) return saved.report;
  }
  const report = JSON.parse(pupil(['eval', '--checkpoint', runDir, '--data', heldOut, ...config.eval, '--json'], { capture: true })) as EvalJson;
  writeFileSync(file, JSON.stringify({ key, report }, null, 2) + '\n');
  return report;
}

// The students' prompts: the first `prompts` records of the bundled training file.
const original = join(out, 'data/original.jsonl');
if (!existsSync(original)) {
  const lines = readFileSync(join(ROOT, 'data/pupil-tasks/train.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length < config.prompts) throw new Error(`prompts: ${config.prompts} asked, the bundled training file has ${lines.length}`);
  writeFileSync(original, lines.slice(0, config.prompts).join('\n') + '\n');
}

const teacherDir = join(out, 'teacher');
train(teacherDir, 'distill-teacher', [...config.teacher, '--validation-data', heldOut]);

const teacherData = join(out, 'data/teacher.jsonl');
pupil(['distill', 'regenerate', '--teacher', teacherDir, '--data', original, '--out', teacherData, ...config.regenerate]);

const students: Omit<Row, 'step'>[] = [
  { name: 'sft', description: 'SFT on the original data', run: join(out, 'student-sft'), trainedOn: original },
  { name: 'teacher-data', description: "SFT on the teacher's responses", run: join(out, 'student-teacher-data'), trainedOn: teacherData },
  { name: 'sft+kd', description: 'SFT + token-level distillation', run: join(out, 'student-kd'), trainedOn: original },
];
for (const s of students) {
  const extra = s.name === 'sft+kd' ? ['--distill-teacher', teacherDir, ...config.distill] : [];
  train(s.run, `distill-student-${s.name}`, [...config.student, '--data', s.trainedOn, '--validation-data', heldOut, ...extra]);
}

const rows: Row[] = [];
for (const r of [{ name: 'teacher', description: 'teacher (larger, all training data)', run: teacherDir, trainedOn: 'bundled' }, ...students]) {
  const report = evaluate(r.run);
  rows.push({ ...r, step: report.step, validationLoss: report.validation?.loss, perplexity: report.validation?.perplexity, exactMatch: report.exactMatch && { correct: report.exactMatch.correct, total: report.exactMatch.total, rate: report.exactMatch.rate }, seconds: trainSeconds(r.run) });
}

// Held-out validation loss during training, from each run's metrics.
const curves = [{ name: 'teacher', run: teacherDir }, ...students].map((s, i) => ({
  name: s.name,
  color: PALETTE[i],
  markers: true,
  points: readMetricsJsonl(join(s.run, 'metrics.jsonl')).flatMap((m) => (m.valLoss !== undefined && Number.isFinite(m.valLoss) ? [[m.step, m.valLoss] as [number, number]] : [])),
}));

const resultsDir = join(ROOT, 'experiments/results');
mkdirSync(resultsDir, { recursive: true });
const rel = (p: string) => p.replace(ROOT + '/', '');
const pct = (m?: Row['exactMatch']) => (m ? `${(100 * m.rate).toFixed(1)}% (${m.correct}/${m.total})` : 'n/a');
const table = [
  '| model | trained on | steps | held-out val loss | perplexity | exact match | train time |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.description} | ${r.name === 'teacher' ? 'bundled train (all)' : rel(r.trainedOn)} | ${r.step ?? ''} | ${r.validationLoss?.toFixed(3) ?? 'n/a'} | ${r.perplexity?.toFixed(2) ?? 'n/a'} | ${pct(r.exactMatch)} | ${r.seconds !== undefined ? `${Math.round(r.seconds)} s` : ''} |`),
].join('\n');
// How good the teacher-written data is: its exact match against the bundled answers, scored as
// `pupil eval` scores (the task's own comparison).
const written = readFileSync(teacherData, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { output: string; task?: string; answer?: string });
const teacherDataCorrect = written.filter((x) => x.task !== undefined && x.answer !== undefined && scoreExample(x.task, x.output, x.answer)).length;
writeFileSync(join(resultsDir, 'distill.json'), JSON.stringify({ date: new Date().toISOString(), config: rel(configPath), teacherData: { records: written.length, correct: teacherDataCorrect }, rows: rows.map((r) => ({ ...r, run: rel(r.run), trainedOn: rel(r.trainedOn) })) }, null, 2) + '\n');
const dataNote = `The teacher's responses to the ${written.length} training prompts match the bundled answers exactly for ${teacherDataCorrect} (${((100 * teacherDataCorrect) / Math.max(1, written.length)).toFixed(1)}%).`;
writeFileSync(join(resultsDir, 'distill.md'), `# Distillation experiment\n\nConfig: \`${rel(configPath)}\`. Held-out: \`${config.heldOut}\`. ${dataNote}\n\n${table}\n\n![held-out validation loss](distill.svg)\n`);
writeFileSync(join(resultsDir, 'distill.svg'), lineChartSvg({ lines: curves, title: 'held-out validation loss (cross-entropy)', yLabel: 'validation loss' }));
console.log(`\n${table}\n\n${dataNote}\nwritten: experiments/results/distill.{json,md,svg}`);
