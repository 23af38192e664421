// Shared pieces of the trainer tests: a tiny scratch student on a slice of the bundled dataset.
import type { RunConfigInput } from '../../src/train/config.ts';
import { MemoryStorage } from '../../src/train/storage.ts';
import type { TrainerEnv, TrainerEvent } from '../../src/train/trainer.ts';
import { getRuntime } from '../helpers/gpu.ts';

/** C 32, L 1 over 240 bundled examples, batches of 4 × 96 packed: a step takes a few ms. */
export function tinyRun(over: RunConfigInput = {}): RunConfigInput {
  return {
    name: 'tiny',
    ...over,
    student: over.student ?? { scratch: { hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64, maxPositions: 128 } },
    data: { limit: 240, validation: 16, ...over.data },
    train: { batchSize: 4, seqLen: 96, maxSteps: 12, lr: 3e-3, ...over.train },
    eval: { every: 0, atStart: false, exactMatch: 0, samples: [], batches: 2, ...over.eval },
    save: { every: 0, ...over.save },
  };
}

export async function memoryEnv(storage = new MemoryStorage()): Promise<TrainerEnv & { storage: MemoryStorage }> {
  return { rt: await getRuntime(), storage };
}

export function recorder() {
  const events: TrainerEvent[] = [];
  return { events, onEvent: (e: TrainerEvent) => void events.push(e), of: <K extends TrainerEvent['type']>(type: K) => events.filter((e): e is Extract<TrainerEvent, { type: K }> => e.type === type) };
}
