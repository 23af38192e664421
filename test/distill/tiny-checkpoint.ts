// A tiny scratch llama checkpoint written straight from initial weights (no training step), for
// tests that need a real model folder fast.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { saveCheckpointDir } from '../../src/train/checkpoint-node.ts';

/** The shapes of test/distill/serve.test.ts, so the kernels are the ones it compiles. */
export async function tinyCheckpoint(prefix: string, seed = 5): Promise<string> {
  const hf = tinyConfig('llama', { hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 48, maxPositions: 96 });
  const { arch, config } = parseConfig(hf);
  const weights = initialize(arch.parameters(config), seed);
  const dir = join(mkdtempSync(join(tmpdir(), prefix)), 'ckpt');
  const zeros = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
  const state = { step: 1, epoch: 0, positionInEpoch: 1, schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 2, kind: 'constant' as const }, rng: { seed: 1 } };
  await saveCheckpointDir(dir, encodeCheckpoint({ params: weights, shapes: new Map(arch.parameters(config).map((s) => [s.name, s.shape])), m: zeros, v: zeros, state, config: hf }));
  return dir;
}
