// @genai-fi/nanogpt 1.3.0 (its own bundled tfjs, WebGPU backend) training its closest model to ours:
// NanoGPT v1 with RoPE, RMSNorm, tied embedding, fused qkv, and a non-gated GELU MLP of width
// mlpFactor·C (it has no SwiGLU), with its own AdamW. Its trainer is not exported from the package
// entry, so we reach BasicTrainer and the model factory through files under dist/, and call the
// trainer's own step (`trainStep`, what `trainOnDataset` calls) on a fixed batch, skipping only the
// tfjs-data pipeline. Its trainOnDataset reads the loss only every logInterval; queueing steps that
// way measured no faster here than reading each step (within the noise), and reading each step
// gives per-step times, whose median resists other processes on the shared cores.
// Run: node --import tsx bench/peers/nanogpt.ts '<TrainBenchConfig json>'.
import { batch, gpuMemory, installNavigator, logTo, peerMain, stepFlops, timeSteps, type PeerResult, type TrainBenchConfig } from './common.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const DIST = '../../node_modules/@genai-fi/nanogpt/dist/';

export async function runNanogpt(c: TrainBenchConfig): Promise<PeerResult> {
  const log = logTo('nanogpt');
  await installNavigator();
  // Its bundled tfjs picks the browser platform only when it sees a worker scope; without it the
  // Node platform path fails ("this.util.TextEncoder is not a constructor").
  (globalThis as Any).WorkerGlobalScope ??= class {};
  const { selectBackend } = await import(DIST + 'backend.js');
  const silence = console.log;
  console.log = () => {}; // it announces the backend and every log line on stdout
  await selectBackend('webgpu');
  console.log = silence;
  const tfc: Any = await import(DIST + 'dist-Da20xy8E.js');
  const engine = tfc.ii(); // tfjs ENGINE (export names are minified: ii = engine(), I = tensor2d)
  if (engine.backendName !== 'webgpu') throw new Error(`nanogpt's tfjs runs on ${engine.backendName}, not webgpu`);
  const tensor2d = tfc.I;
  const createModel = (await import(DIST + 'models/factory.js')).default;
  const BasicTrainer = (await import(DIST + 'training/BasicTrainer.js')).default;

  const { vocab: V, d: C, layers: L, heads: H, mlp: F, T } = c;
  // Its logits are one (B·T, V) f32 buffer and it has no gradient accumulation: when that buffer is
  // over the device's binding limit (128 MiB on lavapipe; 192 MiB at V 49152, B 8), halve B.
  const limit = engine.backend.device.limits.maxStorageBufferBindingSize as number;
  let B = c.B;
  while (B > 1 && B * T * V * 4 > limit) B /= 2;
  const smaller = B !== c.B ? `; B ${B} instead of ${c.B}: its (B·T, V) logits buffer must fit the ${limit / 2 ** 20} MiB binding limit and it has no gradient accumulation` : '';
  if (F % C) throw new Error(`nanogpt's MLP width is mlpFactor·C; ${F} is not a multiple of ${C}`);
  const model = createModel({
    modelType: 'GenAI_NanoGPT_v1', vocabSize: V, blockSize: T, nLayer: L, nHead: H, nEmbed: C, mlpFactor: F / C, useRope: true,
  });
  const tokenizer = { eosToken: 0, vocabSize: V }; // unused by trainStep
  const trainer: Any = new BasicTrainer(model, tokenizer, { learningRate: 1e-3, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, warmupSteps: 0, clipNorm: 1 });
  trainer.configure({ method: { type: 'pretraining' }, batchSize: B });
  trainer.prepareToTrain({ method: { type: 'pretraining' }, batchSize: B });
  const state = trainer.lastState;

  const { ids, targets } = batch({ ...c, B });
  const xs = tensor2d(ids, [B, T], 'int32'), ys = tensor2d(targets, [B, T], 'int32');
  const step = async (): Promise<number> => {
    const loss = trainer.trainStep(state, { xs, ys });
    state.step++;
    const v = (await loss.data())[0] as number;
    loss.dispose();
    return v;
  };
  const { ms, mean, losses, perStep } = await timeSteps(c, step, log);

  const pMatmul = L * (4 * C * C + 2 * C * F) + V * C;
  return {
    name: '@genai-fi/nanogpt 1.3.0',
    tokens_per_s: (B * T) / (ms / 1000),
    step_ms: ms,
    mean_step_ms: mean,
    flops_per_step: stepFlops(pMatmul, { ...c, B }),
    peak_bytes: gpuMemory.peak,
    dispatches_per_step: perStep.dispatches,
    submits_per_step: perStep.submits,
    losses,
    note: `closest config: NanoGPT v1 (RoPE, RMSNorm, tied) with a GELU MLP ${C}→${F}→${C} (2 matrices, no SwiGLU); f32; its trainStep + AdamW (clip 1); loss read each step${smaller}`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await peerMain(runNanogpt);
