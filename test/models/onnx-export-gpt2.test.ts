// transformers.js (onnxruntime-node, cpu) loads our gpt2 ONNX export from the local Hub stand-in and
// generates greedily exactly what our GPU engine generates from the same weights: one prompt, and
// a left-padded batch of two, where transformers.js makes position_ids from attention_mask (the
// learned position table must then be gathered at each row's own positions).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from '../../src/generate/generate.ts';
import { GpuCausalLM } from '../../src/generate/gpu-model.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { architectures } from '../../src/models/registry.ts';
import { makeGpt2OnnxFixture } from '../fixtures/hub/make-onnx-fixture.ts';
import { writeRepo } from '../fixtures/hub/make-fixtures.ts';
import { startHubServer, type HubServer } from '../fixtures/hub/server.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';

const REPO = 'tiny/gpt2-onnx';
const N = 12;
const PROMPTS = [
  [5, 42, 79, 21, 58, 95],
  [17, 3, 64],
];

type TJS = typeof import('@huggingface/transformers');
let root: string;
let server: HubServer;
let tjs: TJS;
const fx = makeGpt2OnnxFixture();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pupil-gpt2-onnx-'));
  await writeRepo(root, REPO, fx.files);
  server = await startHubServer(root);
  tjs = await import('@huggingface/transformers');
  tjs.env.remoteHost = `${server.url}/`;
  tjs.env.remotePathTemplate = '{model}/resolve/{revision}/';
  tjs.env.allowRemoteModels = true;
  tjs.env.allowLocalModels = false;
  tjs.env.cacheDir = join(root, 'cache');
});
afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/** Our greedy continuation of each prompt: the GPU model with its KV cache. */
async function ours(): Promise<number[][]> {
  const rt = await getRuntime();
  const arch = architectures().find((a) => a.name === 'gpt2')!;
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(fx.config)));
  store.load(fx.weights);
  const model = new GpuCausalLM(rt, fx.config, store, { maxLength: 40, prefillChunk: 4 });
  const out: number[][] = [];
  for (const p of PROMPTS) out.push((await generateText(model, p, { maxNewTokens: N, sampling: { temperature: 0 }, eos: [] })).tokens);
  model.destroy();
  store.destroy();
  await expectNoGpuErrors(rt);
  return out;
}

describe('transformers.js runs our gpt2 ONNX export', () => {
  it('greedy generation equals our own greedy decode, alone and left-padded in a batch', async () => {
    const want = await ours();
    // Random weights: a varied continuation, not one token repeated, or the check would prove little.
    expect(new Set(want[0]).size).toBeGreaterThan(N / 2);

    const model = await tjs.AutoModelForCausalLM.from_pretrained(REPO, { device: 'cpu', dtype: 'fp32' });
    try {
      expect(server.requests.map((r) => r.path)).toContain(`/${REPO}/resolve/main/onnx/model.onnx`);
      const ids = (rows: number[][]) => new tjs.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length]);
      const tokens = (t: unknown) => (t as InstanceType<TJS['Tensor']>).tolist().map((r) => (r as bigint[]).map(Number));

      const alone = tokens(await model.generate({ input_ids: ids([PROMPTS[0]]), attention_mask: ids([PROMPTS[0].map(() => 1)]), max_new_tokens: N, do_sample: false }));
      expect(alone[0].slice(PROMPTS[0].length)).toEqual(want[0]);

      const pad = PROMPTS[0].length - PROMPTS[1].length;
      const batch = tokens(
        await model.generate({
          input_ids: ids([PROMPTS[0], [...Array(pad).fill(0), ...PROMPTS[1]]]),
          attention_mask: ids([PROMPTS[0].map(() => 1), [...Array(pad).fill(0), ...PROMPTS[1].map(() => 1)]]),
          max_new_tokens: N,
          do_sample: false,
        }),
      );
      expect(batch[0].slice(PROMPTS[0].length)).toEqual(want[0]);
      expect(batch[1].slice(PROMPTS[0].length)).toEqual(want[1]);
    } finally {
      await model.dispose();
    }
  });
});
