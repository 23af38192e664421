// The memory plan: its numbers against what the training step really allocates, and the error a
// plan over the device's limits gives (before anything is allocated).
import { describe, expect, it } from 'vitest';
import { byteSize } from '../../src/gpu/tensor.ts';
import { tinyConfig } from '../../src/models/init.ts';
import { ParamLayout } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { checkPlan, MemoryPlanError, planMemory, type MemoryLimits } from '../../src/train/memory.ts';
import { TrainStep } from '../../src/train/step.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { toyArch, toyConfig, toyStore } from './toy-arch.ts';

const V = 64, C = 32;
const schedule = { lr: 1e-3, warmupSteps: 0, totalSteps: 10, kind: 'constant' as const };
const KiB = 1024;
const unlimited: MemoryLimits = { maxStorageBufferBindingSize: 2 ** 40, maxBufferSize: 2 ** 40 };

function errorOf(f: () => void): MemoryPlanError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MemoryPlanError);
    return e as MemoryPlanError;
  }
  throw new Error('expected a MemoryPlanError');
}

describe('memory plan', () => {
  it('prices parameters, gradients, AdamW state, activations, inputs and the head', () => {
    const arch = toyArch();
    const cfg = toyConfig(V, C);
    const B = 8, T = 64, N = B * T;
    const layout = new ParamLayout(arch.parameters(cfg));
    const plan = planMemory({ arch, cfg, B, T });
    // embed 2048, proj 1024, bias 32 padded to 64, lm_head 2048 (offsets aligned to 64 elements)
    expect(layout.trainableSize).toBe(2048 + 1024 + 64 + 2048);
    const P = 4 * layout.trainableSize;
    expect(plan.bytes.params).toBe(P);
    expect(plan.bytes.grads).toBe(P);
    expect(plan.bytes.optimizer).toBe(2 * P);
    expect(plan.bytes.activations).toBe(4 * (4 * N * C + N));
    expect(plan.bytes.inputs).toBe(4 * (4 * N + 3 * N + 2));
    expect(plan.bytes.head).toBe(4 * (N * V + 2 * N)); // logits (N, V) fit the 32 MiB chunk budget
    expect(plan.biggest.name).toBe('head.logits');
    expect(plan.total).toBe(Object.values(plan.bytes).reduce((a, b) => a + b, 0));
    expect(() => checkPlan(plan, unlimited)).not.toThrow();
  });

  it('matches what TrainStep allocates', async () => {
    const rt = await getRuntime();
    const toy = toyStore(rt, V, C, ['proj.weight']);
    const t = new TrainStep(rt, toy.arch, toy.cfg, toy.store, { B: 3, T: 20, schedule });
    const p = t.plan;
    expect(p.bytes.params).toBe(byteSize(toy.store.params) + byteSize(toy.store.frozen!));
    expect(p.bytes.activations).toBe(t.graph.activations.reduce((a, x) => a + byteSize(x), 0));
    expect(p.bytes.inputs).toBe(Object.values(t.inputs).reduce((a, x) => a + byteSize(x), 0));
    expect(p.bytes.head).toBe([t.head.losses, t.head.correct!].reduce((a, x) => a + byteSize(x), 0) + 4 * 60 * V);
    t.destroy();
    toy.store.destroy();
    await expectNoGpuErrors(rt);
  });

  it('names the biggest buffer and the largest batch or sequence that fits', () => {
    const arch = toyArch();
    const cfg = toyConfig(V, C);
    const plan = planMemory({ arch, cfg, B: 8, T: 64 });
    // head.logits (512, 64) is 128 KiB; with 64 KiB per buffer, B 4 or T 32 halve it.
    const e = errorOf(() => checkPlan(plan, { maxStorageBufferBindingSize: 64 * KiB, maxBufferSize: 1 << 30 }));
    expect(e.message).toBe(
      "memory plan for batch 8 × sequence 64 does not fit this device: the biggest buffer, 'head.logits' (512, 64), needs 128.0 KiB, over the 64.0 KiB a single buffer may have (maxStorageBufferBindingSize). A batch of 4 at sequence length 64 or a sequence length of 32 at batch 8 would fit.",
    );
    expect(e.suggestion).toEqual({ B: 4, T: 32 });
    expect(e.biggest.name).toBe('head.logits');
    // The suggestions really fit.
    expect(() => checkPlan(planMemory({ arch, cfg, B: 4, T: 64 }), { maxStorageBufferBindingSize: 64 * KiB, maxBufferSize: 1 << 30 })).not.toThrow();
  });

  it('says when the model itself is too big, and checks a total budget', () => {
    const arch = toyArch();
    const cfg = toyConfig(V, C);
    const plan = planMemory({ arch, cfg, B: 2, T: 8 });
    const e = errorOf(() => checkPlan(plan, { maxStorageBufferBindingSize: 16 * KiB, maxBufferSize: 1 << 30 }));
    expect(e.message).toMatch(/the biggest buffer, 'params' \(5184\), needs 20\.3 KiB, over the 16\.0 KiB/);
    expect(e.message).toMatch(/the model itself is too big/);
    expect(e.suggestion).toEqual({});

    const big = planMemory({ arch, cfg, B: 16, T: 128 });
    const budget = big.total - 1;
    const b = errorOf(() => checkPlan(big, { ...unlimited, budgetBytes: budget }));
    expect(b.message).toMatch(/it needs [\d.]+ MiB in total \(params 20\.3 KiB, grads 20\.3 KiB, optimizer 40\.5 KiB, activations [\d.]+ [KM]iB, inputs [\d.]+ KiB, head [\d.]+ KiB, step [\d.]+ KiB\), over the budget/);
    expect(b.suggestion.B).toBe(15);
    expect(planMemory({ arch, cfg, B: 15, T: 128 }).total).toBeLessThanOrEqual(budget);
  });

  it('fails in the TrainStep constructor before allocating, and prices a real model', async () => {
    const rt = await getRuntime();
    const toy = toyStore(rt, V, C);
    expect(() => new TrainStep(rt, toy.arch, toy.cfg, toy.store, { B: 64, T: 64, schedule, memoryBudget: 64 * KiB })).toThrow(MemoryPlanError);
    toy.store.destroy();

    // llama: recomputation keeps one block's saved activations instead of L.
    const { arch, config } = parseConfig(tinyConfig('llama', { vocab: 260, hidden: 64, layers: 4 }));
    const keep = planMemory({ arch, cfg: config, B: 4, T: 64 });
    const recompute = planMemory({ arch, cfg: config, B: 4, T: 64, recompute: true });
    expect(recompute.bytes.activations).toBeLessThan(keep.bytes.activations);
    expect(keep.bytes.params).toBe(4 * new ParamLayout(arch.parameters(config)).trainableSize);
    await expectNoGpuErrors(rt);
  });
});
