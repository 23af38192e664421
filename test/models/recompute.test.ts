import { describe, expect, it } from 'vitest';
import { tinyConfig, type TinyArch } from '../../src/models/init.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { gpuLossAndGrads, packedBatch, randomWeights } from './harness.ts';

// Recomputation re-runs the same deterministic kernels on the same inputs, so the gradients must
// be the same bits, not merely close.
describe('gradient checkpointing (recompute)', () => {
  for (const archName of ['llama', 'gpt2'] as TinyArch[]) {
    it(`${archName}: identical loss and gradients with and without recomputation, and less activation memory`, async () => {
      const rt = await getRuntime();
      const hf = tinyConfig(archName, { vocab: 80, hidden: 32, layers: 3, heads: 4, kvHeads: archName === 'gpt2' ? 4 : 2, maxPositions: 32 });
      const { arch, config } = parseConfig(hf);
      const weights = randomWeights(arch.parameters(config), 3);
      const batch = packedBatch(80, 16, [[5, 11], [16]], 9, 1);
      const full = await gpuLossAndGrads(rt, hf, weights, batch);
      const re = await gpuLossAndGrads(rt, hf, weights, batch, { recompute: true });
      expect(re.loss).toBe(full.loss);
      for (const [name, g] of full.grads) {
        expect(Buffer.from(re.grads.get(name)!.buffer).equals(Buffer.from(g.buffer)), `${name} differs bitwise`).toBe(true);
      }
      const bytes = (o: Record<string, number[]>) => Object.values(o).reduce((a, s) => a + 4 * s.reduce((x, y) => x * y, 1), 0);
      expect(bytes(arch.activationShapes(config, 2, 16, { recompute: true }))).toBeLessThan(bytes(arch.activationShapes(config, 2, 16)));
      await expectNoGpuErrors(rt);
    });
  }
});
