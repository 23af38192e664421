import { describe, expect, it } from 'vitest';
import type { HFConfig } from '../../src/models/config.ts';
import { tinyConfig, type TinyArch } from '../../src/models/init.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { referenceLossAndGrads, referenceParameterShapes } from '../reference/model/index.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { f64, gpuLossAndGrads, packedBatch, randomWeights, relativeError } from './harness.ts';

// Tolerances. The GPU runs in f32 through 2 blocks, the f64 reference exactly, on the same (f32)
// weights: each layer adds a few ulps (2^-24 ≈ 6e-8) per dot product over C, F ≤ 128 terms, and
// the backward compounds them through the residual stream. Gradient tensors carry that as a
// norm-relative error of ~1e-6 (measured, see the report); 1e-4 is ample yet still catches any
// wrong term (a missing bias gradient, a mis-rotated head or a mask leak moves a tensor by >1e-2).
// The loss is one mean of O(1) per-token losses: 1e-5 relative.
const GRAD_TOL = 1e-4;
const LOSS_TOL = 1e-5;

const V = 96, T = 16;
// Row 0: two packed examples (9 + 7 tokens); row 1: one of 12 then 4 padding tokens.
const ROWS = [[9, 7], [12]];

function tiny(arch: TinyArch, extra: HFConfig = {}): HFConfig {
  return tinyConfig(arch, { vocab: V, hidden: 32, layers: 2, heads: 4, kvHeads: arch === 'gpt2' ? 4 : 2, intermediate: arch === 'gpt2' ? undefined : 48, maxPositions: 32, ...extra });
}

async function checkAgainstReference(hf: HFConfig, opts: { chunkRows?: number; seed?: number; noSubgroups?: boolean } = {}) {
  const rt = await getRuntime(opts.noSubgroups ? { subgroups: false } : {});
  const { arch, config } = parseConfig(hf);
  const specs = arch.parameters(config);
  // the parameter list is Hugging Face's, name for name and shape for shape
  const refShapes = referenceParameterShapes(hf);
  expect(new Map(specs.map((s) => [s.name, s.shape]))).toEqual(refShapes);
  const weights = randomWeights(specs, opts.seed ?? 11);
  const batch = packedBatch(V, T, ROWS, 5);
  const gpu = await gpuLossAndGrads(rt, hf, weights, batch, { chunkRows: opts.chunkRows });
  const ref = referenceLossAndGrads(hf, new Map([...weights].map(([k, v]) => [k, f64(v)])), batch);
  expect(Math.abs(gpu.loss - ref.loss) / ref.loss, `loss ${gpu.loss} vs ${ref.loss}`).toBeLessThan(LOSS_TOL);
  const errs: Record<string, number> = {};
  for (const [name, r] of ref.grads) {
    const g = gpu.grads.get(name);
    expect(g, `gradient of ${name}`).toBeDefined();
    errs[name] = relativeError(g!, r);
    expect(Math.sqrt(r.reduce((a, x) => a + x * x, 0)), `reference gradient of ${name} is non-zero`).toBeGreaterThan(1e-6);
  }
  const worst = Object.entries(errs).sort((a, b) => b[1] - a[1])[0];
  for (const [name, e] of Object.entries(errs)) expect(e, `${name}: ||g − ref|| / ||ref|| (worst ${worst[0]} ${worst[1].toExponential(2)})`).toBeLessThan(GRAD_TOL);
  await expectNoGpuErrors(rt);
  return { gpu, ref, worst };
}

describe('models against the float64 reference: loss and every parameter gradient', () => {
  it('llama (GQA, tied head, LM head in ragged chunks)', async () => {
    await checkAgainstReference(tiny('llama'), { chunkRows: 10 });
  });

  it('llama untied, llama3 rope scaling, no GQA (q, k, v projected by one batched matmul)', async () => {
    const hf = tiny('llama', {
      kvHeads: 4,
      tie: false,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 },
    });
    await checkAgainstReference(hf);
  });

  it('qwen2 (q/k/v biases)', async () => {
    await checkAgainstReference(tiny('qwen2'), { chunkRows: 6 });
  });

  it('gpt2 (learned positions, LayerNorm, Conv1D, fused c_attn, gelu_new)', async () => {
    await checkAgainstReference(tiny('gpt2'), { chunkRows: 8 });
  });

  it('gpt2 with scale_attn_by_inverse_layer_idx (the scores of layer l over l + 1)', async () => {
    await checkAgainstReference(tiny('gpt2', { scale_attn_by_inverse_layer_idx: true }));
  });

  it('llama and gpt2 on a device without subgroups (the plain matmul kernel)', async () => {
    await checkAgainstReference(tiny('llama'), { noSubgroups: true, chunkRows: 8 });
    await checkAgainstReference(tiny('gpt2'), { noSubgroups: true });
  });
});

describe('the comparison can fail', () => {
  it('a batch whose packing the GPU ignores (one segment per row, positions not restarting) is caught', async () => {
    const rt = await getRuntime();
    const hf = tiny('llama');
    const { arch, config } = parseConfig(hf);
    const weights = randomWeights(arch.parameters(config), 11);
    const batch = packedBatch(V, T, ROWS, 5);
    const unpacked = { ...batch, segmentIds: batch.segmentIds.map(() => 1), positions: batch.positions.map((_, i) => i % T) };
    const gpu = await gpuLossAndGrads(rt, hf, weights, unpacked);
    const ref = referenceLossAndGrads(hf, new Map([...weights].map(([k, v]) => [k, f64(v)])), batch);
    const worst = Math.max(...[...ref.grads].map(([n, r]) => relativeError(gpu.grads.get(n)!, r)));
    expect(worst).toBeGreaterThan(100 * GRAD_TOL);
  });
});

describe('gradients accumulate and parameters can be frozen', () => {
  it('replaying forward + backward without clearing doubles every parameter gradient (nothing overwrites)', async () => {
    const rt = await getRuntime();
    for (const archName of ['qwen2', 'gpt2'] as TinyArch[]) {
      const hf = tiny(archName);
      const { arch, config } = parseConfig(hf);
      const weights = randomWeights(arch.parameters(config), 4);
      const batch = packedBatch(V, T, ROWS, 6);
      const once = await gpuLossAndGrads(rt, hf, weights, batch, { chunkRows: 8 });
      const twice = await gpuLossAndGrads(rt, hf, weights, batch, { chunkRows: 8, repeat: 2 });
      // An overwrite instead of += would leave g (relative error 0.5). Tied embeddings take two
      // accumulations per pass (LM head, then lookup), so (((a + b) + a) + b) differs from
      // 2·(a + b) by f32 rounding: a relative 1e-6 bound, not bit equality.
      for (const [name, g] of once.grads) expect(relativeError(twice.grads.get(name)!, g.map((x) => 2 * x)), name).toBeLessThan(1e-6);
    }
    await expectNoGpuErrors(rt);
  });

  it('frozen parameters (a norm, a projection, the tied embedding) get no gradient; the others are unchanged', async () => {
    const rt = await getRuntime();
    const hf = tiny('llama');
    const { arch, config } = parseConfig(hf);
    const frozen = new Set(['model.layers.0.input_layernorm.weight', 'model.layers.1.self_attn.q_proj.weight', 'model.embed_tokens.weight']);
    const specs = arch.parameters(config);
    const weights = randomWeights(specs, 11);
    const batch = packedBatch(V, T, ROWS, 5);
    const all = await gpuLossAndGrads(rt, hf, weights, batch);
    const some = await gpuLossAndGrads(rt, hf, weights, batch, { specs: specs.map((s) => ({ ...s, trainable: !frozen.has(s.name) })) });
    expect(some.loss).toBe(all.loss);
    for (const name of frozen) expect(some.grads.has(name)).toBe(false);
    for (const [name, g] of some.grads) expect(g, name).toEqual(all.grads.get(name));
    await expectNoGpuErrors(rt);
  });
});
