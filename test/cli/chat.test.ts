// `pupil chat` on a checkpoint written by `pupil train`: the streamed reply is exactly what the
// generation loop gives for the same weights, prompt (chat template) and seed; multi-turn and
// the interactive commands; bad arguments.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { byteLevelTokenizer } from '../../src/data/byte-tokenizer.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import { generateText, GpuCausalLM, Rng } from '../../src/generate/index.ts';
import { loadPretrainedNode } from '../../src/models/load-node.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { promptIds } from '../../src/train/evaluate.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { pupil, pupilAsync } from './train-helpers.ts';

const dir = join(mkdtempSync(join(tmpdir(), 'pupil-cli-chat-')), 'run');
const PROMPT = 'Calculate 35 + 2.';

/** The reply the generation loop gives in-process (temperature 1, seeded as the CLI seeds it). */
async function expectedReply(seed: number, maxNewTokens: number): Promise<string> {
  const rt = await getRuntime();
  const m = await loadPretrainedNode(join(dir, 'checkpoint'));
  const store = new ParamStore(rt, new ParamLayout(parseConfig(m.config.hf).arch.parameters(m.config)));
  store.load(m.weights);
  const lm = new GpuCausalLM(rt, m.config, store);
  const tok = byteLevelTokenizer();
  const ids = promptIds(resolveRenderer('auto', tok), tok, [{ role: 'user', content: PROMPT }]);
  const r = await generateText(lm, ids, { tokenizer: tok, maxNewTokens, sampling: { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 }, rng: new Rng(seed) });
  lm.destroy();
  store.destroy();
  return r.text;
}

describe('pupil chat', () => {
  beforeAll(() => {
    const r = pupil(['train', '--student', 'scratch', '--hidden', '32', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--max-positions', '128', '--seq', '128',
      '--batch', '4', '--limit', '100', '--steps', '3', '--exact-match', '0', '--sample-tokens', '2', '--eval-batches', '1', '--out', dir]);
    expect(r.code, r.err).toBe(0);
  }, 120_000);

  it('--prompt streams the reply the generation loop gives for the same seed', async () => {
    const r = pupil(['chat', '--checkpoint', dir, '--prompt', PROMPT, '--temperature', '1', '--seed', '7', '--max-new-tokens', '12']);
    expect(r.code, r.err).toBe(0);
    const want = await expectedReply(7, 12);
    expect(want.length).toBeGreaterThan(0);
    expect(r.out).toBe(want + '\n');
    const other = pupil(['chat', '--checkpoint', dir, '--prompt', PROMPT, '--temperature', '1', '--seed', '8', '--max-new-tokens', '12']);
    expect(other.out).not.toBe(r.out);
  }, 60_000);

  it('multi-turn with several --prompt; interactive /reset and /exit', async () => {
    const [turns, live] = await Promise.all([
      pupilAsync(['chat', '--checkpoint', join(dir, 'checkpoint'), '--prompt', 'Hi', '--prompt', 'Again', '--max-new-tokens', '4', '--temperature', '0']),
      new Promise<ReturnType<typeof pupil>>((res) => res(pupil(['chat', '--checkpoint', dir, '--max-new-tokens', '4'], { input: 'hello\n/reset\nagain\n/exit\nnever read\n' }))),
    ]);
    expect(turns.code, turns.err).toBe(0);
    expect(turns.out.split('\n').length).toBeGreaterThanOrEqual(3);
    expect(live.code, live.err).toBe(0);
    expect(live.out).toMatch(/^chatting with .*checkpoint — \/reset forgets the conversation, \/exit quits\n/);
    expect(live.out).toContain('(conversation reset)');
    expect(live.out.match(/> /g)!.length).toBe(4); // the prompt before each line up to /exit
  }, 60_000);

  it('says what is wrong with its arguments', async () => {
    const cases: [string[], RegExp, number][] = [
      [[], /--checkpoint DIR is missing/, 2],
      [['--checkpoint', dir, '--top-p', '2'], /--top-p must be a number in \(0, 1\], got "2"/, 2],
      [['--checkpoint', dir, '--max-new-tokens', '0'], /--max-new-tokens must be an integer >= 1, got "0"/, 2],
      [['--checkpoint', dir, '--template', 'nope'], /unknown --template nope/, 2],
      [['--checkpoint', join(tmpdir(), 'pupil-no-such-dir'), '--prompt', 'x'], /pupil chat: ".*pupil-no-such-dir" is not a Hub repository id/, 1],
    ];
    const results = await Promise.all(cases.map(([args]) => pupilAsync(['chat', ...args])));
    results.forEach((r, i) => {
      expect(r.err, cases[i][0].join(' ')).toMatch(cases[i][1]);
      expect(r.code, cases[i][0].join(' ')).toBe(cases[i][2]);
    });
  }, 60_000);
});
