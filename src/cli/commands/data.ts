// `pupil data inspect FILE`: what a dataset turns into once loaded, templated and tokenized.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDatasetFile } from '../../data/node.ts';
import { formatRejection, formatSummary, type LoadOptions } from '../../data/load.ts';
import { loadTokenizer, type TextTokenizer, type TokenizerFiles } from '../../data/tokenizer.ts';
import { byteLevelTokenizer } from '../../data/byte-tokenizer.ts';
import { resolveRenderer, type TemplateChoice } from '../../data/template.ts';
import { tokenizeExamples, type MaskPolicy, type TooLongPolicy } from '../../data/mask.ts';
import { markTrained, trainedSpans } from '../../data/render.ts';
import { packRows } from '../../data/pack.ts';
import type { FileFormat, RecordFormat, Rejection } from '../../data/types.ts';

const USAGE = `usage: pupil data inspect FILE [options]

  --format F          alpaca | chat | sharegpt | completion, or jsonl | json | csv | tsv | parquet
  --tokenizer DIR     folder with tokenizer.json (+ tokenizer_config.json, generation_config.json,
                      chat_template.jinja); default: the byte-level tokenizer of scratch students
  --template T        chatml | alpaca | model (default: the model's template, else chatml)
  --policy P          assistant | last-assistant | all-tokens (default assistant)
  --max-length N      reject longer examples (and report packing into rows of N)
  --truncate SIDE     left | right: truncate instead of rejecting
  --show N            which kept example to render (default 0)
  --no-color          mark trained text with [[ ]] instead of color`;

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json'];

export function readTokenizerDir(dir: string): TokenizerFiles {
  const files: Record<string, string> = {};
  for (const name of TOKENIZER_FILES) if (existsSync(join(dir, name))) files[name] = readFileSync(join(dir, name), 'utf8');
  if (!files['tokenizer.json']) throw new Error(`${dir}: no tokenizer.json`);
  return files as TokenizerFiles;
}

export function lengthStats(lengths: readonly number[]): { min: number; mean: number; p50: number; p95: number; max: number } {
  if (lengths.length === 0) return { min: 0, mean: 0, p50: 0, p95: 0, max: 0 };
  const s = [...lengths].sort((a, b) => a - b);
  // Nearest-rank percentiles: always a length that occurs.
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { min: s[0], mean: s.reduce((a, b) => a + b, 0) / s.length, p50: pct(50), p95: pct(95), max: s[s.length - 1] };
}

const RECORD_FORMATS: readonly string[] = ['alpaca', 'chat', 'sharegpt', 'completion'];
const FILE_FORMATS: readonly string[] = ['jsonl', 'json', 'csv', 'tsv', 'parquet'];

/** --format names either a record format or a file format; the two sets do not overlap. */
function loadOptions(format: string | undefined): LoadOptions {
  if (format === undefined || format === 'auto') return {};
  if (RECORD_FORMATS.includes(format)) return { format: format as RecordFormat };
  if (FILE_FORMATS.includes(format)) return { fileFormat: format as FileFormat };
  throw new Error(`unknown --format ${format} (record: ${RECORD_FORMATS.join(', ')}; file: ${FILE_FORMATS.join(', ')})`);
}

function countReasons(rejections: readonly Rejection[]): string {
  const counts = new Map<string, number>();
  for (const r of rejections) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}

async function inspect(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      tokenizer: { type: 'string' },
      template: { type: 'string' },
      policy: { type: 'string', default: 'assistant' },
      'max-length': { type: 'string' },
      truncate: { type: 'string' },
      show: { type: 'string', default: '0' },
      'no-color': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const file = positionals[0];
  const template = (values.template ?? 'auto') as TemplateChoice;
  const policy = values.policy as MaskPolicy;
  const maxLength = values['max-length'] === undefined ? undefined : Number(values['max-length']);
  const truncate = values.truncate;
  const problems = [
    !file && 'missing FILE',
    positionals.length > 1 && `unexpected arguments: ${positionals.slice(1).join(' ')}`,
    !['auto', 'chatml', 'alpaca', 'model'].includes(template) && `unknown --template ${template}`,
    !['assistant', 'last-assistant', 'all-tokens'].includes(policy) && `unknown --policy ${policy}`,
    maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > 1) && `--max-length must be an integer > 1`,
    truncate !== undefined && !['left', 'right'].includes(truncate) && `--truncate must be left or right`,
  ].filter(Boolean);
  if (problems.length) {
    console.error(`pupil data inspect: ${problems.join('; ')}\n\n${USAGE}`);
    return 2;
  }

  const tokenizer: TextTokenizer = values.tokenizer ? loadTokenizer(readTokenizerDir(values.tokenizer)) : byteLevelTokenizer();
  const renderer = resolveRenderer(template, tokenizer);
  const loaded = await loadDatasetFile(file!, loadOptions(values.format));
  const out: string[] = [];
  out.push(formatSummary(loaded.summary));
  if (loaded.rejections.length) {
    out.push('', `rejected while reading: ${loaded.rejections.length} (${countReasons(loaded.rejections)})`);
    for (const r of loaded.rejections.slice(0, 20)) out.push(`  ${formatRejection(r)}`);
    if (loaded.rejections.length > 20) out.push(`  ... and ${loaded.rejections.length - 20} more`);
  }

  const tooLong: TooLongPolicy = truncate === 'left' ? 'truncate-left' : truncate === 'right' ? 'truncate-right' : 'reject';
  const { examples, rejections } = tokenizeExamples(loaded.examples, { tokenizer, renderer, policy, maxLength, tooLong });
  const tokName = values.tokenizer ?? 'byte-level';
  out.push('', `tokenizer: ${tokName} (vocabulary ${tokenizer.vocabSize}, eos ${tokenizer.eos.join('/')}); template: ${renderer.name}; mask: ${policy}`);
  out.push(`tokenized: ${examples.length} kept, ${rejections.length} rejected${rejections.length ? ` (${countReasons(rejections)})` : ''}`);
  for (const r of rejections.slice(0, 20)) out.push(`  ${formatRejection(r)}`);
  if (rejections.length > 20) out.push(`  ... and ${rejections.length - 20} more`);

  if (examples.length) {
    const fmt = (s: ReturnType<typeof lengthStats>) => `min ${s.min}, mean ${s.mean.toFixed(1)}, p50 ${s.p50}, p95 ${s.p95}, max ${s.max}`;
    const trained = examples.reduce((n, e) => n + e.trainedTokens, 0);
    const total = examples.reduce((n, e) => n + e.ids.length, 0);
    out.push(`tokens per example: ${fmt(lengthStats(examples.map((e) => e.ids.length)))}`);
    out.push(`trained tokens per example: ${fmt(lengthStats(examples.map((e) => e.trainedTokens)))} (${((100 * trained) / total).toFixed(1)}% of all tokens)`);
    if (maxLength !== undefined) {
      const rows = packRows(examples, maxLength);
      out.push(`packed into rows of ${maxLength}: ${rows.length} rows, ${((100 * total) / (rows.length * maxLength)).toFixed(1)}% of positions are tokens`);
    }
    const index = Math.min(Math.max(0, Number(values.show) || 0), examples.length - 1);
    const ex = examples[index];
    const color = !values['no-color'] && process.stdout.isTTY === true && !process.env.NO_COLOR;
    out.push('', `example ${index} (${ex.source.file}:${ex.source.line}, ${ex.ids.length} tokens, ${ex.trainedTokens} trained${color ? ', trained text in green' : ', trained text in [[ ]]'})${ex.note ? ` — ${ex.note}` : ''}:`);
    out.push(markTrained(trainedSpans(ex, tokenizer), { color }));
  }
  console.log(out.join('\n'));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'inspect') {
    try {
      return await inspect(rest);
    } catch (e) {
      console.error(`pupil data inspect: ${(e as Error).message}`);
      return 1;
    }
  }
  console.error(sub && sub !== '--help' && sub !== '-h' ? `pupil data: unknown subcommand "${sub}"\n\n${USAGE}` : USAGE);
  return sub === '--help' || sub === '-h' ? 0 : 2;
}
