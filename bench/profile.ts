// `npm run bench -- profile [v512|v49152]`: where one training step of the train benchmark's model
// spends its GPU time, per dispatch label, from GPU timestamps (one compute pass per dispatch while
// profiling, so the total is a little above an unprofiled step). Prints only; nothing is written.
import { nodeGPU } from '../src/gpu/node.ts';
import { Runtime } from '../src/gpu/runtime.ts';
import { initialize, tinyConfig } from '../src/models/init.ts';
import { ParamLayout, ParamStore } from '../src/models/params.ts';
import { parseConfig } from '../src/models/registry.ts';
import { TrainStep } from '../src/train/step.ts';
import { batch, throttleDawnPolling } from './peers/common.ts';

const MODELS = {
  v512: { vocab: 512, d: 256, layers: 4, heads: 4, mlp: 1024, T: 128, B: 8 },
  v49152: { vocab: 49152, d: 256, layers: 4, heads: 4, mlp: 1024, T: 128, B: 8 },
};

export async function run(filter = 'v512'): Promise<void> {
  const c = MODELS[filter as keyof typeof MODELS];
  if (!c) throw new Error(`profile: unknown model "${filter}"; choose one of: ${Object.keys(MODELS).join(', ')}`);
  throttleDawnPolling();
  const rt = await Runtime.create({ gpu: await nodeGPU() });
  const hf = tinyConfig('llama', { vocab: c.vocab, hidden: c.d, layers: c.layers, heads: c.heads, kvHeads: c.heads, intermediate: c.mlp, maxPositions: 1024 });
  const { arch, config } = parseConfig(hf);
  const specs = arch.parameters(config);
  const store = new ParamStore(rt, new ParamLayout(specs));
  store.load(initialize(specs, 1));
  const step = new TrainStep(rt, arch, config, store, { B: c.B, T: c.T, schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 10, kind: 'constant' } });
  const { ids, targets } = batch({ name: filter, warmup: 0, steps: 0, ...c });
  const b = { ids, targets, segmentIds: new Int32Array(c.B * c.T).fill(1), positions: Int32Array.from({ length: c.B * c.T }, (_, i) => i % c.T), B: c.B, T: c.T, trainedTokens: c.B * c.T, tokens: c.B * c.T, examples: c.B };
  for (let i = 0; i < 2; i++) await step.step([b]).metrics;
  if (!rt.startProfiling()) throw new Error('profile: this adapter has no timestamp-query');
  await step.step([b]).metrics;
  await rt.sync();
  const rows = rt.profiler!.summary();
  rt.stopProfiling();
  const total = rows.reduce((s, r) => s + r.ms, 0);
  console.log(`llama V${c.vocab} C${c.d} L${c.layers} H${c.heads} F${c.mlp} T${c.T} B${c.B}: ${total.toFixed(1)} ms of GPU time in ${rows.reduce((s, r) => s + r.calls, 0)} dispatches`);
  console.log(`${'ms'.padStart(8)} ${'share'.padStart(6)} ${'calls'.padStart(5)}  label`);
  for (const r of rows) console.log(`${r.ms.toFixed(2).padStart(8)} ${((100 * r.ms) / total).toFixed(1).padStart(5)}% ${String(r.calls).padStart(5)}  ${r.label}`);
  step.destroy();
  store.destroy();
}
